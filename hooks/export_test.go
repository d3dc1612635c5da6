package hooks_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/pi-crm/pi-crm/cmd"
	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/contacts"
	"github.com/pi-crm/pi-crm/services/customfields"
	"github.com/pi-crm/pi-crm/services/export"
	"github.com/pi-crm/pi-crm/services/imports"
	"github.com/pocketbase/dbx"
	"github.com/spf13/cobra"
)

// exportFixture: 2,400 contacts (past customfields.ValueIndexMinContacts,
// so the custom fields have value indexes and the planner has index plans
// to choose from), 1,500 of them in a big list, 5 in a small one.
type exportFixture struct {
	env        *testutil.Env
	token      string
	ws         string
	big, small string
	exp        *export.Service
}

func newExportFixture(t *testing.T) *exportFixture {
	env := testutil.New(t)
	owner, token := env.User("exporter@example.com")
	ws := env.Workspace("Export", owner, nil)
	def := func(name, typ string, options ...string) {
		fields := map[string]any{"user": owner.Id, "workspace": ws.Id, "field_name": name, "label": name, "field_type": typ}
		if len(options) > 0 {
			fields["options"] = options
		}
		env.Create("custom_field_definitions", fields)
	}
	def("tier", "select", "gold", "silver", "bronze")
	def("score", "number")
	def("joined", "date")
	def("notes", "text")
	def("tags", "multiselect", "vip", "press")
	big := env.Create("contact_lists", map[string]any{"workspace": ws.Id, "name": "Big"})
	small := env.Create("contact_lists", map[string]any{"workspace": ws.Id, "name": "Small"})

	firsts := []string{"Ann", "Anna", "Annie", "Bob", "Carla", "Dan", "Smith"}
	lasts := []string{"Smith", "Smithers", "Jones", "Brown", "Annan"}
	companies := []string{"Acme Corp", "Smith & Co", "Globex", ""}
	tiers := []string{"gold", "silver", "bronze", ""}
	file := func(from, to int) string {
		var b strings.Builder
		b.WriteString("first_name,last_name,primary_email,primary_phone,company,tier,score,joined,notes,tags\n")
		for i := from; i < to; i++ {
			first, last := firsts[i%7], lasts[(i/7)%5]
			email, phone, score, joined, notes, tags := "", "", "", "", "", ""
			if i%11 != 0 {
				email = fmt.Sprintf("%s.%s%d@ex%d.com", strings.ToLower(first), strings.ToLower(last), i, i%3)
			}
			if i%5 == 0 {
				phone = fmt.Sprintf("+1415555%04d", i)
			}
			if i%9 != 0 {
				score = fmt.Sprint((i * 37) % 100)
			}
			if i%6 != 0 {
				joined = fmt.Sprintf("2023-%02d-%02d", 1+i%12, 1+i%28)
			}
			if i%10 == 0 {
				notes = "has an x"
			}
			switch i % 8 {
			case 0:
				tags = "vip"
			case 1:
				tags = `"[""vip"",""press""]"`
			}
			fmt.Fprintf(&b, "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", first, last, email, phone, companies[i%4], tiers[(i/3)%4], score, joined, notes, tags)
		}
		return b.String()
	}
	run := func(src, list string) {
		path := filepath.Join(t.TempDir(), "in.csv")
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		in, _ := os.Open(path)
		defer in.Close()
		_, c, err := env.Imports().RunLocal(imports.Input{Workspace: ws.Id, FileName: "in.csv",
			Options: imports.Options{Mode: imports.ModeCreate, List: list}}, in, nil)
		if err != nil || c.Failed != 0 {
			t.Fatalf("import: %+v %v", c, err)
		}
	}
	run(file(0, 1500), big.Id)
	run(file(1500, 2400), "")
	var ids []string
	_ = env.App.DB().NewQuery("SELECT id FROM contacts WHERE workspace = {:ws} ORDER BY rowid LIMIT 5 OFFSET 1700").
		Bind(dbx.Params{"ws": ws.Id}).Column(&ids)
	for _, id := range ids {
		env.Create("contact_list_assignments", map[string]any{"contact": id, "list": small.Id})
	}
	cs := contacts.NewService(env.App)
	return &exportFixture{env: env, token: token, ws: ws.Id, big: big.Id, small: small.Id,
		exp: export.NewService(env.App, customfields.NewService(env.App, cs), nil)}
}

// searchAll: the ids the search route returns for p across all its pages.
func (f *exportFixture) searchAll(t *testing.T, p url.Values, perPage int) []string {
	t.Helper()
	var all []string
	for page := 1; ; page++ {
		v := cloneVals(p)
		v.Set("workspace", f.ws)
		v.Set("page", fmt.Sprint(page))
		v.Set("perPage", fmt.Sprint(perPage))
		res := f.env.Do("GET", "/api/crm/contacts/search?"+v.Encode(), f.token, nil)
		ids := itemIDs(t, res)
		all = append(all, ids...)
		if total, _ := res.JSON()["totalPages"].(float64); page >= int(total) {
			return all
		}
	}
}

func cloneVals(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// csvIDs reads the id column of an export written with columns=id.
func csvIDs(t *testing.T, body []byte) []string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")))).ReadAll()
	if err != nil || len(rows) == 0 || len(rows[0]) != 1 || rows[0][0] != "id" {
		t.Fatalf("not an id export: %v %.200q", err, body)
	}
	ids := []string{}
	for _, r := range rows[1:] {
		ids = append(ids, r[0])
	}
	return ids
}

func (f *exportFixture) exportCount(t *testing.T) int {
	t.Helper()
	var n int
	if err := f.env.App.DB().NewQuery("SELECT count(*) FROM " + audit.Collection + " WHERE action = {:a} AND workspace = {:ws}").
		Bind(dbx.Params{"a": export.ActionExport, "ws": f.ws}).Row(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// cliArgs: the flags of `pi-crm export` for the route's parameters p.
func cliArgs(p url.Values) []string {
	var args []string
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range p[k] {
			switch {
			case strings.HasPrefix(k, "cf."):
				args = append(args, "--cf", strings.TrimPrefix(k, "cf.")+"="+v)
			default:
				args = append(args, "--"+k, v)
			}
		}
	}
	return args
}

// One query language: for each set of search parameters, the contacts the
// export route, the export service and `pi-crm export` write are the
// contacts the search route returns over all its pages, in its order (an
// export without sort is in creation order: the search's sort=created).
// Each route and command-line export writes one audit entry.
func TestExportEqualsSearch(t *testing.T) {
	f := newExportFixture(t)
	cases := []struct {
		name    string
		p       url.Values
		perPage int
	}{
		{"everything", vals(), 200},
		{"one word", vals("q", "ann"), 200},
		{"two words", vals("q", "ann smith"), 50},
		{"reversed name", vals("q", "smith ann"), 200},
		{"phone digits", vals("q", "1415555"), 200},
		{"contains", vals("q", "nie", "match", "contains"), 200},
		{"contains two words", vals("q", "ann smi", "match", "contains"), 200},
		{"big list", vals("list", f.big), 200},
		{"small list", vals("list", f.small), 200},
		{"select eq", vals("cf.tier", "eq:GOLD"), 200},
		{"number range", vals("cf.score", "gte:10", "cf.score", "lt:40"), 200},
		{"date lte", vals("cf.joined", "lte:2023-03-15"), 200},
		{"multiselect", vals("cf.tags", "eq:press"), 200},
		{"text contains", vals("cf.notes", "contains:X"), 200},
		{"empty", vals("cf.tier", "empty:"), 200},
		{"notempty", vals("cf.score", "notempty:"), 200},
		{"filter form", vals("filter", "cf.tier:eq:silver", "filter", "company:eq:acme corp"), 200},
		{"combined", vals("q", "ann", "list", f.big, "cf.tier", "eq:gold", "cf.score", "gte:20", "sort", "-cf.score"), 200},
		{"combined contains", vals("q", "mit", "match", "contains", "cf.tags", "eq:vip", "sort", "first_name"), 200},
		{"sort by name (the contacts view)", vals("sort", "last_name"), 200},
		{"sort desc created", vals("sort", "-created"), 200},
		{"sort custom asc, filtered", vals("list", f.big, "sort", "cf.joined"), 200},
		{"sort custom desc", vals("q", "an", "sort", "-cf.score"), 200},
		{"sort unindexed", vals("cf.tier", "eq:bronze", "sort", "-primary_email"), 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sp := cloneVals(c.p)
			if sp.Get("sort") == "" {
				sp.Set("sort", "created")
			}
			want := f.searchAll(t, sp, c.perPage)
			if len(want) == 0 {
				t.Fatalf("the search finds nothing: a weak case")
			}

			// the route (a workspace in the query is the path's anyway)
			before := f.exportCount(t)
			ep := cloneVals(c.p)
			ep.Set("columns", "id")
			res := f.env.Do("GET", "/api/crm/workspaces/"+f.ws+"/export?"+ep.Encode(), f.token, nil)
			if res.Status != 200 {
				t.Fatalf("export %d %s", res.Status, res.Body)
			}
			if got := csvIDs(t, res.Body); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("route: %d rows, search %d\n got %.300v\nwant %.300v", len(got), len(want), got, want)
			}
			if n := f.exportCount(t); n != before+1 {
				t.Errorf("route: %d audit entries", n-before)
			}

			// the service
			ep.Set("workspace", f.ws)
			q, err := export.ParseQuery(ep)
			if err != nil {
				t.Fatal(err)
			}
			if p, err := f.exp.Prepare(q); err == nil {
				t.Logf("%d rows, plan %s", len(want), p.Plan())
			}
			var out bytes.Buffer
			if n, err := f.exp.Export(&out, q); err != nil || n != len(want) {
				t.Fatalf("service: %d %v", n, err)
			}
			if got := csvIDs(t, out.Bytes()); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("service differs from search")
			}

			// the command line
			before = f.exportCount(t)
			file := filepath.Join(t.TempDir(), "out.csv")
			args := append([]string{"--workspace", f.ws, "--out", file, "--columns", "id"}, cliArgs(c.p)...)
			if _, stderr, err := execute(cmd.NewExportCommand(f.env.App), args...); err != nil {
				t.Fatalf("cli %v: %v %s", args, err, stderr)
			}
			body, _ := os.ReadFile(file)
			if got := csvIDs(t, body); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("cli %v: %d rows, search %d", args, len(got), len(want))
			}
			if n := f.exportCount(t); n != before+1 {
				t.Errorf("cli: %d audit entries", n-before)
			}
		})
	}
	// the bug this fixes: a two-word term exported nothing
	if ids := f.searchAll(t, vals("q", "ann smith", "sort", "created"), 200); len(ids) == 0 {
		t.Error("q=ann smith finds nothing")
	}
}

// The audit entries: the route's names the caller; the command line's has
// no user and says so in details.via.
func TestExportAuditEntries(t *testing.T) {
	f := newExportFixture(t)
	if res := f.env.Do("GET", "/api/crm/workspaces/"+f.ws+"/export?q=ann&cf.tier=eq:gold&columns=id", f.token, nil); res.Status != 200 {
		t.Fatalf("export %d %s", res.Status, res.Body)
	}
	if _, _, err := execute(cmd.NewExportCommand(f.env.App), "--workspace", f.ws, "--out", filepath.Join(t.TempDir(), "x.csv"), "--q", "ann", "--cf", "tier=eq:gold"); err != nil {
		t.Fatal(err)
	}
	recs, err := f.env.App.FindRecordsByFilter(audit.Collection, "action = {:a} && workspace = {:ws}", "created", 0, 0,
		dbx.Params{"a": export.ActionExport, "ws": f.ws})
	if err != nil || len(recs) != 2 {
		t.Fatalf("%d entries %v", len(recs), err)
	}
	route, cli := recs[0], recs[1]
	if route.GetString("user") == "" || route.GetString("entity_type") != "contacts" {
		t.Errorf("route entry %v", route.PublicExport())
	}
	if cli.GetString("user") != "" || cli.GetString("api_key") != "" || !strings.Contains(cli.GetString("details"), `"via":"cli"`) {
		t.Errorf("cli entry %v", cli.PublicExport())
	}
	for _, r := range recs {
		d := r.GetString("details")
		if !strings.Contains(d, `"q":"ann"`) || !strings.Contains(d, `cf.tier:eq:gold`) {
			t.Errorf("details %s", d)
		}
	}
}

func execute(c *cobra.Command, args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	c.SetOut(&out)
	c.SetErr(&errOut)
	c.SetArgs(args)
	err := c.Execute()
	return out.String(), errOut.String(), err
}
