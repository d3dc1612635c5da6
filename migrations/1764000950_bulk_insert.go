package migrations

import (
	m "github.com/pocketbase/pocketbase/migrations"
)

// The AFTER INSERT triggers of the duplicate keys and contact counts get a
// switch that a bulk insert (the CSV import) turns off for its own rows, to
// write the same rows set-based (services/search/bulk.go).
//
// The SQL is frozen in 1764000950_bulk_insert.up.sql / .down.sql (what
// search.BulkInsertSchema (now contacts.BulkInsertSchema) produced; unchanged since the migration was
// written).
func init() {
	m.Register(sqlFileUpDown("1764000950_bulk_insert"))
}
