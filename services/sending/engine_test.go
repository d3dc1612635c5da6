package sending_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/services/campaigns"
	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/sending"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

type coreApp = core.App

// 200 recipients to the outbox: one message and one final row each, the
// skipped ones with their reason, counters and timeline right.
func TestSendToOutbox(t *testing.T) {
	w := newWorld(t)
	w.contacts(200, map[int]bool{3: true, 77: true, 150: true})
	w.suppress("c10@example.com")
	w.suppress("c11@example.com")
	camp := w.campaign("outbox")
	e := w.engine(nil, nil)
	w.drain(e, camp.Id, 10)

	status, reason, c := w.status(camp.Id)
	if status != "sent" || c["sent"] != 195 || c["skipped"] != 5 || c["total"] != 200 || c["queued"] != 0 || c["failed"] != 0 {
		t.Fatalf("status %s (%s), counters %v", status, reason, c)
	}
	if n := w.count("SELECT count(*) FROM campaign_deliveries WHERE campaign = {:p0}", camp.Id); n != 200 {
		t.Fatalf("ledger rows %d", n)
	}
	if n := w.count("SELECT count(*) FROM outbox_messages WHERE campaign = {:p0}", camp.Id); n != 195 {
		t.Fatalf("outbox %d", n)
	}
	// every sent row has exactly its message; the provider id is the outbox row
	if n := w.count(`SELECT count(*) FROM campaign_deliveries d JOIN outbox_messages o ON o.delivery = d.id AND o.id = d.provider_message_id
		WHERE d.campaign = {:p0} AND d.status = 'sent' AND d.attempts = 1 AND d.sent_at != ''`, camp.Id); n != 195 {
		t.Fatalf("sent rows with their message: %d", n)
	}
	if n := w.count("SELECT count(*) FROM campaign_deliveries WHERE campaign = {:p0} AND status = 'skipped' AND reason = 'missing_address'", camp.Id); n != 3 {
		t.Fatalf("missing_address %d", n)
	}
	if n := w.count("SELECT count(*) FROM campaign_deliveries WHERE campaign = {:p0} AND status = 'skipped' AND reason = 'suppressed'", camp.Id); n != 2 {
		t.Fatalf("suppressed %d", n)
	}
	if n := w.count(`SELECT count(*) FROM communication_logs WHERE campaign = {:p0} AND type = 'email' AND direction = 'outbound'
		AND status = 'sent' AND content LIKE 'Campaign “Spring”: Hello C%'`, camp.Id); n != 195 {
		t.Fatalf("timeline %d", n)
	}
	var html, headers string
	_ = w.env.App.DB().NewQuery(`SELECT o.html, o.headers FROM outbox_messages o JOIN contacts c ON c.id = o.contact WHERE c.first_name = 'C5'`).Row(&html, &headers)
	if !strings.Contains(html, "Hi C5") || !strings.Contains(html, "unsubscribe.invalid") || !strings.Contains(headers, "List-Unsubscribe-Post") ||
		!strings.Contains(headers, "Message-ID") {
		t.Fatalf("message: %s %s", html, headers)
	}
	if n := w.count("SELECT count FROM provider_daily_counts WHERE workspace = {:p0} AND provider = 'outbox'", w.ws.Id); n != 195 {
		t.Fatalf("daily count %d", n)
	}
	// a pass over a finished campaign does nothing
	if res, err := e.Pass(context.Background(), camp.Id); err != nil || !res.Done {
		t.Fatal(res, err)
	}
	if n := w.count("SELECT count(*) FROM outbox_messages"); n != 195 {
		t.Fatalf("outbox after another pass %d", n)
	}
}

// A restart in the middle of writing the ledger continues without doubles.
func TestMaterialiseIsIdempotent(t *testing.T) {
	w := newWorld(t)
	w.contacts(120, nil)
	camp := w.campaign("outbox")
	calls := 0
	e := w.engine(nil, func(o *sending.Options) {
		o.MaterializeBatch = 50
		o.Audience = func(app_ coreApp, ws string, seg campaigns.Segment, ch string, each func(campaigns.Recipient) error) error {
			calls++
			n := 0
			return campaigns.Recipients(app_, ws, seg, ch, func(r campaigns.Recipient) error {
				n++
				if calls == 1 && n == 101 {
					return errors.New("crash")
				}
				return each(r)
			})
		}
	})
	if _, err := e.Pass(context.Background(), camp.Id); err == nil {
		t.Fatal("the interrupted materialisation passed")
	}
	if n := w.count("SELECT count(*) FROM campaign_deliveries WHERE campaign = {:p0}", camp.Id); n != 100 {
		t.Fatalf("rows after the interruption: %d", n)
	}
	w.drain(e, camp.Id, 10)
	if n := w.count("SELECT count(*) FROM campaign_deliveries WHERE campaign = {:p0}", camp.Id); n != 120 {
		t.Fatalf("rows %d", n)
	}
	if n := w.count("SELECT count(*) FROM outbox_messages"); n != 120 {
		t.Fatalf("outbox %d", n)
	}
}

// Suppression is checked when sending, not only when the ledger is written;
// pause and cancel stop at the next batch.
func TestSuppressedAtSendTimePauseCancel(t *testing.T) {
	w := newWorld(t)
	cs := w.contacts(40, nil)
	// the last recipient of the send order (contact id order): not sent in
	// the first window
	last := slices.MaxFunc(cs, func(a, b *core.Record) int { return strings.Compare(a.Id, b.Id) }).GetString("primary_email")
	camp := w.campaign("outbox")
	e := w.engine(outboxWithLimits(senders.Limits{RatePerSecond: 10, Concurrency: 1}), nil)
	res, err := e.Pass(context.Background(), camp.Id)
	if err != nil || res.Done {
		t.Fatal(res, err)
	}
	if n := w.count("SELECT count(*) FROM outbox_messages"); n != 10 {
		t.Fatalf("first window: %d", n)
	}
	w.suppress(last)
	w.setStatus(camp.Id, "paused")
	w.clock.Advance(5 * time.Second)
	if res, err := e.Pass(context.Background(), camp.Id); err != nil || !res.Done {
		t.Fatal(res, err)
	}
	if n := w.count("SELECT count(*) FROM outbox_messages"); n != 10 {
		t.Fatalf("sent while paused: %d", n)
	}
	w.setStatus(camp.Id, "sending")
	w.drain(e, camp.Id, 20)
	if st := w.byStatus(camp.Id); st["sent"] != 39 || st["skipped"] != 1 {
		t.Fatalf("after resume: %v", st)
	}
	if n := w.count("SELECT count(*) FROM campaign_deliveries d JOIN contacts c ON c.id = d.contact WHERE c.primary_email = {:p0} AND d.reason = 'suppressed'", last); n != 1 {
		t.Fatalf("%s not skipped as suppressed", last)
	}

	camp2 := w.campaign("outbox")
	if _, err := e.Pass(context.Background(), camp2.Id); err != nil {
		t.Fatal(err)
	}
	w.setStatus(camp2.Id, "cancelled")
	w.clock.Advance(10 * time.Second)
	if res, err := e.Pass(context.Background(), camp2.Id); err != nil || !res.Done {
		t.Fatal(res, err)
	}
	if n := w.count("SELECT count(*) FROM outbox_messages WHERE campaign = {:p0}", camp2.Id); n != 10 {
		t.Fatalf("cancelled campaign sent %d", n)
	}
	if st, _, _ := w.status(camp2.Id); st != "cancelled" {
		t.Fatalf("status %s", st)
	}
}

// 429 with Retry-After, 500, a timeout: retried with the provider's delay or
// exponential backoff; a permanent error fails at once; a temporary one
// fails after MaxAttempts.
func TestRetriesAndBackoff(t *testing.T) {
	w := newWorld(t)
	w.contacts(5, nil)
	camp := w.campaign("fake")
	f := newFake(func(m senders.Message, n int) error {
		switch m.To {
		case "c0@example.com": // 429 once, then fine
			if n == 1 {
				return senders.Temporary(errors.New("429 too many requests"), 7*time.Second)
			}
		case "c1@example.com": // 500 twice
			if n <= 2 {
				return errors.New("500 internal server error")
			}
		case "c2@example.com": // a timeout once
			if n == 1 {
				return context.DeadlineExceeded
			}
		case "c3@example.com":
			return senders.Permanent(errors.New("550 no such mailbox"))
		case "c4@example.com": // never works
			return errors.New("503 unavailable")
		}
		return nil
	})
	e := w.engine(f.open(senders.Limits{Concurrency: 1}), func(o *sending.Options) {
		o.BaseBackoff = 10 * time.Second
		o.MaxAttempts = 4
	})
	t0 := w.clock.Now()
	if _, err := e.Pass(context.Background(), camp.Id); err != nil {
		t.Fatal(err)
	}
	next := func(email string) (string, int, string) {
		r := w.delivery(email)
		return r.Status, r.Attempts, r.Next
	}
	at := func(d time.Duration) string { return t0.Add(d).UTC().Format("2006-01-02 15:04:05.000Z") }
	// rand is 0.5: equal jitter gives 3/4 of the exponential delay
	for email, want := range map[string]string{"c0@example.com": at(7 * time.Second), "c1@example.com": at(7500 * time.Millisecond),
		"c2@example.com": at(7500 * time.Millisecond), "c4@example.com": at(7500 * time.Millisecond)} {
		if s, a, n := next(email); s != "queued" || a != 1 || n != want {
			t.Errorf("%s: %s attempts %d next %s, want %s", email, s, a, n, want)
		}
	}
	if s, a, _ := next("c3@example.com"); s != "failed" || a != 1 {
		t.Errorf("permanent: %s %d", s, a)
	}
	w.drain(e, camp.Id, 50)
	if s, a, _ := next("c1@example.com"); s != "sent" || a != 3 {
		t.Errorf("c1: %s %d", s, a)
	}
	if s, a, _ := next("c4@example.com"); s != "failed" || a != 4 {
		t.Errorf("c4: %s %d", s, a)
	}
	if errText := w.delivery("c4@example.com").Error; !strings.Contains(errText, "gave up after 4 attempts") {
		t.Errorf("c4 error %q", errText)
	}
	// c4's retries: 7.5 s, 15 s, 30 s after each failure (10 s · 2^(n-1) · 3/4)
	if got := w.clock.Now().Sub(t0); got != 7500*time.Millisecond+15*time.Second+30*time.Second {
		t.Errorf("the last retry came %v after the start", got)
	}
	if st, _, c := w.status(camp.Id); st != "sent" || c["sent"] != 3 || c["failed"] != 2 {
		t.Fatalf("campaign %s %v", st, c)
	}
}

// A send of unknown outcome (the provider may have the message) is never
// retried: its row is "unknown", and the campaign still ends.
func TestUnknownOutcomeIsNotRetried(t *testing.T) {
	w := newWorld(t)
	w.contacts(2, nil)
	camp := w.campaign("fake")
	f := newFake(func(m senders.Message, n int) error {
		if m.To == "c0@example.com" {
			return senders.Unknown(errors.New("connection reset while the server answered"))
		}
		return nil
	})
	e := w.engine(f.open(senders.Limits{Concurrency: 1}), nil)
	w.drain(e, camp.Id, 20)
	f.mu.Lock()
	calls := f.calls["c0@example.com"]
	f.mu.Unlock()
	if calls != 1 {
		t.Fatalf("unknown outcome sent %d times", calls)
	}
	if r := w.delivery("c0@example.com"); r.Status != "unknown" || !strings.Contains(r.Error, "not re-sent") {
		t.Fatalf("row %+v", r)
	}
	if s, _, c := w.status(camp.Id); s != "sent" || c["unknown"] != 1 || c["sent"] != 1 {
		t.Fatalf("campaign %s %v", s, c)
	}
}

// N consecutive errors pause the campaign with a reason; a success resets
// the count.
func TestPauseAfterConsecutiveErrors(t *testing.T) {
	w := newWorld(t)
	cs := w.contacts(30, nil)
	// the first recipient sent to (the ledger is in contact id order)
	// succeeds, every other fails
	first := slices.MinFunc(cs, func(a, b *core.Record) int { return strings.Compare(a.Id, b.Id) }).GetString("primary_email")
	camp := w.campaign("fake")
	f := newFake(func(m senders.Message, n int) error {
		if m.To == first {
			return nil
		}
		return errors.New("500 internal server error")
	})
	e := w.engine(f.open(senders.Limits{Concurrency: 1}), nil)
	if res, err := e.Pass(context.Background(), camp.Id); err != nil || !res.Done {
		t.Fatal(res, err)
	}
	st, reason, c := w.status(camp.Id)
	if st != "paused" || !strings.Contains(reason, "10 consecutive send errors") || !strings.Contains(reason, "500 internal") {
		t.Fatalf("status %s %q", st, reason)
	}
	if calls, sent := f.total(); calls != 11 || sent != 1 {
		t.Fatalf("calls %d sent %d", calls, sent)
	}
	if c["sent"] != 1 || c["queued"] != 29 {
		t.Fatalf("counters %v", c)
	}
}

// The token bucket: at most rate·window + burst messages in any window.
func TestRateLimit(t *testing.T) {
	w := newWorld(t)
	w.contacts(60, nil)
	camp := w.campaign("outbox")
	e := w.engine(outboxWithLimits(senders.Limits{RatePerSecond: 5, Concurrency: 1}), nil)
	t0 := w.clock.Now()
	perSecond := map[int]int{}
	last := 0
	for i := 0; i < 200; i++ {
		res, err := e.Pass(context.Background(), camp.Id)
		if err != nil {
			t.Fatal(err)
		}
		n := w.count("SELECT count(*) FROM outbox_messages")
		perSecond[int(w.clock.Now().Sub(t0)/time.Second)] += n - last
		last = n
		if res.Done {
			break
		}
		w.clock.Set(res.Next)
	}
	if last != 60 {
		t.Fatalf("sent %d", last)
	}
	for s, n := range perSecond {
		if n != 5 && n != 0 {
			t.Errorf("second %d: %d messages (rate 5)", s, n)
		}
	}
	// 60 messages at 5/s with a burst of 5: the last goes out after 11 s
	if d := w.clock.Now().Sub(t0); d < 11*time.Second || d > 12*time.Second {
		t.Errorf("took %v", d)
	}
}

// The daily limit holds across a restart and pauses the campaign; the next
// day it goes on.
func TestDailyLimitAcrossRestart(t *testing.T) {
	w := newWorld(t)
	w.contacts(50, nil)
	camp := w.campaign("outbox")
	lim := outboxWithLimits(senders.Limits{DailyLimit: 30, Concurrency: 1})
	e1 := w.engine(lim, nil)
	if res, err := e1.Pass(context.Background(), camp.Id); err != nil || !res.Done {
		t.Fatal(res, err)
	}
	st, reason, _ := w.status(camp.Id)
	if n := w.count("SELECT count(*) FROM outbox_messages"); n != 30 || st != "paused" || !strings.Contains(reason, "daily limit of 30") {
		t.Fatalf("sent %d, %s %q", n, st, reason)
	}
	e1.Stop()
	// a new engine (a restart) the same day: resumed, it pauses at once
	e2 := w.engine(lim, nil)
	w.setStatus(camp.Id, "sending")
	if res, err := e2.Pass(context.Background(), camp.Id); err != nil || !res.Done {
		t.Fatal(res, err)
	}
	if n := w.count("SELECT count(*) FROM outbox_messages"); n != 30 {
		t.Fatalf("sent after restart %d", n)
	}
	w.clock.Advance(24 * time.Hour)
	w.setStatus(camp.Id, "sending")
	w.drain(e2, camp.Id, 10)
	if st, _, c := w.status(camp.Id); st != "sent" || c["sent"] != 50 {
		t.Fatalf("%s %v", st, c)
	}
}

// Rows left "sending" by a crash: queued again for the outbox (sent exactly
// once), "unknown" for a remote provider (never re-sent).
func TestCrashRecovery(t *testing.T) {
	w := newWorld(t)
	w.contacts(20, nil)
	campO := w.campaign("outbox")
	campR := w.campaign("fake")
	f := newFake(nil)
	open := func(app coreApp, ws, provider string) (senders.Sender, senders.Limits, error) {
		if provider == "fake" {
			return f, senders.Limits{Concurrency: 2, RatePerSecond: 4}, nil
		}
		snd, _, err := sending.OutboxOnly(app, ws, provider)
		return snd, senders.Limits{Concurrency: 1, RatePerSecond: 4}, err
	}
	e := w.engine(open, nil)
	for _, id := range []string{campO.Id, campR.Id} {
		if _, err := e.Pass(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	// the crash: 5 rows of each campaign caught "sending"
	for _, id := range []string{campO.Id, campR.Id} {
		if _, err := w.env.App.DB().NewQuery(`UPDATE campaign_deliveries SET status = 'sending', attempts = attempts + 1 WHERE id IN
			(SELECT id FROM campaign_deliveries WHERE campaign = {:c} AND status = 'queued' LIMIT 5)`).Bind(dbx.Params{"c": id}).Execute(); err != nil {
			t.Fatal(err)
		}
	}
	e.Stop()
	e2 := w.engine(open, nil)
	ids, err := e2.RecoverAll()
	if err != nil || len(ids) != 2 {
		t.Fatal(ids, err)
	}
	if st := w.byStatus(campO.Id); st["sending"] != 0 || st["queued"] != 16 || st["sent"] != 4 {
		t.Fatalf("outbox after recovery %v", st)
	}
	if st := w.byStatus(campR.Id); st["sending"] != 0 || st["unknown"] != 5 {
		t.Fatalf("remote after recovery %v", st)
	}
	for _, id := range ids {
		w.drain(e2, id, 50)
	}
	if n := w.count("SELECT count(DISTINCT delivery) FROM outbox_messages WHERE campaign = {:p0}", campO.Id); n != 20 {
		t.Fatalf("outbox messages %d", n)
	}
	if n := w.count("SELECT count(*) FROM outbox_messages WHERE campaign = {:p0}", campO.Id); n != 20 {
		t.Fatalf("outbox rows %d", n)
	}
	_, sent := f.total()
	if st, _, c := w.status(campR.Id); st != "sent" || c["unknown"] != 5 || c["sent"] != 15 || sent != 15 {
		t.Fatalf("remote: %s %v, sent %d", st, c, sent)
	}
}

// The runners: Start resumes a campaign left sending, Kick starts one, a
// panic pauses the campaign with the reason.
func TestRunnersAndPanics(t *testing.T) {
	w := newWorld(t)
	w.contacts(30, nil)
	camp := w.campaign("outbox")
	e := w.engine(nil, nil)
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _, c := w.status(camp.Id); st != "sent" || c["sent"] != 30 {
		t.Fatalf("%s %v", st, c)
	}

	boom := w.campaign("outbox")
	pe := w.engine(nil, func(o *sending.Options) {
		o.Audience = func(coreApp, string, campaigns.Segment, string, func(campaigns.Recipient) error) error {
			panic("audience exploded")
		}
	})
	pe.Kick(boom.Id)
	if err := pe.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if st, reason, _ := w.status(boom.Id); st != "paused" || !strings.Contains(reason, "internal error: audience exploded") {
		t.Fatalf("%s %q", st, reason)
	}
}

// A snapshot that does not match its hash is never sent: the campaign
// pauses with the reason.
func TestTamperedSnapshotPauses(t *testing.T) {
	w := newWorld(t)
	w.contacts(3, nil)
	camp := w.campaign("outbox")
	if _, err := w.env.App.DB().NewQuery("UPDATE campaigns SET snapshot = replace(snapshot, 'Hello', 'Buy now') WHERE id = {:id}").
		Bind(dbx.Params{"id": camp.Id}).Execute(); err != nil {
		t.Fatal(err)
	}
	e := w.engine(nil, nil)
	if res, err := e.Pass(context.Background(), camp.Id); err != nil || !res.Done {
		t.Fatal(res, err)
	}
	if st, reason, _ := w.status(camp.Id); st != "paused" || !strings.Contains(reason, "does not match its hash") {
		t.Fatalf("%s %q", st, reason)
	}
	if n := w.count("SELECT count(*) FROM outbox_messages"); n != 0 {
		t.Fatalf("sent %d", n)
	}
}

// A delivery marked "unsubscribed" (its recipient used the message's link)
// keeps that reason when it is recorded again (queued again, as a resend
// does, and skipped as suppressed), where a skip otherwise writes its own.
func TestUnsubscribedReasonSurvivesARecord(t *testing.T) {
	w := newWorld(t)
	w.contacts(3, nil)
	camp := w.campaign("outbox")
	e := w.engine(sending.OutboxOnly, nil)
	w.drain(e, camp.Id, 10)
	if _, err := w.env.App.DB().NewQuery(`UPDATE campaign_deliveries SET reason = 'unsubscribed', status = 'queued', next_attempt_at = ''
		WHERE contact = (SELECT id FROM contacts WHERE primary_email = 'c1@example.com')`).Execute(); err != nil {
		t.Fatal(err)
	}
	w.suppress("c1@example.com")
	w.setStatus(camp.Id, "sending")
	w.drain(e, camp.Id, 10)
	reasons := map[string]string{}
	var rows []struct {
		Email  string `db:"email"`
		Status string `db:"status"`
		Reason string `db:"reason"`
	}
	if err := w.env.App.DB().NewQuery(`SELECT c.primary_email AS email, d.status, d.reason FROM campaign_deliveries d
		JOIN contacts c ON c.id = d.contact WHERE d.campaign = {:c}`).Bind(dbx.Params{"c": camp.Id}).All(&rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		reasons[r.Email] = r.Status + "/" + r.Reason
	}
	want := map[string]string{"c0@example.com": "sent/", "c1@example.com": "skipped/unsubscribed", "c2@example.com": "sent/"}
	if !maps.Equal(reasons, want) {
		t.Fatalf("ledger %v, want %v", reasons, want)
	}
}
