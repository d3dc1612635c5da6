package migrations

import (
	"github.com/pi-crm/pi-crm/services/customfields"
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// Value indexes over contacts.custom, one per custom field name (see
// services/customfields/indexes.go): built here for the definitions an
// install already has; afterwards the definition hooks keep them in step.
func init() {
	m.Register(func(app core.App) error {
		return customfields.SyncValueIndexes(app)
	}, func(app core.App) error {
		return customfields.DropValueIndexes(app)
	})
}
