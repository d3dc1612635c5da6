package sending

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pi-crm/pi-crm/internal/jsonrows"
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
	// for a daily limit in segments (limits.DailyUnits): the most one
	// message of the campaign has counted (0: none rendered yet), and what
	// rendered messages count beyond their claims' reservation, to add to
	// the day's count in the next write (learnUnits)
	units atomic.Int64
	topUp atomic.Int64
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
	p, err := e.open(c)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	if old, ok := e.prepared[c.id]; ok {
		_ = old.sender.Close()
	}
	e.prepared[c.id] = p
	e.mu.Unlock()
	return p, nil
}

// open compiles the campaign's approved template and opens its provider,
// uncached (prepare caches it for a campaign's passes; settling a campaign
// that is not being sent opens and closes its own). The caller closes
// p.sender.
func (e *Engine) open(c *campaign) (*prepared, error) {
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
	p := &prepared{hash: c.hash, compiled: compiled, sender: snd, limits: limits, provider: c.provider, host: e.host()}
	if tx, ok := snd.(senders.TxSender); ok {
		p.tx = tx
	}
	p.state = e.providerState(c.ws, c.provider, limits)
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

func (e *Engine) host() string { return senders.MessageIDHost(e.app.Settings().Meta.AppURL) }

// row is a claimed ledger row, with what its message needs: whether its
// contact is still one of the campaign's workspace, the contact's columns
// (nil: not read — a remote claim reads them only for the rows it must
// render itself, see fillContacts), and whether its address is suppressed.
type row struct {
	ID         string
	Contact    string
	Address    string
	Attempts   int
	units      int // what a remote claim reserved for it in the provider's day (1 a message; its segments for Twilio)
	rowid      int64
	present    bool
	contact    *templates.ContactColumns
	suppressed bool
}

// outcome is what became of one row.
type outcome struct {
	row     row
	skip    string // a reason: the row is skipped
	err     error  // the send (or render) failed
	result  senders.Result
	subject string
	text    string
	unsent  bool // claimed by a remote pass, never handed to the provider (see recordRemote)
}

// claimable reads up to n due rows of the campaign in claim order, each
// joined to its contact and its suppression: one statement per batch, read
// without reflection (a batch's look-ups were a tenth of a send).
func claimable(db core.App, c *campaign, now time.Time, n int) ([]row, error) {
	return claimableAfter(db.DB(), c, now, n, 0)
}

// claimableAfter is claimable from the ledger row after rowid after on (the
// prefetcher reads ahead of what the writer has claimed).
func claimableAfter(db dbx.Builder, c *campaign, now time.Time, n int, after int64) ([]row, error) {
	q := db.NewQuery(`SELECT ` + rowColumns + `
		WHERE d.campaign = {:c} AND d.status = 'queued' AND d.next_attempt_at <= {:now} AND d.rowid > {:after}
		ORDER BY d.next_attempt_at, d.rowid LIMIT {:n}`).
		Bind(dbx.Params{"c": c.id, "w": c.ws, "ch": c.channel, "now": dbTime(now), "n": n, "after": after})
	return readRows(q, n)
}

// rowsByID reads the campaign's ledger rows ids with their contacts, as
// claimable does (the rows a look-up settled, for their timeline entries).
func rowsByID(db core.App, c *campaign, ids []string) ([]row, error) {
	list, _ := json.Marshal(ids)
	q := db.DB().NewQuery(`SELECT ` + rowColumns + `
		WHERE d.campaign = {:c} AND d.id IN (SELECT value FROM json_each({:ids})) ORDER BY d.rowid`).
		Bind(dbx.Params{"c": c.id, "w": c.ws, "ch": c.channel, "ids": string(list)})
	return readRows(q, len(ids))
}

// rowColumns is what readRows scans: a ledger row d, its contact k (of the
// campaign's workspace {:w}) and whether its address is suppressed on
// channel {:ch}.
const rowColumns = `d.id, d.contact, d.address, d.attempts, d.rowid, k.id IS NOT NULL,
		coalesce(k.first_name, ''), coalesce(k.last_name, ''), coalesce(k.primary_email, ''), coalesce(k.primary_phone, ''),
		coalesce(k.company, ''), coalesce(k.custom, ''),
		EXISTS (SELECT 1 FROM suppressions s WHERE s.workspace = {:w} AND s.channel = {:ch} AND s.address = d.address)
		FROM campaign_deliveries d LEFT JOIN contacts k ON k.id = d.contact AND k.workspace = {:w}`

func readRows(q *dbx.Query, n int) ([]row, error) {
	rs, err := q.Rows()
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	rows := make([]row, 0, n)
	for rs.Next() {
		var r row
		var k templates.ContactColumns
		if err := rs.Scan(&r.ID, &r.Contact, &r.Address, &r.Attempts, &r.rowid, &r.present,
			&k.FirstName, &k.LastName, &k.Email, &k.Phone, &k.Company, &k.Custom, &r.suppressed); err != nil {
			return nil, err
		}
		if r.present {
			k.ID = r.Contact
			r.contact = &k
		}
		rows = append(rows, r)
	}
	return rows, rs.Err()
}

// fillContacts reads the columns of the rows' contacts that a claim left
// unread, for the rows that are to be rendered (present, with an address,
// not suppressed), in one statement. db is the claim's transaction, or the
// read pool once it has committed: the engine never writes contacts.
func fillContacts(db core.App, c *campaign, rows []row) error {
	var ids []string
	for _, r := range rows {
		if r.present && r.contact == nil && r.Address != "" && !r.suppressed {
			ids = append(ids, r.Contact)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	list, _ := json.Marshal(ids)
	var found []templates.ContactColumns
	if err := db.DB().NewQuery(`SELECT ` + templates.ContactColumnList + ` FROM contacts
		WHERE workspace = {:w} AND id IN (SELECT value FROM json_each({:ids}))`).
		Bind(dbx.Params{"w": c.ws, "ids": string(list)}).All(&found); err != nil {
		return err
	}
	byID := make(map[string]*templates.ContactColumns, len(found))
	for i := range found {
		byID[found[i].ID] = &found[i]
	}
	for i := range rows {
		if r := &rows[i]; r.present && r.contact == nil {
			r.contact = byID[r.Contact] // nil: deleted since the claim (prepareOne skips it)
		}
	}
	return nil
}

// message renders the campaign for one row.
func (e *Engine) message(c *campaign, p *prepared, r row, contact *templates.ContactColumns) (senders.Message, error) {
	v := contact.ValuesFor(p.compiled)
	link, err := e.opt.Links.URL(c.ws, r.Contact, c.id, c.channel)
	if err != nil {
		return senders.Message{}, err
	}
	v["unsubscribe_url"] = link
	out, err := p.compiled.Render(v)
	if err != nil {
		return senders.Message{}, renderError(err)
	}
	m := senders.Message{Workspace: c.ws, CampaignID: c.id, DeliveryID: r.ID, ContactID: r.Contact, Channel: c.channel,
		To: r.Address, Subject: out.Subject, HTML: out.HTML, Text: out.Text,
		MessageID: messageID(r.ID, c.id, p.host),
		Headers:   map[string]string{"X-PiCRM-Campaign": c.id, "X-PiCRM-Delivery": r.ID}}
	if c.channel == "email" && link != "" {
		maps.Copy(m.Headers, unsubscribe.Headers(link))
	}
	return m, nil
}

// renderError classes a render's failure: a template that renders too
// much or is refused fails the row, but a render cut off by the time limit
// is retried — templates are checked when saved and cannot loop, so a slow
// render is a busy machine (seen once in 100,000 at a load of 9 on 2 cores),
// and a template that is really too slow still fails after MaxAttempts.
func renderError(err error) error {
	if errors.Is(err, templates.ErrRenderTimeout) {
		return senders.Temporary(err, 0)
	}
	return senders.Permanent(err)
}

// prepareOne decides a row before its send: skipped, or its message.
func (e *Engine) prepareOne(c *campaign, p *prepared, r row) (outcome, *senders.Message) {
	o := outcome{row: r}
	switch {
	case !r.present || r.contact == nil && r.Address != "" && !r.suppressed:
		o.skip = "contact_deleted"
	case r.Address == "":
		o.skip = "missing_address"
	case r.suppressed:
		o.skip = "suppressed"
	default:
		m, err := e.message(c, p, r, r.contact)
		if err != nil {
			o.err = err
			return o, nil
		}
		o.subject, o.text = m.Subject, m.Text
		return o, &m
	}
	return o, nil
}

// dailyLeft caps n at what the provider's daily limit leaves today, read in
// the transaction that takes it: the writes are serialised, so two campaigns
// of one provider never claim the same remainder (allowance, outside it,
// only decides when to pause).
func (e *Engine) dailyLeft(tx core.App, c *campaign, p *prepared, now time.Time, n int) (int, error) {
	if p.limits.DailyLimit <= 0 {
		return n, nil
	}
	used, err := dailyCount(tx, c.ws, p.provider, now)
	if err != nil {
		return 0, err
	}
	return max(0, min(n, p.messagesIn(p.limits.DailyLimit-used))), nil
}

// perMessage is what one message of the campaign is reserved in the
// provider's day when claimed: 1, or for a limit in segments the most one
// has counted so far (1 before the first is rendered).
func (p *prepared) perMessage() int {
	if p.limits.DailyUnits == "" {
		return 1
	}
	return max(1, int(p.units.Load()))
}

// messagesIn is how many messages left units of the daily limit allow: for
// a limit in segments one at a time until the first is rendered (its
// segments are not known before).
func (p *prepared) messagesIn(left int) int {
	if left <= 0 {
		return 0
	}
	if p.limits.DailyUnits != "" && p.units.Load() == 0 {
		return 1
	}
	return left / p.perMessage()
}

// learnUnits: after rendering, what each claimed remote message will
// count in the day (senders.UnitCounter) replaces what its claim reserved;
// the difference is added in the next write (topUp, recordRemote).
func (e *Engine) learnUnits(p *prepared, outcomes []outcome, msgs []*senders.Message) {
	counter, ok := p.sender.(senders.UnitCounter)
	if !ok || p.limits.DailyUnits == "" {
		return
	}
	for i, m := range msgs {
		if m == nil {
			continue
		}
		u := max(1, counter.UnitsOf(*m))
		p.topUp.Add(int64(u - outcomes[i].row.units))
		outcomes[i].row.units = u
		if int64(u) > p.units.Load() {
			p.units.Store(int64(u))
		}
	}
}

// prepareAll decides every row of a batch (prepareOne), rendering on all
// cores: a render is pure CPU and independent of the others, and it is the
// largest part of a batch after the writes, which the one SQLite writer
// does alone. The outcomes and messages keep the rows' order.
func (e *Engine) prepareAll(c *campaign, p *prepared, rows []row) ([]outcome, []*senders.Message) {
	outcomes := make([]outcome, len(rows))
	msgs := make([]*senders.Message, len(rows))
	workers := min(runtime.GOMAXPROCS(0), (len(rows)+31)/32)
	if workers <= 1 {
		for i, r := range rows {
			outcomes[i], msgs[i] = e.prepareOne(c, p, r)
		}
		return outcomes, msgs
	}
	var wg sync.WaitGroup
	var next atomic.Int64
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(rows) {
					return
				}
				outcomes[i], msgs[i] = e.prepareOne(c, p, rows[i])
			}
		})
	}
	wg.Wait()
	return outcomes, msgs
}

// sendTxBatch claims, sends and records up to n due rows in one
// transaction: the outbox rows, the ledger rows, the timeline entries and
// the day's count commit together or not at all. stopped: the campaign is
// no longer "sending" (paused, cancelled), nothing was claimed.
func (e *Engine) sendTxBatch(c *campaign, p *prepared, n int, now time.Time, ahead *prefetched) (outcomes []outcome, stopped bool, err error) {
	err = e.app.RunInTransaction(func(tx core.App) error {
		outcomes = outcomes[:0]
		if stopped, err = notSending(tx, c.id); err != nil || stopped {
			return err
		}
		n, err := e.dailyLeft(tx, c, p, now, n)
		if err != nil || n == 0 {
			return err
		}
		rows, err := claimable(tx, c, now, n)
		if err != nil || len(rows) == 0 {
			return err
		}
		batch, canBatch := p.tx.(senders.TxBatchSender)
		var msgs []senders.Message
		var at []int // msgs[j] is outcomes[at[j]]
		var prepared []*senders.Message
		if outcomes, prepared, err = ahead.use(tx, e, c, p, rows, 0); err != nil {
			return err
		}
		for i, m := range prepared {
			if m == nil {
				continue
			}
			if canBatch {
				msgs, at = append(msgs, *m), append(at, i)
			} else {
				outcomes[i].result, outcomes[i].err = p.tx.SendTx(tx, *m)
			}
		}
		if len(msgs) > 0 {
			results, errs := batch.SendTxBatch(tx, msgs)
			for j, i := range at {
				outcomes[i].result, outcomes[i].err = results[j], errs[j]
			}
		}
		return e.record(tx, c, p, outcomes, 1, now)
	})
	return outcomes, stopped, err
}

// record writes the outcomes of a batch: the ledger rows (attempts raised
// by inc), a timeline entry per sent message and, for a TxSender, the day's
// count.
func (e *Engine) record(tx core.App, c *campaign, p *prepared, outcomes []outcome, inc int, now time.Time) error {
	at := dbTime(now)
	// the rows' new states, one statement (internal/jsonrows): id, status,
	// attempts added, provider id, sent at, error, reason, next attempt
	states := jsonrows.New(8)
	states.Grow(160 * len(outcomes)) // a row is about 130 bytes with a Message-ID
	// messages sent, what they count in the day (Twilio: segments), and for a
	// remote pass what that changes in the count its claim reserved
	sent, units, adjust := 0, 0, 0
	for _, o := range outcomes {
		status, add, pid, sentAt, errMsg, reason, next := "sent", inc, "", "", "", "", ""
		attempts := o.row.Attempts + inc
		switch {
		case o.skip != "":
			status, reason, add = "skipped", o.skip, 0
		case o.err == nil:
			pid, sentAt = o.result.ProviderMessageID, at
			sent++
			units += o.result.DailyUnits()
			adjust += o.result.DailyUnits() - reserved(o.row)
		case senders.IsUnknown(o.err):
			// the provider may have it: settled by a person (retry
			// "unknown") or a look-up at the provider, never re-sent here
			status, errMsg = "unknown", "outcome unknown, not re-sent: "+errText(o.err)
		default:
			permanent, retryAfter := senders.Classify(o.err)
			if errors.Is(o.err, context.DeadlineExceeded) {
				permanent = false
			}
			errMsg = errText(o.err)
			if permanent || attempts >= e.opt.MaxAttempts {
				status = "failed"
				if !permanent {
					errMsg = fmt.Sprintf("gave up after %d attempts: %s", attempts, errText(o.err))
				}
			} else {
				status, next = "queued", dbTime(now.Add(e.backoff(attempts, retryAfter)))
			}
		}
		if err := states.Add(o.row.ID, status, add, pid, sentAt, errMsg, reason, next); err != nil {
			return err
		}
	}
	if states.Len() > 0 {
		if _, err := tx.DB().NewQuery(`UPDATE OR FAIL campaign_deliveries SET status = v.value->>1, attempts = attempts + (v.value->>2),
			provider_message_id = v.value->>3, sent_at = v.value->>4, error = v.value->>5,
			reason = CASE WHEN reason = 'unsubscribed' THEN reason ELSE v.value->>6 END, next_attempt_at = v.value->>7, updated = {:now}
			FROM jsonb_each({:rows}) AS v WHERE campaign_deliveries.id = v.value->>0`).
			Bind(dbx.Params{"now": at, "rows": states.Take()}).Execute(); err != nil {
			return err
		}
	}
	if err := e.timeline(tx, c, outcomes, at); err != nil {
		return err
	}
	if inc == 1 {
		return addDaily(tx, c.ws, p.provider, now, units)
	}
	// a remote claim reserved each row's units: a sent message counts what
	// the provider says it counted; an unknown one keeps its reservation;
	// a failed, retried or skipped one counts one attempt, as before
	for _, o := range outcomes {
		if o.skip != "" || (o.err != nil && !senders.IsUnknown(o.err)) {
			adjust += 1 - reserved(o.row)
		}
	}
	return addDaily(tx, c.ws, p.provider, now, adjust)
}

// reserved is what a remote claim reserved for r in the day's count.
func reserved(r row) int { return max(1, r.units) }

// timeline writes one entry per sent message on its contact's timeline
// (raw SQL, one statement per batch through internal/jsonrows: what the
// record hooks would keep is kept here — ids, timestamps, clean text, a
// contact of the workspace).
func (e *Engine) timeline(tx core.App, c *campaign, outcomes []outcome, at string) error {
	rows := jsonrows.New(3) // id, contact, content
	rows.Grow(128 * len(outcomes))
	for _, o := range outcomes {
		if o.skip != "" || o.err != nil || o.row.Contact == "" {
			continue
		}
		if err := rows.Add(e.ids.ID(), o.row.Contact, textclean.String(timelineText(c, o))); err != nil {
			return err
		}
	}
	if rows.Len() == 0 {
		return nil
	}
	_, err := tx.DB().NewQuery(`INSERT OR FAIL INTO communication_logs (id, workspace, contact, type, direction, content, timestamp, status, campaign, created, updated)
		SELECT value->>0, {:w}, value->>1, {:t}, 'outbound', value->>2, {:now}, 'sent', {:c}, {:now}, {:now} FROM jsonb_each({:rows})`).
		Bind(dbx.Params{"w": c.ws, "t": c.channel, "now": at, "c": c.id, "rows": rows.Take()}).Execute()
	return err
}

// messageID is a delivery's Message-ID: what the message carries and what
// a look-up at Gmail or Graph searches for (settle.go).
func messageID(delivery, campaign, host string) string {
	return "<" + delivery + "." + campaign + "@" + host + ">"
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
