// Package counts keeps the number of contacts of each workspace, by
// triggers on contacts, so that an unfiltered list's total is one lookup.
package counts

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// Contact counts per workspace (migration 1764000810_contact_counts states its
// SQL, 1764000950_bulk_insert the AFTER INSERT trigger's switch): the
// total of an unfiltered search page, the workspace's contact list.
//
// Counting is what an unfiltered list costs: COUNT(*) over the narrowest
// index led by the workspace reads every one of its entries, ~6 ms of CPU
// per request at 100k contacts (index-only, but O(n)), where the page itself
// is a walk of 50 index entries. At 32 connections on 2 cores that capped the
// route at ~65 requests/s. The count is therefore kept exact by SQLite
// triggers on contacts, in the writing transaction, as the duplicate finder's
// keys are (matchkeys.go): no write path can bypass them (record hooks, the
// import fast path, merge and undo in raw SQL, tests and tools inserting
// rows directly), and a reader sees the count of the same committed state as
// the rows. A cache in Go (per burst of requests, or invalidated by model
// hooks) would be either approximate or blind to the raw-SQL writers.
//
// The cost per write is one update of a row that stays in the page cache
// (SQLite has one writer at a time, so the row is no new contention).
const countsTable = "crm_contact_counts"

// CountSchema returns the statements that create the count table and its
// triggers as this package's SQL expects them (with BulkInsertSchema for the
// AFTER INSERT trigger's switch). The app never runs them: migration
// 1764000810 states its own SQL, and migrations/upgrade_test.go holds the
// migrated schema equal to these statements.
func CountSchema() []string {
	inc := countInc
	dec := func(p string) string {
		return `UPDATE ` + countsTable + ` SET n = n - 1 WHERE workspace = ` + p + `workspace;`
	}
	return []string{
		`CREATE TABLE IF NOT EXISTS ` + countsTable + ` (workspace TEXT PRIMARY KEY NOT NULL, n INTEGER NOT NULL) WITHOUT ROWID`,
		`CREATE TRIGGER IF NOT EXISTS crm_counts_contacts_ai AFTER INSERT ON contacts BEGIN ` + inc("new.") + ` END`,
		`CREATE TRIGGER IF NOT EXISTS crm_counts_contacts_ad AFTER DELETE ON contacts BEGIN ` + dec("old.") + ` END`,
		// only a move between workspaces changes counts (the record API
		// forbids it, a superuser or raw SQL may not)
		`CREATE TRIGGER IF NOT EXISTS crm_counts_contacts_au AFTER UPDATE OF workspace ON contacts
			WHEN old.workspace IS NOT new.workspace BEGIN ` + dec("old.") + inc("new.") + ` END`,
		`CREATE TRIGGER IF NOT EXISTS crm_counts_workspaces_ad AFTER DELETE ON workspaces BEGIN
			DELETE FROM ` + countsTable + ` WHERE workspace = old.id;
		END`,
	}
}

// countInc counts one more contact in the workspace of the row named by
// prefix p ("new.").
func countInc(p string) string {
	return `INSERT INTO ` + countsTable + ` (workspace, n) VALUES (` + p + `workspace, 1)
			ON CONFLICT (workspace) DO UPDATE SET n = n + 1;`
}

// BackfillContactCounts recounts every workspace (a repair; the migration
// states its own recount). Run it in the transaction that creates the
// triggers, or with the writer held, so no insert falls between the count and
// the triggers.
func BackfillContactCounts(app core.App) error {
	for _, q := range []string{
		`DELETE FROM ` + countsTable,
		`INSERT INTO ` + countsTable + ` (workspace, n) SELECT workspace, COUNT(*) FROM contacts GROUP BY workspace`,
	} {
		if _, err := app.DB().NewQuery(q).Execute(); err != nil {
			return fmt.Errorf("contact counts: %w", err)
		}
	}
	return nil
}

// CheckContactCounts compares the stored counts with COUNT(*) of the
// contacts rows and describes the first differences (nil when in sync). For
// tests and for an operator who suspects drift; O(contacts).
func CheckContactCounts(app core.App) error {
	var diffs []string
	err := app.DB().NewQuery(`
		SELECT coalesce(a.workspace, b.workspace) || ': stored ' || coalesce(b.n, 'none') || ', counted ' || coalesce(a.n, 0)
		FROM (SELECT workspace, COUNT(*) AS n FROM contacts GROUP BY workspace) a
		FULL JOIN ` + countsTable + ` b ON b.workspace = a.workspace
		WHERE coalesce(a.n, 0) != coalesce(b.n, 0)
		LIMIT 10`).Column(&diffs)
	if err != nil {
		return err
	}
	if len(diffs) > 0 {
		return fmt.Errorf("contact counts out of sync: %s", strings.Join(diffs, "; "))
	}
	return nil
}

// ContactCount is the number of contacts in workspace ws as of db (a
// transaction sees its own inserts): one primary-key lookup. No row means no
// contacts.
func ContactCount(db dbx.Builder, ws string) (int, error) {
	var n int
	err := db.NewQuery(`SELECT n FROM ` + countsTable + ` WHERE workspace = {:ws}`).Bind(dbx.Params{"ws": ws}).Row(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return n, err
}

// InsertTriggerSQL drops and recreates the counts' AFTER INSERT trigger on
// contacts with a WHEN condition (the bulk-insert switch of services/contacts).
func InsertTriggerSQL(when string) []string {
	return []string{
		`DROP TRIGGER IF EXISTS crm_counts_contacts_ai`,
		`CREATE TRIGGER crm_counts_contacts_ai AFTER INSERT ON contacts WHEN ` + when + ` BEGIN ` + countInc("new.") + ` END`,
	}
}

// BulkCountSQL adds the contacts c that newRows selects to the count of
// workspace {:ws}, as the insert trigger would one by one.
func BulkCountSQL(newRows string) string {
	return `INSERT INTO ` + countsTable + ` (workspace, n) SELECT {:ws}, COUNT(*) FROM contacts c WHERE ` + newRows +
		` ON CONFLICT (workspace) DO UPDATE SET n = n + excluded.n`
}
