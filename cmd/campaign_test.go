package cmd_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/cmd"
	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/senders/smtp/smtptest"
	"github.com/pi-crm/pi-crm/services/settings"
	"github.com/pocketbase/dbx"
	"github.com/spf13/cobra"
)

func TestCampaignListAndStatus(t *testing.T) {
	env := testutil.New(t)
	owner, _ := env.User("cli@example.com")
	ws := env.Workspace("CLI", owner, nil)
	c := env.Create("campaigns", map[string]any{"workspace": ws.Id, "name": "Spring", "type": "email", "status": "scheduled",
		"counters": map[string]any{"sent": 3, "failed": 1, "skipped": 2}, "scheduled_at": time.Date(2099, 7, 1, 7, 30, 0, 0, time.UTC), "timezone": "Europe/Berlin"})
	env.Create("campaigns", map[string]any{"workspace": ws.Id, "name": "Draft one", "type": "sms", "status": "draft"})
	contact := env.Create("contacts", map[string]any{"workspace": ws.Id, "primary_email": "a@example.com"})
	env.Create("campaign_deliveries", map[string]any{"campaign": c.Id, "contact": contact.Id, "channel": "email", "address": "a@example.com", "status": "sent"})

	out, _, err := execute(cmd.NewCampaignCommand(env.App), "list", "--workspace", "CLI")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Spring", "scheduled", "Draft one", "2099-07-01 09:30 CEST (Europe/Berlin)"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	if line := lineWith(out, "Spring"); !strings.Contains(line, "  3  ") || !strings.Contains(line, "  1  ") {
		t.Errorf("counters: %q", line)
	}
	out, _, err = execute(cmd.NewCampaignCommand(env.App), "list", "--workspace", "CLI", "--status", "draft")
	if err != nil || strings.Contains(out, "Spring") || !strings.Contains(out, "Draft one") {
		t.Fatalf("status filter: %v\n%s", err, out)
	}
	out, _, err = execute(cmd.NewCampaignCommand(env.App), "status", c.Id)
	if err != nil || !strings.Contains(out, "Spring") || !strings.Contains(out, "deliveries: 1 (sent 1)") {
		t.Fatalf("status: %v\n%s", err, out)
	}
	if _, _, err := execute(cmd.NewCampaignCommand(env.App), "status", "nosuchcampaign1"); err == nil {
		t.Fatal("unknown campaign accepted")
	}
}

func lineWith(out, s string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// send-test: one message through the workspace's provider — the outbox by
// default (stored as a test), SMTP to a real server when configured.
func TestCampaignSendTest(t *testing.T) {
	env := testutil.New(t)
	owner, _ := env.User("cli@example.com")
	ws := env.Workspace("CLI", owner, nil)
	root := func() *cobra.Command { return cmd.NewCampaignCommand(env.App, cmd.NewCampaignSendTestCommand(env.App)) }
	out, _, err := execute(root(), "send-test", "--workspace", "CLI", "--to", "me@example.com")
	if err != nil || !strings.Contains(out, "sent through outbox to me@example.com") {
		t.Fatalf("outbox: %v %s", err, out)
	}
	if n, _ := env.App.CountRecords("outbox_messages", dbx.HashExp{"workspace": ws.Id, "to": "me@example.com", "test": true}); n != 1 {
		t.Fatalf("outbox test messages: %d", n)
	}
	srv := smtptest.Start(t, smtptest.Options{TLS: "none"})
	if err := settings.New(env.App).Put(ws.Id, "smtp", map[string]any{"host": srv.Host, "port": srv.Port, "tls": "none", "from": "shop@example.com"}, nil, audit.Actor{}); err != nil {
		t.Fatal(err)
	}
	if out, _, err = execute(root(), "send-test", "--workspace", "CLI", "--provider", "smtp", "--to", "me@example.com"); err != nil {
		t.Fatalf("smtp: %v %s", err, out)
	}
	if msgs := srv.Messages(); len(msgs) != 1 || msgs[0].To[0] != "me@example.com" {
		t.Fatalf("smtp server got %v", msgs)
	}
	if _, _, err := execute(root(), "send-test", "--workspace", "CLI", "--provider", "fax", "--to", "x"); err == nil {
		t.Fatal("unknown provider accepted")
	}
}
