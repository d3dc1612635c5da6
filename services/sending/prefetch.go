package sending

import (
	"context"
	"sync"

	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// A TxSender's batch (the outbox) is claimed, rendered, stored and recorded
// in one write transaction, and the database has one writer: while it
// renders, nothing is written. The prefetcher renders the next batch on
// another core while the writer stores the current one: it reads the due
// rows that follow the last it read (from the read pool; WAL lets it read
// beside the writer) and renders them. The writer still claims its batch in
// its transaction and decides every row from that fresh read; a prefetched
// message is only used for a row whose fresh state is the state it was
// rendered from (same attempt, address, contact present, not suppressed) —
// anything else, and every row the prefetcher has not reached, is rendered
// in the transaction as before. So it changes when a message is rendered,
// never which rows are sent or skipped.
type prefetched struct {
	batches chan map[string]prerendered
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	carry map[string]prerendered // rendered, not yet claimed by the writer (a smaller batch than read)
}

type prerendered struct {
	o outcome
	m *senders.Message
}

// startPrefetch starts the prefetcher of a pass (nil when there is nothing
// to gain: a batch of one), reading through reads.
//
// Which connection reads matters: in WAL mode a reader's page cache is
// emptied whenever another connection has committed since its last read,
// and during a send the engine commits every few milliseconds, so each read
// from the read pool starts cold (its pages allocated, read and freed
// again), while the writer's own connection keeps its cache across its own
// commits. The remote loop therefore reads through the writer
// (NonconcurrentDB): it never waits for the prefetcher while it holds a
// transaction. The outbox's loop does (it takes the prefetched batch inside
// its write transaction), so it must read from the read pool.
func (e *Engine) startPrefetch(ctx context.Context, c *campaign, p *prepared, reads dbx.Builder) *prefetched {
	if e.opt.TxBatchSize <= 1 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	f := &prefetched{batches: make(chan map[string]prerendered, 1), cancel: cancel}
	f.wg.Go(func() {
		defer close(f.batches)
		var after int64
		for ctx.Err() == nil {
			rows, err := claimableAfter(reads, c, e.opt.Clock.Now(), e.opt.TxBatchSize, after)
			if err != nil || len(rows) == 0 {
				return // the writer renders what is left itself
			}
			after = rows[len(rows)-1].rowid
			outcomes, msgs := e.prepareAll(c, p, rows)
			batch := make(map[string]prerendered, len(rows))
			for i, o := range outcomes {
				if msgs[i] != nil {
					batch[o.row.ID] = prerendered{o: o, m: msgs[i]}
				}
			}
			select {
			case f.batches <- batch:
			case <-ctx.Done():
				return
			}
		}
	})
	return f
}

// stop ends the prefetcher and waits for it.
func (f *prefetched) stop() {
	if f == nil {
		return
	}
	f.cancel()
	for range f.batches { //nolint:revive // drain so the goroutine can end
	}
	f.wg.Wait()
}

// use decides the claimed rows as prepareAll does, taking the prefetched
// message of each row whose fresh state matches and rendering the others.
// claimed is the attempts the claim itself added to the rows (a remote
// claim counts the attempt as it marks the rows "sending": 1; the outbox
// counts it when it records: 0), so that a row the claim alone changed still
// matches what the prefetcher read while it was queued.
// Rows are claimed in rowid order, so once a batch is claimed every
// prefetched row at or before its last rowid is used or stale (sent or
// changed meanwhile): dropped.
//
// The rows it renders itself get their contact's columns read through db
// when the claim left them unread (fillContacts); an error there is the only
// error.
func (f *prefetched) use(db core.App, e *Engine, c *campaign, p *prepared, rows []row, claimed int) ([]outcome, []*senders.Message, error) {
	if f == nil || len(rows) == 0 {
		if err := fillContacts(db, c, rows); err != nil {
			return nil, nil, err
		}
		outcomes, msgs := e.prepareAll(c, p, rows)
		return outcomes, msgs, nil
	}
	if f.carry == nil {
		f.carry = map[string]prerendered{}
	}
	for len(f.carry) < len(rows) {
		b, ok := <-f.batches
		if !ok {
			break
		}
		for id, pre := range b {
			f.carry[id] = pre
		}
	}
	outcomes := make([]outcome, len(rows))
	msgs := make([]*senders.Message, len(rows))
	var missing []row
	var at []int
	var last int64
	for i, r := range rows {
		last = max(last, r.rowid)
		pre, ok := f.carry[r.ID]
		if ok && r.present && !r.suppressed && r.Address != "" &&
			pre.o.row.Attempts+claimed == r.Attempts && pre.o.row.Address == r.Address {
			pre.o.row = r
			outcomes[i], msgs[i] = pre.o, pre.m
			continue
		}
		missing, at = append(missing, r), append(at, i)
	}
	for id, pre := range f.carry {
		if pre.o.row.rowid <= last {
			delete(f.carry, id)
		}
	}
	if len(missing) > 0 {
		if err := fillContacts(db, c, missing); err != nil {
			return nil, nil, err
		}
		mo, mm := e.prepareAll(c, p, missing)
		for j, i := range at {
			outcomes[i], msgs[i] = mo[j], mm[j]
		}
	}
	return outcomes, msgs, nil
}
