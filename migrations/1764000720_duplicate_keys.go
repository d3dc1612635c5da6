package migrations

import (
	"github.com/pi-crm/pi-crm/services/search"
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// Duplicate finder state (issue 4, point 7; services/search/matchkeys.go):
// per-contact match keys kept by triggers on contacts, a log of the groups
// whose members changed, and the found groups in page order. Plain tables, not
// collections: nothing reads them but the finder's route, which checks
// membership itself. The keys of existing contacts are backfilled here; the
// first page read per workspace then builds its groups.
func init() {
	m.Register(func(app core.App) error {
		for _, q := range append(search.DropMatchSchema(), search.MatchSchema()...) {
			if _, err := app.DB().NewQuery(q).Execute(); err != nil {
				return err
			}
		}
		return search.BackfillMatchKeys(app)
	}, func(app core.App) error {
		for _, q := range search.DropMatchSchema() {
			if _, err := app.DB().NewQuery(q).Execute(); err != nil {
				return err
			}
		}
		return nil
	})
}
