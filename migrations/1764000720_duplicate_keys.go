package migrations

import (
	m "github.com/pocketbase/pocketbase/migrations"
)

// Duplicate finder state (services/search/matchkeys.go): per-contact match
// keys kept by triggers on contacts, a log of the groups whose members
// changed, and the found groups in page order. Plain tables, not collections:
// nothing reads them but the finder's route, which checks membership itself.
// The keys of existing contacts are backfilled here, with one change-log row
// per contact; the first page read per workspace then builds its groups.
//
// The SQL is frozen in 1764000720_duplicate_keys.up.sql / .down.sql: the
// statements search.MatchSchema (now duplicates.MatchSchema) produced when this migration was frozen. A
// database that ran an earlier version of this migration (the change log
// with other columns, the group counts of the first version) is brought to
// the current schema by 1764001050.
func init() {
	m.Register(sqlFileUpDown("1764000720_duplicate_keys"))
}
