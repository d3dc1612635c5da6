package hooks_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"testing"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pocketbase/pocketbase/core"
)

type listPage struct {
	TotalItems int `json:"totalItems"`
	TotalPages int `json:"totalPages"`
	Items      []struct {
		ID string `json:"id"`
	} `json:"items"`
}

func (p listPage) ids() []string {
	out := make([]string, len(p.Items))
	for i, it := range p.Items {
		out[i] = it.ID
	}
	sort.Strings(out)
	return out
}

// The collection API's contact list answers its total from the kept counts
// (services/counts/listtotal.go) for the SDK's own request (no filter) and for
// a workspace filter: for every kind of principal the total, the pages and the
// items equal what PocketBase's own count gives for the same set (a filter the
// counts do not answer, so PocketBase counts).
func TestContactsListTotalMatchesPocketBase(t *testing.T) {
	env := testutil.New(t)
	andy, andyTok := env.User("andy@example.com")
	mona, monaTok := env.User("mona@example.com")
	leaver, leaverTok := env.User("leaver@example.com")
	_, eveTok := env.User("eve@example.com")
	a := env.Workspace("A", andy, map[*core.Record]string{mona: "viewer", leaver: "editor"})
	b := env.Workspace("B", andy, nil)
	c := env.Workspace("C", mona, nil) // andy is not in C
	for ws, n := range map[*core.Record]int{a: 7, b: 3, c: 5} {
		for i := range n {
			env.Create("contacts", map[string]any{"workspace": ws.Id, "primary_email": fmt.Sprintf("%s%d@example.org", ws.GetString("name"), i)})
		}
	}
	// leaver is removed from A: reads nothing any more
	m, err := env.App.FindFirstRecordByFilter("workspace_members", "workspace={:w} && user={:u}", map[string]any{"w": a.Id, "u": leaver.Id})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.App.Delete(m); err != nil {
		t.Fatal(err)
	}

	key := func(tok string, body map[string]any) map[string]string {
		res := env.Do("POST", "/api/crm/api-keys", tok, body)
		if res.Status != http.StatusOK {
			t.Fatalf("create key: %d %s", res.Status, res.Body)
		}
		return map[string]string{"X-Api-Key": res.JSON()["key"].(string)}
	}
	inactive := key(andyTok, map[string]any{"scopes": []string{"contacts:read"}})
	rec, err := env.App.FindFirstRecordByFilter("api_keys", "is_active = true", nil)
	if err != nil {
		t.Fatal(err)
	}
	rec.Set("is_active", false)
	if err := env.App.Save(rec); err != nil {
		t.Fatal(err)
	}

	type who struct {
		name    string
		token   string
		headers map[string]string
	}
	principals := []who{
		{"owner of A and B", andyTok, nil},
		{"viewer of A, owner of C", monaTok, nil},
		{"removed member", leaverTok, nil},
		{"outsider", eveTok, nil},
		{"guest", "", nil},
		{"superuser", env.SuperuserToken(), nil},
		{"unrestricted key", "", key(andyTok, map[string]any{"scopes": []string{"contacts:read"}})},
		{"key restricted to B", "", key(andyTok, map[string]any{"scopes": []string{"contacts:write"}, "workspace": b.Id})},
		{"key without a contacts scope", "", key(andyTok, map[string]any{"scopes": []string{"templates:read"}})},
		{"inactive key", "", inactive},
		{"viewer's key", "", key(monaTok, map[string]any{"scopes": []string{"contacts:read"}})},
	}
	get := func(p who, query string) (int, listPage) {
		t.Helper()
		res := env.DoWithHeaders("GET", "/api/collections/contacts/records?"+query, p.token, p.headers, nil)
		var page listPage
		if res.Status == http.StatusOK {
			if err := json.Unmarshal(res.Body, &page); err != nil {
				t.Fatal(err)
			}
		}
		return res.Status, page
	}
	// the query a client sends (the JS SDK: getList(1, 4, {filter})), encoded
	// as url.Values does it
	filter := func(f string) string { return url.Values{"perPage": {"4"}, "filter": {f}}.Encode() }
	for _, p := range principals {
		for _, tc := range []struct{ fast, counted string }{
			{"perPage=4", filter(`id != ""`)},
			{"page=2&perPage=4", url.Values{"page": {"2"}, "perPage": {"4"}, "filter": {`id != ""`}}.Encode()},
			{filter(workspaceIs(a.Id)), filter("(" + workspaceIs(a.Id) + ")")},
			{filter(workspaceIs(b.Id)), filter("(" + workspaceIs(b.Id) + ")")},
			{filter(workspaceIs(c.Id)), filter("(" + workspaceIs(c.Id) + ")")},
			{filter(`workspace = "nosuchworkspace"`), filter(`(workspace = "nosuchworkspace")`)},
		} {
			fs, fast := get(p, tc.fast)
			cs, counted := get(p, tc.counted)
			if fs != cs || fast.TotalItems != counted.TotalItems || fast.TotalPages != counted.TotalPages ||
				fmt.Sprint(fast.ids()) != fmt.Sprint(counted.ids()) {
				t.Errorf("%s, %s: HTTP %d total %d pages %d items %v; PocketBase's count: HTTP %d total %d pages %d items %v",
					p.name, tc.fast, fs, fast.TotalItems, fast.TotalPages, fast.ids(), cs, counted.TotalItems, counted.TotalPages, counted.ids())
			}
		}
	}
	// the figures themselves, for the principals whose answer is known
	for _, tc := range []struct {
		p     who
		total int
	}{{principals[0], 10}, {principals[1], 12}, {principals[2], 0}, {principals[3], 0}, {principals[4], 0},
		{principals[6], 10}, {principals[7], 3}, {principals[8], 0}, {principals[9], 0}, {principals[10], 12}} {
		if _, page := get(tc.p, "perPage=4"); page.TotalItems != tc.total {
			t.Errorf("%s: total %d, want %d", tc.p.name, page.TotalItems, tc.total)
		}
	}
	// a client that asks for no total gets none
	if _, page := get(principals[0], "perPage=4&skipTotal=1"); page.TotalItems != -1 || page.TotalPages != -1 {
		t.Errorf("skipTotal: total %d pages %d, want -1 -1", page.TotalItems, page.TotalPages)
	}
}

// The fast answer really comes from the kept counts (so the test above
// compares two different computations): a count changed behind the triggers'
// back shows in the SDK's list and not in a list PocketBase counts.
func TestContactsListTotalReadsKeptCounts(t *testing.T) {
	env := testutil.New(t)
	andy, tok := env.User("andy@example.com")
	ws := env.Workspace("A", andy, nil)
	for i := range 3 {
		env.Create("contacts", map[string]any{"workspace": ws.Id, "primary_email": fmt.Sprintf("c%d@example.org", i)})
	}
	if _, err := env.App.DB().NewQuery("UPDATE crm_contact_counts SET n = n + 100").Execute(); err != nil {
		t.Fatal(err)
	}
	total := func(query string) int {
		var page listPage
		res := env.Do("GET", "/api/collections/contacts/records?"+query, tok, nil)
		if err := json.Unmarshal(res.Body, &page); err != nil || res.Status != 200 {
			t.Fatalf("%s: %d %s", query, res.Status, res.Body)
		}
		return page.TotalItems
	}
	if got := total(""); got != 103 {
		t.Errorf("the SDK's list: total %d, want the kept 103", got)
	}
	if got := total(url.Values{"filter": {workspaceIs(ws.Id)}}.Encode()); got != 103 {
		t.Errorf("workspace filter: total %d, want the kept 103", got)
	}
	if got := total(url.Values{"filter": {`primary_email != ""`}}.Encode()); got != 3 {
		t.Errorf("another filter: total %d, want PocketBase's 3", got)
	}
}

// workspaceIs is the filter a client writes for one workspace, the id quoted
// as the JS SDK's pb.filter("workspace = {:w}", {w}) quotes it.
func workspaceIs(id string) string { return "workspace = " + strconv.Quote(id) }
