package imports_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/customfields"
	"github.com/pi-crm/pi-crm/services/imports"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// TestContactWriteRulesBothWays writes the same contacts into two
// workspaces, one through app.Save (the record hooks, what REST, batch and
// the services use) and one through import jobs (the raw-SQL bulk path),
// and compares every row of every table the writes touch, with ids, times
// and the import's "by import of …" wording normalised. The rules of a
// contact write live in services/contacts/writes.go in both variants; a rule
// added to one and not the other fails here.
//
// Enough contacts to cross customfields.ValueIndexMinContacts, so the value
// indexes are compared too; then an update of some of them both ways.
//
// Not compared: audit_logs (the record path logs each record it writes, an
// import one entry for the job: hooks/imports_test.go holds the import to
// that) and import_jobs.
func TestContactWriteRulesBothWays(t *testing.T) {
	env := testutil.New(t)
	owner, _ := env.User("owner@example.com")
	saved := env.Workspace("Saved", owner, nil)
	imported := env.Workspace("Imported", owner, nil)
	for _, ws := range []*core.Record{saved, imported} {
		env.Create("contact_lists", map[string]any{"workspace": ws.Id, "name": "Main", "is_primary": true})
		env.Create("contact_lists", map[string]any{"workspace": ws.Id, "name": "Other"})
		env.Create("custom_field_definitions", map[string]any{"user": owner.Id, "workspace": ws.Id, "field_name": "tier", "label": "Tier",
			"field_type": "select", "options": []string{"gold", "silver"}, "default_value": "silver"})
		env.Create("custom_field_definitions", map[string]any{"user": owner.Id, "workspace": ws.Id, "field_name": "score", "label": "Score", "field_type": "number"})
		env.Create("custom_field_definitions", map[string]any{"user": owner.Id, "workspace": ws.Id, "field_name": "city", "label": "City", "field_type": "text"})
	}
	n := customfields.ValueIndexMinContacts
	type person struct{ first, last, email, phone, company, tier, score, city string }
	people := make([]person, n)
	for i := range people {
		p := person{first: fmt.Sprintf("First%d", i), last: fmt.Sprintf("Last%d", i%7), email: fmt.Sprintf("p%04d@example.com", i),
			company: fmt.Sprintf("Co %d", i%13), score: fmt.Sprint(i % 50)}
		if i%2 == 0 {
			p.phone = fmt.Sprintf("+1 415 555 %04d", i)
		}
		if i%3 != 0 { // else the default applies
			p.tier = []string{"gold", "silver"}[i%2]
		}
		if i%5 == 0 {
			p.city = "Leeds"
		}
		people[i] = p
	}

	// 1. through app.Save
	for _, p := range people {
		custom := map[string]any{"score": p.score}
		if p.tier != "" {
			custom["tier"] = p.tier
		}
		if p.city != "" {
			custom["city"] = p.city
		}
		env.Create("contacts", map[string]any{"workspace": saved.Id, "first_name": p.first, "last_name": p.last, "primary_email": p.email,
			"primary_phone": p.phone, "company": p.company, "custom": custom})
	}
	// 2. through an import job
	var csv strings.Builder
	csv.WriteString("first_name,last_name,primary_email,primary_phone,company,tier,score,city\n")
	for _, p := range people {
		fmt.Fprintf(&csv, "%s,%s,%s,%s,%s,%s,%s,%s\n", p.first, p.last, p.email, p.phone, p.company, p.tier, p.score, p.city)
	}
	runImport(t, env, imported.Id, owner.Id, csv.String(), imports.ModeCreate)
	compareWorkspaces(t, env, saved.Id, imported.Id, "after creating")

	// updates: base and custom values (columns not in name order), some unchanged
	var upd strings.Builder
	upd.WriteString("primary_email,company,score,city,last_name\n")
	for i := 0; i < 60; i++ {
		p := people[i]
		company, score, city, last := p.company, fmt.Sprint(100+i), "Paris", p.last
		switch i % 4 {
		case 1:
			company = "NewCo"
		case 2:
			score = p.score // custom unchanged but city
		case 3:
			company, score, city = p.company, p.score, p.city // nothing changes
			if city == "" {
				city = p.city
			}
		}
		if i%6 == 0 {
			last = "Renamed"
		}
		fmt.Fprintf(&upd, "%s,%s,%s,%s,%s\n", p.email, company, score, city, last)
		rec, err := env.App.FindFirstRecordByFilter("contacts", "workspace = {:ws} && primary_email = {:e}", dbx.Params{"ws": saved.Id, "e": p.email})
		if err != nil {
			t.Fatal(err)
		}
		merged := map[string]any{}
		_ = rec.UnmarshalJSONField("custom", &merged)
		merged["score"] = score
		if city != "" {
			merged["city"] = city
		}
		rec.Set("company", company)
		rec.Set("last_name", last)
		rec.Set("custom", merged)
		if err := env.App.Save(rec); err != nil {
			t.Fatal(err)
		}
	}
	runImport(t, env, imported.Id, owner.Id, upd.String(), imports.ModeUpsert)
	compareWorkspaces(t, env, saved.Id, imported.Id, "after updating")
}

func runImport(t *testing.T, env *testutil.Env, ws, user, csv string, mode string) {
	t.Helper()
	job, c, err := env.Imports().RunLocal(imports.Input{Workspace: ws, FileName: "contract.csv", Options: imports.Options{Mode: mode},
		Actor: audit.Actor{UserID: user}}, strings.NewReader(csv), nil)
	if err != nil || c.Failed != 0 || job.GetString("status") != imports.StatusCompleted {
		t.Fatalf("import: %v %+v %s", err, c, job.GetString("status"))
	}
}

// notCompared: written by one path only, by design (see the test's comment).
var notCompared = map[string]bool{"audit_logs": true, "import_jobs": true}

// volatile columns: ids and times differ between any two writes.
var volatile = map[string]bool{"id": true, "created": true, "updated": true, "timestamp": true, "assigned_at": true}

// compareWorkspaces compares, table by table, the rows of workspace a with
// those of workspace b: rows with a workspace column, or a contact or list
// column naming one of the workspace's contacts or lists. Ids of records of
// the workspace become their natural key (contact: email, list: name), the
// workspace id a placeholder, volatile columns are dropped.
func compareWorkspaces(t *testing.T, env *testutil.Env, a, b, when string) {
	t.Helper()
	db := env.App.DB()
	var tables []string
	if err := db.NewQuery(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '\_%' ESCAPE '\' ORDER BY name`).Column(&tables); err != nil {
		t.Fatal(err)
	}
	names := func(ws string) map[string]string {
		m := map[string]string{ws: "<workspace>"}
		var rows []struct {
			ID  string `db:"id"`
			Key string `db:"k"`
		}
		_ = db.NewQuery(`SELECT id, 'contact:' || primary_email AS k FROM contacts WHERE workspace = {:ws}
			UNION ALL SELECT id, 'list:' || name FROM contact_lists WHERE workspace = {:ws}
			UNION ALL SELECT id, 'definition:' || field_name FROM custom_field_definitions WHERE workspace = {:ws}`).Bind(dbx.Params{"ws": ws}).All(&rows)
		for _, r := range rows {
			m[r.ID] = r.Key
		}
		return m
	}
	rowsOf := func(table string, cols []string, ws string, key map[string]string) []string {
		var where string
		switch {
		case slices.Contains(cols, "workspace"):
			where = `workspace = {:ws}`
		case slices.Contains(cols, "contact"):
			where = `contact IN (SELECT id FROM contacts WHERE workspace = {:ws})`
		case slices.Contains(cols, "list"):
			where = `list IN (SELECT id FROM contact_lists WHERE workspace = {:ws})`
		default:
			return nil
		}
		var rows []dbx.NullStringMap
		if err := db.NewQuery(`SELECT * FROM ` + table + ` WHERE ` + where).Bind(dbx.Params{"ws": ws}).All(&rows); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		out := make([]string, 0, len(rows))
		for _, r := range rows {
			var parts []string
			for _, c := range slices.Sorted(maps.Keys(r)) {
				if volatile[c] {
					continue
				}
				v := r[c].String
				if k, ok := key[v]; ok {
					v = k
				}
				if c == "custom" || c == "details" {
					var x any
					if json.Unmarshal([]byte(v), &x) == nil {
						j, _ := json.Marshal(x)
						v = string(j)
					}
				}
				v = strings.ReplaceAll(v, " by import of contract.csv", "")
				parts = append(parts, c+"="+v)
			}
			out = append(out, strings.Join(parts, " "))
		}
		sort.Strings(out)
		return out
	}
	ka, kb := names(a), names(b)
	compared := 0
	for _, table := range tables {
		if notCompared[table] {
			continue
		}
		var cols []string
		if err := db.NewQuery(`SELECT name FROM pragma_table_info({:t})`).Bind(dbx.Params{"t": table}).Column(&cols); err != nil {
			t.Fatal(err)
		}
		ra, rb := rowsOf(table, cols, a, ka), rowsOf(table, cols, b, kb)
		if len(ra)+len(rb) > 0 {
			compared++
		}
		if !slices.Equal(ra, rb) {
			t.Errorf("%s: table %s differs between the record path (%d rows) and the import (%d rows):\n%s", when, table, len(ra), len(rb), firstDiff(ra, rb))
		}
	}
	// value indexes (and any other index or trigger made for one workspace)
	schema := func(ws string) []string {
		var sqls []string
		_ = db.NewQuery(`SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_master WHERE name LIKE '%' || {:ws} || '%' OR sql LIKE '%' || {:ws} || '%' ORDER BY name`).
			Bind(dbx.Params{"ws": ws}).Column(&sqls)
		for i := range sqls {
			sqls[i] = strings.ReplaceAll(sqls[i], ws, "<workspace>")
		}
		return sqls
	}
	sa, sb := schema(a), schema(b)
	if !slices.Equal(sa, sb) {
		t.Errorf("%s: the workspaces' own indexes differ:\nrecord path %v\nimport      %v", when, sa, sb)
	}
	if len(sa) == 0 {
		t.Errorf("%s: no value index: the test no longer crosses the threshold", when)
	}
	if compared < 6 { // contacts, custom_fields, lists, assignments, logs, match keys, counts, definitions, …
		t.Errorf("%s: only %d tables compared", when, compared)
	}
}

func firstDiff(a, b []string) string {
	for i := 0; i < max(len(a), len(b)); i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return fmt.Sprintf("  record path: %s\n  import:      %s", x, y)
		}
	}
	return ""
}
