package sending

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"sync"
	"time"

	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/templates"
	"github.com/pi-crm/pi-crm/services/textclean"
	"github.com/pi-crm/pi-crm/services/unsubscribe"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// prepared is a campaign ready to send: its template compiled once, its
// provider opened.
type prepared struct {
	hash     string
	compiled *templates.Compiled
	sender   senders.Sender
	tx       senders.TxSender // nil for a remote provider
	limits   senders.Limits
	provider string
	state    *provState
	host     string // of Message-IDs
}

func isTx(s senders.Sender) bool {
	_, ok := s.(senders.TxSender)
	return ok
}

func (e *Engine) prepare(c *campaign) (*prepared, error) {
	e.mu.Lock()
	p, ok := e.prepared[c.id]
	e.mu.Unlock()
	if ok && p.hash == c.hash {
		return p, nil
	}
	if c.snapErr != nil {
		return nil, &pauseError{"the approved snapshot cannot be sent: " + c.snapErr.Error()}
	}
	fields, err := templates.WorkspaceFields(e.app, c.ws)
	if err != nil {
		return nil, err
	}
	compiled, err := templates.Compile(c.snap.Source(), fields)
	if err != nil {
		return nil, &pauseError{"the approved template does not render: " + err.Error()}
	}
	snd, limits, err := e.opt.Open(e.app, c.ws, c.provider)
	if err != nil {
		return nil, &pauseError{fmt.Sprintf("provider %q: %v", c.provider, err)}
	}
	p = &prepared{hash: c.hash, compiled: compiled, sender: snd, limits: limits, provider: c.provider, host: e.host()}
	if tx, ok := snd.(senders.TxSender); ok {
		p.tx = tx
	}
	p.state = e.providerState(c.ws, c.provider, limits)
	e.mu.Lock()
	if old, ok := e.prepared[c.id]; ok {
		_ = old.sender.Close()
	}
	e.prepared[c.id] = p
	e.mu.Unlock()
	return p, nil
}

func (e *Engine) providerState(ws, provider string, l senders.Limits) *provState {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := ws + "\x00" + provider
	conc := max(1, l.Concurrency)
	if s, ok := e.providers[key]; ok && s.rate == l.RatePerSecond && cap(s.sem) == conc {
		return s
	}
	s := &provState{rate: l.RatePerSecond, bucket: newBucket(l.RatePerSecond, e.opt.Clock.Now()), sem: make(chan struct{}, conc)}
	e.providers[key] = s
	return s
}

func (e *Engine) host() string {
	if u, err := url.Parse(e.app.Settings().Meta.AppURL); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "pi-crm.local"
}

// row is a claimed ledger row.
type row struct {
	ID       string `db:"id"`
	Contact  string `db:"contact"`
	Address  string `db:"address"`
	Attempts int    `db:"attempts"`
}

// outcome is what became of one row.
type outcome struct {
	row     row
	skip    string // a reason: the row is skipped
	err     error  // the send (or render) failed
	result  senders.Result
	subject string
	text    string
}

func claimable(db core.App, id string, now time.Time, n int) ([]row, error) {
	var rows []row
	err := db.DB().NewQuery(`SELECT id, contact, address, attempts FROM campaign_deliveries
		WHERE campaign = {:c} AND status = 'queued' AND next_attempt_at <= {:now}
		ORDER BY next_attempt_at, rowid LIMIT {:n}`).
		Bind(dbx.Params{"c": id, "now": dbTime(now), "n": n}).All(&rows)
	return rows, err
}

// look-ups of a batch: its contacts and which addresses are suppressed.
func (e *Engine) batchData(db core.App, c *campaign, rows []row) (map[string]*core.Record, map[string]bool, error) {
	ids := make([]string, 0, len(rows))
	addrs := make([]any, 0, len(rows))
	for _, r := range rows {
		if r.Contact != "" {
			ids = append(ids, r.Contact)
		}
		addrs = append(addrs, r.Address)
	}
	recs, err := db.FindRecordsByIds("contacts", ids)
	if err != nil {
		return nil, nil, err
	}
	contacts := make(map[string]*core.Record, len(recs))
	for _, r := range recs {
		contacts[r.Id] = r
	}
	var sup []string
	err = db.DB().Select("address").From("suppressions").
		Where(dbx.HashExp{"workspace": c.ws, "channel": c.channel}).AndWhere(dbx.In("address", addrs...)).Column(&sup)
	suppressed := make(map[string]bool, len(sup))
	for _, a := range sup {
		suppressed[a] = true
	}
	return contacts, suppressed, err
}

// message renders the campaign for one row.
func (e *Engine) message(c *campaign, p *prepared, r row, contact *core.Record) (senders.Message, error) {
	v := templates.ValuesOf(contact)
	link, err := e.opt.Links.URL(c.ws, r.Contact, c.id, c.channel)
	if err != nil {
		return senders.Message{}, err
	}
	v["unsubscribe_url"] = link
	out, err := p.compiled.Render(v)
	if err != nil {
		return senders.Message{}, senders.Permanent(err)
	}
	m := senders.Message{Workspace: c.ws, CampaignID: c.id, DeliveryID: r.ID, ContactID: r.Contact, Channel: c.channel,
		To: r.Address, Subject: out.Subject, HTML: out.HTML, Text: out.Text,
		MessageID: "<" + r.ID + "." + c.id + "@" + p.host + ">",
		Headers:   map[string]string{"X-PiCRM-Campaign": c.id, "X-PiCRM-Delivery": r.ID}}
	if c.channel == "email" && link != "" {
		maps.Copy(m.Headers, unsubscribe.Headers(link))
	}
	return m, nil
}

// prepareOne decides a row before its send: skipped, or its message.
func (e *Engine) prepareOne(c *campaign, p *prepared, r row, contacts map[string]*core.Record, suppressed map[string]bool) (outcome, *senders.Message) {
	o := outcome{row: r}
	contact := contacts[r.Contact]
	switch {
	case contact == nil:
		o.skip = "contact_deleted"
	case r.Address == "":
		o.skip = "missing_address"
	case suppressed[r.Address]:
		o.skip = "suppressed"
	default:
		m, err := e.message(c, p, r, contact)
		if err != nil {
			o.err = err
			return o, nil
		}
		o.subject, o.text = m.Subject, m.Text
		return o, &m
	}
	return o, nil
}

// sendTxBatch claims, sends and records up to n due rows in one
// transaction: the outbox rows, the ledger rows, the timeline entries and
// the day's count commit together or not at all.
func (e *Engine) sendTxBatch(c *campaign, p *prepared, n int, now time.Time) ([]outcome, error) {
	var outcomes []outcome
	err := e.app.RunInTransaction(func(tx core.App) error {
		outcomes = outcomes[:0]
		rows, err := claimable(tx, c.id, now, n)
		if err != nil || len(rows) == 0 {
			return err
		}
		contacts, suppressed, err := e.batchData(tx, c, rows)
		if err != nil {
			return err
		}
		batch, canBatch := p.tx.(senders.TxBatchSender)
		var msgs []senders.Message
		var at []int // msgs[j] is outcomes[at[j]]
		for _, r := range rows {
			o, m := e.prepareOne(c, p, r, contacts, suppressed)
			if m != nil {
				if canBatch {
					msgs, at = append(msgs, *m), append(at, len(outcomes))
				} else {
					o.result, o.err = p.tx.SendTx(tx, *m)
				}
			}
			outcomes = append(outcomes, o)
		}
		if len(msgs) > 0 {
			results, errs := batch.SendTxBatch(tx, msgs)
			for j, i := range at {
				outcomes[i].result, outcomes[i].err = results[j], errs[j]
			}
		}
		return e.record(tx, c, p, outcomes, 1, now)
	})
	return outcomes, err
}

// sendRemoteBatch claims up to n due rows (→ sending, attempt counted, the
// day's count taken) in one short transaction, sends them with the
// provider's concurrency, and records the outcomes in another. A crash in
// between leaves the rows "sending": recovery makes them "unknown".
func (e *Engine) sendRemoteBatch(ctx context.Context, c *campaign, p *prepared, n int, now time.Time) ([]outcome, error) {
	var rows []row
	err := e.app.RunInTransaction(func(tx core.App) error {
		var err error
		rows, err = claimable(tx, c.id, now, n)
		if err != nil || len(rows) == 0 {
			return err
		}
		ids := make([]any, len(rows))
		for i, r := range rows {
			ids[i] = r.ID
		}
		if _, err := tx.DB().Update("campaign_deliveries", dbx.Params{"status": "sending", "attempts": dbx.NewExp("attempts + 1"),
			"updated": dbTime(now)}, dbx.In("id", ids...)).Execute(); err != nil {
			return err
		}
		return addDaily(tx, c.ws, p.provider, now, len(rows))
	})
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	for i := range rows {
		rows[i].Attempts++
	}
	contacts, suppressed, err := e.batchData(e.app, c, rows)
	if err != nil {
		return nil, err
	}
	outcomes := make([]outcome, len(rows))
	var wg sync.WaitGroup
	// in-flight sends finish even when the engine stops: their outcome is
	// recorded, never guessed
	sendCtx := context.WithoutCancel(ctx)
	for i, r := range rows {
		o, m := e.prepareOne(c, p, r, contacts, suppressed)
		outcomes[i] = o
		if m == nil {
			continue
		}
		p.state.sem <- struct{}{}
		wg.Add(1)
		go func(i int, m senders.Message) {
			defer wg.Done()
			defer func() { <-p.state.sem }()
			defer func() {
				if v := recover(); v != nil {
					outcomes[i].err = fmt.Errorf("sender panic: %v", v)
				}
			}()
			sctx, cancel := context.WithTimeout(sendCtx, e.opt.SendTimeout)
			defer cancel()
			outcomes[i].result, outcomes[i].err = p.sender.Send(sctx, m)
		}(i, *m)
	}
	wg.Wait()
	done := e.opt.Clock.Now()
	return outcomes, e.app.RunInTransaction(func(tx core.App) error {
		return e.record(tx, c, p, outcomes, 0, done)
	})
}

// record writes the outcomes of a batch: the ledger rows (attempts raised
// by inc), a timeline entry per sent message and, for a TxSender, the day's
// count.
func (e *Engine) record(tx core.App, c *campaign, p *prepared, outcomes []outcome, inc int, now time.Time) error {
	at := dbTime(now)
	q := tx.DB().NewQuery(`UPDATE campaign_deliveries SET status = {:s}, attempts = attempts + {:inc}, provider_message_id = {:pid},
		sent_at = {:sent}, error = {:err}, reason = CASE WHEN reason = 'unsubscribed' THEN reason ELSE {:reason} END,
		next_attempt_at = {:next}, updated = {:now} WHERE id = {:id}`).Prepare()
	defer q.Close()
	sent := 0
	for _, o := range outcomes {
		prm := dbx.Params{"s": "sent", "inc": inc, "pid": "", "sent": "", "err": "", "reason": "", "next": "", "now": at, "id": o.row.ID}
		attempts := o.row.Attempts + inc
		switch {
		case o.skip != "":
			prm["s"], prm["reason"], prm["inc"] = "skipped", o.skip, 0
		case o.err == nil:
			prm["pid"], prm["sent"] = o.result.ProviderMessageID, at
			sent++
		case senders.IsUnknown(o.err):
			// the provider may have it: settled by a person (retry
			// "unknown") or a look-up at the provider, never re-sent here
			prm["s"], prm["err"] = "unknown", "outcome unknown, not re-sent: "+errText(o.err)
		default:
			permanent, retryAfter := senders.Classify(o.err)
			if errors.Is(o.err, context.DeadlineExceeded) {
				permanent = false
			}
			prm["err"] = errText(o.err)
			if permanent || attempts >= e.opt.MaxAttempts {
				prm["s"] = "failed"
				if !permanent {
					prm["err"] = fmt.Sprintf("gave up after %d attempts: %s", attempts, errText(o.err))
				}
			} else {
				prm["s"], prm["next"] = "queued", dbTime(now.Add(e.backoff(attempts, retryAfter)))
			}
		}
		if _, err := q.Bind(prm).Execute(); err != nil {
			return err
		}
	}
	if err := e.timeline(tx, c, outcomes, at); err != nil {
		return err
	}
	if inc == 1 {
		return addDaily(tx, c.ws, p.provider, now, sent)
	}
	return nil
}

// timeline writes one entry per sent message on its contact's timeline
// (raw SQL, one statement per batch: what the record hooks would keep is
// kept here — ids, timestamps, clean text, a contact of the workspace).
func (e *Engine) timeline(tx core.App, c *campaign, outcomes []outcome, at string) error {
	// a prepared single-row statement (see materialise: a statement of
	// many named parameters binds in n²)
	var q *dbx.Query
	for _, o := range outcomes {
		if o.skip != "" || o.err != nil || o.row.Contact == "" {
			continue
		}
		if q == nil {
			q = tx.DB().NewQuery(`INSERT INTO communication_logs (id, workspace, contact, type, direction, content, timestamp, status, campaign, created, updated)
				VALUES ({:id}, {:w}, {:k}, {:t}, 'outbound', {:x}, {:now}, 'sent', {:c}, {:now}, {:now})`).Prepare()
			defer q.Close()
		}
		if _, err := q.Bind(dbx.Params{"id": core.GenerateDefaultRandomId(), "w": c.ws, "k": o.row.Contact, "t": c.channel,
			"x": textclean.String(timelineText(c, o)), "now": at, "c": c.id}).Execute(); err != nil {
			return err
		}
	}
	return nil
}

func timelineText(c *campaign, o outcome) string {
	if c.channel == "sms" {
		t := o.text
		if r := []rune(t); len(r) > 300 {
			t = string(r[:300]) + "…"
		}
		return fmt.Sprintf("Campaign “%s” (SMS): %s", c.name, t)
	}
	return fmt.Sprintf("Campaign “%s”: %s", c.name, o.subject)
}
