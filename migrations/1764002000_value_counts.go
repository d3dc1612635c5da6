package migrations

import (
	m "github.com/pocketbase/pocketbase/migrations"
)

// Kept counts of select values (services/counts/values.go): per workspace and
// counted field, the number of contacts holding each value, kept by triggers
// on contacts, so that a filter's total on one select value is a look-up
// rather than a count of the value index's range. The counted fields start
// empty; customfields.SyncValueIndexes fills them.
//
// The SQL is frozen in 1764002000_value_counts.up.sql / .down.sql.
func init() {
	m.Register(sqlFileUpDown("1764002000_value_counts"))
}
