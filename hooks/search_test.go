package hooks_test

import (
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

type searchFixture struct {
	env            *testutil.Env
	owner, viewer  *core.Record
	token, vToken  string
	outsiderToken  string
	ws, other      *core.Record
	ann, bob, carl *core.Record
	dan            *core.Record
	names          map[string]string // id -> name, for messages
}

func newSearchFixture(t *testing.T) *searchFixture {
	f := &searchFixture{names: map[string]string{}}
	f.env = testutil.New(t)
	f.owner, f.token = f.env.User("andy@example.com")
	f.viewer, f.vToken = f.env.User("mona@example.com")
	_, f.outsiderToken = f.env.User("eve@example.com")
	f.ws = f.env.Workspace("Main", f.owner, map[*core.Record]string{f.viewer: "viewer"})
	f.other = f.env.Workspace("Other", f.owner, nil)

	def := func(ws, name, typ string, options ...string) {
		fields := map[string]any{"user": f.owner.Id, "field_name": name, "label": name, "field_type": typ}
		if ws != "" {
			fields["workspace"] = ws
		}
		if len(options) > 0 {
			fields["options"] = options
		}
		f.env.Create("custom_field_definitions", fields)
	}
	def("", "tier", "select", "gold", "silver", "bronze") // user-wide: applies through the owner
	def(f.ws.Id, "score", "number")
	def(f.ws.Id, "joined", "date")
	def(f.ws.Id, "notes", "text")
	def(f.ws.Id, "tags", "multiselect", "vip", "press", "vipx")
	def(f.ws.Id, "active", "boolean")

	contact := func(first, last, email, phone, company string, custom map[string]any) *core.Record {
		fields := map[string]any{"workspace": f.ws.Id, "first_name": first, "last_name": last,
			"primary_email": email, "primary_phone": phone, "company": company}
		if custom != nil {
			fields["custom"] = custom
		}
		r := f.env.Create("contacts", fields)
		f.names[r.Id] = first
		return r
	}
	f.ann = contact("Ann", "Smith", "ann.smith@acme.com", "+14155552671", "Acme Corp",
		map[string]any{"tier": "gold", "score": 10, "joined": "2024-01-15", "notes": "Loves 100% cotton", "tags": []string{"vip"}, "active": true})
	f.bob = contact("Bob", "Jones", "bob@globex.com", "+442071838750", "Globex",
		map[string]any{"tier": "silver", "score": 9, "joined": "2023-06-01", "tags": []string{"vipx", "press"}, "active": false})
	f.carl = contact("Carla", "O'Neil", "carla@initech.io", "", "Initech",
		map[string]any{"score": 100, "notes": "o'neil_ x"})
	f.dan = contact("Dan", "Brown", "", "", "", nil)
	// the same names in another workspace must never show up
	f.env.Create("contacts", map[string]any{"workspace": f.other.Id, "first_name": "Ann", "last_name": "Smith", "company": "Acme Corp"})
	return f
}

func (f *searchFixture) search(t *testing.T, token string, params url.Values) testutil.Response {
	t.Helper()
	if params.Get("workspace") == "" {
		params.Set("workspace", f.ws.Id)
	}
	return f.env.Do("GET", "/api/crm/contacts/search?"+params.Encode(), token, nil)
}

// ids returns the item ids of a search response, in order.
func itemIDs(t *testing.T, res testutil.Response) []string {
	t.Helper()
	if res.Status != http.StatusOK {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	items, _ := res.JSON()["items"].([]any)
	out := []string{}
	for _, it := range items {
		m, _ := it.(map[string]any)
		id, _ := m["id"].(string)
		out = append(out, id)
	}
	return out
}

func (f *searchFixture) expect(t *testing.T, name string, params url.Values, want ...*core.Record) {
	t.Helper()
	got := itemIDs(t, f.search(t, f.token, params))
	sort.Strings(got)
	var w []string
	for _, r := range want {
		w = append(w, r.Id)
	}
	sort.Strings(w)
	if strings.Join(got, ",") != strings.Join(w, ",") {
		gn, wn := []string{}, []string{}
		for _, id := range got {
			gn = append(gn, f.names[id])
		}
		for _, id := range w {
			wn = append(wn, f.names[id])
		}
		t.Errorf("%s: got %v, want %v", name, gn, wn)
	}
}

func vals(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

func TestSearchTerm(t *testing.T) {
	f := newSearchFixture(t)
	cases := []struct {
		name string
		p    url.Values
		want []*core.Record
	}{
		{"first name prefix", vals("q", "an"), []*core.Record{f.ann}},
		{"first name prefix, other case", vals("q", "ANN"), []*core.Record{f.ann}},
		{"first name substring", vals("q", "ARL", "match", "contains"), []*core.Record{f.carl}},
		{"substring is not a prefix", vals("q", "arl"), nil},
		{"last name prefix", vals("q", "smI"), []*core.Record{f.ann}},
		{"last name substring", vals("q", "NEI", "match", "contains"), []*core.Record{f.carl}},
		{"full name", vals("q", "ann smi"), []*core.Record{f.ann}},
		{"full name, wrong last", vals("q", "ann jo"), nil},
		{"company prefix", vals("q", "ACME"), []*core.Record{f.ann}},
		{"company substring", vals("q", "corp", "match", "contains"), []*core.Record{f.ann}},
		{"company with a space", vals("q", "acme co"), []*core.Record{f.ann}},
		{"email prefix", vals("q", "BOB@glo"), []*core.Record{f.bob}},
		{"email substring", vals("q", "INITECH.IO", "match", "contains"), []*core.Record{f.carl}},
		{"phone prefix with +", vals("q", "+1415"), []*core.Record{f.ann}},
		{"phone prefix, formatted", vals("q", "44 20"), []*core.Record{f.bob}},
		{"phone substring", vals("q", "555-2671", "match", "contains"), []*core.Record{f.ann}},
		{"no match", vals("q", "zzz"), nil},
		{"no term: everyone", vals(), []*core.Record{f.ann, f.bob, f.carl, f.dan}},
		{"apostrophe", vals("q", "o'n"), []*core.Record{f.carl}},
	}
	for _, c := range cases {
		f.expect(t, c.name, c.p, c.want...)
	}
}

func TestSearchCustomFilters(t *testing.T) {
	f := newSearchFixture(t)
	cases := []struct {
		name string
		p    url.Values
		want []*core.Record
	}{
		{"select eq (user-wide field)", vals("cf.tier", "eq:gold"), []*core.Record{f.ann}},
		{"select eq, other case", vals("cf.tier", "eq:SILVER"), []*core.Record{f.bob}},
		{"number eq", vals("cf.score", "eq:9"), []*core.Record{f.bob}},
		{"number gte is numeric, not text", vals("cf.score", "gte:10"), []*core.Record{f.ann, f.carl}},
		{"number gt", vals("cf.score", "gt:10"), []*core.Record{f.carl}},
		{"number lt", vals("cf.score", "lt:10"), []*core.Record{f.bob}},
		{"number range", []url.Values{{"cf.score": {"gte:9", "lte:10"}}}[0], []*core.Record{f.ann, f.bob}},
		{"number range, decimals", []url.Values{{"cf.score": {"gt:9.5", "lt:99.9"}}}[0], []*core.Record{f.ann}},
		{"date gte", vals("cf.joined", "gte:2024-01-01"), []*core.Record{f.ann}},
		{"date lt", vals("cf.joined", "lt:2024-01-01"), []*core.Record{f.bob}},
		{"date range", []url.Values{{"cf.joined": {"gte:2023-06-01", "lte:2024-01-15"}}}[0], []*core.Record{f.ann, f.bob}},
		{"date range excludes", []url.Values{{"cf.joined": {"gt:2023-06-01", "lt:2024-01-15"}}}[0], nil},
		{"date eq", vals("cf.joined", "eq:2023-06-01"), []*core.Record{f.bob}},
		{"text contains with %", vals("cf.notes", "contains:100%"), []*core.Record{f.ann}},
		{"text contains, case", vals("cf.notes", "contains:COTTON"), []*core.Record{f.ann}},
		{"text contains _ literally", vals("cf.notes", "contains:_"), []*core.Record{f.carl}},
		{"text contains % literally", vals("cf.notes", "contains:%"), []*core.Record{f.ann}},
		{"text eq, case-insensitive", vals("cf.notes", "eq:LOVES 100% COTTON"), []*core.Record{f.ann}},
		{"multiselect eq is membership, not substring", vals("cf.tags", "eq:vip"), []*core.Record{f.ann}},
		{"multiselect eq other option", vals("cf.tags", "eq:press"), []*core.Record{f.bob}},
		{"boolean eq", vals("cf.active", "eq:false"), []*core.Record{f.bob}},
		{"empty", vals("cf.joined", "empty:"), []*core.Record{f.carl, f.dan}},
		{"not empty", vals("cf.joined", "notempty:"), []*core.Record{f.ann, f.bob}},
		{"empty number", vals("cf.score", "empty:"), []*core.Record{f.dan}},
		{"filter= syntax", vals("filter", "score:gte:100"), []*core.Record{f.carl}},
		{"filter= on a base field", vals("filter", "company:eq:globex"), []*core.Record{f.bob}},
		{"base field empty", vals("filter", "primary_email:empty:"), []*core.Record{f.dan}},
		{"combined with a term", vals("q", "a", "cf.score", "gte:10"), []*core.Record{f.ann}},
	}
	for _, c := range cases {
		f.expect(t, c.name, c.p, c.want...)
	}

	bad := []struct {
		name, code string
		p          url.Values
	}{
		{"unknown field", "custom_field_unknown", vals("cf.nope", "eq:1")},
		{"field of another user", "custom_field_unknown", vals("filter", "nope:eq:1")},
		{"unknown operator", "search_invalid", vals("cf.score", "like:1")},
		{"no operator", "search_invalid", vals("cf.score", "10")},
		{"number not a number", "search_invalid", vals("cf.score", "gte:ten")},
		{"number NaN", "search_invalid", vals("cf.score", "gte:NaN")},
		{"date not a date", "search_invalid", vals("cf.joined", "gte:yesterday")},
		{"contains on a number", "search_invalid", vals("cf.score", "contains:1")},
		{"range on text", "search_invalid", vals("cf.notes", "gt:a")},
		{"select option unknown", "search_invalid", vals("cf.tier", "eq:platinum")},
		{"boolean not a boolean", "search_invalid", vals("cf.active", "eq:maybe")},
		{"sort unknown", "search_invalid", vals("sort", "password")},
		{"sort unknown custom", "custom_field_unknown", vals("sort", "cf.nope")},
		{"bad match", "search_invalid", vals("match", "regex")},
		{"bad page", "search_invalid", vals("page", "0")},
		{"bad perPage", "search_invalid", vals("perPage", "100000")},
	}
	for _, c := range bad {
		res := f.search(t, f.token, c.p)
		if res.Status != http.StatusBadRequest || res.Code() != c.code {
			t.Errorf("%s: want 400 %s, got %d %s", c.name, c.code, res.Status, res.Body)
		}
	}
}

func TestSearchItemsCarryCustomValues(t *testing.T) {
	f := newSearchFixture(t)
	res := f.search(t, f.token, vals("q", "ann"))
	items, _ := res.JSON()["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("%s", res.Body)
	}
	it := items[0].(map[string]any)
	custom, _ := it["custom"].(map[string]any)
	if custom["score"] != float64(10) || custom["tier"] != "gold" || custom["joined"] != "2024-01-15" || custom["active"] != true {
		t.Errorf("custom values: %v", custom)
	}
	if it["primary_email"] != "ann.smith@acme.com" || it["collectionName"] != "contacts" {
		t.Errorf("item: %v", it)
	}
}

func TestSearchListFilter(t *testing.T) {
	f := newSearchFixture(t)
	list := f.env.Create("contact_lists", map[string]any{"workspace": f.ws.Id, "name": "Newsletter"})
	f.env.Create("contact_list_assignments", map[string]any{"contact": f.ann.Id, "list": list.Id})
	f.env.Create("contact_list_assignments", map[string]any{"contact": f.carl.Id, "list": list.Id})
	f.expect(t, "list", vals("list", list.Id), f.ann, f.carl)
	f.expect(t, "list and term", vals("list", list.Id, "q", "carla"), f.carl)
	f.expect(t, "list and custom", vals("list", list.Id, "cf.score", "lt:50"), f.ann)
	f.expect(t, "unknown list", vals("list", "nosuchlist12345"))
}

func TestSearchSortAndPages(t *testing.T) {
	f := newSearchFixture(t)
	order := func(p url.Values) string {
		var names []string
		for _, id := range itemIDs(t, f.search(t, f.token, p)) {
			names = append(names, f.names[id])
		}
		return strings.Join(names, ",")
	}
	for _, c := range []struct{ sort, want string }{
		{"cf.score", "Bob,Ann,Carla,Dan"}, // 9 < 10 < 100 numerically, no value last
		{"-cf.score", "Carla,Ann,Bob,Dan"},
		{"cf.joined", "Bob,Ann,Carla,Dan"}, // Carla and Dan have none: last, by id
		{"-cf.joined", "Ann,Bob"},
		{"first_name", "Ann,Bob,Carla,Dan"},
		{"-company", "Initech,Globex,Acme"},
		{"", "Brown,Jones,O'Neil,Smith"},
	} {
		got := order(vals("sort", c.sort))
		switch c.sort {
		case "cf.joined":
			if !strings.HasPrefix(got, "Bob,Ann,") {
				t.Errorf("sort %s: %s", c.sort, got)
			}
		case "-cf.joined":
			if !strings.HasPrefix(got, c.want+",") {
				t.Errorf("sort %s: %s", c.sort, got)
			}
		case "-company":
			if got != "Carla,Bob,Ann,Dan" {
				t.Errorf("sort %s: %s", c.sort, got)
			}
		case "":
			if got != "Dan,Bob,Carla,Ann" {
				t.Errorf("default sort (last name): %s", got)
			}
		default:
			if got != c.want {
				t.Errorf("sort %s: got %s, want %s", c.sort, got, c.want)
			}
		}
	}

	seen := map[string]bool{}
	for page := 1; page <= 3; page++ {
		res := f.search(t, f.token, vals("sort", "cf.score", "perPage", "2", "page", string(rune('0'+page))))
		m := res.JSON()
		if m["totalItems"] != float64(4) || m["totalPages"] != float64(2) || m["perPage"] != float64(2) || m["page"] != float64(page) {
			t.Errorf("page %d: %v", page, m)
		}
		ids := itemIDs(t, res)
		if want := map[int]int{1: 2, 2: 2, 3: 0}[page]; len(ids) != want {
			t.Errorf("page %d has %d items, want %d", page, len(ids), want)
		}
		for _, id := range ids {
			if seen[id] {
				t.Errorf("contact %s on two pages", f.names[id])
			}
			seen[id] = true
		}
	}
	if len(seen) != 4 {
		t.Errorf("pages covered %d contacts, want 4", len(seen))
	}
}

func TestSearchAccess(t *testing.T) {
	f := newSearchFixture(t)
	if res := f.search(t, f.outsiderToken, vals()); res.Status != http.StatusNotFound || res.Code() != "workspace_not_found" {
		t.Errorf("non-member: %d %s", res.Status, res.Body)
	}
	if res := f.search(t, f.token, vals("workspace", "nosuchworkspace")); res.Status != http.StatusNotFound || res.Code() != "workspace_not_found" {
		t.Errorf("unknown workspace: %d %s", res.Status, res.Body)
	}
	if res := f.search(t, "", vals()); res.Status != http.StatusUnauthorized {
		t.Errorf("anonymous: %d %s", res.Status, res.Body)
	}
	if ids := itemIDs(t, f.search(t, f.vToken, vals("q", "ann"))); len(ids) != 1 || ids[0] != f.ann.Id {
		t.Errorf("viewer search: %v", ids)
	}
	// the viewer is not a member of Other
	if res := f.search(t, f.vToken, vals("workspace", f.other.Id)); res.Status != http.StatusNotFound {
		t.Errorf("viewer in a workspace of which it is no member: %d", res.Status)
	}
	dupPath := "/api/crm/workspaces/" + f.ws.Id + "/duplicates"
	if res := f.env.Do("GET", dupPath, f.outsiderToken, nil); res.Status != http.StatusNotFound || res.Code() != "workspace_not_found" {
		t.Errorf("duplicates, non-member: %d %s", res.Status, res.Body)
	}
	if res := f.env.Do("GET", dupPath, f.vToken, nil); res.Status != http.StatusOK {
		t.Errorf("duplicates, viewer: %d %s", res.Status, res.Body)
	}

	kf := &keyFixture{env: f.env, user: f.owner, token: f.token}
	path := "/api/crm/contacts/search?workspace=" + f.ws.Id + "&q=ann"
	tpl := kf.key(t, map[string]any{"scopes": []string{"templates:read"}})
	read := kf.key(t, map[string]any{"scopes": []string{"contacts:read"}})
	readOther := kf.key(t, map[string]any{"scopes": []string{"contacts:read"}, "workspace": f.other.Id})
	readHere := kf.key(t, map[string]any{"scopes": []string{"contacts:read"}, "workspace": f.ws.Id})
	for _, c := range []struct {
		name, key, path string
		status          int
		code            string
	}{
		{"key without contacts:read", tpl, path, 403, "api_key_scope_missing"},
		{"key without contacts:read, duplicates", tpl, dupPath, 403, "api_key_scope_missing"},
		{"contacts:read", read, path, 200, ""},
		{"contacts:read, duplicates", read, dupPath, 200, ""},
		{"key restricted to another workspace", readOther, path, 404, "workspace_not_found"},
		{"key restricted to another workspace, duplicates", readOther, dupPath, 404, "workspace_not_found"},
		{"key restricted to this workspace", readHere, path, 200, ""},
	} {
		res := f.env.DoWithHeaders("GET", c.path, "", withKey(c.key), nil)
		if res.Status != c.status || res.Code() != c.code {
			t.Errorf("%s: %d %s", c.name, res.Status, res.Body)
		}
	}
}

// Hostile input is either refused with a 400 or matched literally (and so
// finds nothing); it never reaches SQL as SQL.
func TestSearchHostileInput(t *testing.T) {
	f := newSearchFixture(t)
	hostile := []string{
		"'", `"`, "%", "_", "%%", "a%", "_nn", `\`, "' OR '1'='1", `" OR ""="`, "'; DROP TABLE contacts; --",
		"1) UNION SELECT id FROM users --", "*/ SELECT 1 /*", "\x00", "{:ws}", "{:p0}", "ann' --",
	}
	for _, h := range hostile {
		// these match literally and nothing here starts with or equals them;
		// "contains" may legitimately match (O'Neil holds a quote)
		mustBeEmpty := []url.Values{vals("q", h), vals("cf.notes", "eq:"+h), vals("filter", "company:eq:"+h), vals("list", h)}
		others := []url.Values{vals("q", h, "match", "contains"), vals("cf.notes", "contains:"+h),
			vals("cf.tier", "eq:"+h), vals("cf.score", "gte:"+h), vals("cf.joined", "lt:"+h), vals("cf."+h, "eq:1"),
			vals("sort", h), vals("sort", "cf."+h), vals("filter", h), vals("workspace", h)}
		for i, p := range append(mustBeEmpty, others...) {
			res := f.search(t, f.token, p)
			switch res.Status {
			case http.StatusOK:
				if n := len(itemIDs(t, res)); i < len(mustBeEmpty) && n != 0 {
					t.Errorf("%v: hostile input matched %d contacts", p, n)
				}
			case http.StatusBadRequest, http.StatusNotFound:
			default:
				t.Errorf("%v: %d %s", p, res.Status, res.Body)
			}
		}
	}
	var n int
	if err := f.env.App.DB().NewQuery("SELECT COUNT(*) FROM contacts").Row(&n); err != nil || n != 5 {
		t.Errorf("contacts after hostile searches: %d %v", n, err)
	}
	// literally: a name that contains the characters is found
	f.env.Create("contacts", map[string]any{"workspace": f.ws.Id, "first_name": "100%_o'k", "last_name": "X"})
	if ids := itemIDs(t, f.search(t, f.token, vals("q", "%_o'", "match", "contains"))); len(ids) != 1 {
		t.Errorf("literal %%_o' found %d", len(ids))
	}
	if ids := itemIDs(t, f.search(t, f.token, vals("q", "100%_"))); len(ids) != 1 {
		t.Errorf("literal prefix 100%%_ found %d", len(ids))
	}
	if ids := itemIDs(t, f.search(t, f.token, vals("q", "1__%"))); len(ids) != 0 {
		t.Errorf("_ or %% acted as a wildcard: %d", len(ids))
	}
}

func TestDuplicates(t *testing.T) {
	f := newSearchFixture(t)
	// Email and phone are normalised on every write and unique per
	// workspace, so only rows written around the hooks (legacy data, raw bulk
	// SQL) can differ in spelling only: insert those directly.
	raw := func(id, first, last, email, phone, company string) {
		_, err := f.env.App.DB().Insert("contacts", dbx.Params{"id": id, "workspace": f.ws.Id, "first_name": first, "last_name": last,
			"primary_email": email, "primary_phone": phone, "company": company,
			"created": "2025-01-01 00:00:00.000Z", "updated": "2025-01-01 00:00:00.000Z"}).Execute()
		if err != nil {
			t.Fatal(err)
		}
	}
	raw("dupemail0000001", "Pat", "One", "Pat@Example.org", "", "")
	raw("dupemail0000002", "Patricia", "Other", " pat@example.org", "", "")
	raw("dupphone0000001", "Quinn", "A", "", "+1 415-555-0199", "")
	raw("dupphone0000002", "Rory", "B", "", "+14155550199", "")
	mk := func(first, last, email, company string) *core.Record {
		r := f.env.Create("contacts", map[string]any{"workspace": f.ws.Id, "first_name": first, "last_name": last, "primary_email": email, "company": company})
		f.names[r.Id] = first + " " + last
		return r
	}
	eve1, eve2 := mk("Eve", "Adams", "", "Umbrella"), mk(" eve ", "ADAMS", "eve@else.org", "umbrella")
	fr1, fr2 := mk("Frank", "Miller", "frank@stark.com", ""), mk("frank", "Miller", "f.miller@STARK.com", "")
	jon, john, j := mk("Jon", "Snow", "jon@north.org", ""), mk("John", "Snow", "", ""), mk("J.", "Snow", "", "")
	// distinct people: similar-looking but not duplicates
	mk("Gina", "Lopez", "gina@a.org", "Umbrella")
	mk("Gary", "Lopez", "gary@a.org", "Umbrella")
	mk("Frank", "Miller", "frank@gmail.com", "")
	mk("Eve", "Adams", "", "Other Corp")
	// same name in another workspace: never grouped across workspaces
	f.env.Create("contacts", map[string]any{"workspace": f.other.Id, "first_name": "Eve", "last_name": "Adams", "company": "Umbrella"})

	res := f.env.Do("GET", "/api/crm/workspaces/"+f.ws.Id+"/duplicates?perPage=50", f.token, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	items, _ := res.JSON()["items"].([]any)
	got := map[string]string{} // reason -> sorted ids
	for _, it := range items {
		m := it.(map[string]any)
		var ids []string
		for _, id := range m["contacts"].([]any) {
			ids = append(ids, id.(string))
		}
		sort.Strings(ids)
		reason := m["reason"].(string)
		if _, dup := got[reason]; dup {
			t.Errorf("two %s groups: %v", reason, items)
		}
		got[reason] = strings.Join(ids, ",")
		if s, _ := m["score"].(float64); s <= 0 || s > 1 {
			t.Errorf("score %v", m["score"])
		}
	}
	sorted := func(ids ...string) string { sort.Strings(ids); return strings.Join(ids, ",") }
	want := map[string]string{
		"same_email":             sorted("dupemail0000001", "dupemail0000002"),
		"same_phone":             sorted("dupphone0000001", "dupphone0000002"),
		"same_name_company":      sorted(eve1.Id, eve2.Id),
		"same_name_email_domain": sorted(fr1.Id, fr2.Id),
		"similar_name":           sorted(jon.Id, john.Id, j.Id),
	}
	for reason, ids := range want {
		if got[reason] != ids {
			t.Errorf("%s: got %q, want %q", reason, got[reason], ids)
		}
	}
	if len(got) != len(want) {
		t.Errorf("unexpected groups: %s", res.Body)
	}
	if m := res.JSON(); m["totalItems"] != float64(5) {
		t.Errorf("totalItems %v", m["totalItems"])
	}
	// paging: highest score first, one group a page
	p2 := f.env.Do("GET", "/api/crm/workspaces/"+f.ws.Id+"/duplicates?perPage=1&page=2", f.token, nil).JSON()
	if it, _ := p2["items"].([]any); len(it) != 1 || it[0].(map[string]any)["reason"] != "same_phone" || p2["totalPages"] != float64(5) {
		t.Errorf("page 2: %v", p2)
	}
	if r := f.env.Do("GET", "/api/crm/workspaces/"+f.ws.Id+"/duplicates?perPage=abc", f.token, nil); r.Status != 400 || r.Code() != "search_invalid" {
		t.Errorf("bad perPage: %d %s", r.Status, r.Body)
	}
}
