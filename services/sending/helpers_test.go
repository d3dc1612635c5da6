package sending_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/campaigns"
	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/senders/outbox"
	"github.com/pi-crm/pi-crm/services/sending"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// fakeClock moves only when the test says so.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newClock() *fakeClock {
	return &fakeClock{now: time.Date(2030, 3, 4, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{at: c.now.Add(d), ch: ch})
	return ch
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

func (c *fakeClock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// world is a workspace with contacts and a campaign about to send.
type world struct {
	t     testing.TB
	env   *testutil.Env
	ws    *core.Record
	clock *fakeClock
}

func newWorld(t testing.TB) *world {
	env := testutil.New(t)
	owner, _ := env.User("owner@example.com")
	return &world{t: t, env: env, ws: env.Workspace("W", owner, nil), clock: newClock()}
}

// contacts adds n contacts c0..c(n-1) with emails (noEmail: without one).
func (w *world) contacts(n int, noEmail map[int]bool) []*core.Record {
	out := make([]*core.Record, n)
	for i := range n {
		f := map[string]any{"workspace": w.ws.Id, "first_name": fmt.Sprintf("C%d", i)}
		if !noEmail[i] {
			f["primary_email"] = fmt.Sprintf("c%d@example.com", i)
		}
		out[i] = w.env.Create("contacts", f)
	}
	return out
}

func (w *world) suppress(address string) {
	w.env.Create("suppressions", map[string]any{"workspace": w.ws.Id, "channel": "email", "address": address, "reason": "unsubscribe"})
}

// campaign creates a campaign in "sending" with a snapshot of an email
// template naming first_name and unsubscribe_url.
func (w *world) campaign(provider string) *core.Record {
	snap := campaigns.Snapshot{Channel: "email", Provider: provider,
		Template: campaigns.SnapshotTemplate{ID: "t1", Name: "T", Channel: "email", Subject: "Hello {{first_name}}",
			BodyHTML: `<html><body><p>Hi {{first_name}}</p><a href="{{unsubscribe_url}}">Unsubscribe</a></body></html>`,
			BodyText: "Hi {{first_name}}\n{{unsubscribe_url}}"}}
	hash, err := snap.Hash()
	if err != nil {
		w.t.Fatal(err)
	}
	b, _ := json.Marshal(snap)
	return w.env.Create("campaigns", map[string]any{"workspace": w.ws.Id, "name": "Spring", "type": "email", "status": "sending",
		"provider": provider, "snapshot": string(b), "snapshot_hash": hash})
}

func (w *world) engine(open sending.OpenFunc, tweak func(*sending.Options)) *sending.Engine {
	opt := sending.Options{Clock: w.clock, Rand: func() float64 { return 0.5 }, Open: open}
	if tweak != nil {
		tweak(&opt)
	}
	e := sending.NewEngine(w.env.App, opt)
	w.t.Cleanup(e.Stop)
	return e
}

// deliveryRow is a ledger row as the tests read it.
type deliveryRow struct {
	Status   string `db:"status"`
	Attempts int    `db:"attempts"`
	Next     string `db:"next_attempt_at"`
	Error    string `db:"error"`
}

// delivery reads the ledger row of the contact with email.
func (w *world) delivery(email string) deliveryRow {
	w.t.Helper()
	var r deliveryRow
	err := w.env.App.DB().NewQuery(`SELECT d.status, d.attempts, d.next_attempt_at, d.error FROM campaign_deliveries d
		JOIN contacts c ON c.id = d.contact WHERE c.primary_email = {:e}`).Bind(dbx.Params{"e": email}).One(&r)
	if err != nil {
		w.t.Fatalf("delivery of %s: %v", email, err)
	}
	return r
}

// drain runs passes, moving the clock to each next due time, until the
// campaign is done (at most max passes).
func (w *world) drain(e *sending.Engine, id string, maxPasses int) int {
	w.t.Helper()
	for i := 0; i < maxPasses; i++ {
		res, err := e.Pass(context.Background(), id)
		if err != nil {
			w.t.Fatalf("pass %d: %v", i, err)
		}
		if res.Done {
			return i + 1
		}
		w.clock.Set(res.Next)
	}
	w.t.Fatalf("campaign %s not done after %d passes", id, maxPasses)
	return 0
}

func (w *world) status(id string) (string, string, map[string]int) {
	rec, err := w.env.App.FindRecordById("campaigns", id)
	if err != nil {
		w.t.Fatal(err)
	}
	var c map[string]int
	_ = json.Unmarshal([]byte(rec.GetString("counters")), &c)
	return rec.GetString("status"), rec.GetString("status_reason"), c
}

func (w *world) setStatus(id, status string) {
	rec, err := w.env.App.FindRecordById("campaigns", id)
	if err != nil {
		w.t.Fatal(err)
	}
	rec.Set("status", status)
	if err := w.env.App.Save(rec); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) count(sql string, args ...any) int {
	w.t.Helper()
	p := dbx.Params{}
	for i, a := range args {
		p[fmt.Sprint("p", i)] = a
	}
	var n int
	if err := w.env.App.DB().NewQuery(sql).Bind(p).Row(&n); err != nil {
		w.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func (w *world) byStatus(id string) map[string]int {
	var rows []struct {
		S string `db:"status"`
		N int    `db:"n"`
	}
	_ = w.env.App.DB().NewQuery("SELECT status, count(*) AS n FROM campaign_deliveries WHERE campaign = {:c} GROUP BY status").
		Bind(dbx.Params{"c": id}).All(&rows)
	m := map[string]int{}
	for _, r := range rows {
		m[r.S] = r.N
	}
	return m
}

// outboxWithLimits is the outbox with the given limits.
func outboxWithLimits(l senders.Limits) sending.OpenFunc {
	return func(app core.App, _, _ string) (senders.Sender, senders.Limits, error) {
		return outbox.New(app, "email"), l, nil
	}
}

// fakeSender is a remote provider answering from a script: answer(m, n)
// with n the call number for that address (1-based).
type fakeSender struct {
	mu     sync.Mutex
	calls  map[string]int
	sent   []string
	answer func(m senders.Message, n int) error
}

func newFake(answer func(m senders.Message, n int) error) *fakeSender {
	return &fakeSender{calls: map[string]int{}, answer: answer}
}

func (f *fakeSender) Name() string    { return "fake" }
func (f *fakeSender) Channel() string { return "email" }
func (f *fakeSender) Close() error    { return nil }
func (f *fakeSender) Send(_ context.Context, m senders.Message) (senders.Result, error) {
	f.mu.Lock()
	f.calls[m.To]++
	n := f.calls[m.To]
	f.mu.Unlock()
	if f.answer != nil {
		if err := f.answer(m, n); err != nil {
			return senders.Result{}, err
		}
	}
	f.mu.Lock()
	f.sent = append(f.sent, m.To)
	f.mu.Unlock()
	return senders.Result{ProviderMessageID: "p-" + m.DeliveryID}, nil
}

func (f *fakeSender) open(l senders.Limits) sending.OpenFunc {
	return func(core.App, string, string) (senders.Sender, senders.Limits, error) { return f, l, nil }
}

func (f *fakeSender) total() (calls int, sent int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.calls {
		calls += n
	}
	return calls, len(f.sent)
}
