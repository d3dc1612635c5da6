package sending

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// A remote provider's rows go through a pipeline: the pass's goroutine
// claims a chunk of rows (→ "sending", attempt and the day's count taken, in
// one short transaction), renders them and queues their messages; the
// provider's Concurrency workers send them; the pass's goroutine records the
// outcomes in batches as they come back and claims the next chunk while the
// workers are still busy with the last one. So the sends never wait for a
// round's slowest message or for a write, and the writes are few: a claim per
// chunk, a record per recordBatch outcomes (or recordEvery).
//
// What a crash leaves: the rows claimed and not yet recorded are "sending",
// and recovery makes them "unknown" — the ones in flight, the ones sent and
// not yet recorded, and the ones still queued in memory (at most two chunks
// and the workers' messages). None is lost or re-sent blindly, but a person
// settles each one that no look-up at the provider can (SMTP: "resend
// unknown" may send it twice): the chunk is bounded for that reason (see
// remoteChunk for what its size costs).
const (
	recordBatch = 200
	recordEvery = 200 * time.Millisecond
)

// job is one message for a worker; its outcome comes back on the pipeline's
// done channel.
type job struct {
	o outcome
	m senders.Message
}

// pipeline is one pass's workers of a remote provider.
type pipeline struct {
	jobs  chan job
	done  chan outcome
	halt  atomic.Bool            // set: queued jobs come back unsent (a pause, the engine stopping)
	pause atomic.Pointer[string] // why the campaign pauses (consecutive errors), set by the worker that saw the last
	wg    sync.WaitGroup
}

// remoteChunk is how many rows a remote pass claims at a time: twenty rounds
// of the provider's concurrency, at least 20 and at most BatchSize (200).
//
// Why that many: every claim is a transaction on the one writer (it also
// records what came back), and its commit rewrites the ledger's index
// pages it touched, so fewer, larger claims do the same work with fewer page
// writes, and the workers keep a deeper queue while the next claim runs.
// Sending 100,000 messages to the SMTP sink over 10 connections
// (bench/cmd/sendprof, alternating runs on a quiet box): chunks of 50 gave
// 2,524–4,016 msg/s (5 runs, 37–46 CPU-s), 100 gave 3,661–4,284 (4 runs,
// 37–40 CPU-s), 200 gave 4,096–5,349 (3 runs, 32–36 CPU-s); peak RSS the
// same. The price: a crash can leave up to two chunks "unknown" beyond the
// sends in flight (about 400 rows at concurrency 10, 160 at SMTP's default
// of 4) where 50 left about 100.
func (e *Engine) remoteChunk(p *prepared) int {
	return max(1, min(e.opt.BatchSize, max(20, 20*max(1, p.limits.Concurrency))))
}

// remoteLoop sends a remote provider's due rows through the pipeline until
// nothing is due now; done: the pass ends with res (see txLoop).
func (e *Engine) remoteLoop(ctx context.Context, c *campaign, p *prepared) (res PassResult, done bool, err error) {
	chunk := e.remoteChunk(p)
	pl := e.startPipeline(ctx, c, p, max(1, p.limits.Concurrency), 2*chunk)
	ahead := e.startPrefetch(ctx, c, p, e.app.NonconcurrentDB()) // renders ahead, reading through the writer (see startPrefetch)
	defer ahead.stop()

	var (
		ready      []outcome // outcomes not yet recorded
		inflight   int       // jobs queued or being sent
		producing  = true
		pauseFor   string
		lastRecord = e.opt.Clock.Now()
		lastFlush  = lastRecord
		firstErr   error
	)
	stop := func(r PassResult, d bool, err error) {
		if producing {
			producing = false
			res, done = r, d
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}
	}
	recordReady := func() error {
		if len(ready) == 0 {
			return nil
		}
		at := e.opt.Clock.Now()
		top := p.topUp.Swap(0)
		if err := e.app.RunInTransaction(func(tx core.App) error { return e.recordRemote(tx, c, p, ready, int(top), at) }); err != nil {
			p.topUp.Add(top)
			return err
		}
		ready, lastRecord = ready[:0], at
		return nil
	}

	for producing || inflight > 0 {
		// keep a chunk of messages waiting beside those in flight
		for producing && len(pl.jobs) < chunk {
			if ctx.Err() != nil {
				stop(PassResult{}, false, nil)
				break
			}
			now := e.opt.Clock.Now()
			n, r, d, err := e.allowance(c, p, chunk, now)
			if d || err != nil {
				stop(r, d, err)
				break
			}
			// what came back is recorded in the claim's transaction: one
			// commit for both
			rows, stopped, err := e.claimRemote(c, p, n, now, ready)
			if err == nil {
				ready, lastRecord = ready[:0], now
			}
			if err != nil || stopped {
				p.state.bucket.give(n)
				if stopped { // paused or cancelled: what is in flight still ends, then the counters
					stop(PassResult{Done: true}, true, nil)
				} else {
					stop(PassResult{}, true, err)
				}
				break
			}
			p.state.bucket.give(n - len(rows))
			if len(rows) == 0 {
				stop(PassResult{}, false, nil)
				break
			}
			outcomes, msgs, err := ahead.use(e.app, e, c, p, rows, 1)
			if err != nil {
				// claimed, never handed to the provider: back to queued
				for _, r := range rows {
					ready = append(ready, outcome{row: r, unsent: true})
				}
				stop(PassResult{}, true, err)
				break
			}
			e.learnUnits(p, outcomes, msgs)
			for i, m := range msgs {
				if m == nil {
					ready = append(ready, outcomes[i])
					continue
				}
				inflight++
				pl.jobs <- job{o: outcomes[i], m: *m} // never blocks: the buffer holds two chunks
			}
		}
		if !producing {
			// nothing more will be claimed: jobs still queued come back
			// unsent when the pass is stopping, else they are sent
			if pauseFor != "" || ctx.Err() != nil || firstErr != nil {
				pl.halt.Store(true)
			}
		}
		if inflight > 0 {
			ready = append(ready, <-pl.done)
			inflight--
			for more := true; more && inflight > 0; {
				select {
				case o := <-pl.done:
					ready = append(ready, o)
					inflight--
				default:
					more = false
				}
			}
			if r := pl.pause.Load(); r != nil && pauseFor == "" {
				pauseFor = *r
				stop(PassResult{}, true, nil)
			}
		}
		now := e.opt.Clock.Now()
		if len(ready) >= recordBatch || now.Sub(lastRecord) >= recordEvery || inflight == 0 {
			if err := recordReady(); err != nil {
				// the outcomes stay ready: recorded at the end, or, if
				// that fails too, their rows are settled by recovery
				pl.halt.Store(true)
				stop(PassResult{}, true, err)
				if firstErr == nil {
					firstErr = err
				}
			}
		}
		if now.Sub(lastFlush) >= e.opt.FlushEvery {
			if err := e.flushCounters(c.id); err != nil && firstErr == nil {
				firstErr = err
			}
			lastFlush = now
		}
	}
	close(pl.jobs)
	pl.wg.Wait()
	if err := recordReady(); err != nil && firstErr == nil {
		firstErr = err
	}
	if firstErr != nil {
		return PassResult{}, true, firstErr
	}
	if pauseFor != "" {
		return e.pauseNow(c.id, pauseFor)
	}
	if done { // the counters include what came back after the last claim
		if err := e.flushCounters(c.id); err != nil {
			return PassResult{}, true, err
		}
	}
	return res, done, nil
}

// startPipeline starts n workers sending the jobs through p's sender, at most
// the provider's concurrency at once across its campaigns (p.state.sem). A
// worker counts the campaign's consecutive errors as its send ends, and at
// MaxErrors halts the pipeline before it takes another job (so with one
// worker exactly MaxErrors sends fail before the pause). A worker of a
// senders.ChainSender takes what the queue holds, up to chainMax jobs, and
// sends them as one chain (sendChain).
func (e *Engine) startPipeline(ctx context.Context, c *campaign, p *prepared, n, buffer int) *pipeline {
	// done has room for all the queue and the workers hold at one time (a
	// chain holds up to chainMax), so that a worker handing outcomes back
	// while the pass's goroutine is in a claim seldom waits there, holding
	// the provider's concurrency (p.state.sem)
	pl := &pipeline{jobs: make(chan job, buffer), done: make(chan outcome, buffer+n*chainMax)}
	// in-flight sends finish even when the engine stops: their outcome is
	// recorded, never guessed
	sendCtx := context.WithoutCancel(ctx)
	chain, _ := p.sender.(senders.ChainSender)
	for range n {
		pl.wg.Go(func() {
			batch := make([]job, 0, chainMax)
			for j := range pl.jobs {
				if pl.halt.Load() {
					j.o.unsent = true
					pl.done <- j.o
					continue
				}
				batch = append(batch[:0], j)
				if chain != nil {
					batch = takeQueued(pl.jobs, batch)
				}
				if len(batch) > 1 {
					e.sendChain(sendCtx, c, p, pl, chain, batch)
					continue
				}
				p.state.sem <- struct{}{}
				j.o.result, j.o.err = e.sendOne(sendCtx, p, j.m)
				<-p.state.sem
				e.sent(c, pl, j.o)
			}
		})
	}
	return pl
}

// chainMax is the most jobs a worker sends as one chain: enough to take
// most of the round trips out (a chain of k messages writes k times instead
// of 2k), few enough that the other workers keep a share of a short queue.
const chainMax = 8

// takeQueued adds to batch the jobs queued now, up to chainMax, without
// waiting for more.
func takeQueued(jobs <-chan job, batch []job) []job {
	for len(batch) < chainMax {
		select {
		case j, ok := <-jobs:
			if !ok {
				return batch
			}
			batch = append(batch, j)
		default:
			return batch
		}
	}
	return batch
}

// sent hands a send's outcome back, counting the campaign's consecutive
// errors first; it reports whether the pipeline goes on.
func (e *Engine) sent(c *campaign, pl *pipeline, o outcome) bool {
	if reason := e.countErrors(c.id, []outcome{o}); reason != "" {
		pl.pause.CompareAndSwap(nil, &reason)
		pl.halt.Store(true)
	}
	pl.done <- o
	return !pl.halt.Load()
}

// sendChain sends batch as one chain, bounded by SendTimeout a message: each
// outcome is handed back as the sender tells it (sent), and the chain stops
// when the pipeline halts. The jobs it never told of were not sent: they come
// back unsent. A panic of the sender is the error of the job it was on (as
// sendOne's is its message's: an attempt, never a guess that nothing went
// out); the jobs after it were not begun (senders.ChainSender) and come back
// unsent.
func (e *Engine) sendChain(ctx context.Context, c *campaign, p *prepared, pl *pipeline, chain senders.ChainSender, batch []job) {
	msgs := make([]senders.Message, len(batch))
	for i, j := range batch {
		msgs[i] = j.m
	}
	told := 0
	sctx, cancel := context.WithTimeout(ctx, e.opt.SendTimeout*time.Duration(len(batch)))
	p.state.sem <- struct{}{}
	func() {
		defer func() {
			if v := recover(); v != nil && told < len(batch) {
				o := batch[told].o
				o.err = fmt.Errorf("sender panic: %v", v)
				told++
				e.sent(c, pl, o)
			}
		}()
		chain.SendChain(sctx, msgs, func(i int, r senders.Result, err error) bool {
			if i != told { // the contract: in order, once each
				panic(fmt.Sprintf("SendChain told of message %d, expected %d", i, told))
			}
			o := batch[i].o
			o.result, o.err = r, err
			told++
			return e.sent(c, pl, o)
		})
	}()
	<-p.state.sem
	cancel()
	for _, j := range batch[told:] {
		j.o.unsent = true
		pl.done <- j.o
	}
}

// sendOne is one remote send, bounded by SendTimeout; a panic of the sender
// is its error.
func (e *Engine) sendOne(ctx context.Context, p *prepared, m senders.Message) (res senders.Result, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("sender panic: %v", v)
		}
	}()
	sctx, cancel := context.WithTimeout(ctx, e.opt.SendTimeout)
	defer cancel()
	return p.sender.Send(sctx, m)
}

// claimRemote records the outcomes that came back (recordRemote) and claims
// up to n due rows, in one transaction: → "sending", the attempt counted, the
// day's count taken (per message: p.perMessage, which learnUnits corrects
// once the message is rendered). The claim is one statement that marks the rows and
// answers them (RETURNING) with whether their contact is still there and
// their address suppressed, but not the contact's columns: the prefetcher
// has rendered most rows already, and the others are read after the commit
// (fillContacts). A SELECT and then an UPDATE of the rows it found did the
// same in two passes over the ledger's index, on the one writer.
func (e *Engine) claimRemote(c *campaign, p *prepared, n int, now time.Time, ready []outcome) (rows []row, stopped bool, err error) {
	top := p.topUp.Swap(0)
	per := p.perMessage()
	err = e.app.RunInTransaction(func(tx core.App) error {
		if err := e.recordRemote(tx, c, p, ready, int(top), now); err != nil {
			return err
		}
		if stopped, err = notSending(tx, c.id); err != nil || stopped {
			return err
		}
		n, err := e.dailyLeft(tx, c, p, now, n)
		if err != nil || n == 0 {
			return err
		}
		rows, err = claimRows(tx, c, now, n)
		if err != nil || len(rows) == 0 {
			return err
		}
		return addDaily(tx, c.ws, p.provider, now, len(rows)*per)
	})
	if err != nil {
		p.topUp.Add(top)
		return nil, false, err
	}
	for i := range rows {
		rows[i].units = per
	}
	return rows, stopped, nil
}

// claimRows marks up to n due rows "sending" (the attempt counted) and
// answers them in claim order.
//
// OR FAIL, because a multi-row statement that may abort (the default
// conflict action of its NOT NULL columns, or any function call in it) keeps
// a statement journal inside a transaction: a copy of every page it changes,
// spilled to a temporary file past 64 KiB. The claim's transaction rolls back
// on any error, so stopping where it failed loses nothing. Its SET and WHERE
// call no function (RETURNING's coalesce does not count: it runs after the
// rows are written).
func claimRows(tx core.App, c *campaign, now time.Time, n int) ([]row, error) {
	rs, err := tx.DB().NewQuery(`UPDATE OR FAIL campaign_deliveries SET status = 'sending', attempts = attempts + 1, updated = {:now}
		WHERE rowid IN (SELECT rowid FROM campaign_deliveries WHERE campaign = {:c} AND status = 'queued' AND next_attempt_at <= {:now}
			ORDER BY next_attempt_at, rowid LIMIT {:n})
		RETURNING id, contact, address, attempts, rowid, coalesce(next_attempt_at, ''),
			EXISTS (SELECT 1 FROM contacts k WHERE k.id = campaign_deliveries.contact AND k.workspace = {:w}),
			EXISTS (SELECT 1 FROM suppressions s WHERE s.workspace = {:w} AND s.channel = {:ch} AND s.address = campaign_deliveries.address)`).
		Bind(dbx.Params{"c": c.id, "w": c.ws, "ch": c.channel, "now": dbTime(now), "n": n}).Rows()
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	type claimed struct {
		row
		due string
	}
	got := make([]claimed, 0, n)
	for rs.Next() {
		var r claimed
		if err := rs.Scan(&r.ID, &r.Contact, &r.Address, &r.Attempts, &r.rowid, &r.due, &r.present, &r.suppressed); err != nil {
			return nil, err
		}
		got = append(got, r)
	}
	if err := rs.Err(); err != nil {
		return nil, err
	}
	// RETURNING answers in no set order
	slices.SortFunc(got, func(a, b claimed) int { return cmp.Or(strings.Compare(a.due, b.due), cmp.Compare(a.rowid, b.rowid)) })
	rows := make([]row, len(got))
	for i, r := range got {
		rows[i] = r.row
	}
	return rows, nil
}

// recordRemote records outcomes of a remote pass: the rows sent, failed or
// skipped (record), and the rows claimed but never handed to the provider
// back to "queued", their attempt and the day's count given back; top is
// what rendered messages count beyond their claims' reservation
// (learnUnits), added to the day's count.
func (e *Engine) recordRemote(tx core.App, c *campaign, p *prepared, outcomes []outcome, top int, now time.Time) error {
	if err := addDaily(tx, c.ws, p.provider, now, top); err != nil {
		return err
	}
	if len(outcomes) == 0 {
		return nil
	}
	var unsent []string
	rest := outcomes // usually all of them: copied only when some were never sent
	given := 0
	for _, o := range outcomes {
		if !o.unsent {
			continue
		}
		unsent = append(unsent, o.row.ID)
		given += reserved(o.row)
	}
	if len(unsent) > 0 {
		rest = make([]outcome, 0, len(outcomes)-len(unsent))
		for _, o := range outcomes {
			if !o.unsent {
				rest = append(rest, o)
			}
		}
	}
	if len(unsent) > 0 {
		list, _ := json.Marshal(unsent)
		if _, err := tx.DB().NewQuery(`UPDATE campaign_deliveries SET status = 'queued', attempts = max(0, attempts - 1), updated = {:now}
			WHERE status = 'sending' AND id IN (SELECT value FROM json_each({:ids}))`).
			Bind(dbx.Params{"now": dbTime(now), "ids": string(list)}).Execute(); err != nil {
			return err
		}
		if err := addDaily(tx, c.ws, p.provider, now, -given); err != nil {
			return err
		}
	}
	return e.record(tx, c, p, rest, 0, now)
}
