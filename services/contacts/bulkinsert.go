package contacts

import (
	"fmt"

	"github.com/pi-crm/pi-crm/services/counts"
	"github.com/pi-crm/pi-crm/services/duplicates"
	"github.com/pocketbase/dbx"
)

// Bulk inserts of contacts (the CSV import) and the per-row triggers.
//
// Every contact insert runs three AFTER INSERT triggers: its match keys and
// change-log row (matchkeys.go), its workspace's count (counts.go) and its
// counted select values (counts/values.go). In an
// import they cost a fifth of the time (100,000 rows into the 100k bench
// database: 53 s with them, 44 s without): a trigger program per row, six
// single-row inserts and an upsert each. BulkInsert turns them off for the
// rows one statement inserts into one workspace, writes the counts set-based
// afterwards in the same transaction, and defers the match keys to the end of
// the bulk write (duplicates.DeferKeys, committed with the rows).
//
// The switch is a row in bulkTable, inserted before the statement and
// deleted after it, inside the caller's transaction: SQLite has one writer,
// so no other connection's insert can run while the row exists, and no
// reader ever sees it (it never commits; a failed statement rolls the whole
// transaction back, the row included).
const bulkTable = "crm_bulk_insert"

// bulkOff is the WHEN of the AFTER INSERT triggers.
const bulkOff = `NOT EXISTS (SELECT 1 FROM ` + bulkTable + ` WHERE workspace = new.workspace)`

// BulkInsertSchema creates the switch table and recreates the AFTER INSERT
// triggers of MatchSchema, CountSchema and ValueCountSchema with the switch,
// as BulkInsert expects them. The app never runs them: migrations
// 1764000950, 1764001050 and 1764002000 state their own SQL, and
// migrations/upgrade_test.go holds the migrated schema equal to those
// schemas and these statements.
func BulkInsertSchema() []string {
	out := []string{`CREATE TABLE IF NOT EXISTS ` + bulkTable + ` (workspace TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID`}
	out = append(out, duplicates.InsertTriggerSQL(bulkOff)...)
	out = append(out, counts.InsertTriggerSQL(bulkOff)...)
	return append(out, counts.ValueInsertTriggerSQL(bulkOff)...)
}

// BulkInsert runs insert, which must insert contacts of workspace ws only,
// through tx (a transaction), with the per-row triggers off for them, and
// then writes their count as the trigger would and records their match keys
// and change-log rows as deferred (duplicates.DeferKeys: written once for
// the whole bulk write by BulkDone, or by the next duplicates read). The new
// rows are those past the table's last rowid before insert (SQLite gives a
// rowid table's new rows max(rowid)+1 onwards, and nothing else writes while
// tx holds the writer). On an error the caller must roll tx back.
func BulkInsert(tx dbx.Builder, ws string, insert func() error) error {
	var last int64
	if err := tx.NewQuery(`SELECT coalesce(max(rowid), 0) FROM contacts`).Row(&last); err != nil {
		return fmt.Errorf("bulk insert: %w", err)
	}
	p := dbx.Params{"ws": ws, "last": last}
	if _, err := tx.NewQuery(`INSERT INTO ` + bulkTable + ` (workspace) VALUES ({:ws})`).Bind(p).Execute(); err != nil {
		return fmt.Errorf("bulk insert: %w", err)
	}
	if err := insert(); err != nil {
		return err
	}
	if _, err := tx.NewQuery(`DELETE FROM ` + bulkTable + ` WHERE workspace = {:ws}`).Bind(p).Execute(); err != nil {
		return fmt.Errorf("bulk insert: %w", err)
	}
	var hi int64
	if err := tx.NewQuery(`SELECT coalesce(max(rowid), 0) FROM contacts`).Row(&hi); err != nil {
		return fmt.Errorf("bulk insert: %w", err)
	}
	if err := duplicates.DeferKeys(tx, ws, last+1, hi); err != nil {
		return fmt.Errorf("bulk insert: %w", err)
	}
	// the rowid range drives: the unary + keeps SQLite from reading the
	// workspace's whole (workspace, …) index range instead (every earlier
	// batch's rows, per statement: quadratic over an import)
	newRows := `c.rowid > {:last} AND +c.workspace = {:ws}`
	for _, q := range []string{counts.BulkCountSQL(newRows), counts.BulkValueCountSQL(newRows)} {
		if _, err := tx.NewQuery(q).Bind(p).Execute(); err != nil {
			return fmt.Errorf("bulk insert: %w", err)
		}
	}
	return nil
}
