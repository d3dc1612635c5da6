package migrations

import (
	m "github.com/pocketbase/pocketbase/migrations"
)

// Deferred match keys (services/duplicates/pending.go): a bulk writer
// records the rowid range whose keys it has not written yet, committed with
// its rows, and writes them once at its end; a workspace's delete clears its
// record. Down writes whatever is still deferred before dropping the table.
//
// The SQL is frozen in 1764001900_match_pending.up.sql / .down.sql.
func init() {
	m.Register(sqlFileUpDown("1764001900_match_pending"))
}
