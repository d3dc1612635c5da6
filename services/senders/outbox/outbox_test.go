package outbox_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/senders/outbox"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

func TestOutboxOneMessagePerDelivery(t *testing.T) {
	env := testutil.New(t)
	owner, _ := env.User("owner@example.com")
	ws := env.Workspace("W", owner, nil)
	contact := env.Create("contacts", map[string]any{"workspace": ws.Id, "first_name": "Ada", "primary_email": "ada@example.com"})
	camp := env.Create("campaigns", map[string]any{"workspace": ws.Id, "name": "C", "type": "email", "status": "draft"})
	d := env.Create("campaign_deliveries", map[string]any{"campaign": camp.Id, "contact": contact.Id, "channel": "email",
		"address": "ada@example.com", "status": "queued"})

	s := outbox.New(env.App, "email")
	var _ senders.TxSender = s
	if s.Name() != "outbox" || s.Channel() != "email" {
		t.Fatalf("name/channel: %s %s", s.Name(), s.Channel())
	}
	m := senders.Message{Workspace: ws.Id, CampaignID: camp.Id, DeliveryID: d.Id, ContactID: contact.Id, Channel: "email",
		To: "ada@example.com", Subject: "Hello Ada", HTML: "<p>Hi</p>", Text: "Hi", MessageID: "<" + d.Id + "@pi-crm>",
		Headers: map[string]string{"List-Unsubscribe": "<https://x/u/t>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}}

	var res senders.Result
	err := env.App.RunInTransaction(func(tx core.App) error {
		var err error
		res, err = s.SendTx(tx, m)
		return err
	})
	if err != nil || res.ProviderMessageID == "" {
		t.Fatalf("SendTx: %v %+v", err, res)
	}
	rec, err := env.App.FindRecordById("outbox_messages", res.ProviderMessageID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.GetString("delivery") != d.Id || rec.GetString("to") != "ada@example.com" || rec.GetString("subject") != "Hello Ada" ||
		rec.GetBool("test") || rec.GetString("campaign") != camp.Id || rec.GetString("workspace") != ws.Id || rec.GetString("created") == "" {
		t.Fatalf("row: %v", rec.PublicExport())
	}
	var h map[string]string
	if err := json.Unmarshal([]byte(rec.GetString("headers")), &h); err != nil {
		t.Fatal(err)
	}
	if h["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click" || h["Message-ID"] != m.MessageID || h["Subject"] != "Hello Ada" || h["To"] != m.To {
		t.Fatalf("headers: %v", h)
	}

	// the same delivery again: refused by the unique index, inside a
	// transaction (which rolls back) and outside one
	if err := env.App.RunInTransaction(func(tx core.App) error { _, err := s.SendTx(tx, m); return err }); err == nil {
		t.Fatal("a second message for one delivery was stored")
	}
	if _, err := s.Send(context.Background(), m); err == nil {
		t.Fatal("a second message for one delivery was stored by Send")
	}

	// test sends carry no delivery and may repeat
	tm := m
	tm.Test = true
	for range 2 {
		if _, err := s.Send(context.Background(), tm); err != nil {
			t.Fatalf("test send: %v", err)
		}
	}
	var n, tests int
	_ = env.App.DB().Select("count(*)").From("outbox_messages").Row(&n)
	_ = env.App.DB().Select("count(*)").From("outbox_messages").Where(dbx.HashExp{"test": true, "delivery": ""}).Row(&tests)
	if n != 3 || tests != 2 {
		t.Fatalf("rows %d, tests %d", n, tests)
	}

	// no recipient: a permanent error
	nm := m
	nm.To, nm.DeliveryID = " ", ""
	_, err = s.Send(context.Background(), nm)
	if perm, _ := senders.Classify(err); !perm {
		t.Fatalf("no recipient: %v", err)
	}
}
