package sending_test

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/services/campaigns"
	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/sending"
)

// A campaign sends while its ledger is still being written: here the
// audience stops after its first batch until a message has gone out, which
// only happens if the first batch is sent before the ledger is whole. Until
// it is whole the counters carry no "total" (the mark of a whole ledger,
// which a restart relies on); at the end every recipient got one message.
func TestSendsWhileTheLedgerIsWritten(t *testing.T) {
	w := newWorld(t)
	w.contacts(30, nil)
	camp := w.campaign("fake")
	firstSent := make(chan struct{})
	var once sync.Once
	f := newFake(func(senders.Message, int) error {
		once.Do(func() { close(firstSent) })
		return nil
	})
	var totalWhileWriting bool
	e := w.engine(f.open(senders.Limits{Concurrency: 2}), func(o *sending.Options) {
		o.MaterializeBatch = 10
		o.FlushEvery = time.Nanosecond // every loop flushes: a "total" written too early would show
		o.Audience = func(app coreApp, ws string, seg campaigns.Segment, ch string, each func(campaigns.Recipient) error) error {
			i := 0
			return campaigns.RecipientsByID(app, ws, seg, ch, func(r campaigns.Recipient) error {
				if i == 10 {
					select {
					case <-firstSent:
					case <-time.After(10 * time.Second):
						return errors.New("nothing was sent while the ledger was being written")
					}
					rec, err := app.FindRecordById("campaigns", camp.Id)
					if err != nil {
						return err
					}
					var c map[string]any
					_ = json.Unmarshal([]byte(rec.GetString("counters")), &c)
					_, totalWhileWriting = c["total"]
				}
				i++
				return each(r)
			})
		}
	})
	w.drain(e, camp.Id, 20)
	if totalWhileWriting {
		t.Error(`the counters said "total" before the ledger was whole`)
	}
	if st, reason, c := w.status(camp.Id); st != "sent" || c["sent"] != 30 || c["total"] != 30 {
		t.Fatalf("campaign %s (%s) %v", st, reason, c)
	}
	if calls, sent := f.total(); calls != 30 || sent != 30 {
		t.Fatalf("calls %d sent %d", calls, sent)
	}
}
