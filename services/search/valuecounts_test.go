package search_test

import (
	"net/url"
	"testing"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/contacts"
	"github.com/pi-crm/pi-crm/services/customfields"
	"github.com/pi-crm/pi-crm/services/search"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// A filter on one select value takes its total from the kept value counts
// (services/counts/values.go). Every kind of write must keep them equal to
// what the value index counts: record creates, updates and deletes, raw SQL
// inserts, updates, moves between workspaces and deletes, a bulk insert
// with the triggers off, a definition that stops being a select, and a
// workspace deleted.
func TestValueCountsFollowEveryWritePath(t *testing.T) {
	env := testutil.New(t)
	owner, _ := env.User("vcounts@example.com")
	a := env.Workspace("A", owner, nil)
	b := env.Workspace("B", owner, nil)
	svc := search.NewService(env.App)
	raw := rawSQL(t, env)
	// the values as writers leave them: the option's spelling, another
	// case, a number, a list, none
	seed := func(ws string, n int) {
		t.Helper()
		raw(`WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {:n})
			INSERT INTO contacts (id, workspace, first_name, custom, created, updated)
			SELECT substr({:ws}, 1, 6) || printf('%09d', i), {:ws}, 'Seed',
			  CASE i % 6 WHEN 0 THEN '{"tier":"gold"}' WHEN 1 THEN '{"tier":"Gold"}' WHEN 2 THEN '{"tier":"silver"}'
			    WHEN 3 THEN '{"tier":7}' WHEN 4 THEN '{"tier":["gold"]}' ELSE '{}' END,
			  '2025-01-01 00:00:00.000Z', '2025-01-01 00:00:00.000Z' FROM s`, dbx.Params{"ws": ws, "n": n})
	}
	seed(a.Id, customfields.ValueIndexMinContacts)
	seed(b.Id, customfields.ValueIndexMinContacts)
	def := env.Create("custom_field_definitions", map[string]any{"user": owner.Id, "workspace": a.Id, "field_name": "tier",
		"label": "Tier", "field_type": "select", "options": []string{"gold", "silver", "bronze", "7"}})
	env.Create("custom_field_definitions", map[string]any{"user": owner.Id, "workspace": b.Id, "field_name": "tier",
		"label": "Tier", "field_type": "text"})

	// what the value index counts, and what the search says
	indexCount := func(ws, v string) int {
		t.Helper()
		var n int
		if err := env.App.DB().NewQuery(`SELECT count(*) FROM contacts WHERE workspace = {:ws} AND ` +
			customfields.ValueExpr("", "tier") + ` COLLATE NOCASE = {:v}`).Bind(dbx.Params{"ws": ws, "v": v}).Row(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	find := func(ws, v string) *search.Result {
		t.Helper()
		return searchAll(t, svc, ws, url.Values{"cf.tier": {"eq:" + v}, "sort": {"-created"}})
	}
	check := func(step string) {
		t.Helper()
		// every kept row against the index's own count of its value, and
		// every value the index counts against its kept row (+k.value: a
		// column's TEXT affinity would make the JSON number 7 equal '7',
		// which a bound text value, as the search binds it, does not)
		var drift int
		if err := env.App.DB().NewQuery(`SELECT
			  (SELECT count(*) FROM crm_value_counts k WHERE k.workspace = {:ws} AND k.field = 'tier' AND k.n !=
			     (SELECT count(*) FROM contacts WHERE workspace = {:ws} AND ` + customfields.ValueExpr("", "tier") + ` COLLATE NOCASE = +k.value))
			+ (SELECT count(*) FROM (SELECT ` + customfields.ValueExpr("", "tier") + ` COLLATE NOCASE AS v FROM contacts
			     WHERE workspace = {:ws} AND typeof(` + customfields.ValueExpr("", "tier") + `) = 'text' GROUP BY 1) r
			   WHERE NOT EXISTS (SELECT 1 FROM crm_value_counts k WHERE k.workspace = {:ws} AND k.field = 'tier' AND k.value = r.v))`).
			Bind(dbx.Params{"ws": a.Id}).Row(&drift); err != nil {
			t.Fatal(err)
		}
		if drift != 0 {
			t.Fatalf("%s: %d kept values differ from the index's counts", step, drift)
		}
		for _, v := range []string{"gold", "silver", "bronze", "7"} {
			want := indexCount(a.Id, v)
			res := find(a.Id, v)
			from := "value"
			if want == 0 {
				from = "probe" // pickDriver's probe found none: no count at all
			}
			if res.TotalItems != want || res.Count != from {
				t.Fatalf("%s: tier = %s: total %d from %q, the index counts %d", step, v, res.TotalItems, res.Count, want)
			}
		}
		// a text field is not counted: its total is the index's
		if res := find(b.Id, "gold"); res.Count != "index" || res.TotalItems != indexCount(b.Id, "gold") {
			t.Fatalf("%s: text field in B: total %d from %q", step, res.TotalItems, res.Count)
		}
	}
	raw(`INSERT INTO contacts (id, workspace, custom, created, updated) VALUES ('rawvcount000007', {:a}, '{"tier":"7"}', '', '')`, dbx.Params{"a": a.Id})
	check("first count from the index") // 1,000 rows: gold 166 and Gold 167, silver 167; the text "7" once, the number 7 167 times
	if res := find(a.Id, "7"); res.TotalItems != 1 || res.Count != "value" {
		t.Fatalf(`tier = "7": total %d from %q (the JSON number 7 is not the option "7")`, res.TotalItems, res.Count)
	}
	if n := indexCount(a.Id, "gold"); n != 333 {
		t.Fatalf("seed: %d gold", n)
	}

	rec := env.Create("contacts", map[string]any{"workspace": a.Id, "last_name": "New", "custom": map[string]any{"tier": "silver"}})
	check("record create")
	rec.Set("custom", map[string]any{"tier": "bronze"})
	if err := env.App.Save(rec); err != nil {
		t.Fatal(err)
	}
	check("record update")
	if err := env.App.Delete(rec); err != nil {
		t.Fatal(err)
	}
	check("record delete")

	raw(`INSERT INTO contacts (id, workspace, custom, created, updated) VALUES ('rawvcount000001', {:a}, '{"tier":"GOLD"}', '', ''),
		('rawvcount000002', {:a}, '{"tier":"silver"}', '', ''), ('rawvcount000003', {:a}, '{"tier":7}', '', '')`, dbx.Params{"a": a.Id})
	check("raw inserts")
	raw(`UPDATE contacts SET custom = '{"tier":7}' WHERE id = 'rawvcount000002'`, nil)
	check("raw update to a number")
	raw(`UPDATE contacts SET custom = '{"tier":"silver"}' WHERE id = 'rawvcount000002'`, nil)
	check("raw update from a number")
	raw(`DELETE FROM contacts WHERE id = 'rawvcount000003'`, nil)
	check("raw delete of a number")
	raw(`UPDATE contacts SET custom = '{"tier":"bronze"}' WHERE id = 'rawvcount000001'`, nil)
	check("raw update")
	raw(`UPDATE contacts SET workspace = {:b} WHERE id = 'rawvcount000002'`, dbx.Params{"b": b.Id})
	check("raw move out")
	raw(`UPDATE contacts SET workspace = {:a} WHERE id = 'rawvcount000002'`, dbx.Params{"a": a.Id})
	check("raw move back")
	raw(`DELETE FROM contacts WHERE id IN ('rawvcount000001', 'rawvcount000002')`, nil)
	check("raw delete")

	if err := env.App.RunInTransaction(func(tx core.App) error {
		return contacts.BulkInsert(tx.DB(), a.Id, func() error {
			_, err := tx.DB().NewQuery(`INSERT INTO contacts (id, workspace, custom, created, updated) VALUES
				('bulkvcount00001', {:a}, '{"tier":"gold"}', '', ''), ('bulkvcount00002', {:a}, '{"tier":"Gold"}', '', ''),
				('bulkvcount00003', {:a}, '{"tier":"bronze"}', '', ''), ('bulkvcount00004', {:a}, '{"tier":3}', '', '')`).
				Bind(dbx.Params{"a": a.Id}).Execute()
			return err
		})
	}); err != nil {
		t.Fatal(err)
	}
	check("bulk insert")

	// options that differ only in case (the definitions' validation
	// refuses them now; an older definition may have them): the index's
	// NOCASE count would join them, so the total is the exact count
	grade := env.Create("custom_field_definitions", map[string]any{"user": owner.Id, "workspace": a.Id, "field_name": "grade",
		"label": "Grade", "field_type": "select", "options": []string{"vip"}})
	raw(`UPDATE custom_field_definitions SET options = '["vip","VIP"]' WHERE id = {:id}`, dbx.Params{"id": grade.Id})
	raw(`UPDATE contacts SET custom = json_set(custom, '$.grade', CASE rowid % 3 WHEN 0 THEN 'vip' WHEN 1 THEN 'VIP' END)
		WHERE workspace = {:a} AND rowid % 10 = 0`, dbx.Params{"a": a.Id})
	var vip int
	_ = env.App.DB().NewQuery(`SELECT count(*) FROM contacts WHERE workspace = {:a} AND json_extract(custom, '$.grade') = 'vip'`).
		Bind(dbx.Params{"a": a.Id}).Row(&vip)
	q, _ := search.ParseQuery(url.Values{"workspace": {a.Id}, "cf.grade": {"eq:vip"}})
	if res, err := svc.Search(q); err != nil || vip == 0 || res.TotalItems != vip || res.Count != "index" {
		t.Fatalf("grade = vip: %d exact matches, search %+v %v", vip, res, err)
	}
	check("an update of another field")

	// two conditions on the field: not one value's count (the merged
	// condition, gold AND silver, matches none: the probe says so first)
	q, _ = search.ParseQuery(url.Values{"workspace": {a.Id}, "cf.tier": {"eq:gold", "eq:silver"}})
	if res, err := svc.Search(q); err != nil || res.TotalItems != 0 || res.Count == "value" {
		t.Fatalf("gold and silver: %+v %v", res, err)
	}
	// a select value and another condition: the index counts both
	q, _ = search.ParseQuery(url.Values{"workspace": {a.Id}, "cf.tier": {"eq:gold"}, "q": {"seed"}})
	if res, err := svc.Search(q); err != nil || res.TotalItems != 333 || res.Count != "index" {
		t.Fatalf("gold and a term: %+v %v", res, err)
	}

	// the total really is the kept count (a count of the index would hide
	// a broken trigger)
	raw(`UPDATE crm_value_counts SET n = 4242 WHERE workspace = {:a} AND field = 'tier' AND value = 'gold'`, dbx.Params{"a": a.Id})
	if res := find(a.Id, "gold"); res.TotalItems != 4242 {
		t.Fatalf("total %d, want the stored 4242", res.TotalItems)
	}
	raw(`UPDATE crm_value_counts SET n = {:n} WHERE workspace = {:a} AND field = 'tier' AND value = 'gold'`,
		dbx.Params{"a": a.Id, "n": indexCount(a.Id, "gold")})

	// a database from before the counts: the start's sync counts from the
	// index, exactly
	raw(`DELETE FROM crm_value_counts WHERE workspace = {:a}`, dbx.Params{"a": a.Id})
	raw(`DELETE FROM crm_counted_fields WHERE workspace = {:a}`, dbx.Params{"a": a.Id})
	if res := find(a.Id, "gold"); res.Count != "index" {
		t.Fatalf("without counted fields: total from %q", res.Count)
	}
	if err := env.App.RunInTransaction(func(tx core.App) error { return customfields.SyncCounted(tx, a.Id) }); err != nil {
		t.Fatal(err)
	}
	check("counted again at start")

	// the field stops being a select: its counts go, the index counts
	setType := func(typ string) {
		t.Helper()
		d, err := env.App.FindRecordById("custom_field_definitions", def.Id)
		if err != nil {
			t.Fatal(err)
		}
		d.Set("field_type", typ)
		if err := env.App.Save(d); err != nil {
			t.Fatal(err)
		}
	}
	setType("text")
	// kept rows of ws for field ("" for any)
	kept := func(ws, field string) int {
		t.Helper()
		var n int
		if err := env.App.DB().NewQuery(`SELECT (SELECT count(*) FROM crm_value_counts WHERE workspace = {:ws} AND {:f} IN ('', field)) +
			(SELECT count(*) FROM crm_counted_fields WHERE workspace = {:ws} AND {:f} IN ('', field))`).
			Bind(dbx.Params{"ws": ws, "f": field}).Row(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if res := find(a.Id, "gold"); res.Count != "index" || res.TotalItems != indexCount(a.Id, "gold") || kept(a.Id, "tier") != 0 {
		t.Fatalf("after the change to text: total %d from %q, %d kept rows", res.TotalItems, res.Count, kept(a.Id, "tier"))
	}
	// and back: counted again from the index, exactly
	setType("select")
	check("select again")

	// the workspace row deleted by raw SQL (no hook): its trigger clears them
	if kept(a.Id, "") == 0 {
		t.Fatal("nothing kept before the workspace's delete")
	}
	raw(`DELETE FROM workspaces WHERE id = {:a}`, dbx.Params{"a": a.Id})
	if n := kept(a.Id, ""); n != 0 {
		t.Fatalf("a deleted workspace left %d kept rows", n)
	}
}
