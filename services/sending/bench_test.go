package sending_test

import (
	"fmt"
	"os"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/senders/outbox"
	"github.com/pi-crm/pi-crm/services/sending"
	"github.com/pocketbase/pocketbase/core"
)

const benchRecipients = 3000

// BenchmarkOutboxSend is a whole campaign to the outbox in-process (ledger
// written, every row claimed, rendered, stored, recorded, timeline entries,
// counters): msg/s. BenchmarkOutboxStoreOnly is the storage floor of the
// same run's shape: the outbox rows alone, pre-rendered, written by the
// outbox sender in transactions of the engine's batch size.
func BenchmarkOutboxSend(b *testing.B) {
	for range b.N {
		b.StopTimer()
		w := newWorld(b)
		w.contacts(benchRecipients, nil)
		camp := w.campaign("outbox")
		e := w.engine(sending.OutboxOnly, nil)
		b.StartTimer()
		start := time.Now()
		stop := profile(b)
		w.drain(e, camp.Id, 50)
		stop()
		b.ReportMetric(float64(benchRecipients)/time.Since(start).Seconds(), "msg/s")
	}
}

// profile writes a CPU profile of the timed part to $SENDING_CPUPROFILE
// (the benchmark's own -cpuprofile would include the set-up).
func profile(b *testing.B) func() {
	path := os.Getenv("SENDING_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() { pprof.StopCPUProfile(); _ = f.Close() }
}

func BenchmarkOutboxStoreOnly(b *testing.B) {
	for range b.N {
		b.StopTimer()
		w := newWorld(b)
		contacts := w.contacts(benchRecipients, nil)
		html := `<html><body><p>Hi C1</p><a href="https://example.com/u/x">Unsubscribe</a></body></html>`
		snd := outbox.New(w.env.App, "email")
		b.StartTimer()
		start := time.Now()
		for i := 0; i < len(contacts); i += 250 {
			err := w.env.App.RunInTransaction(func(tx core.App) error {
				for _, c := range contacts[i:min(i+250, len(contacts))] {
					m := senders.Message{Workspace: w.ws.Id, ContactID: c.Id, Channel: "email", To: c.GetString("primary_email"),
						Subject: "Hello", HTML: html, Text: "Hi", Headers: map[string]string{"X": "1"}, MessageID: fmt.Sprintf("<%s@x>", c.Id), Test: true}
					if _, err := snd.SendTx(tx, m); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(benchRecipients)/time.Since(start).Seconds(), "msg/s")
	}
}
