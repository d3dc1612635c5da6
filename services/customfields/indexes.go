package customfields

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pi-crm/pi-crm/services/counts"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// Value indexes: per workspace, one partial SQLite expression index per
// custom field over the contacts' read copy,
//
//	CREATE INDEX idx_cf_<workspace>_<name> ON contacts
//	  (json_extract(custom, '$."<name>"') COLLATE NOCASE) WHERE workspace = '<workspace>'
//
// so that "filter by a custom field value + sort" (services/search) counts
// and pages through one index range instead of joining the EAV rows (which
// carry no workspace) to contacts row by row. The copy is typed (numbers are
// JSON numbers, booleans 1/0, dates YYYY-MM-DD text), so one index orders
// numbers numerically and dates chronologically; NOCASE only changes how text
// compares (the text filters are case-insensitive).
//
// Why per workspace: an index costs every contact insert one JSON lookup and
// one B-tree entry, plus a statement journal for multi-row writes (SQLite
// treats a function in an index expression as able to abort). Indexes shared
// by all workspaces made every contact write pay for every field name of
// every workspace (32 at the cap): importing 20,000 contacts into a workspace
// with 10 fields took 19 s beside 13 s with only its own 9 indexes. A partial
// index costs other workspaces' writes one comparison. Queries must state the
// workspace as the literal of the index's WHERE (WorkspaceLiteral) for SQLite
// to use it; a bound parameter is not enough.
//
// Lifecycle: the set follows the definitions that apply in a workspace (its
// own and its owner's user-wide ones), in the transaction that creates,
// changes or deletes a definition or deletes a workspace
// (hooks/customfields.go, hooks/workspaces.go), once the workspace has
// ValueIndexMinContacts contacts: the contact create that reaches that
// number syncs them (services/contacts/writes.go), and so does the end of an
// import (which writes rows with raw SQL). Below it a search reads the
// workspace's few contacts without them (a millisecond or two), and a new
// workspace costs nothing: building a partial index reads the whole
// contacts table whichever workspace it is for (about a second per field
// at 1M contacts on a Pi, times the owner's user-wide fields). They are plain SQL indexes,
// not in the contacts collection's index list: PocketBase drops and rebuilds
// every index in that list whenever the collection is saved, which at 100k
// contacts would cost seconds per change; indexes outside the list are left
// alone (it alters tables in place, never recreates them).
//
// Run-time state, not schema: no migration builds them (a fresh install has
// none), the migrations only drop them (1764000900 the shared ones of
// 1764000410's first version, the downs every one), and
// migrations/upgrade_test.go ignores exactly the names
// idx_cf_<workspace>_<name> when it compares an upgraded database with a fresh
// one. This file is the only run-time DDL of the app.
//
// Bounds: the first MaxValueIndexes field names of a workspace (by the
// oldest definition) get one, multiselect fields never do (membership in a
// JSON list is not an index range). Fields without an index are still
// filtered, through the EAV rows and the copy, only not in O(matches).
const (
	ValueIndexPrefix      = "idx_cf_"
	MaxValueIndexes       = 32
	ValueIndexMinContacts = 1000
	// legacyPrefix named the indexes shared by all workspaces (the first
	// version of migration 1764000410), dropped by 1764000900.
	legacyPrefix = "idx_contacts_cf_"
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

// ValueIndexName is the name of the value index of field name in workspace ws.
func ValueIndexName(ws, name string) string { return ValueIndexPrefix + ws + "_" + name }

// WorkspaceLiteral is ws as an SQL string literal, for the WHERE of a query
// that must match a value index's partial WHERE. Record ids are [a-z0-9]
// (PocketBase's id pattern); anything else is refused rather than quoted.
func WorkspaceLiteral(ws string) (string, error) {
	if !validID(ws) {
		return "", fmt.Errorf("invalid workspace id %q", ws)
	}
	return "'" + ws + "'", nil
}

func validID(id string) bool {
	if id == "" || len(id) > 32 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

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

// indexNames lists the value indexes whose name starts with prefix.
func indexNames(app core.App, prefix string) ([]string, error) {
	var names []string
	err := app.DB().NewQuery(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'contacts' AND substr(name, 1, {:n}) = {:p}`).
		Bind(dbx.Params{"n": len(prefix), "p": prefix}).Column(&names)
	return names, err
}

// ValueIndexes returns the field names that have a value index in ws now.
func ValueIndexes(app core.App, ws string) (map[string]bool, error) {
	prefix := ValueIndexPrefix + ws + "_"
	names, err := indexNames(app, prefix)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(names))
	for _, n := range names {
		out[strings.TrimPrefix(n, prefix)] = true
	}
	return out, nil
}

// wantedValueIndexes is the field names of ws that should have a value
// index: of the definitions that apply there (the workspace's own wins over
// its owner's user-wide one of the same name), those that are not
// multiselect, oldest first, at most MaxValueIndexes.
func wantedValueIndexes(tx core.App, ws string, have map[string]bool) ([]Definition, error) {
	if len(have) == 0 {
		// not indexed yet: only from ValueIndexMinContacts contacts on (a
		// bounded count over the (workspace, created) index); once
		// indexed, a workspace stays so
		var n int
		if err := tx.DB().NewQuery(`SELECT count(*) FROM (SELECT 1 FROM contacts WHERE workspace = {:ws} LIMIT {:min})`).
			Bind(dbx.Params{"ws": ws, "min": ValueIndexMinContacts}).Row(&n); err != nil {
			return nil, err
		}
		if n < ValueIndexMinContacts {
			return nil, nil
		}
	}
	defs, err := workspaceDefinitions(tx, ws)
	if err != nil {
		return nil, err
	}
	var want []Definition
	for _, d := range defs {
		if d.Type != "multiselect" && validName(d.Name) && len(want) < MaxValueIndexes {
			want = append(want, d)
		}
	}
	return want, nil
}

// SyncValueIndexes creates the value indexes the definitions call for in the
// given workspaces (every workspace when none is given) and drops those no
// definition needs any more. Run it on the transaction that changed a
// definition or a workspace (tx), so the indexes commit or roll back with
// it. Creating an index reads the contacts table once; a change that keeps
// the set of names costs two small queries per workspace.
func SyncValueIndexes(tx core.App, workspaces ...string) error {
	if len(workspaces) == 0 {
		if err := tx.DB().NewQuery(`SELECT id FROM workspaces ORDER BY id`).Column(&workspaces); err != nil {
			return fmt.Errorf("value indexes: %w", err)
		}
	}
	for _, ws := range workspaces {
		if err := syncWorkspace(tx, ws); err != nil {
			return fmt.Errorf("value indexes of workspace %s: %w", ws, err)
		}
	}
	return nil
}

func syncWorkspace(tx core.App, ws string) error {
	lit, err := WorkspaceLiteral(ws)
	if err != nil {
		return err
	}
	// A workspace's delete cascades to its own definitions, whose hooks
	// sync it after its row is gone: nothing to sync (its delete drops its
	// indexes and counts). Reading its definitions failed that delete.
	var exists int
	if err := tx.DB().NewQuery(`SELECT count(*) FROM workspaces WHERE id = {:ws}`).Bind(dbx.Params{"ws": ws}).Row(&exists); err != nil {
		return err
	}
	if exists == 0 {
		return nil
	}
	have, err := ValueIndexes(tx, ws)
	if err != nil {
		return err
	}
	want, err := wantedValueIndexes(tx, ws, have)
	if err != nil {
		return err
	}
	for _, d := range want {
		if have[d.Name] {
			continue
		}
		if _, err := tx.DB().NewQuery(`CREATE INDEX IF NOT EXISTS ` + ValueIndexName(ws, d.Name) +
			` ON contacts (` + ValueExpr("", d.Name) + ` COLLATE NOCASE) WHERE workspace = ` + lit).Execute(); err != nil {
			return fmt.Errorf("value index %s: %w", d.Name, err)
		}
	}
	for name := range have {
		if slices.ContainsFunc(want, func(d Definition) bool { return d.Name == name }) {
			continue
		}
		if err := dropIndex(tx, ValueIndexName(ws, name)); err != nil {
			return err
		}
	}
	return counts.SetCounted(tx.DB(), ws, countedFields(ws, lit, want))
}

// SyncCounted brings workspace ws's kept value counts up to date with the
// value indexes it has now (services/counts: the select fields among them),
// without building any index: what the server's start runs for every
// workspace, so that a database from before the counts gets them (each new
// field's first count reads its index only), and a workspace whose indexes
// are missing does not hold the writer for index builds at start. Nothing
// missing costs two or three small queries.
func SyncCounted(tx core.App, ws string) error {
	lit, err := WorkspaceLiteral(ws)
	if err != nil {
		return err
	}
	have, err := ValueIndexes(tx, ws)
	if err != nil {
		return err
	}
	if len(have) == 0 {
		return counts.SetCounted(tx.DB(), ws, nil)
	}
	defs, err := workspaceDefinitions(tx, ws)
	if err != nil {
		return err
	}
	var indexed []Definition
	for _, d := range defs {
		if have[d.Name] {
			indexed = append(indexed, d)
		}
	}
	return counts.SetCounted(tx.DB(), ws, countedFields(ws, lit, indexed))
}

// countedFields are the fields of want (ws's value indexes) whose values
// services/counts keeps counted: the select fields. Their first count reads
// only the field's value index, grouped as the index compares: the text
// values are the range from the empty text up (SQLite orders numbers before text, and
// json_extract returns no blobs). Written as typeof(…) = 'text', as the
// triggers test it, SQLite reads every contact's row for it: 1.7 s against
// 0.09 s for 1,000,000 contacts on a warm cache (sqlite3 3.40).
func countedFields(ws, lit string, want []Definition) []counts.Counted {
	var out []counts.Counted
	for _, d := range want {
		if d.Type != "select" {
			continue
		}
		xi := ValueExpr("", d.Name) + ` COLLATE NOCASE`
		out = append(out, counts.Counted{Field: d.Name, Path: `$."` + d.Name + `"`,
			Values: `SELECT ` + xi + ` AS value, count(*) AS n FROM contacts INDEXED BY ` + ValueIndexName(ws, d.Name) +
				` WHERE workspace = ` + lit + ` AND ` + xi + ` >= '' GROUP BY 1`})
	}
	return out
}

func dropIndex(tx core.App, name string) error {
	if !strings.HasPrefix(name, ValueIndexPrefix) && !strings.HasPrefix(name, legacyPrefix) {
		return fmt.Errorf("not a value index: %q", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return fmt.Errorf("not a value index: %q", name)
		}
	}
	if _, err := tx.DB().NewQuery(`DROP INDEX IF EXISTS ` + name).Execute(); err != nil {
		return fmt.Errorf("dropping %s: %w", name, err)
	}
	return nil
}

// DropValueIndexes drops the value indexes of the given workspaces (a
// deleted workspace), or every value index when none is given (tests), the
// shared ones of migration 1764000410's first version included.
func DropValueIndexes(tx core.App, workspaces ...string) error {
	var prefixes []string
	if len(workspaces) == 0 {
		prefixes = []string{ValueIndexPrefix, legacyPrefix}
		if err := counts.ClearCounted(tx.DB()); err != nil {
			return err
		}
	}
	for _, ws := range workspaces {
		if !validID(ws) {
			return fmt.Errorf("invalid workspace id %q", ws)
		}
		prefixes = append(prefixes, ValueIndexPrefix+ws+"_")
		// the kept counts go with the indexes (a deleted workspace's
		// trigger drops them too)
		if err := counts.SetCounted(tx.DB(), ws, nil); err != nil {
			return err
		}
	}
	return dropPrefixed(tx, prefixes...)
}

// dropPrefixed drops the value indexes whose names start with one of
// prefixes.
func dropPrefixed(tx core.App, prefixes ...string) error {
	for _, p := range prefixes {
		names, err := indexNames(tx, p)
		if err != nil {
			return err
		}
		for _, n := range names {
			if err := dropIndex(tx, n); err != nil {
				return err
			}
		}
	}
	return nil
}
