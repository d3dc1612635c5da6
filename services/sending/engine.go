// Package sending is the campaign engine, shaped like listmonk's manager
// (a runner per campaign, workers, a messenger per provider) but around a
// ledger: every recipient has one campaign_deliveries row written before the
// first send, and a row moves to a final state only when its outcome is
// known. listmonk advances its cursor when it fetches a batch, so a crash
// skips the rest of it; here a row is claimed in the transaction that
// records it (the outbox, a TxSender) or marked "sending" before the call and
// settled after it (remote providers), so a restart finds every row where it
// was: queued rows are sent, "sending" rows of a remote provider become
// "unknown" and are never re-sent blindly.
//
// A campaign is processed by passes (Pass): claim what is due now, send,
// record, until nothing is due; the pass then says when the next row is due
// (a retry, the rate limit) or that the campaign is finished. The runner of a
// campaign repeats passes on the engine's Clock; tests call Pass themselves
// with a fake clock.
package sending

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/pi-crm/pi-crm/services/campaigns"
	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/senders/outbox"
	"github.com/pi-crm/pi-crm/services/seqid"
	"github.com/pocketbase/pocketbase/core"
)

// AudienceFunc streams a campaign's audience in a stable order
// (campaigns.RecipientsByID).
type AudienceFunc func(app core.App, ws string, seg campaigns.Segment, channel string, each func(campaigns.Recipient) error) error

// OpenFunc opens a workspace's provider (providers.Open).
type OpenFunc func(app core.App, ws, provider string) (senders.Sender, senders.Limits, error)

// Links makes a recipient's unsubscribe link (unsubscribe.NewLinks(app)).
type Links interface {
	URL(ws, contact, campaign, channel string) (string, error)
}

// Scheduler starts scheduled campaigns whose time has come
// ((*campaigns.Service).StartDue).
type Scheduler interface {
	StartDue(now time.Time) ([]string, error)
}

// Options configure an Engine; zero values take the defaults.
type Options struct {
	Clock     Clock
	Rand      func() float64 // jitter in [0, 1); nil: math/rand
	Open      OpenFunc       // nil: the outbox for every provider
	Audience  AudienceFunc   // nil: campaigns.RecipientsByID
	Links     Links          // nil: a placeholder link (tests; the server passes unsubscribe.NewLinks)
	Scheduler Scheduler      // nil: scheduled campaigns are not started
	Logger    *slog.Logger

	BatchSize        int           // most rows claimed per transaction of a remote provider (200; see remoteChunk)
	TxBatchSize      int           // rows sent per transaction of a TxSender, the outbox (250)
	MaterializeBatch int           // ledger rows written per transaction (500)
	MaxErrors        int           // consecutive errors that pause a campaign (10)
	MaxAttempts      int           // attempts before a temporary error fails the row (5)
	BaseBackoff      time.Duration // first retry delay (30 s), doubled per attempt
	MaxBackoff       time.Duration // cap of the delay (1 h)
	SendTimeout      time.Duration // one remote send (30 s)
	FlushEvery       time.Duration // counters written at most this often during a pass (1 s)
	ScheduleEvery    time.Duration // the scheduler loop's period (5 s)
	OrphanEvery      time.Duration // how often campaigns left "sending" with no runner are picked up again (1 min)
	IdleWake         time.Duration // longest sleep of a runner between passes (5 s)
	SettleAfter      time.Duration // an unknown row is looked up at the provider this long after (DefaultSettleAfter)
	SettleEvery      time.Duration // the settle loop's period: unknown rows of campaigns not being sent (DefaultSettleEvery)
}

func (o *Options) defaults() {
	if o.Clock == nil {
		o.Clock = RealClock{}
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.Open == nil {
		o.Open = OutboxOnly
	}
	if o.Audience == nil {
		o.Audience = campaigns.RecipientsByID
	}
	if o.Links == nil {
		o.Links = placeholderLinks{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.BatchSize, 200)
	// an outbox batch is one transaction of inserts: fewer, larger commits
	// (and WAL checkpoints) were most of its time at 50; 250 holds the
	// writer for about a tenth of a second
	def(&o.TxBatchSize, 250)
	def(&o.MaterializeBatch, 500)
	def(&o.MaxErrors, 10)
	def(&o.MaxAttempts, 5)
	defd(&o.BaseBackoff, 30*time.Second)
	defd(&o.MaxBackoff, time.Hour)
	defd(&o.SendTimeout, 30*time.Second)
	// each flush counts the whole ledger (a GROUP BY over the campaign's
	// rows): 12% of a 100k send at 250 ms
	defd(&o.FlushEvery, time.Second)
	defd(&o.ScheduleEvery, 5*time.Second)
	defd(&o.OrphanEvery, time.Minute)
	defd(&o.IdleWake, 5*time.Second)
}

// OutboxOnly is the default opener until services/providers is wired: the
// outbox, and no other provider (a campaign naming one pauses).
func OutboxOnly(app core.App, _ string, provider string) (senders.Sender, senders.Limits, error) {
	if provider != "" && provider != outbox.Name {
		return nil, senders.Limits{}, fmt.Errorf("provider %q is not available", provider)
	}
	return outbox.New(app, "email"), senders.Limits{Concurrency: 1}, nil
}

// placeholderLinks stands in where no Links are given (engine tests): a link
// under the reserved .invalid domain, which nothing answers.
type placeholderLinks struct{}

func (placeholderLinks) URL(_, contact, campaign, channel string) (string, error) {
	return "https://unsubscribe.invalid/" + channel + "/" + campaign + "/" + contact, nil
}

// Engine sends campaigns.
type Engine struct {
	app core.App
	opt Options
	ids *seqid.Generator // of the ledger and timeline rows the engine writes

	mu        sync.Mutex
	runners   map[string]*runner
	prepared  map[string]*prepared
	providers map[string]*provState
	errs      map[string]int         // consecutive errors per campaign
	passLocks map[string]*sync.Mutex // one pass at a time per campaign
	writing   map[string]bool        // campaigns whose ledger is being written (materialising)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	idle   *sync.Cond
}

type runner struct{ kick chan struct{} }

// provState is what campaigns of one provider share: its rate and its
// parallel sends.
type provState struct {
	rate   float64
	bucket *bucket
	sem    chan struct{}
}

// NewEngine returns an engine writing through app; Start runs it.
func NewEngine(app core.App, opt Options) *Engine {
	opt.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	e := &Engine{app: app, opt: opt, ids: seqid.New(opt.Clock.Now), runners: map[string]*runner{}, prepared: map[string]*prepared{},
		providers: map[string]*provState{}, errs: map[string]int{}, passLocks: map[string]*sync.Mutex{}, writing: map[string]bool{},
		ctx: ctx, cancel: cancel}
	e.idle = sync.NewCond(&e.mu)
	return e
}

// Start recovers what a crash left (rows "sending"), resumes the campaigns
// left sending, runs the scheduler loop (scheduled campaigns, and
// campaigns left sending with no runner) and the settle loop (unknown rows
// of campaigns not being sent, settle.go).
func (e *Engine) Start() error {
	ids, err := e.RecoverAll()
	if err != nil {
		return err
	}
	for _, id := range ids {
		e.Kick(id)
	}
	e.goSafe("", e.scheduleLoop)
	e.goSafe("", e.settleLoop)
	return nil
}

// Stop ends every runner and the scheduler (in-flight sends finish and are
// recorded first) and closes the senders.
func (e *Engine) Stop() {
	e.cancel()
	e.wg.Wait()
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, p := range e.prepared {
		_ = p.sender.Close()
		delete(e.prepared, id)
	}
}

// WaitIdle waits until no campaign runner is active (or ctx ends).
func (e *Engine) WaitIdle(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		e.mu.Lock()
		for len(e.runners) > 0 && ctx.Err() == nil {
			e.idle.Wait()
		}
		e.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return ctx.Err()
	case <-ctx.Done():
		e.mu.Lock()
		e.idle.Broadcast()
		e.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// Kick makes the campaign's runner look at it now: started when there is
// none (the lifecycle calls it after → sending and resume; campaigns.Kicker).
func (e *Engine) Kick(campaignID string) {
	if campaignID == "" || e.ctx.Err() != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if r, ok := e.runners[campaignID]; ok {
		select {
		case r.kick <- struct{}{}:
		default:
		}
		return
	}
	r := &runner{kick: make(chan struct{}, 1)}
	e.runners[campaignID] = r
	e.goSafe(campaignID, func(ctx context.Context) { e.run(ctx, campaignID, r) })
}

// goSafe runs f on its own goroutine; a panic is logged and, for a
// campaign's goroutine, pauses the campaign with the reason instead of
// leaving it "sending" forever.
func (e *Engine) goSafe(campaignID string, f func(ctx context.Context)) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer func() {
			if v := recover(); v != nil {
				e.opt.Logger.Error("sending: panic", "campaign", campaignID, "panic", v)
				if campaignID != "" {
					if err := e.pause(campaignID, fmt.Sprintf("internal error: %v", v)); err != nil {
						e.opt.Logger.Error("sending: pause after panic", "campaign", campaignID, "error", err)
					}
					e.forget(campaignID)
				}
			}
		}()
		f(e.ctx)
	}()
}

// forget removes a campaign's runner and cached sender.
func (e *Engine) forget(campaignID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.runners, campaignID)
	if p, ok := e.prepared[campaignID]; ok {
		_ = p.sender.Close()
		delete(e.prepared, campaignID)
	}
	delete(e.errs, campaignID)
	e.idle.Broadcast()
}

func (e *Engine) run(ctx context.Context, id string, r *runner) {
	failures := 0
	for {
		res, err := e.Pass(ctx, id)
		var wait time.Duration
		switch {
		case ctx.Err() != nil:
			e.forget(id)
			return
		case err != nil:
			failures++
			e.opt.Logger.Error("sending: pass", "campaign", id, "error", err, "failures", failures)
			if failures >= 5 {
				if perr := e.pause(id, "sending stopped after repeated errors: "+err.Error()); perr != nil {
					e.opt.Logger.Error("sending: pause", "campaign", id, "error", perr)
				}
				e.forget(id)
				return
			}
			wait = time.Duration(failures) * time.Second
		case res.Done:
			e.mu.Lock()
			select {
			case <-r.kick: // kicked while finishing: look again
				e.mu.Unlock()
				continue
			default:
			}
			delete(e.runners, id)
			if p, ok := e.prepared[id]; ok {
				_ = p.sender.Close()
				delete(e.prepared, id)
			}
			e.idle.Broadcast()
			e.mu.Unlock()
			return
		default:
			failures = 0
			wait = res.Next.Sub(e.opt.Clock.Now())
		}
		if wait <= 0 {
			continue
		}
		wait = min(wait, e.opt.IdleWake)
		select {
		case <-ctx.Done():
		case <-r.kick:
		case <-e.opt.Clock.After(wait):
		}
	}
}

// scheduleLoop starts the scheduled campaigns that are due and, every
// OrphanEvery, picks up campaigns left "sending" with no runner.
func (e *Engine) scheduleLoop(ctx context.Context) {
	lastOrphans := e.opt.Clock.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.opt.Clock.After(e.opt.ScheduleEvery):
		}
		now := e.opt.Clock.Now()
		if now.Sub(lastOrphans) >= e.opt.OrphanEvery {
			lastOrphans = now
			if err := e.kickOrphans(); err != nil {
				e.opt.Logger.Error("sending: campaigns without a runner", "error", err)
			}
		}
		if e.opt.Scheduler == nil {
			continue
		}
		ids, err := e.opt.Scheduler.StartDue(now)
		if err != nil {
			e.opt.Logger.Error("sending: start due campaigns", "error", err)
			continue
		}
		for _, id := range ids {
			e.Kick(id)
		}
	}
}

// kickOrphans starts a runner for every campaign that is "sending" and has
// none. A runner gives up after repeated failed passes and then pauses the
// campaign; when even that write fails (the disk full, the database
// locked), the campaign would stay "sending" with nobody on it until a
// restart. Here it is tried again, once every OrphanEvery.
func (e *Engine) kickOrphans() error {
	var ids []string
	if err := e.app.DB().NewQuery("SELECT id FROM campaigns WHERE status = 'sending'").Column(&ids); err != nil {
		return err
	}
	for _, id := range ids {
		e.mu.Lock()
		_, running := e.runners[id]
		e.mu.Unlock()
		if !running {
			e.opt.Logger.Warn("sending: picking up a campaign left sending with no runner", "campaign", id)
			e.Kick(id)
		}
	}
	return nil
}

// PassResult says what a pass left: the campaign is finished or not being
// sent (Done), or its next row is due at Next.
type PassResult struct {
	Done bool
	Next time.Time
}

// Pass processes every row of the campaign that is due now: materialises
// the ledger first when needed, recovers rows a crash left "sending", then
// claims, sends and records in batches until nothing is due, the rate limit
// says wait, or the campaign is no longer "sending" (paused, cancelled: seen
// between two batches). A finished ledger makes the campaign sent or failed.
func (e *Engine) Pass(ctx context.Context, id string) (PassResult, error) {
	lock := e.passLock(id)
	lock.Lock()
	defer lock.Unlock()

	c, err := loadCampaign(e.app, id)
	if err != nil {
		return PassResult{}, err
	}
	if c.status != statusSending {
		return PassResult{Done: true}, nil
	}
	p, err := e.prepare(c)
	if err != nil {
		var perr *pauseError
		if errors.As(err, &perr) {
			return PassResult{Done: true}, e.pause(id, perr.reason)
		}
		return PassResult{}, err
	}
	var mat *materialising
	if !c.materialised {
		mat = e.startMaterialise(ctx, c)
	}
	if err := e.recoverCampaign(id, p.tx != nil); err != nil {
		return PassResult{}, mat.end(err)
	}
	if _, err := e.settle(ctx, c, p, settleMax); err != nil {
		return PassResult{}, err
	}
	var res PassResult
	var done bool
	for {
		if p.tx != nil {
			res, done, err = e.txLoop(ctx, c, p)
		} else {
			res, done, err = e.remoteLoop(ctx, c, p)
		}
		if done || err != nil || mat == nil {
			break
		}
		// nothing due now, but the ledger is still being written: go on
		// with its next batch, or once it is all written
		if finished, merr := mat.next(); merr != nil {
			return PassResult{}, mat.end(merr)
		} else if finished {
			mat = nil
		}
	}
	if err := mat.end(err); done || err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return PassResult{}, errors.Join(err, e.flushCounters(id))
	}
	if err := e.flushCounters(id); err != nil {
		return PassResult{}, err
	}
	next, open, err := nextDue(e.app, id)
	if err != nil {
		return PassResult{}, err
	}
	if open {
		return PassResult{Next: next}, nil
	}
	// unknown rows still to be looked up at the provider (settle.go)
	if at, ok, err := e.settleDue(c, p); err != nil || ok {
		return PassResult{Next: at}, err
	}
	return PassResult{Done: true}, e.finish(id)
}

// txLoop sends a TxSender's rows (the outbox) batch by batch, each claimed,
// sent and recorded in one transaction, until nothing is due now. done: the
// pass ends with res (paused, stopped, waiting for the rate); else the caller
// finishes it.
func (e *Engine) txLoop(ctx context.Context, c *campaign, p *prepared) (res PassResult, done bool, err error) {
	lastFlush := e.opt.Clock.Now()
	ahead := e.startPrefetch(ctx, c, p, e.app.DB()) // the read pool: sendTxBatch waits for it in its transaction
	defer ahead.stop()
	for ctx.Err() == nil {
		now := e.opt.Clock.Now()
		n, res, done, err := e.allowance(c, p, e.opt.TxBatchSize, now)
		if done || err != nil {
			return res, true, err
		}
		outcomes, stopped, err := e.sendTxBatch(c, p, n, now, ahead)
		if err != nil {
			p.state.bucket.give(n)
			return PassResult{}, true, err
		}
		if stopped {
			p.state.bucket.give(n)
			return PassResult{Done: true}, true, e.flushCounters(c.id)
		}
		p.state.bucket.give(n - len(outcomes))
		if len(outcomes) == 0 {
			break
		}
		if reason := e.countErrors(c.id, outcomes); reason != "" {
			return e.pauseNow(c.id, reason)
		}
		if now := e.opt.Clock.Now(); now.Sub(lastFlush) >= e.opt.FlushEvery {
			if err := e.flushCounters(c.id); err != nil {
				return PassResult{}, true, err
			}
			lastFlush = now
		}
	}
	return PassResult{}, false, nil
}

// allowance is how many rows the campaign may claim now, at most want:
// none when the provider's daily limit is reached (the campaign pauses) or
// when the rate says wait; done then says the pass ends with res. Whether
// the campaign is still "sending" is read by the claim itself (notSending).
func (e *Engine) allowance(c *campaign, p *prepared, want int, now time.Time) (n int, res PassResult, done bool, err error) {
	if p.limits.DailyLimit > 0 {
		used, err := dailyCount(e.app, c.ws, p.provider, now)
		if err != nil {
			return 0, PassResult{}, true, err
		}
		// a limit in segments is reached when the next message no longer fits
		left := p.messagesIn(p.limits.DailyLimit - used)
		if left <= 0 {
			// nothing left to send now: no reason to pause (the pass
			// finishes, or a retry due later meets the limit then)
			if due, err := anyDue(e.app, c.id, now); err != nil || !due {
				return 0, PassResult{}, err != nil, err
			}
			res, _, err := e.pauseNow(c.id, fmt.Sprintf("the daily limit of %d %s of provider %q is reached for %s (UTC); resume tomorrow",
				p.limits.DailyLimit, p.limits.DailyUnitName(), p.provider, now.UTC().Format(time.DateOnly)))
			return 0, res, true, err
		}
		want = min(want, left)
	}
	got, wait := p.state.bucket.take(now, want)
	if got == 0 {
		return 0, PassResult{Next: now.Add(wait)}, true, e.flushCounters(c.id)
	}
	return got, PassResult{}, false, nil
}

// pauseNow writes the counters and pauses the campaign with the reason; the
// pass ends.
func (e *Engine) pauseNow(id, reason string) (PassResult, bool, error) {
	if err := e.flushCounters(id); err != nil {
		return PassResult{}, true, err
	}
	return PassResult{Done: true}, true, e.pause(id, reason)
}

func (e *Engine) passLock(id string) *sync.Mutex {
	e.mu.Lock()
	defer e.mu.Unlock()
	l, ok := e.passLocks[id]
	if !ok {
		l = &sync.Mutex{}
		e.passLocks[id] = l
	}
	return l
}

// pauseError is a reason to pause the campaign rather than retry.
type pauseError struct{ reason string }

func (p *pauseError) Error() string { return p.reason }

// countErrors keeps the campaign's consecutive errors; at MaxErrors it
// answers the reason to pause.
func (e *Engine) countErrors(id string, outcomes []outcome) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := e.errs[id]
	var last error
	for _, o := range outcomes {
		switch {
		case o.err != nil:
			n++
			last = o.err
		case o.skip == "":
			n = 0
		}
	}
	e.errs[id] = n
	if n >= e.opt.MaxErrors {
		e.errs[id] = 0
		return fmt.Sprintf("paused after %d consecutive send errors; the last: %v", n, last)
	}
	return ""
}

// backoff is the delay before attempt+1 after a temporary error: the
// provider's Retry-After when it gave one, else exponential with jitter
// ("equal jitter": half fixed, half random).
func (e *Engine) backoff(attempts int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return retryAfter
	}
	d := float64(e.opt.BaseBackoff) * math.Pow(2, float64(max(0, attempts-1)))
	d = math.Min(d, float64(e.opt.MaxBackoff))
	return time.Duration(d/2 + e.opt.Rand()*d/2)
}

// status names of the campaign the engine reads and writes.
const (
	statusSending = "sending"
	statusPaused  = "paused"
	statusSent    = "sent"
	statusFailed  = "failed"
)

// errText is an error as the ledger keeps it.
func errText(err error) string {
	s := err.Error()
	if len(s) > 1900 {
		s = s[:1900] + "…"
	}
	return strings.ToValidUTF8(s, "")
}
