package duplicates

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/pocketbase/dbx"
)

// Deferred match keys, for bulk writers (the CSV import).
//
// Writing a batch's keys with the batch put five more random B-tree inserts
// per contact into every batch transaction (one per reason, each landing
// somewhere in the workspace's key range): on the 100k bench import those
// statements and the cache spills and commits they caused were a fifth of the
// time. A bulk writer instead records, in the batch's own transaction, the
// rowid range whose keys are still missing (DeferKeys), and the keys of the
// whole range are written once, in key order, when the writer is done
// (SettleKeys), as the value indexes are.
//
// The range is committed with the rows, so keys are never lost: a crash, a
// failed job or a failed settle leaves the row in pendingTable, and every
// reader of the keys settles first (RefreshDuplicates, and so every page of
// Duplicates). Until then those contacts are simply not in any group yet.
//
// Other writes meanwhile need no care: a contact of the range that a record
// hook updates gets its keys from the update trigger and SettleKeys skips
// keys that exist (OR IGNORE); a deleted one is not in contacts any more;
// rows of the range from other writers either belong to another workspace
// (filtered out) or have their keys already (ignored).
const pendingTable = "crm_match_pending"

// DeferKeys records, in tx, that the contacts of workspace ws with a rowid in
// lo..hi may have no match keys or change-log row yet. Ranges of one
// workspace merge into one (its lowest lo to its highest hi): what lies
// between them is either another workspace's or has its keys.
func DeferKeys(tx dbx.Builder, ws string, lo, hi int64) error {
	if hi < lo {
		return nil
	}
	_, err := tx.NewQuery(`INSERT INTO ` + pendingTable + ` (workspace, lo, hi) VALUES ({:ws}, {:lo}, {:hi})
		ON CONFLICT (workspace) DO UPDATE SET lo = min(lo, excluded.lo), hi = max(hi, excluded.hi)`).
		Bind(dbx.Params{"ws": ws, "lo": lo, "hi": hi}).Execute()
	if err != nil {
		return fmt.Errorf("defer match keys: %w", err)
	}
	return nil
}

// SettleKeys writes the change-log rows and match keys of workspace ws's
// deferred contacts (DeferKeys) and clears the record, in tx (a
// transaction: all of it or nothing). Nothing to do costs one primary-key
// look-up.
func SettleKeys(tx dbx.Builder, ws string) error {
	var r struct {
		Lo int64 `db:"lo"`
		Hi int64 `db:"hi"`
	}
	err := tx.NewQuery(`SELECT lo, hi FROM ` + pendingTable + ` WHERE workspace = {:ws}`).Bind(dbx.Params{"ws": ws}).One(&r)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("settle match keys: %w", err)
	}
	// the rowid range drives: the unary + keeps SQLite from reading the
	// workspace's whole (workspace, …) index range instead
	rows := `c.rowid BETWEEN {:lo} AND {:hi} AND +c.workspace = {:ws}`
	stmts := append(bulkKeysSQL(rows), `DELETE FROM `+pendingTable+` WHERE workspace = {:ws}`)
	p := dbx.Params{"ws": ws, "lo": r.Lo, "hi": r.Hi}
	for _, q := range stmts {
		if _, err := tx.NewQuery(q).Bind(p).Execute(); err != nil {
			return fmt.Errorf("settle match keys: %w", err)
		}
	}
	return nil
}
