package counts

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/pocketbase/dbx"
)

// Kept counts of select values: per workspace, per counted field, the
// number of contacts whose read copy (contacts.custom) holds each text
// value, kept exact by triggers on contacts in the writing transaction, as
// the workspace totals above are.
//
// Why: "tier = gold" is a segment's commonest condition, and its total was
// a count of the value index's range, O(matches): at 1,000,000 contacts, 20%
// matching, 200,000 index entries at ~115 ns each in modernc's SQLite
// (23 ms; the sqlite3 CLI 14 ms), where the page itself is a walk of ~250
// rows. With the count kept, the total is one primary-key look-up.
//
// Which fields: the select fields that have a value index
// (customfields.SyncValueIndexes decides both, SetCounted applies it). A
// select field's values are its options, so the table holds a few rows per
// field; free-text fields would make it as large as an index and are not
// counted. A count is of JSON text values only, grouped case-insensitively
// (NOCASE), which is exactly what the index's equality with a text value
// counts: `json_extract(custom, path) COLLATE NOCASE = 'gold'`.
//
// The cost per contact write in a workspace with counted fields: an insert
// or delete one write per counted field with a value, an update one or two
// per field whose value it changed (the rows stay in the page cache); in
// other workspaces one look-up of the counted-fields table. Bulk inserts
// (services/contacts, the import) switch the insert trigger off and add a
// batch's counts in one statement (BulkValueCountSQL).
const (
	valueCountsTable   = "crm_value_counts"
	countedFieldsTable = "crm_counted_fields"
)

// counted is the WHEN part shared by the triggers: workspace w (an SQL
// expression) has counted fields.
func counted(w string) string {
	return `EXISTS (SELECT 1 FROM ` + countedFieldsTable + ` WHERE workspace = ` + w + `)`
}

// valueInc adds the counted values of the contact row named by p ("new."),
// of the counted fields f for which also holds (an SQL condition, or
// "TRUE").
func valueInc(p, also string) string {
	return `INSERT INTO ` + valueCountsTable + ` (workspace, field, value, n)
			SELECT ` + p + `workspace, f.field, json_extract(` + p + `custom, f.path), 1 FROM ` + countedFieldsTable + ` f
			WHERE f.workspace = ` + p + `workspace AND typeof(json_extract(` + p + `custom, f.path)) = 'text' AND ` + also + `
			ON CONFLICT (workspace, field, value) DO UPDATE SET n = n + 1;`
}

// valueDec takes away the counted values of the contact row named by p
// ("old."), of the counted fields f for which also holds. The value
// column's NOCASE decides the IN's comparison, as the key's does. (No
// alias and no UPDATE … FROM: SQLite accepts them in a trigger's CREATE but
// not when an ALTER TABLE re-checks the triggers.)
func valueDec(p, also string) string {
	return `UPDATE ` + valueCountsTable + ` SET n = n - 1
			WHERE workspace = ` + p + `workspace AND (field, value) IN (SELECT f.field, json_extract(` + p + `custom, f.path)
			FROM ` + countedFieldsTable + ` f WHERE f.workspace = ` + p + `workspace AND typeof(json_extract(` + p + `custom, f.path)) = 'text' AND ` + also + `);`
}

// changed is the update trigger's condition on a counted field f: the
// contact moved, or f's value changed (a change of case only takes one
// from the row it adds one to). A save that leaves f alone costs a
// comparison, not two writes.
const changed = `(old.workspace IS NOT new.workspace OR json_extract(old.custom, f.path) IS NOT json_extract(new.custom, f.path))`

// ValueCountSchema returns the statements that create the kept value counts
// (tables and triggers) as this package's SQL expects them, with
// ValueInsertTriggerSQL for the insert trigger. The app never runs them:
// migration 1764002000 states its own SQL, and migrations/upgrade_test.go
// holds the migrated schema equal to these statements.
func ValueCountSchema() []string {
	return []string{
		`CREATE TABLE IF NOT EXISTS ` + countedFieldsTable + ` (workspace TEXT NOT NULL, field TEXT NOT NULL, path TEXT NOT NULL,
			PRIMARY KEY (workspace, field)) WITHOUT ROWID`,
		`CREATE TABLE IF NOT EXISTS ` + valueCountsTable + ` (workspace TEXT NOT NULL, field TEXT NOT NULL,
			value TEXT NOT NULL COLLATE NOCASE, n INTEGER NOT NULL, PRIMARY KEY (workspace, field, value)) WITHOUT ROWID`,
		`CREATE TRIGGER IF NOT EXISTS crm_vcounts_contacts_ad AFTER DELETE ON contacts WHEN ` + counted("old.workspace") + ` BEGIN ` +
			valueDec("old.", "TRUE") + ` END`,
		`CREATE TRIGGER IF NOT EXISTS crm_vcounts_contacts_au AFTER UPDATE OF workspace, custom ON contacts
			WHEN (old.custom IS NOT new.custom OR old.workspace IS NOT new.workspace)
			  AND (` + counted("old.workspace") + ` OR ` + counted("new.workspace") + `) BEGIN ` +
			valueDec("old.", changed) + valueInc("new.", changed) + ` END`,
		`CREATE TRIGGER IF NOT EXISTS crm_vcounts_workspaces_ad AFTER DELETE ON workspaces BEGIN
			DELETE FROM ` + valueCountsTable + ` WHERE workspace = old.id;
			DELETE FROM ` + countedFieldsTable + ` WHERE workspace = old.id;
		END`,
	}
}

// ValueInsertTriggerSQL (re)creates the value counts' AFTER INSERT trigger
// on contacts with a WHEN condition (the bulk-insert switch of
// services/contacts) beside its own.
func ValueInsertTriggerSQL(when string) []string {
	return []string{
		`DROP TRIGGER IF EXISTS crm_vcounts_contacts_ai`,
		`CREATE TRIGGER crm_vcounts_contacts_ai AFTER INSERT ON contacts WHEN ` + when + ` AND ` + counted("new.workspace") +
			` BEGIN ` + valueInc("new.", "TRUE") + ` END`,
	}
}

// BulkValueCountSQL adds the counted values of the contacts c that newRows
// selects (all of workspace {:ws}) to the kept counts, as the insert trigger
// would one by one. With no counted field it writes nothing (at most a
// look-up per new row).
func BulkValueCountSQL(newRows string) string {
	return `INSERT INTO ` + valueCountsTable + ` (workspace, field, value, n)
		SELECT {:ws}, f.field, json_extract(c.custom, f.path) AS v, count(*) FROM ` + countedFieldsTable + ` f, contacts c
		WHERE f.workspace = {:ws} AND ` + newRows + ` AND typeof(json_extract(c.custom, f.path)) = 'text'
		GROUP BY f.field, v
		ON CONFLICT (workspace, field, value) DO UPDATE SET n = n + excluded.n`
}

// ValueCount returns the kept number of contacts of workspace ws whose
// counted field holds value (compared as the value index compares:
// case-insensitively), and whether field is counted there at all (when not,
// n is 0 and the caller counts another way).
func ValueCount(db dbx.Builder, ws, field, value string) (n int, kept bool, err error) {
	var c sql.NullInt64
	err = db.NewQuery(`SELECT CASE WHEN EXISTS (SELECT 1 FROM ` + countedFieldsTable + ` WHERE workspace = {:ws} AND field = {:f})
		THEN coalesce((SELECT n FROM ` + valueCountsTable + ` WHERE workspace = {:ws} AND field = {:f} AND value = {:v}), 0) END`).
		Bind(dbx.Params{"ws": ws, "f": field, "v": value}).Row(&c)
	if err != nil {
		return 0, false, fmt.Errorf("kept value count: %w", err)
	}
	return int(c.Int64), c.Valid, nil
}

// Counted is a field to count: its name, the JSON path of its value in the
// read copy, and the SQL that lists its contacts' values in workspace ws
// with their number (value, n), for the first count.
type Counted struct {
	Field, Path string
	// Values is `SELECT <value>, count(*) FROM contacts … GROUP BY …` over
	// the field's value index (customfields builds it: it knows the index).
	Values string
}

// SetCounted makes fields the counted fields of workspace ws, in tx: the
// counts of fields no longer named are dropped, those of newly named ones
// are counted from the contacts now (through Values). Fields already
// counted keep their counts (the triggers kept them).
func SetCounted(tx dbx.Builder, ws string, fields []Counted) error {
	var have []string
	if err := tx.NewQuery(`SELECT field FROM ` + countedFieldsTable + ` WHERE workspace = {:ws}`).
		Bind(dbx.Params{"ws": ws}).Column(&have); err != nil {
		return fmt.Errorf("counted fields: %w", err)
	}
	for _, f := range have {
		if slices.ContainsFunc(fields, func(c Counted) bool { return c.Field == f }) {
			continue
		}
		for _, t := range []string{valueCountsTable, countedFieldsTable} {
			if _, err := tx.NewQuery(`DELETE FROM ` + t + ` WHERE workspace = {:ws} AND field = {:f}`).
				Bind(dbx.Params{"ws": ws, "f": f}).Execute(); err != nil {
				return fmt.Errorf("counted fields: %w", err)
			}
		}
	}
	for _, c := range fields {
		if slices.Contains(have, c.Field) {
			continue
		}
		if c.Values == "" {
			return errors.New("counted fields: no values query for " + c.Field)
		}
		p := dbx.Params{"ws": ws, "f": c.Field, "path": c.Path}
		if _, err := tx.NewQuery(`INSERT INTO ` + countedFieldsTable + ` (workspace, field, path) VALUES ({:ws}, {:f}, {:path})`).
			Bind(p).Execute(); err != nil {
			return fmt.Errorf("counted fields: %w", err)
		}
		if _, err := tx.NewQuery(`INSERT INTO ` + valueCountsTable + ` (workspace, field, value, n) SELECT {:ws}, {:f}, v.*
			FROM (` + c.Values + `) v WHERE true ON CONFLICT (workspace, field, value) DO UPDATE SET n = n + excluded.n`).
			Bind(p).Execute(); err != nil {
			return fmt.Errorf("counting %s: %w", c.Field, err)
		}
	}
	return nil
}

// ClearCounted drops every workspace's counted fields and counts (with
// every value index: tests).
func ClearCounted(tx dbx.Builder) error {
	for _, t := range []string{valueCountsTable, countedFieldsTable} {
		if _, err := tx.NewQuery(`DELETE FROM ` + t).Execute(); err != nil {
			return fmt.Errorf("counted fields: %w", err)
		}
	}
	return nil
}
