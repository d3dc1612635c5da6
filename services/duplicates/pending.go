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
// deferred contacts (DeferKeys), the lowest limit rowids of the range (limit
// <= 0: all of it), in tx (a transaction: all of that or nothing), and
// reports whether some remain. A bulk writer settles in steps of its own
// transactions so that no step holds the database's one writer for long
// (other writers wait for it only up to their busy timeout); a reader settles
// everything at once. Nothing to do costs one primary-key look-up.
func SettleKeys(tx dbx.Builder, ws string, limit int64) (more bool, err error) {
	var r struct {
		Lo int64 `db:"lo"`
		Hi int64 `db:"hi"`
	}
	err = tx.NewQuery(`SELECT lo, hi FROM ` + pendingTable + ` WHERE workspace = {:ws}`).Bind(dbx.Params{"ws": ws}).One(&r)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("settle match keys: %w", err)
	}
	upTo := r.Hi
	if limit > 0 && r.Lo+limit-1 < r.Hi {
		upTo = r.Lo + limit - 1
	}
	// the rowid range drives: the unary + keeps SQLite from reading the
	// workspace's whole (workspace, …) index range instead
	stmts := bulkKeysSQL(`c.rowid BETWEEN {:lo} AND {:upTo} AND +c.workspace = {:ws}`)
	if upTo == r.Hi {
		stmts = append(stmts, `DELETE FROM `+pendingTable+` WHERE workspace = {:ws}`)
	} else {
		stmts = append(stmts, `UPDATE `+pendingTable+` SET lo = {:upTo} + 1 WHERE workspace = {:ws}`)
	}
	p := dbx.Params{"ws": ws, "lo": r.Lo, "upTo": upTo}
	for _, q := range stmts {
		if _, err := tx.NewQuery(q).Bind(p).Execute(); err != nil {
			return false, fmt.Errorf("settle match keys: %w", err)
		}
	}
	return upTo < r.Hi, nil
}
