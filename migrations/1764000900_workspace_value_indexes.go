package migrations

import (
	"github.com/pi-crm/pi-crm/services/customfields"
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// Value indexes per workspace (services/customfields/indexes.go): the
// indexes shared by all workspaces are replaced by partial ones, each
// workspace's over its own fields, so a contact write no longer pays for
// the field names of every other workspace.
func init() {
	m.Register(func(app core.App) error {
		if err := customfields.DropSharedValueIndexes(app); err != nil {
			return err
		}
		return customfields.SyncValueIndexes(app)
	}, func(app core.App) error {
		return customfields.DropValueIndexes(app)
	})
}
