package migrations

import (
	"github.com/pi-crm/pi-crm/services/search"
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// Contacts per workspace, kept exact by triggers (services/search/counts.go):
// the total of an unfiltered contact list in O(1) instead of counting the
// workspace's index entries on every page. Migrations run in one
// transaction, so no contact is written between the backfill and the
// triggers.
func init() {
	m.Register(func(app core.App) error {
		for _, q := range append(search.DropCountSchema(), search.CountSchema()...) {
			if _, err := app.DB().NewQuery(q).Execute(); err != nil {
				return err
			}
		}
		return search.BackfillContactCounts(app)
	}, func(app core.App) error {
		for _, q := range search.DropCountSchema() {
			if _, err := app.DB().NewQuery(q).Execute(); err != nil {
				return err
			}
		}
		return nil
	})
}
