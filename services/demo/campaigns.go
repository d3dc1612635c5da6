package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/campaigns"
	"github.com/pi-crm/pi-crm/services/sending"
	"github.com/pi-crm/pi-crm/services/unsubscribe"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// demoCampaign is a campaign of the Shared workspace (Andy owns it,
// Monalisa is an admin there, so the four-eyes rule has two people): one
// Andy submitted, Monalisa approved and the outbox sent, one waiting for
// Monalisa's approval.
type demoCampaign struct {
	name, template string
	send           bool
}

var demoCampaigns = []demoCampaign{
	{name: "Welcome (sent)", template: "Welcome to the shared list", send: true},
	{name: "Autumn offer", template: "Welcome to the shared list"},
}

// sendTimeout bounds the demo's send to the outbox (about 20 messages).
const sendTimeout = 60 * time.Second

// campaigns creates what is missing of demoCampaigns through the lifecycle
// (snapshot, approval, audit) and sends the sent one with the engine to the
// outbox, so the UI has results and messages to show.
func (s *Seeder) campaigns(sum *Summary) error {
	ws, err := s.app.FindFirstRecordByFilter("workspaces", "name = 'Shared'")
	if err != nil {
		return fmt.Errorf("demo campaigns: the Shared workspace: %w", err)
	}
	andy, err := s.app.FindAuthRecordByEmail("users", "andy@example.com")
	if err != nil {
		return err
	}
	mona, err := s.app.FindAuthRecordByEmail("users", "monalisa@example.com")
	if err != nil {
		return err
	}
	life := campaigns.NewService(s.app, s.now, nil, nil)
	as := func(u *core.Record) campaigns.Who {
		return campaigns.Who{UserID: u.Id, Actor: audit.Actor{UserID: u.Id}}
	}
	for _, dc := range demoCampaigns {
		if _, err := s.app.FindFirstRecordByFilter("campaigns", "workspace = {:w} && name = {:n}", dbx.Params{"w": ws.Id, "n": dc.name}); err == nil {
			continue
		}
		tpl, err := s.app.FindFirstRecordByFilter("templates", "workspace = {:w} && name = {:n}", dbx.Params{"w": ws.Id, "n": dc.template})
		if err != nil {
			return fmt.Errorf("demo campaign %s: template: %w", dc.name, err)
		}
		col, err := s.app.FindCollectionByNameOrId("campaigns")
		if err != nil {
			return err
		}
		rec := core.NewRecord(col)
		rec.Set("workspace", ws.Id)
		rec.Set("name", dc.name)
		rec.Set("type", "email")
		rec.Set("template", tpl.Id)
		rec.Set("created_by", andy.Id)
		audit.Attach(rec, audit.Actor{UserID: andy.Id})
		if err := s.app.Save(rec); err != nil {
			return fmt.Errorf("demo campaign %s: %w", dc.name, err)
		}
		sum.Campaigns++
		if _, err := life.Act(as(andy), rec.Id, campaigns.ActionSubmit, campaigns.Input{}); err != nil {
			return fmt.Errorf("demo campaign %s: submit: %w", dc.name, err)
		}
		if !dc.send {
			continue
		}
		if _, err := life.Act(as(mona), rec.Id, campaigns.ActionApprove, campaigns.Input{Notes: "Looks good"}); err != nil {
			return fmt.Errorf("demo campaign %s: approve: %w", dc.name, err)
		}
		if _, err := life.Act(as(andy), rec.Id, campaigns.ActionSend, campaigns.Input{}); err != nil {
			return fmt.Errorf("demo campaign %s: send: %w", dc.name, err)
		}
		if err := sendNow(s.app, rec.Id); err != nil {
			return fmt.Errorf("demo campaign %s: %w", dc.name, err)
		}
	}
	return nil
}

// sendNow runs an engine until the campaign's send is done.
func sendNow(app core.App, id string) error {
	eng := sending.NewEngine(app, sending.Options{Links: unsubscribe.NewLinks(app)})
	defer eng.Stop()
	eng.Kick(id)
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	if err := eng.WaitIdle(ctx); err != nil {
		return fmt.Errorf("sending to the outbox: %w", err)
	}
	rec, err := app.FindRecordById("campaigns", id)
	if err != nil {
		return err
	}
	if st := rec.GetString("status"); st != "sent" {
		return fmt.Errorf("the send ended %s (%s)", st, rec.GetString("status_reason"))
	}
	return nil
}
