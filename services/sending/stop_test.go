package sending_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/sending"
	"github.com/pocketbase/pocketbase/core"
)

// A campaign paused while its pass runs (here written straight to the
// record, as any other writer may) stops at the claim after: the claim reads
// the status in its own transaction. What was claimed before is sent, the
// rest stays queued, nothing is left "sending".
func TestRemotePassStopsAtTheClaimAfterAPause(t *testing.T) {
	w := newWorld(t)
	w.contacts(300, nil)
	camp := w.campaign("fake")
	var paused atomic.Bool
	f := newFake(func(senders.Message, int) error {
		if !paused.Swap(true) {
			w.setStatus(camp.Id, "paused") // the writer is free: a worker holds no transaction
		}
		return nil
	})
	e := w.engine(f.open(senders.Limits{Concurrency: 1}), nil)
	if res, err := e.Pass(context.Background(), camp.Id); err != nil || !res.Done {
		t.Fatal(res, err)
	}
	_, sent := f.total()
	by := w.byStatus(camp.Id)
	// claims of 20 at concurrency 1, two of them waiting at most when the
	// pause lands: at most 60 sent of 300
	if sent == 0 || sent > 60 || by["sent"] != sent || by["queued"] != 300-sent || by["sending"] != 0 {
		t.Fatalf("%d sent, ledger %v", sent, by)
	}
	if st, _, c := w.status(camp.Id); st != "paused" || c["sent"] != sent {
		t.Fatalf("status %s, counters %v", st, c)
	}
}

// pausingOutbox is a transactional sender that pauses the campaign, inside
// the batch's own transaction, when it stores its first message.
type pausingOutbox struct {
	campaign string
	stored   atomic.Int64
}

func (s *pausingOutbox) Name() string    { return "outbox" }
func (s *pausingOutbox) Channel() string { return "email" }
func (s *pausingOutbox) Close() error    { return nil }
func (s *pausingOutbox) Send(context.Context, senders.Message) (senders.Result, error) {
	panic("a transactional sender is sent through SendTx")
}

func (s *pausingOutbox) SendTx(tx core.App, m senders.Message) (senders.Result, error) {
	if s.stored.Add(1) == 1 {
		if _, err := tx.DB().NewQuery("UPDATE campaigns SET status = 'paused' WHERE id = {:id}").
			Bind(map[string]any{"id": s.campaign}).Execute(); err != nil {
			return senders.Result{}, err
		}
	}
	return senders.Result{ProviderMessageID: m.MessageID}, nil
}

// The same for a transactional sender's batches: the batch after the one
// that paused the campaign claims nothing.
func TestTxPassStopsAtTheBatchAfterAPause(t *testing.T) {
	w := newWorld(t)
	w.contacts(300, nil)
	camp := w.campaign("outbox")
	s := &pausingOutbox{campaign: camp.Id}
	open := func(core.App, string, string) (senders.Sender, senders.Limits, error) {
		return s, senders.Limits{}, nil
	}
	e := w.engine(open, func(o *sending.Options) { o.TxBatchSize = 25 })
	if res, err := e.Pass(context.Background(), camp.Id); err != nil || !res.Done {
		t.Fatal(res, err)
	}
	by := w.byStatus(camp.Id)
	if n := s.stored.Load(); n != 25 || by["sent"] != 25 || by["queued"] != 275 || by["sending"] != 0 {
		t.Fatalf("%d stored, ledger %v", n, by)
	}
	if st, _, _ := w.status(camp.Id); st != "paused" {
		t.Fatalf("status %s", st)
	}
}
