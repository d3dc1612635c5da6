package migrations_test

import (
	"strings"
	"testing"
)

// No index on the tables a contact write touches is a leading part of a
// unique index on the same table (issue 18): the unique index serves every
// lookup the shorter one would, and each would cost every insert one more
// B-tree. Compared on the index columns with their collation as SQLite
// reports them (pragma index_xinfo), whole indexes only: a partial index
// serves only its WHERE, so a partial unique index covers nothing, and an
// expression column never matches.
// And the global (field_name, field_value) index of custom_fields is gone
// (migration 1764001800).
func TestNoIndexCoveredByUnique(t *testing.T) {
	app := bareApp(t)
	migrateUpTo(t, app, "")
	type idx struct {
		name    string
		unique  bool
		partial bool
		cols    []string
	}
	for _, table := range []string{"contacts", "custom_fields", "contact_list_assignments", "communication_logs",
		"crm_match_keys", "crm_match_changes", "crm_contact_counts", "import_jobs", "audit_logs"} {
		var list []struct {
			Name    string `db:"name"`
			Unique  int    `db:"unique"`
			Partial int    `db:"partial"`
		}
		if err := app.DB().NewQuery("SELECT name, \"unique\", partial FROM pragma_index_list({:t})").Bind(map[string]any{"t": table}).All(&list); err != nil {
			t.Fatal(err)
		}
		var all []idx
		for _, l := range list {
			var cols []struct {
				Name string `db:"name"`
				Coll string `db:"coll"`
				Key  int    `db:"key"`
				Cid  int    `db:"cid"`
			}
			if err := app.DB().NewQuery("SELECT coalesce(name, '') AS name, coll, key, cid FROM pragma_index_xinfo({:i})").Bind(map[string]any{"i": l.Name}).All(&cols); err != nil {
				t.Fatal(err)
			}
			var ks []string
			for _, c := range cols {
				if c.Key == 1 {
					if c.Cid == -2 { // an expression
						ks = append(ks, "expr:"+l.Name)
					} else {
						ks = append(ks, c.Name+" "+c.Coll)
					}
				}
			}
			all = append(all, idx{l.Name, l.Unique == 1, l.Partial == 1, ks})
		}
		for _, a := range all {
			if a.unique {
				continue
			}
			for _, u := range all {
				if !u.unique || u.partial || a.partial || len(a.cols) > len(u.cols) {
					continue
				}
				if strings.Join(u.cols[:len(a.cols)], ",") == strings.Join(a.cols, ",") {
					t.Errorf("%s: index %s (%v) is the start of unique %s (%v)", table, a.name, a.cols, u.name, u.cols)
				}
			}
			if table == "custom_fields" && a.name != "" && len(a.cols) > 0 && strings.HasPrefix(a.cols[0], "field_name ") {
				t.Errorf("custom_fields keeps a global value index %s (%v)", a.name, a.cols)
			}
		}
	}
}
