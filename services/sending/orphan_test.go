package sending_test

import (
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/sending"
	"github.com/pocketbase/pocketbase/core"
)

// A runner that gives up — five failed passes, and then the pause that
// should end them fails too (the disk full) — does not leave its campaign
// "sending" with nobody on it: the engine picks it up again after
// OrphanEvery, and once the database takes writes again the campaign is
// paused with its reason.
func TestCampaignLeftSendingIsPickedUpAgain(t *testing.T) {
	w := newWorld(t)
	w.contacts(3, nil)
	camp := w.campaign("mailgun")
	var broken atomic.Bool
	var writes atomic.Int32
	broken.Store(true)
	w.env.App.OnRecordUpdate("campaigns").BindFunc(func(e *core.RecordEvent) error {
		if e.Record.Id == camp.Id && broken.Load() {
			writes.Add(1)
			return errors.New("disk full")
		}
		return e.Next()
	})
	down := func(core.App, string, string) (senders.Sender, senders.Limits, error) {
		return nil, senders.Limits{}, errors.New("provider down")
	}
	e := w.engine(down, func(o *sending.Options) { o.OrphanEvery = time.Hour })
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}

	// the runner's five passes, a second apart and more (its own backoff),
	// each trying to pause, then its last pause
	until(t, func() bool { return writes.Load() >= 6 }, func() { w.clock.Advance(500 * time.Millisecond) })
	if st, _, _ := w.status(camp.Id); st != "sending" {
		t.Fatalf("status %s while the database refuses the write", st)
	}
	broken.Store(false)
	until(t, func() bool { st, _, _ := w.status(camp.Id); return st != "sending" }, func() { w.clock.Advance(5 * time.Minute) })
	st, reason, _ := w.status(camp.Id)
	if st != "paused" || !strings.Contains(reason, "provider down") {
		t.Fatalf("%s %q", st, reason)
	}
	if n := writes.Load(); n != 6 {
		t.Fatalf("%d refused writes: the campaign was picked up again before OrphanEvery", n)
	}
}

// until calls step until done holds (the engine's goroutines act on the
// fake clock's timers as step advances it), failing after 10 s of real time.
func until(t *testing.T, done func() bool, step func()) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		step()
		for range 100 {
			runtime.Gosched()
		}
	}
}
