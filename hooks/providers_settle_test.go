package hooks_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/hooks"
	"github.com/pi-crm/pi-crm/internal/providerfake/gmailfake"
	"github.com/pi-crm/pi-crm/internal/providerfake/graphfake"
	"github.com/pi-crm/pi-crm/services/providers"
	"github.com/pi-crm/pi-crm/services/sending"
	"github.com/pi-crm/pi-crm/services/unsubscribe"
	"github.com/pocketbase/dbx"
)

// stepClock is a clock the test moves; its timers never fire (the test
// runs the passes itself).
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) After(time.Duration) <-chan time.Time { return make(chan time.Time) }

func (c *stepClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
}

// A crash through Gmail's and Graph's test servers, end to end: a campaign
// sent from the API whose first message's answer is lost (the provider
// dropped the connection after reading it, and kept nothing) and whose
// second is sent, then the server dies with that row "sending" (its record
// and timeline entry not written). The restarted engine (the same providers,
// a clock the test moves) makes both rows "unknown", and once SettleAfter
// has passed looks them up at the provider by the Message-ID they were sent
// with: the one the provider has becomes "sent" with its timeline entry,
// the one it never got is queued and sent, once. Each recipient got exactly
// one message.
func TestCampaignCrashSettledThroughProvider(t *testing.T) {
	for _, name := range []string{"gmail", "microsoft365"} {
		t.Run(name, func(t *testing.T) {
			w := newProviderWorld(t)
			var sentTo func() map[string]int
			switch name {
			case "gmail":
				w.configure(t, "gmail", map[string]any{"service_account_json": w.gmail.ServiceAccountJSON(), "delegated_user": "anna@shop.example",
					"base_url": w.gmail.Srv.URL})
				w.gmail.SendNext(gmailfake.Drop)
				sentTo = func() map[string]int {
					n := map[string]int{}
					for _, m := range w.gmail.Sent() {
						n[strings.Trim(m.Msg.Header.Get("To"), "<>")]++
					}
					return n
				}
			case "microsoft365":
				w.configure(t, "microsoft365", map[string]any{"tenant_id": w.graph.Tenant, "client_id": w.graph.ClientID,
					"client_secret": w.graph.Secret, "sender": w.graph.Mailbox, "base_url": w.graph.Srv.URL, "rate_per_second": 20})
				w.graph.SendNext(graphfake.Drop)
				sentTo = func() map[string]int {
					n := map[string]int{}
					for _, m := range w.graph.Sent() {
						n[m.To]++
					}
					return n
				}
			}
			id := w.sendNoWait(t, name)
			// the first answer lost → unknown, the second sent
			deadline := time.Now().Add(30 * time.Second)
			for w.open(t, id) > 0 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			hooks.SendingEngine(w.env.App).Stop() // the crash
			var lost, crashed ledgerRow
			for _, r := range w.ledger(t, id) {
				switch r.Status {
				case "unknown":
					lost = r
				case "sent":
					crashed = r
				}
			}
			if lost.ID == "" || crashed.ID == "" {
				t.Fatalf("before the crash: %+v", w.ledger(t, id))
			}
			if got := sentTo(); len(got) != 1 || got[crashed.Address] != 1 {
				t.Fatalf("the provider has %v", got)
			}
			if _, err := w.env.App.DB().NewQuery(`UPDATE campaign_deliveries SET status = 'sending', provider_message_id = '', sent_at = ''
				WHERE id = {:id}`).Bind(dbx.Params{"id": crashed.ID}).Execute(); err != nil {
				t.Fatal(err)
			}
			if _, err := w.env.App.DB().NewQuery(`DELETE FROM communication_logs WHERE campaign = {:c} AND contact = {:k}`).
				Bind(dbx.Params{"c": id, "k": crashed.Contact}).Execute(); err != nil {
				t.Fatal(err)
			}

			// the restart
			clock := &stepClock{now: time.Now()}
			e := sending.NewEngine(w.env.App, sending.Options{Clock: clock, Links: unsubscribe.NewLinks(w.env.App),
				Open: providers.Opener(providers.Options{HTTPClient: w.graph.Srv.Client(), Now: clock.Now})})
			t.Cleanup(e.Stop)
			if _, err := e.RecoverAll(); err != nil {
				t.Fatal(err)
			}
			if r := w.ledgerRow(t, id, crashed.ID); r.Status != "unknown" {
				t.Fatalf("after recovery: %+v", r)
			}
			clock.Set(time.Now().Add(sending.DefaultSettleAfter + time.Minute))
			for i := 0; ; i++ {
				res, err := e.Pass(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				if res.Done {
					break
				}
				if i == 10 {
					t.Fatalf("not done after 10 passes: %+v", w.ledger(t, id))
				}
				clock.Set(res.Next)
			}
			for _, r := range w.checkFinished(t, id, "email", 2) {
				switch r.ID {
				case lost.ID: // the lost attempt, and the one after the look-up
					if r.Attempts != 2 || r.Error != "" {
						t.Errorf("the lost row: %+v", r)
					}
				case crashed.ID:
					if r.Attempts != 1 || !strings.Contains(r.Error, "settled by a look-up") {
						t.Errorf("the crashed row: %+v", r)
					}
				}
			}
			if got := sentTo(); len(got) != 2 || got[lost.Address] != 1 || got[crashed.Address] != 1 {
				t.Errorf("the provider has %v", got)
			}
		})
	}
}

// sendNoWait is send without waiting for the engine.
func (w *providerWorld) sendNoWait(t *testing.T, provider string) string {
	t.Helper()
	id := mustStatus(t, w.env.Do(http.MethodPost, campaignsURL, w.tok["editor"], map[string]any{"workspace": w.w.Id,
		"name": "Spring via " + provider, "type": "email", "template": w.emailTpl, "provider": provider}), 200, "")["id"].(string)
	for _, a := range []struct{ who, action string }{{"editor", "submit"}, {"admin", "approve"}, {"editor", "send"}} {
		mustStatus(t, w.env.Do(http.MethodPost, "/api/crm/campaigns/"+id+"/"+a.action, w.tok[a.who], nil), 200, "")
	}
	return id
}

// open is how many of the campaign's rows are queued or sending.
func (w *providerWorld) open(t *testing.T, campaign string) int {
	t.Helper()
	var n int
	if err := w.env.App.DB().NewQuery(`SELECT count(*) FROM campaign_deliveries WHERE campaign = {:c} AND status IN ('queued', 'sending')`).
		Bind(dbx.Params{"c": campaign}).Row(&n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		var total int
		_ = w.env.App.DB().NewQuery(`SELECT count(*) FROM campaign_deliveries WHERE campaign = {:c}`).Bind(dbx.Params{"c": campaign}).Row(&total)
		if total == 0 {
			return 1 // the ledger is not written yet
		}
	}
	return n
}

func (w *providerWorld) ledgerRow(t *testing.T, campaign, id string) ledgerRow {
	t.Helper()
	for _, r := range w.ledger(t, campaign) {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("no ledger row %s", id)
	return ledgerRow{}
}
