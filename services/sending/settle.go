package sending

import (
	"context"
	"fmt"
	"time"

	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"
)

// Settling "unknown" rows: a remote send whose outcome is unknown (a crash
// while the row was "sending", an answer lost) is never sent again blindly.
// When the campaign's sender can look a delivery up at its provider
// (senders.Looker), each pass asks it about the campaign's unknown rows, in
// batches and at most settleMax a pass: Found → "sent" with the provider's
// message id; NotFound → "queued" again (the pass sends it); Undetermined
// stays "unknown" with the reason in error, asked again SettleAfter later.
//
// The look-up's window starts at the ledger row's creation (written before
// any attempt, so never after it). A row is asked about only SettleAfter
// after it became unknown, so the provider's own index (Mailgun's events,
// Twilio's message list) has caught up with the attempt before "never
// sent" is believed.
const (
	settleBatch = 50
	settleMax   = 200
)

// DefaultSettleAfter is Options.SettleAfter's default.
const DefaultSettleAfter = 10 * time.Minute

type unknownRow struct {
	ID      string `db:"id"`
	Address string `db:"address"`
	Channel string `db:"channel"`
	Created string `db:"created"`
}

// settle looks up the campaign's due unknown rows at the provider.
func (e *Engine) settle(ctx context.Context, c *campaign, p *prepared) error {
	looker, ok := p.sender.(senders.Looker)
	if !ok || p.tx != nil {
		return nil
	}
	after := e.opt.SettleAfter
	if after <= 0 {
		after = DefaultSettleAfter
	}
	done := 0
	for done < settleMax && ctx.Err() == nil {
		now := e.opt.Clock.Now()
		var rows []unknownRow
		err := e.app.DB().NewQuery(`SELECT id, address, channel, created FROM campaign_deliveries
			WHERE campaign = {:c} AND status = 'unknown' AND updated <= {:ripe} AND (next_attempt_at = '' OR next_attempt_at IS NULL OR next_attempt_at <= {:now})
			ORDER BY id LIMIT {:n}`).
			Bind(dbx.Params{"c": c.id, "ripe": dbTime(now.Add(-after)), "now": dbTime(now), "n": settleBatch}).All(&rows)
		if err != nil || len(rows) == 0 {
			return err
		}
		type settled struct {
			row unknownRow
			res senders.LookupResult
		}
		out := make([]settled, 0, len(rows))
		for _, r := range rows {
			created, _ := types.ParseDateTime(r.Created)
			since := created.Time()
			lctx, cancel := context.WithTimeout(ctx, e.opt.SendTimeout)
			res, err := looker.Lookup(lctx, senders.Query{Workspace: c.ws, CampaignID: c.id, DeliveryID: r.ID, Channel: r.Channel, To: r.Address, Since: since})
			cancel()
			if err != nil {
				res = senders.LookupResult{Reason: "the look-up failed: " + err.Error()}
			}
			out = append(out, settled{r, res})
		}
		err = e.app.RunInTransaction(func(tx core.App) error {
			at := dbTime(e.opt.Clock.Now())
			for _, s := range out {
				var q *dbx.Query
				switch s.res.Outcome {
				case senders.Found:
					q = tx.DB().NewQuery(`UPDATE campaign_deliveries SET status = 'sent', provider_message_id = {:pid}, sent_at = {:now},
						error = 'settled by a look-up at the provider: it has the message', next_attempt_at = '', updated = {:now}
						WHERE id = {:id} AND status = 'unknown'`).Bind(dbx.Params{"pid": s.res.ProviderMessageID, "now": at, "id": s.row.ID})
				case senders.NotFound:
					q = tx.DB().NewQuery(`UPDATE campaign_deliveries SET status = 'queued', error = '', next_attempt_at = '', updated = {:now}
						WHERE id = {:id} AND status = 'unknown'`).Bind(dbx.Params{"now": at, "id": s.row.ID})
				default:
					q = tx.DB().NewQuery(`UPDATE campaign_deliveries SET error = {:err}, next_attempt_at = {:next}
						WHERE id = {:id} AND status = 'unknown'`).Bind(dbx.Params{"err": errText(fmt.Errorf("outcome unknown, not re-sent; the provider's look-up: %s", s.res.Reason)),
						"next": dbTime(e.opt.Clock.Now().Add(after)), "id": s.row.ID})
				}
				if _, err := q.Execute(); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		done += len(rows)
		if len(rows) < settleBatch {
			return nil
		}
	}
	return nil
}

// settleDue: when the campaign's next unknown row that was never looked up
// becomes ripe (ok false: none, or the sender cannot look up). Such rows
// keep the campaign open until their first look-up; a row the provider
// could not settle then stays "unknown" for a person without holding it.
func (e *Engine) settleDue(c *campaign, p *prepared) (time.Time, bool, error) {
	if _, ok := p.sender.(senders.Looker); !ok || p.tx != nil {
		return time.Time{}, false, nil
	}
	after := e.opt.SettleAfter
	if after <= 0 {
		after = DefaultSettleAfter
	}
	var first string
	err := e.app.DB().NewQuery(`SELECT coalesce(min(updated), '') FROM campaign_deliveries
		WHERE campaign = {:c} AND status = 'unknown' AND (next_attempt_at = '' OR next_attempt_at IS NULL)`).
		Bind(dbx.Params{"c": c.id}).Row(&first)
	if err != nil || first == "" {
		return time.Time{}, false, err
	}
	t, err := types.ParseDateTime(first)
	if err != nil {
		return time.Time{}, false, err
	}
	return t.Time().Add(after), true, nil
}
