package migrations

import (
	"fmt"
	"strings"

	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// A campaign the engine is working on cannot be deleted: an admin could
// delete a paused or scheduled campaign, which took its ledger with it (the
// deliveries cascade) while the engine held it. The delete rule, which
// refused only "sending", now refuses "paused" and "scheduled" too; cancel
// first. (hooks/campaigns.go answers the same refusal with 409
// campaign_delete_active for every caller, superusers included.)
const (
	deleteGuardBefore = `status != "sending")`
	deleteGuardAfter  = `status != "sending" && status != "paused" && status != "scheduled")`
)

func init() {
	m.Register(func(app core.App) error {
		return editCampaignDeleteRule(app, deleteGuardBefore, deleteGuardAfter)
	}, func(app core.App) error {
		return editCampaignDeleteRule(app, deleteGuardAfter, deleteGuardBefore)
	})
}

func editCampaignDeleteRule(app core.App, from, to string) error {
	c, err := app.FindCollectionByNameOrId("campaigns")
	if err != nil {
		return err
	}
	if c.DeleteRule == nil || strings.Count(*c.DeleteRule, from) != 1 {
		return fmt.Errorf("campaigns delete rule: expected one %q", from)
	}
	r := strings.Replace(*c.DeleteRule, from, to, 1)
	c.DeleteRule = &r
	return app.Save(c)
}
