package customfields

import (
	"fmt"
	"strings"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// Value indexes: one SQLite expression index per custom field name over the
// contacts' read copy,
//
//	CREATE INDEX idx_contacts_cf_<name> ON contacts
//	  (workspace, json_extract(custom, '$."<name>"') COLLATE NOCASE)
//
// so that "filter by a custom field value + sort" (services/search) counts
// and pages through one index range led by the workspace, instead of joining
// the EAV rows (which carry no workspace) to contacts row by row. The copy is
// typed (numbers are JSON numbers, booleans 1/0, dates YYYY-MM-DD text), so
// the one index orders numbers numerically and dates chronologically; NOCASE
// only changes how text compares (the text filters are case-insensitive).
//
// Lifecycle: the set of indexes follows the definitions, in the transaction
// that creates, changes or deletes a definition (hooks/customfields.go calls
// SyncValueIndexes), and migration 1764000400 builds them for an existing
// install. They are plain SQL indexes, not in the contacts collection's
// index list: PocketBase drops and rebuilds every index in that list whenever
// the collection is saved, which at 100k contacts would cost seconds per
// definition change; indexes outside the list are left alone (it alters
// tables in place, never recreates them).
//
// Bounds: an index costs every contact write one JSON lookup and one B-tree
// entry, so only the first MaxValueIndexes field names (by the oldest
// definition) get one, and multiselect fields never do (membership in a JSON
// list is not an index range). Fields without an index are still filtered,
// through the EAV rows and the copy, only not in O(matches).
const (
	ValueIndexPrefix = "idx_contacts_cf_"
	MaxValueIndexes  = 32
)

// ValueExpr is the indexed expression for field name over table alias a
// ("" for none). Queries must write it exactly so, followed by COLLATE NOCASE,
// for SQLite to match the index. name must be a valid field name
// (^[a-z][a-z0-9_]*$, enforced by the schema).
func ValueExpr(alias, name string) string {
	col := "custom"
	if alias != "" {
		col = alias + ".custom"
	}
	return `json_extract(` + col + `, '$."` + name + `"')`
}

// ValueIndexName is the name of field name's value index.
func ValueIndexName(name string) string { return ValueIndexPrefix + name }

func validName(name string) bool {
	if name == "" || len(name) > 64 || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// ValueIndexes returns the field names that have a value index now.
func ValueIndexes(app core.App) (map[string]bool, error) {
	var names []string
	err := app.DB().NewQuery(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'contacts' AND name LIKE 'idx\_contacts\_cf\_%' ESCAPE '\'`).
		Column(&names)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(names))
	for _, n := range names {
		out[strings.TrimPrefix(n, ValueIndexPrefix)] = true
	}
	return out, nil
}

// SyncValueIndexes creates the value indexes the definitions call for and
// drops those no definition needs any more. Run it on the transaction that
// changed a definition (tx), so the indexes commit or roll back with it.
// Creating an index reads every contact once (about a second at 100k on a
// 2-core box); a change that keeps the set of names costs two small queries.
func SyncValueIndexes(tx core.App) error {
	var want []string
	err := tx.DB().NewQuery(`SELECT field_name FROM custom_field_definitions
		GROUP BY field_name
		HAVING SUM(field_type != 'multiselect') > 0
		ORDER BY MIN(created), field_name
		LIMIT {:max}`).Bind(dbx.Params{"max": MaxValueIndexes}).Column(&want)
	if err != nil {
		return fmt.Errorf("value indexes: %w", err)
	}
	have, err := ValueIndexes(tx)
	if err != nil {
		return fmt.Errorf("value indexes: %w", err)
	}
	wanted := map[string]bool{}
	for _, name := range want {
		if !validName(name) {
			continue
		}
		wanted[name] = true
		if have[name] {
			continue
		}
		if _, err := tx.DB().NewQuery(`CREATE INDEX IF NOT EXISTS ` + ValueIndexName(name) +
			` ON contacts (workspace, ` + ValueExpr("", name) + ` COLLATE NOCASE)`).Execute(); err != nil {
			return fmt.Errorf("value index %s: %w", name, err)
		}
	}
	for name := range have {
		if wanted[name] || !validName(name) {
			continue
		}
		if _, err := tx.DB().NewQuery(`DROP INDEX IF EXISTS ` + ValueIndexName(name)).Execute(); err != nil {
			return fmt.Errorf("value index %s: %w", name, err)
		}
	}
	return nil
}

// DropValueIndexes drops every value index (the down migration: the custom
// column cannot be dropped while an index uses it).
func DropValueIndexes(tx core.App) error {
	have, err := ValueIndexes(tx)
	if err != nil {
		return err
	}
	for name := range have {
		if !validName(name) {
			continue
		}
		if _, err := tx.DB().NewQuery(`DROP INDEX IF EXISTS ` + ValueIndexName(name)).Execute(); err != nil {
			return err
		}
	}
	return nil
}
