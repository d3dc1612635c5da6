package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// The global value indexes of custom_fields go (issue 18):
// idx_custom_fields_name_value (field_name, field_value) and
// idx_custom_fields_number (field_name, CAST(field_value AS REAL)) on number
// rows. Each holds every workspace's values, so every value an import or an
// edit writes was a random insert into an index of all of them (the 100k
// bench import: see docs/BENCHMARKS.md for the measured effect). Searches
// read the per-workspace value indexes over the contacts' read copy
// (services/customfields/indexes.go) or check the workspace's contacts one
// by one; nothing else reads these two. The unique (contact, field_name)
// stays. No index left on the tables a contact write touches is a prefix of
// a unique one (migrations/index_cover_test.go keeps it so).
func init() {
	m.Register(func(app core.App) error {
		c, err := app.FindCollectionByNameOrId("custom_fields")
		if err != nil {
			return err
		}
		c.RemoveIndex("idx_custom_fields_name_value")
		c.RemoveIndex("idx_custom_fields_number")
		return app.Save(c)
	}, func(app core.App) error {
		c, err := app.FindCollectionByNameOrId("custom_fields")
		if err != nil {
			return err
		}
		c.AddIndex("idx_custom_fields_name_value", false, "field_name, field_value", "")
		c.AddIndex("idx_custom_fields_number", false, "field_name, CAST(field_value AS REAL)", "field_type = 'number'")
		return app.Save(c)
	})
}
