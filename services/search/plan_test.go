package search_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/customfields"
	"github.com/pi-crm/pi-crm/services/search"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// planContact is one seeded contact, for computing expected results in Go.
type planContact struct {
	id, last string
	tier     string
	score    *int // nil: no value
}

const planN = 3000 // above the probe cap, so both plans occur

// planFixture: a workspace whose definitions were created through the app
// (so the definition hooks built the value indexes) and planN contacts
// written with raw SQL (EAV rows and their read copy) to keep the test fast.
func planFixture(t *testing.T) (*testutil.Env, *search.Service, string, []planContact) {
	env := testutil.New(t)
	owner, _ := env.User("plan@example.com")
	ws := env.Workspace("Plan", owner, nil)
	for _, d := range []map[string]any{
		{"field_name": "tier", "field_type": "select", "options": []string{"gold", "silver"}},
		{"field_name": "score", "field_type": "number"},
		{"field_name": "tags", "field_type": "multiselect", "options": []string{"a", "b"}},
	} {
		d["user"], d["workspace"], d["label"] = owner.Id, ws.Id, d["field_name"]
		env.Create("custom_field_definitions", d)
	}
	var cs []planContact
	err := env.App.RunInTransaction(func(tx core.App) error {
		for i := 0; i < planN; i++ {
			c := planContact{id: fmt.Sprintf("p%014d", i), last: fmt.Sprintf("Name%03d", (i*7)%400), tier: "silver"}
			if i%50 == 0 {
				c.tier = "gold" // 2%: fewer than the probe cap
			}
			custom := map[string]any{"tier": c.tier}
			if i%3 != 0 {
				s := (i * 13) % 100
				c.score = &s
				custom["score"] = float64(s)
			}
			raw, _ := json.Marshal(custom)
			if _, err := tx.DB().Insert("contacts", dbx.Params{"id": c.id, "workspace": ws.Id, "last_name": c.last,
				"first_name": "F", "custom": string(raw), "created": "2025-01-01 00:00:00.000Z", "updated": "2025-01-01 00:00:00.000Z"}).Execute(); err != nil {
				return err
			}
			for name, v := range custom {
				typ, val := "select", fmt.Sprint(v)
				if name == "score" {
					typ = "number"
				}
				if _, err := tx.DB().Insert("custom_fields", dbx.Params{"id": fmt.Sprintf("v%s%s", c.id[1:], name[:2]), "contact": c.id,
					"field_name": name, "field_value": val, "field_type": typ,
					"created": "2025-01-01 00:00:00.000Z", "updated": "2025-01-01 00:00:00.000Z"}).Execute(); err != nil {
					return err
				}
			}
			cs = append(cs, c)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// raw-SQL rows: the value indexes as an import builds them at its end
	if err := customfields.SyncValueIndexes(env.App, ws.Id); err != nil {
		t.Fatal(err)
	}
	return env, search.NewService(env.App), ws.Id, cs
}

// all reads every page of raw and returns the ids in order with the plan of
// each page.
func all(t *testing.T, svc *search.Service, ws, raw string) ([]string, []string, int) {
	t.Helper()
	var ids, plans []string
	var total int
	for page := 1; ; page++ {
		v, _ := url.ParseQuery(raw)
		v.Set("workspace", ws)
		v.Set("page", fmt.Sprint(page))
		v.Set("perPage", "50")
		q, err := search.ParseQuery(v)
		if err != nil {
			t.Fatal(err)
		}
		res, err := svc.Search(q)
		if err != nil {
			t.Fatalf("%s page %d: %v", raw, page, err)
		}
		total = res.TotalItems
		if len(res.IDs) == 0 {
			return ids, plans, total
		}
		plans = append(plans, res.Plan)
		ids = append(ids, res.IDs...)
	}
}

func TestSearchPlansAgreeWithReference(t *testing.T) {
	env, svc, ws, cs := planFixture(t)
	byLast := func(keep func(planContact) bool) []string {
		var sel []planContact
		for _, c := range cs {
			if keep(c) {
				sel = append(sel, c)
			}
		}
		sort.Slice(sel, func(i, j int) bool {
			if sel[i].last != sel[j].last {
				return strings.ToLower(sel[i].last) < strings.ToLower(sel[j].last)
			}
			return sel[i].id < sel[j].id
		})
		out := make([]string, len(sel))
		for i, c := range sel {
			out[i] = c.id
		}
		return out
	}
	byScore := func(keep func(planContact) bool, desc bool) []string {
		var sel []planContact
		for _, c := range cs {
			if keep(c) {
				sel = append(sel, c)
			}
		}
		sort.Slice(sel, func(i, j int) bool {
			a, b := sel[i], sel[j]
			if (a.score == nil) != (b.score == nil) {
				return b.score == nil // no value last, both directions
			}
			if a.score != nil && *a.score != *b.score {
				return (*a.score < *b.score) != desc
			}
			return (a.id < b.id) != desc
		})
		out := make([]string, len(sel))
		for i, c := range sel {
			out[i] = c.id
		}
		return out
	}
	every := func(planContact) bool { return true }
	cases := []struct {
		name, q   string
		want      []string
		wantPlans []string // plans that must occur among the pages
	}{
		{"selective filter: from its matches", "cf.tier=eq:gold&sort=last_name",
			byLast(func(c planContact) bool { return c.tier == "gold" }), []string{"index " + customfields.ValueIndexName(ws, "tier")}},
		{"broad filter: walk the sort index, then deep pages from the matches", "cf.tier=eq:silver&sort=last_name",
			byLast(func(c planContact) bool { return c.tier == "silver" }),
			[]string{"walk idx_contacts_search_last", "index " + customfields.ValueIndexName(ws, "tier")}},
		{"ascending custom sort: values, then contacts without one", "sort=cf.score", byScore(every, false),
			[]string{"walk " + customfields.ValueIndexName(ws, "score")}},
		{"descending custom sort", "sort=-cf.score", byScore(every, true), []string{"walk " + customfields.ValueIndexName(ws, "score")}},
		{"range sorted by the same field", "cf.score=gte:90&sort=-cf.score",
			byScore(func(c planContact) bool { return c.score != nil && *c.score >= 90 }, true),
			[]string{"index " + customfields.ValueIndexName(ws, "score")}},
		{"range and a selective select", "cf.score=lt:10&cf.tier=eq:gold",
			byLast(func(c planContact) bool { return c.tier == "gold" && c.score != nil && *c.score < 10 }), nil},
		{"empty", "cf.score=empty:&sort=last_name", byLast(func(c planContact) bool { return c.score == nil }), nil},
		{"term and filter: the filter drives", "q=name01&cf.tier=eq:gold",
			byLast(func(c planContact) bool { return c.tier == "gold" && strings.HasPrefix(c.last, "Name01") }), nil},
		{"term drives", "q=name012&cf.tier=eq:silver",
			byLast(func(c planContact) bool { return c.tier == "silver" && strings.HasPrefix(c.last, "Name012") }), []string{"ids term"}},
	}
	check := func(label string) {
		for _, c := range cases {
			got, plans, total := all(t, svc, ws, c.q)
			if strings.Join(got, ",") != strings.Join(c.want, ",") || total != len(c.want) {
				t.Errorf("%s, %s: got %d ids (total %d), want %d; first got %v want %v", label, c.name, len(got), total, len(c.want),
					got[:min(5, len(got))], c.want[:min(5, len(c.want))])
			}
			if label != "indexed" {
				continue
			}
			for _, p := range c.wantPlans {
				found := false
				for _, g := range plans {
					found = found || g == p
				}
				if !found {
					t.Errorf("%s: plans %v, want %q among them", c.name, plans, p)
				}
			}
		}
	}
	check("indexed")
	// Without the value indexes (past the cap, or a multiselect) the same
	// queries go through the EAV rows and the copy: same answers.
	if err := customfields.DropValueIndexes(env.App); err != nil {
		t.Fatal(err)
	}
	check("no value index")
}

func TestValueIndexLifecycle(t *testing.T) {
	env := testutil.New(t)
	owner, token := env.User("idx@example.com")
	ws := env.Workspace("Idx", owner, nil)
	ws2 := env.Workspace("Idx2", owner, nil)
	// value indexes exist from customfields.ValueIndexMinContacts contacts on
	seed := func(wsID string, n int) {
		t.Helper()
		_, err := env.App.DB().NewQuery(`WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {:n})
			INSERT INTO contacts (id, workspace, first_name, created, updated)
			SELECT substr({:ws}, 1, 6) || printf('%09d', i), {:ws}, 'Seed', '2025-01-01 00:00:00.000Z', '2025-01-01 00:00:00.000Z' FROM s`).
			Bind(map[string]any{"ws": wsID, "n": n}).Execute()
		if err != nil {
			t.Fatal(err)
		}
	}
	seed(ws.Id, customfields.ValueIndexMinContacts)
	seed(ws2.Id, customfields.ValueIndexMinContacts)
	have := func(wsID string) map[string]bool {
		m, err := customfields.ValueIndexes(env.App, wsID)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	def := func(wsID, name, typ string) string {
		f := map[string]any{"user": owner.Id, "workspace": wsID, "field_name": name, "label": name, "field_type": typ}
		if typ == "multiselect" || typ == "select" {
			f["options"] = []string{"a", "b"}
		}
		return env.Create("custom_field_definitions", f).Id
	}
	a := def(ws.Id, "level", "number")
	if h := have(ws2.Id); h["level"] {
		t.Fatalf("a workspace field indexed in another workspace: %v", h)
	}
	b := def(ws2.Id, "level", "text")
	def(ws.Id, "labels", "multiselect")
	if h := have(ws.Id); !h["level"] || h["labels"] {
		t.Fatalf("after create: %v (want level, no multiselect labels)", h)
	}
	// the index is partial: only the workspace's own contacts are in it
	var partial string
	_ = env.App.DB().NewQuery("SELECT sql FROM sqlite_master WHERE name = {:n}").
		Bind(map[string]any{"n": customfields.ValueIndexName(ws.Id, "level")}).Row(&partial)
	if !strings.Contains(partial, "WHERE workspace = '"+ws.Id+"'") {
		t.Fatalf("index is not partial to its workspace: %s", partial)
	}
	// the index serves the filter: a contact written through the API is found
	env.Create("contacts", map[string]any{"workspace": ws.Id, "last_name": "L", "custom": map[string]any{"level": 7}})
	env.Create("contacts", map[string]any{"workspace": ws2.Id, "last_name": "L", "custom": map[string]any{"level": "a"}})
	q, _ := search.ParseQuery(url.Values{"workspace": {ws.Id}, "cf.level": {"gte:5"}, "sort": {"cf.level"}})
	if res, err := search.NewService(env.App).Search(q); err != nil || res.TotalItems != 1 || res.Plan == "scan" {
		t.Fatalf("search through the value index: %+v %v", res, err)
	}
	// the definition deleted: its index goes, the other workspace's stays
	if r := env.Do("DELETE", "/api/collections/custom_field_definitions/records/"+a, token, nil); r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	if have(ws.Id)["level"] || !have(ws2.Id)["level"] {
		t.Fatalf("after delete: %v / %v", have(ws.Id), have(ws2.Id))
	}
	// a type change to multiselect: no index for it
	if r := env.Do("PATCH", "/api/collections/custom_field_definitions/records/"+b, token,
		map[string]any{"field_type": "multiselect", "options": []string{"a", "b"}}); r.Status != 200 {
		t.Fatalf("patch: %d %s", r.Status, r.Body)
	}
	if have(ws2.Id)["level"] {
		t.Fatal("index kept for a field that is now multiselect")
	}
	if r := env.Do("DELETE", "/api/collections/custom_field_definitions/records/"+b, token, nil); r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	if h := have(ws2.Id); len(h) != 0 {
		t.Fatalf("indexes left without definitions: %v", h)
	}

	// a user-wide definition: every workspace of its user, and a workspace
	// created later too; deleting a workspace drops its indexes
	def("", "rank", "number")
	if !have(ws.Id)["rank"] || !have(ws2.Id)["rank"] {
		t.Fatalf("user-wide field not indexed in the user's workspaces: %v %v", have(ws.Id), have(ws2.Id))
	}
	// a new workspace gets none (building one reads the whole contacts
	// table) until a contact create brings it to the threshold
	ws3 := env.Workspace("Idx3", owner, nil)
	if h := have(ws3.Id); len(h) != 0 {
		t.Fatalf("a new, empty workspace got indexes: %v", h)
	}
	seed(ws3.Id, customfields.ValueIndexMinContacts-1)
	if h := have(ws3.Id); len(h) != 0 {
		t.Fatalf("indexes below the threshold: %v", h)
	}
	env.Create("contacts", map[string]any{"workspace": ws3.Id, "first_name": "Threshold"})
	if !have(ws3.Id)["rank"] {
		t.Fatal("the contact that reached the threshold did not build the workspace's indexes")
	}
	other, _ := env.User("other-idx@example.com")
	ws4 := env.Workspace("Other", other, nil)
	if h := have(ws4.Id); len(h) != 0 {
		t.Fatalf("another user's workspace got indexes: %v", h)
	}
	if r := env.Do("DELETE", "/api/collections/workspaces/records/"+ws3.Id, token, nil); r.Status != 204 {
		t.Fatalf("delete workspace: %d %s", r.Status, r.Body)
	}
	if h := have(ws3.Id); len(h) != 0 {
		t.Fatalf("indexes of a deleted workspace left: %v", h)
	}
	// a workspace with its own definitions: their deletes (cascaded from
	// the workspace's) find the workspace gone, which is nothing to sync;
	// this delete failed with "sql: no rows in result set" before
	def(ws2.Id, "stage", "select")
	if h := have(ws2.Id); !h["stage"] {
		t.Fatalf("ws2 before its delete: %v", h)
	}
	if r := env.Do("DELETE", "/api/collections/workspaces/records/"+ws2.Id, token, nil); r.Status != 204 {
		t.Fatalf("delete a workspace with its own definitions: %d %s", r.Status, r.Body)
	}
	if h := have(ws2.Id); len(h) != 0 {
		t.Fatalf("indexes of a deleted workspace left: %v", h)
	}
}

// Equal values are ordered by rowid on every plan: the walk of a value index
// (ascending, NULLS LAST) and the sort without it give the same pages, and
// ids (random, unrelated to the rowid) never decide.
func TestSortTiesByRowidOnTheValueIndexWalk(t *testing.T) {
	env := testutil.New(t)
	owner, _ := env.User("ties@example.com")
	ws := env.Workspace("Ties", owner, nil)
	env.Create("custom_field_definitions", map[string]any{"user": owner.Id, "workspace": ws.Id, "field_name": "score", "label": "Score", "field_type": "number"})
	const n = 1200 // above the value indexes' threshold
	var want []string
	err := env.App.RunInTransaction(func(tx core.App) error {
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("t%014d", n-i) // ids descend as rowids ascend
			custom := `{}`
			if i%4 != 0 {
				custom = fmt.Sprintf(`{"score":%d}`, i%2)
			}
			if _, err := tx.DB().Insert("contacts", dbx.Params{"id": id, "workspace": ws.Id, "last_name": "L", "custom": custom,
				"created": "2025-01-01 00:00:00.000Z", "updated": "2025-01-01 00:00:00.000Z"}).Execute(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := customfields.SyncValueIndexes(env.App, ws.Id); err != nil {
		t.Fatal(err)
	}
	// the reference: score ascending, no value last, ties by rowid
	if err := env.App.DB().NewQuery(`SELECT id FROM contacts WHERE workspace = {:ws}
		ORDER BY json_extract(custom, '$.score') IS NULL, json_extract(custom, '$.score'), rowid`).
		Bind(dbx.Params{"ws": ws.Id}).Column(&want); err != nil {
		t.Fatal(err)
	}
	got, plans, _ := all(t, search.NewService(env.App), ws.Id, "sort=cf.score")
	if !slices.Equal(got, want) {
		first := 0
		for first < len(got) && first < len(want) && got[first] == want[first] {
			first++
		}
		t.Errorf("pages (plans %v) differ from (score, rowid) order from position %d of %d", plans[:1], first, len(want))
	}
}
