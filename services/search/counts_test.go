package search_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"testing"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/counts"
	"github.com/pi-crm/pi-crm/services/search"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

func searchAll(t *testing.T, svc *search.Service, ws string, extra url.Values) *search.Result {
	t.Helper()
	v := url.Values{"workspace": {ws}, "perPage": {"200"}}
	for k, vs := range extra {
		v[k] = vs
	}
	q, err := search.ParseQuery(v)
	if err != nil {
		t.Fatal(err)
	}
	res, err := svc.Search(q)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// rawSQL runs a statement as raw-SQL writers do (no hooks), failing t on an
// error.
func rawSQL(t *testing.T, env *testutil.Env) func(sql string, p dbx.Params) {
	return func(sql string, p dbx.Params) {
		t.Helper()
		if _, err := env.App.DB().NewQuery(sql).Bind(p).Execute(); err != nil {
			t.Fatal(err)
		}
	}
}

// The unfiltered total comes from the kept count; every kind of write must
// keep it equal to COUNT(*): record saves and deletes (hooks), raw SQL
// inserts, moves and deletes, and a workspace deleted with its contacts.
func TestContactCountsFollowEveryWritePath(t *testing.T) {
	env := testutil.New(t)
	owner, _ := env.User("counts@example.com")
	a := env.Workspace("A", owner, nil)
	b := env.Workspace("B", owner, nil)
	svc := search.NewService(env.App)

	check := func(step string, wantA, wantB int) {
		t.Helper()
		if err := counts.CheckContactCounts(env.App); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		for ws, want := range map[string]int{a.Id: wantA, b.Id: wantB} {
			res := searchAll(t, svc, ws, nil)
			if res.TotalItems != want || len(res.IDs) != want {
				t.Fatalf("%s: workspace total %d with %d items, want %d", step, res.TotalItems, len(res.IDs), want)
			}
		}
	}
	check("empty", 0, 0)

	var recs []*core.Record
	for _, n := range []string{"Ann", "Bob", "Cid"} {
		recs = append(recs, env.Create("contacts", map[string]any{"workspace": a.Id, "first_name": n}))
	}
	env.Create("contacts", map[string]any{"workspace": b.Id, "first_name": "Dee"})
	check("record saves", 3, 1)

	raw := rawSQL(t, env)
	raw(`INSERT INTO contacts (id, workspace, first_name, created, updated) VALUES ('rawcontact00001', {:ws}, 'Eve', '', ''), ('rawcontact00002', {:ws}, 'Fay', '', '')`,
		dbx.Params{"ws": a.Id})
	check("raw inserts", 5, 1)

	raw(`UPDATE contacts SET workspace = {:b} WHERE id = 'rawcontact00001'`, dbx.Params{"b": b.Id})
	check("raw move to another workspace", 4, 2)
	raw(`UPDATE contacts SET first_name = 'Eva', workspace = workspace WHERE id = 'rawcontact00001'`, nil)
	check("update that keeps the workspace", 4, 2)

	if err := env.App.Delete(recs[0]); err != nil {
		t.Fatal(err)
	}
	check("record delete", 3, 2)
	raw(`DELETE FROM contacts WHERE id = 'rawcontact00002'`, nil)
	check("raw delete", 2, 2)

	if err := env.App.Delete(b); err != nil {
		t.Fatal(err)
	}
	check("workspace deleted with its contacts", 2, 0)
	var left int
	if err := env.App.DB().NewQuery(`SELECT COUNT(*) FROM crm_contact_counts WHERE workspace = {:b}`).Bind(dbx.Params{"b": b.Id}).Row(&left); err != nil || left != 0 {
		t.Fatalf("count row of the deleted workspace: %d %v", left, err)
	}

	// the total really is the kept count (not a COUNT(*) that would hide a
	// broken trigger), and the check and the backfill see and repair drift
	raw(`UPDATE crm_contact_counts SET n = 41 WHERE workspace = {:a}`, dbx.Params{"a": a.Id})
	if res := searchAll(t, svc, a.Id, nil); res.TotalItems != 41 {
		t.Fatalf("unfiltered total %d, want the stored 41", res.TotalItems)
	}
	if err := counts.CheckContactCounts(env.App); err == nil {
		t.Fatal("CheckContactCounts missed a wrong count")
	}
	if err := counts.BackfillContactCounts(env.App); err != nil {
		t.Fatal(err)
	}
	check("after backfill", 2, 0)

	// a filtered search still counts its matches
	if res := searchAll(t, svc, a.Id, url.Values{"q": {"Bob"}}); res.TotalItems != 1 {
		t.Fatalf("filtered total %d, want 1", res.TotalItems)
	}
}

// The items are written by SQLite (json_object); they must be what the
// record API's export gives, with custom as an object, field for field.
func TestItemsMatchRecordExport(t *testing.T) {
	env := testutil.New(t)
	owner, tok := env.User("items@example.com")
	ws := env.Workspace("Items", owner, nil)
	env.Create("contacts", map[string]any{"workspace": ws.Id, "first_name": `Zoë "Q" O'Neil`, "last_name": "Ünal",
		"primary_email": "zoe@example.com", "primary_phone": "+14155550100", "company": "A & B <Ltd>"})
	env.Create("contacts", map[string]any{"workspace": ws.Id, "last_name": "Bare"})
	// rows as raw writers leave them: custom NULL, 'null' or a nested object
	for id, custom := range map[string]any{"rawitems0000001": nil, "rawitems0000002": "null", "rawitems0000003": `{"n":1.5,"t":["a","b"],"o":{"x":true}}`} {
		if _, err := env.App.DB().NewQuery(`INSERT INTO contacts (id, workspace, last_name, custom, created, updated)
			VALUES ({:id}, {:ws}, 'Raw', {:c}, '2025-01-02 03:04:05.678Z', '2025-01-02 03:04:05.678Z')`).
			Bind(dbx.Params{"id": id, "ws": ws.Id, "c": custom}).Execute(); err != nil {
			t.Fatal(err)
		}
	}
	svc := search.NewService(env.App)
	// the default sort walks its index and writes the items in that query;
	// a term starts from its matches and reads the items by id
	for _, c := range []struct {
		q    url.Values
		want int
		plan string
	}{{nil, 5, "walk idx_contacts_search_last"}, {url.Values{"q": {"raw"}}, 3, "ids term"}} {
		res := searchAll(t, svc, ws.Id, c.q)
		if res.Plan != c.plan {
			t.Fatalf("%v: plan %q, want %q", c.q, res.Plan, c.plan)
		}
		checkItems(t, env, res, c.want)
	}

	// the route sends the same page, and the field picker still works
	r := env.Do(http.MethodGet, "/api/crm/contacts/search?perPage=2&workspace="+ws.Id, tok, nil)
	body := r.JSON()
	if r.Status != http.StatusOK || body["totalItems"] != float64(5) || body["totalPages"] != float64(3) || len(body["items"].([]any)) != 2 {
		t.Fatalf("route: %d %s", r.Status, r.Body)
	}
	r = env.Do(http.MethodGet, "/api/crm/contacts/search?perPage=2&fields=totalItems,items.id&workspace="+ws.Id, tok, nil)
	body = r.JSON()
	first, _ := body["items"].([]any)
	if r.Status != http.StatusOK || body["page"] != nil || len(first) != 2 || len(first[0].(map[string]any)) != 1 {
		t.Fatalf("route with fields: %d %s", r.Status, r.Body)
	}
}

func checkItems(t *testing.T, env *testutil.Env, res *search.Result, want int) {
	t.Helper()
	var items []map[string]any
	if err := json.Unmarshal(res.Items, &items); err != nil {
		t.Fatalf("items are not JSON: %v\n%s", err, res.Items)
	}
	if len(items) != want || len(res.IDs) != want || res.TotalItems != want {
		t.Fatalf("%d items, %d ids, total %d, want %d", len(items), len(res.IDs), res.TotalItems, want)
	}
	for i, it := range items {
		if it["id"] != res.IDs[i] {
			t.Fatalf("item %d is %v, the page order says %s", i, it["id"], res.IDs[i])
		}
		rec, err := env.App.FindRecordById("contacts", res.IDs[i])
		if err != nil {
			t.Fatal(err)
		}
		want := rec.PublicExport()
		var custom map[string]any
		if err := rec.UnmarshalJSONField("custom", &custom); err != nil || custom == nil {
			custom = map[string]any{}
		}
		want["custom"] = custom
		wantJSON, _ := json.Marshal(want)
		var wantMap map[string]any
		_ = json.Unmarshal(wantJSON, &wantMap)
		if !reflect.DeepEqual(it, wantMap) {
			t.Errorf("item %s:\n got  %v\n want %v", res.IDs[i], it, wantMap)
		}
	}
}
