package sending_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/sending"
	"github.com/pocketbase/pocketbase/core"
)

// chainFake is fakeSender as a senders.ChainSender: a chain is its sends one
// after the other, each told as it ends; it notes the chains' lengths.
type chainFake struct {
	*fakeSender
	mu     sync.Mutex
	chains []int
}

func (f *chainFake) SendChain(ctx context.Context, ms []senders.Message, done func(int, senders.Result, error) bool) {
	f.mu.Lock()
	f.chains = append(f.chains, len(ms))
	f.mu.Unlock()
	for i, m := range ms {
		r, err := f.Send(ctx, m)
		if !done(i, r, err) {
			return
		}
	}
}

func (f *chainFake) open(l senders.Limits) sending.OpenFunc {
	return func(core.App, string, string) (senders.Sender, senders.Limits, error) { return f, l, nil }
}

func (f *chainFake) longest() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.chains {
		n = max(n, c)
	}
	return n
}

// A ChainSender gets the queue's jobs in chains, and every recipient is
// sent exactly once.
func TestChainedSends(t *testing.T) {
	w := newWorld(t)
	w.contacts(120, nil)
	camp := w.campaign("fake")
	f := &chainFake{fakeSender: newFake(nil)}
	e := w.engine(f.open(senders.Limits{Concurrency: 3}), nil)
	if res, err := e.Pass(context.Background(), camp.Id); err != nil || !res.Done {
		t.Fatal(res, err)
	}
	if st, _, c := w.status(camp.Id); st != "sent" || c["sent"] != 120 {
		t.Fatalf("campaign %s %v", st, c)
	}
	if calls, sent := f.total(); calls != 120 || sent != 120 {
		t.Fatalf("calls %d sent %d", calls, sent)
	}
	if n := f.longest(); n < 2 || n > 8 {
		t.Fatalf("longest chain %d, want 2–8", n)
	}
}

// The pause after consecutive errors stops a chain where it is: with one
// worker exactly MaxErrors sends fail, the rest of the chain comes back
// unsent (queued, its attempts and the day's count given back).
func TestChainStopsAtThePause(t *testing.T) {
	w := newWorld(t)
	w.contacts(60, nil)
	camp := w.campaign("fake")
	f := &chainFake{fakeSender: newFake(func(senders.Message, int) error { return errors.New("503 try later") })}
	e := w.engine(f.open(senders.Limits{Concurrency: 1}), func(o *sending.Options) { o.MaxAttempts = 99 })
	if res, err := e.Pass(context.Background(), camp.Id); err != nil || !res.Done {
		t.Fatal(res, err)
	}
	st, reason, c := w.status(camp.Id)
	if st != "paused" || !strings.Contains(reason, "10 consecutive send errors") {
		t.Fatalf("status %s %q", st, reason)
	}
	if calls, _ := f.total(); calls != 10 {
		t.Fatalf("%d sends before the pause, want 10", calls)
	}
	if n := f.longest(); n < 2 {
		t.Fatalf("longest chain %d: the chains were not exercised", n)
	}
	by := w.byStatus(camp.Id)
	if by["sending"] != 0 || by["queued"] != 60 || c["queued"] != 60 {
		t.Fatalf("ledger %v counters %v", by, c)
	}
	if n := w.count(`SELECT count(*) FROM campaign_deliveries WHERE campaign = {:p0} AND attempts > 0`, camp.Id); n != 10 {
		t.Fatalf("%d rows with an attempt, 10 sends", n)
	}
	if n := w.count(`SELECT coalesce(sum(count), 0) FROM provider_daily_counts WHERE provider = 'fake'`); n != 10 {
		t.Fatalf("the day's count %d, 10 sends", n)
	}
}

// A sender that panics mid-chain: the message it was on is an error
// (retried), those after it come back unsent; none is left "sending" or
// marked sent.
func TestChainPanic(t *testing.T) {
	w := newWorld(t)
	w.contacts(40, nil)
	camp := w.campaign("fake")
	var once sync.Once
	f := &chainFake{fakeSender: newFake(func(senders.Message, int) error {
		once.Do(func() { panic("boom") })
		return nil
	})}
	e := w.engine(f.open(senders.Limits{Concurrency: 1}), func(o *sending.Options) { o.MaxAttempts = 99 })
	if _, err := e.Pass(context.Background(), camp.Id); err != nil {
		t.Fatal(err)
	}
	by := w.byStatus(camp.Id)
	if by["sending"] != 0 || by["sent"]+by["queued"] != 40 || by["queued"] < 1 {
		t.Fatalf("ledger %v", by)
	}
	if _, sent := f.total(); sent != by["sent"] {
		t.Fatalf("%d sent by the provider, %d in the ledger", sent, by["sent"])
	}
	// only the job the sender was on counts an attempt: the rest of its
	// chain came back unsent, their attempts given back
	if n := w.count(`SELECT count(*) FROM campaign_deliveries WHERE campaign = {:p0} AND status = 'queued' AND attempts > 0`, camp.Id); n != 1 {
		t.Fatalf("%d queued rows with an attempt after the panic, want 1", n)
	}
}
