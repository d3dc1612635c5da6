package sending_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/sending"
	"github.com/pocketbase/pocketbase/core"
)

// A remote provider's sends are pipelined: one slow message holds one
// worker, not the others — every other recipient is sent while it waits,
// across many claimed chunks (a round of `concurrency` sends used to wait
// for its slowest one before the next round was claimed).
func TestRemoteSendsAreNotHeldByASlowOne(t *testing.T) {
	w := newWorld(t)
	w.contacts(120, nil)
	camp := w.campaign("fake")
	release := make(chan struct{})
	sentOthers := make(chan string, 200)
	var inFlight, peak atomic.Int32
	f := newFake(func(m senders.Message, _ int) error {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		if m.To == "c0@example.com" {
			<-release
			return nil
		}
		sentOthers <- m.To
		return nil
	})
	e := w.engine(f.open(senders.Limits{Concurrency: 4}), nil)
	done := make(chan error, 1)
	go func() {
		_, err := e.Pass(context.Background(), camp.Id)
		done <- err
	}()
	deadline := time.After(20 * time.Second)
	for got := 0; got < 119; got++ {
		select {
		case <-sentOthers:
		case err := <-done:
			t.Fatalf("the pass ended before the others were sent (%d of 119): %v", got, err)
		case <-deadline:
			t.Fatalf("only %d of the 119 other messages were sent while one was slow", got)
		}
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if p := peak.Load(); p > 4 {
		t.Fatalf("%d sends at once with a concurrency of 4", p)
	}
	if st, _, c := w.status(camp.Id); st != "sent" || c["sent"] != 120 {
		t.Fatalf("campaign %s %v", st, c)
	}
	if calls, sent := f.total(); calls != 120 || sent != 120 {
		t.Fatalf("calls %d sent %d", calls, sent)
	}
}

// A pause after consecutive errors with several workers: the rows claimed
// but never handed to the provider go back to "queued" with their attempt
// and the day's count given back; nothing is left "sending"; the day's count
// is exactly the sends the provider saw.
func TestRemotePauseGivesBackUnsentRows(t *testing.T) {
	w := newWorld(t)
	w.contacts(200, nil)
	camp := w.campaign("fake")
	f := newFake(func(senders.Message, int) error { return errors.New("503 try later") })
	e := w.engine(f.open(senders.Limits{Concurrency: 3}), func(o *sending.Options) { o.MaxAttempts = 99 })
	if res, err := e.Pass(context.Background(), camp.Id); err != nil || !res.Done {
		t.Fatal(res, err)
	}
	st, reason, c := w.status(camp.Id)
	if st != "paused" || !strings.Contains(reason, "consecutive send errors") {
		t.Fatalf("status %s %q", st, reason)
	}
	calls, _ := f.total()
	// 10 errors in a row pause it; the two other workers may each finish
	// the send they had begun
	if calls < 10 || calls > 12 {
		t.Fatalf("%d sends before the pause", calls)
	}
	by := w.byStatus(camp.Id)
	if by["sending"] != 0 || by["queued"] != 200 || c["queued"] != 200 {
		t.Fatalf("ledger %v counters %v", by, c)
	}
	if n := w.count(`SELECT count(*) FROM campaign_deliveries WHERE campaign = {:p0} AND attempts > 0`, camp.Id); n != calls {
		t.Fatalf("%d rows with an attempt, %d sends", n, calls)
	}
	if n := w.count(`SELECT coalesce(sum(count), 0) FROM provider_daily_counts WHERE provider = 'fake'`); n != calls {
		t.Fatalf("the day's count %d, %d sends", n, calls)
	}
	if n := w.count(`SELECT count(*) FROM campaign_deliveries WHERE campaign = {:p0} AND next_attempt_at != ''`, camp.Id); n != calls {
		t.Fatalf("%d rows waiting for a retry, %d failed sends", n, calls)
	}
}

// Two campaigns of one provider sending at the same time share its daily
// limit exactly: the remainder is read in the transaction that takes it, so
// neither claims what the other already took (each read it before its
// batch, and both sent a whole batch past the limit).
func TestDailyLimitSharedByConcurrentCampaigns(t *testing.T) {
	for _, provider := range []string{"outbox", "fake"} {
		t.Run(provider, func(t *testing.T) {
			w := newWorld(t)
			w.contacts(150, nil)
			a, b := w.campaign(provider), w.campaign(provider)
			f := newFake(nil)
			lim := senders.Limits{DailyLimit: 100, Concurrency: 4}
			open := outboxWithLimits(lim)
			if provider == "fake" {
				open = f.open(lim)
			}
			e := w.engine(open, nil)
			errs := make(chan error, 2)
			for _, id := range []string{a.Id, b.Id} {
				go func() {
					for range 20 {
						res, err := e.Pass(context.Background(), id)
						if err != nil || res.Done {
							errs <- err
							return
						}
					}
					errs <- errors.New("not done after 20 passes")
				}()
			}
			for range 2 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			sent := w.count(`SELECT count(*) FROM campaign_deliveries WHERE status = 'sent'`)
			if provider == "outbox" {
				if n := w.count(`SELECT count(*) FROM outbox_messages`); n != sent {
					t.Fatalf("%d outbox messages, %d sent rows", n, sent)
				}
			} else if _, n := f.total(); n != sent {
				t.Fatalf("%d sends, %d sent rows", n, sent)
			}
			if sent != 100 {
				t.Fatalf("%d sent under a daily limit of 100", sent)
			}
			if n := w.count(`SELECT count FROM provider_daily_counts WHERE provider = {:p0}`, provider); n != 100 {
				t.Fatalf("the day's count %d", n)
			}
			for _, id := range []string{a.Id, b.Id} {
				if st, reason, _ := w.status(id); st != "paused" || !strings.Contains(reason, "daily limit of 100") {
					t.Fatalf("campaign %s %q", st, reason)
				}
			}
		})
	}
}

// segmentSender is a remote SMS provider whose daily limit counts segments:
// every message is 3 (senders.UnitCounter before the send, Result.Units
// after it, as Twilio's num_segments).
type segmentSender struct{ *fakeSender }

func (s segmentSender) UnitsOf(senders.Message) int { return 3 }

func (s segmentSender) Send(ctx context.Context, m senders.Message) (senders.Result, error) {
	res, err := s.fakeSender.Send(ctx, m)
	res.Units = 3
	return res, err
}

// A daily limit in segments (Twilio's) counts each message's segments,
// reserved as it is claimed: with 7 a day and 3 segments a message, two
// messages go (6), the third would pass the limit, so the campaign pauses
// saying so; the next day it sends two more.
func TestDailyLimitInSegments(t *testing.T) {
	w := newWorld(t)
	w.contacts(4, nil)
	camp := w.campaign("twilio")
	f := segmentSender{newFake(nil)}
	open := func(core.App, string, string) (senders.Sender, senders.Limits, error) {
		return f, senders.Limits{DailyLimit: 7, DailyUnits: "segments", Concurrency: 2}, nil
	}
	e := w.engine(open, nil)
	day := func() int {
		return w.count(`SELECT coalesce(sum(count), 0) FROM provider_daily_counts WHERE provider = 'twilio' AND day = {:p0}`,
			w.clock.Now().UTC().Format(time.DateOnly))
	}
	w.drain(e, camp.Id, 10)
	st, reason, c := w.status(camp.Id)
	if st != "paused" || c["sent"] != 2 || !strings.Contains(reason, "daily limit of 7 segments") {
		t.Fatalf("first day: %s %q %v", st, reason, c)
	}
	if n := day(); n != 6 {
		t.Errorf("first day's count %d segments, want 6", n)
	}
	if _, sent := f.total(); sent != 2 {
		t.Errorf("%d sent", sent)
	}
	w.clock.Advance(24 * time.Hour)
	w.setStatus(camp.Id, "sending")
	w.drain(e, camp.Id, 10)
	if st, _, c := w.status(camp.Id); st != "sent" || c["sent"] != 4 {
		t.Fatalf("second day: %s %v", st, c)
	}
	if n := day(); n != 6 {
		t.Errorf("second day's count %d segments, want 6", n)
	}
}

// Without the prefetcher (batches of one) a remote claim renders every row
// itself from the contacts it reads after the claim commits: each message
// carries its own contact's name, a suppressed address is skipped, and a
// contact deleted while the send runs is skipped as deleted — never sent
// with another's data or an empty one.
func TestRemoteClaimReadsContactsItRenders(t *testing.T) {
	w := newWorld(t)
	ks := w.contacts(30, nil)
	w.suppress("c3@example.com")
	camp := w.campaign("fake")
	var bad, deleted atomic.Value
	var sends atomic.Int32
	f := newFake(func(m senders.Message, _ int) error {
		// At the first send, a contact whose row is still queued (not in
		// the batch just claimed, whose contacts are already read) goes
		// while the pass runs. Which one depends on the random ids.
		if sends.Add(1) == 1 {
			var row struct {
				Contact string `db:"contact"`
				Address string `db:"address"`
			}
			err := w.env.App.DB().NewQuery(`SELECT contact, address FROM campaign_deliveries
				WHERE campaign = {:c} AND status = 'queued' ORDER BY rowid DESC LIMIT 1`).
				Bind(map[string]any{"c": camp.Id}).One(&row)
			if err != nil {
				bad.Store("no queued row: " + err.Error())
				return nil
			}
			for _, k := range ks {
				if k.Id == row.Contact {
					if err := w.env.App.Delete(k); err != nil {
						bad.Store("delete: " + err.Error())
					}
				}
			}
			deleted.Store(row.Address)
		}
		want := "Hello C" + strings.TrimSuffix(strings.TrimPrefix(m.To, "c"), "@example.com")
		if m.Subject != want || !strings.Contains(m.Text, "Hi C") {
			bad.Store(m.To + " got " + m.Subject)
		}
		return nil
	})
	e := w.engine(f.open(senders.Limits{Concurrency: 1}), func(o *sending.Options) { o.TxBatchSize = 1; o.BatchSize = 5 })
	w.drain(e, camp.Id, 50)
	if v := bad.Load(); v != nil {
		t.Fatal(v)
	}
	if st, _, c := w.status(camp.Id); st != "sent" || c["sent"] != 28 || c["skipped"] != 2 {
		t.Fatalf("campaign %s %v", st, c)
	}
	if d := w.delivery("c3@example.com"); d.Status != "skipped" {
		t.Errorf("suppressed c3: %+v", d)
	}
	gone, _ := deleted.Load().(string)
	var reason string
	_ = w.env.App.DB().NewQuery(`SELECT reason FROM campaign_deliveries WHERE campaign = {:c} AND address = {:a}`).
		Bind(map[string]any{"c": camp.Id, "a": gone}).Row(&reason)
	if reason != "contact_deleted" {
		t.Errorf("%s, deleted during the send: reason %q", gone, reason)
	}
}
