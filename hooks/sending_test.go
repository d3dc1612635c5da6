package hooks_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/hooks"
	"github.com/pi-crm/pi-crm/services/sending"
	"github.com/pocketbase/dbx"
)

func init() {
	auditedRoutes["POST /api/crm/campaigns/{id}/retry"] = "TestCampaignSendAndRetry"
	auditedRoutes["POST /api/crm/campaigns/{id}/test"] = "TestCampaignTestSend"
}

func waitEngine(t *testing.T, w campaignWorld) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hooks.SendingEngine(w.env.App).WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}

func (w campaignWorld) n(t *testing.T, sql string, id string) int {
	t.Helper()
	var n int
	if err := w.env.App.DB().NewQuery(sql).Bind(dbx.Params{"id": id}).Row(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Draft → submit → approve → send through the API: the engine (kicked by
// the lifecycle) writes the ledger and sends to the outbox; then retry puts
// failed rows back and sends them, audited.
func TestCampaignSendAndRetry(t *testing.T) {
	w := newCampaignWorld(t)
	id := w.campaign(t, "editor", nil)
	mustStatus(t, w.act("editor", id, "submit", nil), 200, "")
	mustStatus(t, w.act("owner", id, "approve", nil), 200, "")
	mustStatus(t, w.act("owner", id, "send", nil), 200, "")
	waitEngine(t, w)
	rec := w.status(t, id)
	// ada, bob (emails), Nomail (no address), Sup (suppressed)
	if rec.GetString("status") != "sent" || !strings.Contains(rec.GetString("counters"), `"sent":2`) || !strings.Contains(rec.GetString("counters"), `"skipped":2`) {
		t.Fatalf("campaign: %s %s %s", rec.GetString("status"), rec.GetString("status_reason"), rec.GetString("counters"))
	}
	if n := w.n(t, "SELECT count(*) FROM outbox_messages WHERE campaign = {:id} AND test = 0", id); n != 2 {
		t.Fatalf("outbox %d", n)
	}

	// a failed row (its message never written) is retried on request
	if _, err := w.env.App.DB().NewQuery(`UPDATE campaign_deliveries SET status = 'failed', error = 'x', attempts = 5 WHERE campaign = {:id} AND contact = {:c}`).
		Bind(dbx.Params{"id": id, "c": w.ada}).Execute(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.env.App.DB().NewQuery(`DELETE FROM outbox_messages WHERE campaign = {:id} AND contact = {:c}`).Bind(dbx.Params{"id": id, "c": w.ada}).Execute(); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, w.act("viewer", id, "retry", map[string]any{"statuses": []string{"failed"}}), 403, "campaign_forbidden")
	mustStatus(t, w.act("outsider", id, "retry", map[string]any{"statuses": []string{"failed"}}), 404, "campaign_not_found")
	mustStatus(t, w.act("editor", id, "retry", map[string]any{"statuses": []string{"sent"}}), 400, "campaign_retry_invalid")
	res := mustStatus(t, w.act("editor", id, "retry", map[string]any{"statuses": []string{"failed", "unknown"}}), 200, "")
	if res["requeued"] != float64(1) {
		t.Fatalf("retry: %v", res)
	}
	waitEngine(t, w)
	if st := w.status(t, id).GetString("status"); st != "sent" {
		t.Fatalf("after retry: %s", st)
	}
	if n := w.n(t, "SELECT count(*) FROM campaign_deliveries WHERE campaign = {:id} AND status = 'sent' AND attempts = 6", id); n != 1 {
		t.Fatalf("retried row: %d (attempts kept and counted)", n)
	}
	if n := w.n(t, "SELECT count(DISTINCT delivery) FROM outbox_messages WHERE campaign = {:id}", id); n != 2 {
		t.Fatalf("outbox after retry %d", n)
	}
	var entries []struct {
		User    string `db:"user"`
		Details string `db:"details"`
	}
	_ = w.env.App.DB().NewQuery("SELECT user, details FROM audit_logs WHERE action = 'campaign.retry' AND entity_id = {:id}").Bind(dbx.Params{"id": id}).All(&entries)
	if len(entries) != 1 || entries[0].User != w.editor.Id || !strings.Contains(entries[0].Details, `"rows":1`) {
		t.Fatalf("audit: %+v", entries)
	}
	// a draft has nothing to retry
	draft := w.campaign(t, "editor", nil)
	mustStatus(t, w.act("editor", draft, "retry", map[string]any{"statuses": []string{"failed"}}), 409, "campaign_invalid_transition")
}

// A test send renders with a contact of the campaign's workspace, goes to
// the outbox marked as a test, never into the ledger or the counters; it
// works for drafts and is audited.
func TestCampaignTestSend(t *testing.T) {
	w := newCampaignWorld(t)
	id := w.campaign(t, "editor", nil)
	body := map[string]any{"addresses": []string{"me@example.com", "boss@example.com"}, "contact": w.ada}
	mustStatus(t, w.act("viewer", id, "test", body), 403, "campaign_forbidden")
	mustStatus(t, w.act("outsider", id, "test", body), 404, "campaign_not_found")
	mustStatus(t, w.act("editor", id, "test", map[string]any{"addresses": []string{"a@x.io"}, "contact": w.xc}), 404, "contact_not_found")
	mustStatus(t, w.act("editor", id, "test", map[string]any{"addresses": []string{"1@x.io", "2@x.io", "3@x.io", "4@x.io", "5@x.io", "6@x.io"}}), 400, "campaign_test_invalid")
	res := mustStatus(t, w.act("editor", id, "test", body), 200, "")
	if sent, _ := res["sent"].([]any); len(sent) != 2 {
		t.Fatalf("answer %v", res)
	}
	var rows []struct {
		To      string `db:"to"`
		Subject string `db:"subject"`
		HTML    string `db:"html"`
		Test    bool   `db:"test"`
		Deliv   string `db:"delivery"`
	}
	_ = w.env.App.DB().NewQuery(`SELECT "to", subject, html, test, delivery FROM outbox_messages WHERE campaign = {:id}`).Bind(dbx.Params{"id": id}).All(&rows)
	if len(rows) != 2 || !rows[0].Test || rows[0].Deliv != "" || rows[0].Subject != "[Test] Hi Ada" || !strings.Contains(rows[0].HTML, "gold") {
		t.Fatalf("outbox: %+v", rows)
	}
	if n := w.n(t, "SELECT count(*) FROM campaign_deliveries WHERE campaign = {:id}", id); n != 0 {
		t.Fatalf("ledger rows %d", n)
	}
	if rec := w.status(t, id); rec.GetString("status") != "draft" || strings.Contains(rec.GetString("counters"), "sent") {
		t.Fatalf("campaign %s %s", rec.GetString("status"), rec.GetString("counters"))
	}
	if n := w.n(t, "SELECT count(*) FROM audit_logs WHERE action = 'campaign.test_send' AND entity_id = {:id} AND details LIKE '%boss@example.com%'", id); n != 1 {
		t.Fatalf("audit entries %d", n)
	}
}

// A test send without a contact has no real recipient to unsubscribe: the
// preview's stand-in link, not a 500; with no Application URL, a test for a
// contact is a 400 naming the set-up to fix.
func TestCampaignTestSendLinks(t *testing.T) {
	w := newCampaignWorld(t)
	id := w.campaign(t, "editor", nil)
	res := w.env.Do(http.MethodPost, "/api/crm/campaigns/"+id+"/test", w.tok["editor"], map[string]any{"addresses": []string{"me@example.com"}})
	mustStatus(t, res, 200, "")
	msg, err := w.env.App.FindFirstRecordByFilter("outbox_messages", "to = 'me@example.com' && test = true")
	if err != nil || !strings.Contains(msg.GetString("headers"), "unsubscribe.invalid") {
		t.Fatalf("test message: %v %v", msg, err)
	}
	// a test message counts in the provider's day like any other
	if n := w.n(t, "SELECT COALESCE(SUM(count), 0) FROM provider_daily_counts WHERE workspace = {:id} AND provider = 'outbox'", w.w.Id); n != 1 {
		t.Fatalf("daily count after one test message: %d", n)
	}
	w.env.App.Settings().Meta.AppURL = ""
	res = w.env.Do(http.MethodPost, "/api/crm/campaigns/"+id+"/test", w.tok["editor"], map[string]any{"addresses": []string{"me@example.com"}, "contact": w.ada})
	mustStatus(t, res, 400, "unsubscribe_not_configured")
}

// Test sends are bounded: they count in the provider's daily limit and are
// refused past it (429 provider_daily_limit, nothing sent), and a
// workspace sends at most sending.MaxTestMessagesPerHour test messages an
// hour (429 campaign_test_limit), counted from the audit log.
func TestCampaignTestSendLimits(t *testing.T) {
	w := newCampaignWorld(t)
	id := w.campaign(t, "editor", nil)
	outbox := "/api/crm/workspaces/" + w.w.Id + "/providers/outbox"
	mustStatus(t, w.env.Do(http.MethodPut, outbox, w.tok["owner"], map[string]any{"daily_limit": 3}), 200, "")
	addrs := func(n int) map[string]any {
		a := make([]string, n)
		for i := range a {
			a[i] = fmt.Sprintf("t%d@example.com", i)
		}
		return map[string]any{"addresses": a}
	}
	sent := func() int { return w.n(t, "SELECT count(*) FROM outbox_messages WHERE campaign = {:id}", id) }
	mustStatus(t, w.act("editor", id, "test", addrs(4)), 429, "provider_daily_limit")
	if n := sent(); n != 0 {
		t.Fatalf("%d sent past the daily limit", n)
	}
	mustStatus(t, w.act("editor", id, "test", addrs(3)), 200, "")
	mustStatus(t, w.act("editor", id, "test", addrs(1)), 429, "provider_daily_limit")

	mustStatus(t, w.env.Do(http.MethodPut, outbox, w.tok["owner"], map[string]any{"daily_limit": 0}), 200, "")
	for range 9 { // 3 + 45
		mustStatus(t, w.act("editor", id, "test", addrs(5)), 200, "")
	}
	res := w.act("editor", id, "test", addrs(5))
	mustStatus(t, res, 429, "campaign_test_limit")
	mustStatus(t, w.act("editor", id, "test", addrs(2)), 200, "") // exactly 50
	mustStatus(t, w.act("admin", id, "test", addrs(1)), 429, "campaign_test_limit")
	if n := sent(); n != sending.MaxTestMessagesPerHour {
		t.Fatalf("%d test messages sent, want %d", n, sending.MaxTestMessagesPerHour)
	}
}
