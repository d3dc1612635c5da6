package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// The ledger's (campaign, status) index goes: idx_deliveries_claim
// (campaign, status, next_attempt_at) starts with the same columns, so it
// serves every query the shorter one did (the counts by status, the claim),
// and each status change of a row during a send updated both. Measured on a
// 100,000-recipient send (docs/BENCHMARKS.md).
func init() {
	m.Register(func(app core.App) error {
		c, err := app.FindCollectionByNameOrId("campaign_deliveries")
		if err != nil {
			return err
		}
		c.RemoveIndex("idx_deliveries_campaign_status")
		return app.Save(c)
	}, func(app core.App) error {
		c, err := app.FindCollectionByNameOrId("campaign_deliveries")
		if err != nil {
			return err
		}
		c.AddIndex("idx_deliveries_campaign_status", false, "campaign, status", "")
		return app.Save(c)
	})
}
