package sending

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"
)

// Settling "unknown" rows: a remote send whose outcome is unknown (a crash
// while the row was "sending", an answer lost) is never sent again blindly.
// When the campaign's sender can look a delivery up at its provider
// (senders.Looker), the engine asks it about the campaign's unknown rows, in
// batches and at most settleMax at a time: Found → "sent" with the
// provider's message id and the outbound timeline entry a delivery writes
// (the same code path, timeline); NotFound → "queued" again (and sent once);
// Undetermined stays "unknown" with the reason in error, asked again
// SettleAfter later.
//
// The look-up's window starts at the ledger row's creation (written before
// any attempt, so never after it). A row is asked about only SettleAfter
// after it became unknown, so the provider's own index (Mailgun's events,
// Twilio's message list, Gmail's search) has caught up with the attempt
// before "never sent" is believed.
//
// What counts as final. The issue-14 rule is that a campaign becomes "sent"
// only when every row is final. An unknown row is final for the campaign
// once it has been looked up once (or its provider cannot look up): a row
// the provider could not settle then — no read permission, an ambiguous
// answer, the provider down — does not hold the campaign in "sending" for
// days; the campaign finishes with "N unknown" in its reason and a person
// may resend them (retry "unknown"). Until then (never looked up) it holds
// the campaign open: the pass waits for it to ripen (settleDue). The row
// itself stays open to settling: the engine's periodic scan (SettleIdle,
// every SettleEvery) keeps looking up the due unknown rows of campaigns
// that are not being sent — sent, failed, paused — at most settleMax a scan,
// each row every SettleAfter, for SettleWindow after it became unknown (the
// providers keep their logs for days, not forever; after that it is a
// person's). Found rows of a finished campaign update its counters and
// reason; NotFound rows are queued, and a finished campaign goes back to
// "sending" to send them, as a retry does (a paused one sends them when
// resumed). Cancelled campaigns are not looked at.
const (
	settleBatch = 50
	settleMax   = 200
	// SettleWindow is how long after a row became unknown the engine still
	// looks it up by itself.
	SettleWindow = 7 * 24 * time.Hour
)

// DefaultSettleAfter is Options.SettleAfter's default.
const DefaultSettleAfter = 10 * time.Minute

// DefaultSettleEvery is Options.SettleEvery's default.
const DefaultSettleEvery = time.Minute

type unknownRow struct {
	ID      string `db:"id"`
	Address string `db:"address"`
	Channel string `db:"channel"`
	Created string `db:"created"`
}

// dueUnknown selects the unknown rows d to look up now: ripe (SettleAfter
// since they became unknown; "updated" is not touched by an Undetermined
// answer), within SettleWindow, and not asked again before next_attempt_at.
const dueUnknown = `d.status = 'unknown' AND d.updated <= {:ripe} AND d.updated >= {:oldest}
	AND (d.next_attempt_at = '' OR d.next_attempt_at IS NULL OR d.next_attempt_at <= {:now})`

func (e *Engine) settleAfter() time.Duration {
	if e.opt.SettleAfter > 0 {
		return e.opt.SettleAfter
	}
	return DefaultSettleAfter
}

func (e *Engine) dueParams(now time.Time) dbx.Params {
	return dbx.Params{"ripe": dbTime(now.Add(-e.settleAfter())), "oldest": dbTime(now.Add(-SettleWindow)), "now": dbTime(now)}
}

// settled is what one settling of a campaign did.
type settled struct{ looked, found, requeued int }

// settle looks up at most limit of the campaign's due unknown rows at the
// provider and records the answers.
func (e *Engine) settle(ctx context.Context, c *campaign, p *prepared, limit int) (settled, error) {
	var res settled
	looker, ok := p.sender.(senders.Looker)
	if !ok || p.tx != nil {
		return res, nil
	}
	for res.looked < limit && ctx.Err() == nil {
		now := e.opt.Clock.Now()
		var rows []unknownRow
		prm := e.dueParams(now)
		prm["c"], prm["n"] = c.id, min(settleBatch, limit-res.looked)
		err := e.app.DB().NewQuery(`SELECT d.id, d.address, d.channel, d.created FROM campaign_deliveries d
			WHERE d.campaign = {:c} AND ` + dueUnknown + ` ORDER BY d.id LIMIT {:n}`).Bind(prm).All(&rows)
		if err != nil || len(rows) == 0 {
			return res, err
		}
		answers := make([]senders.LookupResult, len(rows))
		for i, r := range rows {
			created, _ := types.ParseDateTime(r.Created)
			lctx, cancel := context.WithTimeout(ctx, e.opt.SendTimeout)
			a, err := looker.Lookup(lctx, senders.Query{Workspace: c.ws, CampaignID: c.id, DeliveryID: r.ID,
				MessageID: messageID(r.ID, c.id, p.host), Channel: r.Channel, To: r.Address, Since: created.Time()})
			cancel()
			if err != nil {
				a = senders.LookupResult{Reason: "the look-up failed: " + err.Error()}
			}
			answers[i] = a
		}
		err = e.app.RunInTransaction(func(tx core.App) error {
			found, requeued, err := e.recordLookups(tx, c, p, rows, answers)
			res.found, res.requeued = res.found+found, res.requeued+requeued
			return err
		})
		if err != nil {
			return res, err
		}
		res.looked += len(rows)
		if len(rows) < settleBatch {
			return res, nil
		}
	}
	return res, nil
}

// recordLookups writes the look-ups' answers in tx: found rows "sent" with
// their timeline entries, rows never sent "queued", the rest asked again
// later. A row changed meanwhile (a person's retry) is left as it is.
func (e *Engine) recordLookups(tx core.App, c *campaign, p *prepared, rows []unknownRow, answers []senders.LookupResult) (found, requeued int, err error) {
	now := e.opt.Clock.Now()
	at := dbTime(now)
	var sent []string
	for i, r := range rows {
		var q *dbx.Query
		switch answers[i].Outcome {
		case senders.Found:
			q = tx.DB().NewQuery(`UPDATE campaign_deliveries SET status = 'sent', provider_message_id = {:pid}, sent_at = {:now},
				error = 'settled by a look-up at the provider: it has the message', next_attempt_at = '', updated = {:now}
				WHERE id = {:id} AND status = 'unknown'`).Bind(dbx.Params{"pid": answers[i].ProviderMessageID, "now": at, "id": r.ID})
		case senders.NotFound:
			q = tx.DB().NewQuery(`UPDATE campaign_deliveries SET status = 'queued', error = '', next_attempt_at = '', updated = {:now}
				WHERE id = {:id} AND status = 'unknown'`).Bind(dbx.Params{"now": at, "id": r.ID})
		default:
			q = tx.DB().NewQuery(`UPDATE campaign_deliveries SET error = {:err}, next_attempt_at = {:next}
				WHERE id = {:id} AND status = 'unknown'`).Bind(dbx.Params{"err": errText(fmt.Errorf("outcome unknown, not re-sent; the provider's look-up: %s", answers[i].Reason)),
				"next": dbTime(now.Add(e.settleAfter())), "id": r.ID})
		}
		res, err := q.Execute()
		if err != nil {
			return found, requeued, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue
		}
		switch answers[i].Outcome {
		case senders.Found:
			found++
			sent = append(sent, r.ID)
		case senders.NotFound:
			requeued++
		}
	}
	if len(sent) == 0 {
		return found, requeued, nil
	}
	// the entry a delivery writes, from the message it was: rendered again
	// for its contact (a contact gone has no timeline)
	got, err := rowsByID(tx, c, sent)
	if err != nil {
		return found, requeued, err
	}
	outcomes := make([]outcome, 0, len(got))
	for _, r := range got {
		if r.contact == nil {
			continue
		}
		o := outcome{row: r}
		if m, err := e.message(c, p, r, r.contact); err == nil {
			o.subject, o.text = m.Subject, m.Text
		}
		outcomes = append(outcomes, o)
	}
	return found, requeued, e.timeline(tx, c, outcomes, at)
}

// settleDue: when the campaign's next unknown row that was never looked up
// becomes ripe (ok false: none, or the sender cannot look up). Such rows
// keep the campaign open until their first look-up; a row the provider
// could not settle then stays "unknown" without holding it (SettleIdle
// keeps asking).
func (e *Engine) settleDue(c *campaign, p *prepared) (time.Time, bool, error) {
	if _, ok := p.sender.(senders.Looker); !ok || p.tx != nil {
		return time.Time{}, false, nil
	}
	var first string
	err := e.app.DB().NewQuery(`SELECT coalesce(min(updated), '') FROM campaign_deliveries
		WHERE campaign = {:c} AND status = 'unknown' AND (next_attempt_at = '' OR next_attempt_at IS NULL) AND updated >= {:oldest}`).
		Bind(dbx.Params{"c": c.id, "oldest": dbTime(e.opt.Clock.Now().Add(-SettleWindow))}).Row(&first)
	if err != nil || first == "" {
		return time.Time{}, false, err
	}
	t, err := types.ParseDateTime(first)
	if err != nil {
		return time.Time{}, false, err
	}
	return t.Time().Add(e.settleAfter()), true, nil
}

// idle are the statuses of campaigns whose unknown rows SettleIdle settles.
var idle = map[string]bool{statusSent: true, statusFailed: true, statusPaused: true}

// SettleIdle looks up the due unknown rows of campaigns that are not being
// sent (sent, failed, paused), at most settleMax rows a call, and answers
// how many it looked up. The engine's settle loop calls it every
// SettleEvery; see the comment at the top of this file for why.
func (e *Engine) SettleIdle(ctx context.Context) (int, error) {
	var ids []string
	err := e.app.DB().NewQuery(`SELECT c.id FROM campaigns c WHERE c.status IN ('sent', 'failed', 'paused') AND EXISTS (
		SELECT 1 FROM campaign_deliveries d WHERE d.campaign = c.id AND ` + dueUnknown + `) ORDER BY c.id`).
		Bind(e.dueParams(e.opt.Clock.Now())).Column(&ids)
	if err != nil {
		return 0, err
	}
	total := 0
	var errs []error
	for _, id := range ids {
		if total >= settleMax || ctx.Err() != nil {
			break
		}
		n, err := e.settleIdle(ctx, id, settleMax-total)
		total += n
		if err != nil {
			errs = append(errs, fmt.Errorf("campaign %s: %w", id, err))
		}
	}
	return total, errors.Join(errs...)
}

// settleIdle settles one idle campaign's due unknown rows (under its pass
// lock: never beside a pass) and brings its counters and status up to date.
func (e *Engine) settleIdle(ctx context.Context, id string, limit int) (int, error) {
	lock := e.passLock(id)
	lock.Lock()
	defer lock.Unlock()
	c, err := loadCampaign(e.app, id)
	if err != nil || !idle[c.status] {
		return 0, err
	}
	p, err := e.open(c)
	if err != nil {
		// a provider no longer set up, a snapshot that no longer renders:
		// nothing to look up with until a person fixes it (not an error
		// to log every minute)
		return 0, nil
	}
	defer p.sender.Close()
	res, err := e.settle(ctx, c, p, limit)
	if res.found+res.requeued == 0 {
		return res.looked, err
	}
	reopened, uerr := e.afterSettle(id, res)
	if reopened {
		e.Kick(id)
	}
	return res.looked, errors.Join(err, uerr)
}

// afterSettle writes an idle campaign's counters after settling and, for a
// finished one, its status: back to "sending" when rows were queued again
// (reopened: the caller kicks it), else "sent" or "failed" with the reason
// finish would write now.
func (e *Engine) afterSettle(id string, res settled) (reopened bool, err error) {
	err = e.app.RunInTransaction(func(tx core.App) error {
		rec, err := tx.FindRecordById("campaigns", id)
		if err != nil {
			return err
		}
		byStatus, err := counts(tx, id)
		if err != nil {
			return err
		}
		cnt := Counters(byStatus)
		rec.Set("counters", cnt)
		from := rec.GetString("status")
		switch {
		case from != statusSent && from != statusFailed:
		case cnt["queued"] > 0:
			reopened = true
			rec.Set("status", statusSending)
			rec.Set("finished_at", "")
			rec.Set("status_reason", fmt.Sprintf("sending %d rows the provider never received (settled by a look-up)", res.requeued))
		default:
			status, reason := finalStatus(cnt)
			rec.Set("status", status)
			rec.Set("status_reason", reason)
		}
		if rec.GetString("status") == from {
			audit.Skip(rec) // counters and reason only, as flushCounters
		}
		return tx.Save(rec)
	})
	return reopened, err
}

// settleLoop runs SettleIdle every SettleEvery.
func (e *Engine) settleLoop(ctx context.Context) {
	every := e.opt.SettleEvery
	if every <= 0 {
		every = DefaultSettleEvery
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.opt.Clock.After(every):
		}
		if _, err := e.SettleIdle(ctx); err != nil && ctx.Err() == nil {
			e.opt.Logger.Error("sending: settling unknown rows", "error", err)
		}
	}
}
