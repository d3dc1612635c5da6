package migrations

import (
	"github.com/pi-crm/pi-crm/services/search"
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// The AFTER INSERT triggers of the duplicate keys and contact counts get a
// switch that a bulk insert (the CSV import) turns off for its own rows, to
// write the same rows set-based (services/search/bulk.go).
func init() {
	m.Register(func(app core.App) error {
		for _, q := range search.BulkInsertSchema() {
			if _, err := app.DB().NewQuery(q).Execute(); err != nil {
				return err
			}
		}
		return nil
	}, func(app core.App) error {
		for _, q := range search.DropBulkInsertSchema() {
			if _, err := app.DB().NewQuery(q).Execute(); err != nil {
				return err
			}
		}
		return nil
	})
}
