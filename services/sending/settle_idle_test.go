package sending_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/sending"
	"github.com/pocketbase/pocketbase/core"
)

// lookingFake is a fakeSender that can look deliveries up: answers[to] are
// its answers for that recipient, one per look-up (the last repeats).
type lookingFake struct {
	*fakeSender
	mu      sync.Mutex
	answers map[string][]senders.LookupResult
	asked   map[string]int
	queries []senders.Query
}

func (f *lookingFake) Lookup(_ context.Context, q senders.Query) (senders.LookupResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	a := f.answers[q.To]
	if len(a) == 0 {
		return senders.LookupResult{Reason: "no script"}, nil
	}
	i := min(f.asked[q.To], len(a)-1)
	f.asked[q.To]++
	return a[i], nil
}

func (f *lookingFake) lookedUp(to string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.asked[to]
}

// c1's and c2's answers are lost (unknown); the first look-up cannot say.
func newLookingFake() *lookingFake {
	f := &lookingFake{asked: map[string]int{}}
	f.fakeSender = newFake(func(m senders.Message, n int) error {
		if n == 1 && (m.To == "c1@example.com" || m.To == "c2@example.com") {
			return senders.Unknown(errors.New("connection reset after the request"))
		}
		return nil
	})
	undetermined := senders.LookupResult{Reason: "the credentials lack read access"}
	f.answers = map[string][]senders.LookupResult{
		"c1@example.com": {undetermined, {Outcome: senders.Found, ProviderMessageID: "p-found-c1"}},
		"c2@example.com": {undetermined, {Outcome: senders.NotFound}},
	}
	return f
}

func (w *world) timelineEntries(campaign, email string) int {
	w.t.Helper()
	return w.count(`SELECT count(*) FROM communication_logs l JOIN contacts k ON k.id = l.contact
		WHERE l.campaign = {:p0} AND k.primary_email = {:p1} AND l.direction = 'outbound' AND l.status = 'sent'`, campaign, email)
}

// A campaign whose only open rows are unknown and whose first look-up
// cannot settle them finishes "sent" with them counted unknown (they are
// final for the campaign once looked up once), and a pass no longer
// touches it; the engine's settle scan (SettleIdle) keeps looking them up:
// the one the provider has becomes "sent" with the timeline entry a
// delivery writes, the one it never got is queued, the campaign goes back
// to "sending" and sends it once, then finishes with exact counters.
func TestSettleAfterTheCampaignFinished(t *testing.T) {
	w := newWorld(t)
	w.contacts(3, nil)
	camp := w.campaign("fake")
	f := newLookingFake()
	e := w.engine(f.open(), func(o *sending.Options) { o.SettleAfter = time.Minute })
	w.drain(e, camp.Id, 10)
	st, reason, c := w.status(camp.Id)
	if st != "sent" || c["sent"] != 1 || c["unknown"] != 2 || reason != "1 sent, 0 failed, 0 skipped, 2 unknown" {
		t.Fatalf("after the first look-up: %s %q %v", st, reason, c)
	}
	if f.lookedUp("c1@example.com") != 1 || f.lookedUp("c2@example.com") != 1 {
		t.Fatalf("look-ups %v", f.asked)
	}
	// a pass of a finished campaign settles nothing
	w.clock.Advance(time.Hour)
	if res, err := e.Pass(context.Background(), camp.Id); err != nil || !res.Done || f.lookedUp("c1@example.com") != 1 {
		t.Fatalf("pass of a sent campaign: %+v %v, %d look-ups", res, err, f.lookedUp("c1@example.com"))
	}
	// the settle scan looks them up again (due: SettleAfter since the first)
	if n, err := e.SettleIdle(context.Background()); err != nil || n != 2 {
		t.Fatalf("settle scan: %d %v", n, err)
	}
	if r := w.delivery("c1@example.com"); r.Status != "sent" {
		t.Fatalf("c1 %+v", r)
	}
	if n := w.timelineEntries(camp.Id, "c1@example.com"); n != 1 {
		t.Errorf("c1, settled as sent: %d timeline entries", n)
	}
	// the one never sent is sent once by the runner the scan kicked
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	st, reason, c = w.status(camp.Id)
	if st != "sent" || c["sent"] != 3 || c["unknown"] != 0 || c["queued"] != 0 || reason != "3 sent, 0 failed, 0 skipped, 0 unknown" {
		t.Fatalf("after settling: %s %q %v", st, reason, c)
	}
	if calls, _ := f.total(); calls != 4 || f.calls["c2@example.com"] != 2 || f.calls["c1@example.com"] != 1 {
		t.Errorf("sends %v", f.calls)
	}
	for _, to := range []string{"c0@example.com", "c1@example.com", "c2@example.com"} {
		if n := w.timelineEntries(camp.Id, to); n != 1 {
			t.Errorf("%s: %d timeline entries", to, n)
		}
	}
	// the look-ups asked for the Message-ID the message carried
	for _, q := range f.queries {
		if q.MessageID == "" || q.DeliveryID == "" || q.MessageID[0] != '<' {
			t.Errorf("query %+v", q)
		}
	}
	// and a scan now has nothing to do
	w.clock.Advance(time.Hour)
	if n, err := e.SettleIdle(context.Background()); err != nil || n != 0 {
		t.Errorf("a second scan: %d %v", n, err)
	}
}

// A paused campaign's unknown rows are settled too: found → sent, never
// sent → queued, and the campaign stays paused (resume sends them). Rows
// unknown for longer than SettleWindow are left to a person.
func TestSettlePausedCampaign(t *testing.T) {
	w := newWorld(t)
	w.contacts(4, nil)
	camp := w.campaign("fake")
	f := newLookingFake()
	f.answers["c1@example.com"] = f.answers["c1@example.com"][1:]
	f.answers["c2@example.com"] = f.answers["c2@example.com"][1:]
	e := w.engine(f.open(), func(o *sending.Options) { o.SettleAfter = time.Minute })
	if _, err := e.Pass(context.Background(), camp.Id); err != nil {
		t.Fatal(err)
	}
	w.setStatus(camp.Id, "paused")
	// c3: unknown since long ago
	if _, err := w.env.App.DB().NewQuery(`UPDATE campaign_deliveries SET status = 'unknown', updated = '2020-01-01 00:00:00.000Z'
		WHERE address = 'c3@example.com'`).Execute(); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(2 * time.Minute)
	if n, err := e.SettleIdle(context.Background()); err != nil || n != 2 {
		t.Fatalf("settle scan: %d %v", n, err)
	}
	st, _, c := w.status(camp.Id)
	if st != "paused" || c["sent"] != 2 || c["queued"] != 1 || c["unknown"] != 1 {
		t.Fatalf("paused campaign after settling: %s %v", st, c)
	}
	if r := w.delivery("c2@example.com"); r.Status != "queued" {
		t.Errorf("c2 %+v", r)
	}
	if f.lookedUp("c3@example.com") != 0 || w.delivery("c3@example.com").Status != "unknown" {
		t.Errorf("c3, unknown for years, was looked up")
	}
	if n := w.count(`SELECT count(*) FROM campaign_deliveries WHERE campaign = {:p0} AND status = 'sent'`, camp.Id); n != 2 {
		t.Errorf("%d sent", n)
	}
}

func (f *lookingFake) open() sending.OpenFunc {
	return func(core.App, string, string) (senders.Sender, senders.Limits, error) {
		return f, senders.Limits{Concurrency: 1}, nil
	}
}
