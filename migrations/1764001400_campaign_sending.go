package migrations

import (
	"fmt"
	"strings"

	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// Campaign sending: the approved snapshot, the schedule, the ledger's states
// and the embedded outbox.
//
//   - campaigns gain what the lifecycle writes (services/campaigns): the
//     snapshot that is approved and sent (template content, segment, provider)
//     and its hash, who submitted and approved it, the schedule (an instant and
//     the IANA zone it was given in), the reason of a pause or failure, start
//     and end. The collection API never writes those; it may now edit a
//     campaign that is pending approval, approved, rejected or scheduled too:
//     the record hook returns such a campaign to draft and voids its approval.
//   - campaign_approvals: a decision may be "voided" (by an edit after it).
//   - campaign_deliveries, the ledger: "unknown" (a remote send interrupted by
//     a crash, never re-sent blindly) and "complained"; why a row was skipped;
//     when a failed attempt is tried again; claims read (campaign, status,
//     next_attempt_at).
//   - outbox_messages: what the embedded default sender "sent", one message
//     per delivery (unique), readable by the workspace's members.
//   - provider_daily_counts: messages per workspace, provider and day, so a
//     daily limit holds across restarts; the server's own (no API rules).
//
// Rules are derived from the rules 1764001100 stored (string edits checked to
// apply exactly once), so this migration states what it changes.
func init() {
	m.Register(func(app core.App) error {
		if err := campaigns1400(app); err != nil {
			return err
		}
		if err := approvals1400(app); err != nil {
			return err
		}
		if err := deliveries1400(app); err != nil {
			return err
		}
		if err := outbox1400(app); err != nil {
			return err
		}
		return dailyCounts1400(app)
	}, func(app core.App) error {
		for _, name := range []string{"provider_daily_counts", "outbox_messages"} {
			if c, err := app.FindCollectionByNameOrId(name); err == nil {
				if err := app.Delete(c); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// serverFields1400 are written by the lifecycle only.
var serverFields1400 = []string{"snapshot", "snapshot_hash", "submitted_by", "submitted_at", "approved_by", "approved_at",
	"scheduled_at", "timezone", "status_reason", "started_at", "finished_at"}

func campaigns1400(app core.App) error {
	c, err := app.FindCollectionByNameOrId("campaigns")
	if err != nil {
		return err
	}
	users, err := app.FindCollectionByNameOrId("users")
	if err != nil {
		return err
	}
	c.Fields.Add(
		&core.JSONField{Name: "snapshot", MaxSize: 2 << 20},
		&core.TextField{Name: "snapshot_hash", Max: 64},
		&core.RelationField{Name: "submitted_by", CollectionId: users.Id, MaxSelect: 1},
		&core.DateField{Name: "submitted_at"},
		&core.RelationField{Name: "approved_by", CollectionId: users.Id, MaxSelect: 1},
		&core.DateField{Name: "approved_at"},
		&core.DateField{Name: "scheduled_at"},
		&core.TextField{Name: "timezone", Max: 64},
		&core.TextField{Name: "status_reason", Max: 1000},
		&core.DateField{Name: "started_at"},
		&core.DateField{Name: "finished_at"},
	)
	// the scheduler's look-up
	c.AddIndex("idx_campaigns_due", false, "status, scheduled_at", "status = 'scheduled'")
	if c.UpdateRule == nil {
		return fmt.Errorf("campaigns has no update rule to extend")
	}
	draftOnly := ` && status = "draft" && `
	if strings.Count(*c.UpdateRule, draftOnly) != 1 {
		return fmt.Errorf("campaigns update rule: expected one %q", draftOnly)
	}
	editable := ` && (status = "draft" || status = "pending_approval" || status = "approved" || status = "rejected" || status = "scheduled") && `
	r := strings.Replace(*c.UpdateRule, draftOnly, editable, 1)
	for _, f := range serverFields1400 {
		r += " && (@request.body." + f + ":isset = false || @request.body." + f + " = " + f + ")"
	}
	c.UpdateRule = &r
	if c.CreateRule != nil {
		cr := *c.CreateRule
		for _, f := range serverFields1400 {
			cr += " && @request.body." + f + ":isset = false"
		}
		c.CreateRule = &cr
	}
	return app.Save(c)
}

func approvals1400(app core.App) error {
	c, err := app.FindCollectionByNameOrId("campaign_approvals")
	if err != nil {
		return err
	}
	f, ok := c.Fields.GetByName("status").(*core.SelectField)
	if !ok {
		return fmt.Errorf("campaign_approvals.status is not a select")
	}
	f.Values = []string{"pending", "approved", "rejected", "voided"}
	c.Fields.Add(&core.TextField{Name: "snapshot_hash", Max: 64})
	// decisions are made by the routes (four-eyes, in a transaction with the
	// campaign's status): nobody writes them through the collection API
	c.CreateRule, c.UpdateRule, c.DeleteRule = nil, nil, nil
	return app.Save(c)
}

func deliveries1400(app core.App) error {
	c, err := app.FindCollectionByNameOrId("campaign_deliveries")
	if err != nil {
		return err
	}
	f, ok := c.Fields.GetByName("status").(*core.SelectField)
	if !ok {
		return fmt.Errorf("campaign_deliveries.status is not a select")
	}
	f.Values = []string{"queued", "sending", "sent", "delivered", "failed", "bounced", "complained", "suppressed", "skipped", "unknown"}
	c.Fields.Add(
		&core.TextField{Name: "reason", Max: 200},
		&core.DateField{Name: "next_attempt_at"},
	)
	c.AddIndex("idx_deliveries_claim", false, "campaign, status, next_attempt_at", "")
	return app.Save(c)
}

func outbox1400(app core.App) error {
	deliveries, err := app.FindCollectionByNameOrId("campaign_deliveries")
	if err != nil {
		return err
	}
	ids := map[string]string{}
	for _, name := range []string{"workspaces", "campaigns", "contacts"} {
		col, err := app.FindCollectionByNameOrId(name)
		if err != nil {
			return err
		}
		ids[name] = col.Id
	}
	c := core.NewBaseCollection("outbox_messages")
	c.Fields.Add(
		&core.RelationField{Name: "workspace", CollectionId: ids["workspaces"], MaxSelect: 1, Required: true, CascadeDelete: true},
		&core.RelationField{Name: "campaign", CollectionId: ids["campaigns"], MaxSelect: 1, CascadeDelete: true},
		&core.RelationField{Name: "delivery", CollectionId: deliveries.Id, MaxSelect: 1},
		&core.RelationField{Name: "contact", CollectionId: ids["contacts"], MaxSelect: 1},
		&core.TextField{Name: "to", Max: 254, Required: true},
		&core.TextField{Name: "subject", Max: 1000},
		&core.TextField{Name: "html", Max: 2 << 20},
		&core.TextField{Name: "text", Max: 1 << 20},
		&core.JSONField{Name: "headers", MaxSize: 64 << 10},
		&core.BoolField{Name: "test"},
		&core.AutodateField{Name: "created", OnCreate: true},
		&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true},
	)
	// exactly one message per delivery: a send after a crash cannot double it
	c.AddIndex("idx_outbox_delivery", true, "delivery", "delivery != ''")
	c.AddIndex("idx_outbox_ws_created", false, "workspace, created", "")
	c.AddIndex("idx_outbox_campaign", false, "campaign", "")
	// members read what went out, as they read the ledger (the deliveries'
	// read rule, with the workspace held directly); the server writes
	if deliveries.ListRule == nil || !strings.Contains(*deliveries.ListRule, "campaign.workspace") {
		return fmt.Errorf("campaign_deliveries has no list rule through campaign.workspace")
	}
	read := strings.ReplaceAll(*deliveries.ListRule, "campaign.workspace", "workspace")
	c.ListRule, c.ViewRule = &read, &read
	return app.Save(c)
}

func dailyCounts1400(app core.App) error {
	c := core.NewBaseCollection("provider_daily_counts")
	c.Fields.Add(
		&core.TextField{Name: "workspace", Max: 50, Required: true},
		&core.TextField{Name: "provider", Max: 50, Required: true},
		&core.TextField{Name: "day", Max: 10, Required: true, Pattern: `^\d{4}-\d{2}-\d{2}$`},
		&core.NumberField{Name: "count", OnlyInt: true},
	)
	c.AddIndex("idx_provider_daily", true, "workspace, provider, day", "")
	return app.Save(c)
}
