package demo_test

import (
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/demo"
	"github.com/pi-crm/pi-crm/services/templates"
	"github.com/pocketbase/dbx"
)

// Every demo template renders, and differently for different contacts of its
// workspace (they use the workspace's custom fields).
func TestDemoTemplatesRenderPerContact(t *testing.T) {
	env := testutil.New(t)
	s, err := demo.NewSeeder(env.App, demo.DefaultPassword, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Seed(); err != nil {
		t.Fatal(err)
	}
	tpls, err := env.App.FindAllRecords("templates")
	if err != nil || len(tpls) != 4 {
		t.Fatalf("templates: %d %v", len(tpls), err)
	}
	for _, tpl := range tpls {
		ws := tpl.GetString("workspace")
		contacts, err := env.App.FindRecordsByFilter("contacts", "workspace = {:w}", "created", 2, 0, dbx.Params{"w": ws})
		if err != nil || len(contacts) != 2 {
			t.Fatalf("contacts of %s: %v", ws, err)
		}
		var out [2]templates.Message
		for i, c := range contacts {
			out[i], err = templates.Preview(env.App, ws, templates.SourceOf(tpl), templates.PreviewRequest{Contact: c.Id})
			if err != nil {
				t.Fatalf("%s: %v", tpl.GetString("name"), err)
			}
		}
		if out[0] == out[1] {
			t.Errorf("%s renders the same for two contacts", tpl.GetString("name"))
		}
		if tpl.GetString("channel") == "email" && (out[0].HTML == "" || out[0].Text == "" || out[0].Subject == "") {
			t.Errorf("%s: empty part: %+v", tpl.GetString("name"), out[0])
		}
	}
}

// The demo's campaigns: one sent to the outbox (one message per delivered
// ledger row), one waiting for Monalisa's approval; a second seed adds none.
func TestDemoCampaigns(t *testing.T) {
	env := testutil.New(t)
	s, err := demo.NewSeeder(env.App, demo.DefaultPassword, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := s.Seed()
	if err != nil || sum.Campaigns != 2 {
		t.Fatalf("seed: %+v %v", sum, err)
	}
	sent, err := env.App.FindFirstRecordByFilter("campaigns", "name = 'Welcome (sent)'")
	if err != nil || sent.GetString("status") != "sent" || sent.GetString("approved_by") == sent.GetString("submitted_by") {
		t.Fatalf("sent campaign: %v %v", sent, err)
	}
	delivered, _ := env.App.CountRecords("campaign_deliveries", dbx.HashExp{"campaign": sent.Id, "status": "sent"})
	outbox, _ := env.App.CountRecords("outbox_messages", dbx.HashExp{"campaign": sent.Id})
	if delivered == 0 || delivered != outbox {
		t.Fatalf("delivered %d, outbox %d", delivered, outbox)
	}
	waiting, err := env.App.FindFirstRecordByFilter("campaigns", "name = 'Autumn offer'")
	if err != nil || waiting.GetString("status") != "pending_approval" {
		t.Fatalf("waiting campaign: %v %v", waiting, err)
	}
	again, err := s.Seed()
	if err != nil || again.Campaigns != 0 {
		t.Fatalf("second seed: %+v %v", again, err)
	}
	if n, _ := env.App.CountRecords("outbox_messages"); n != outbox {
		t.Fatalf("second seed sent again: %d", n)
	}
}
