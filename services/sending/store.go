package sending

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/pi-crm/pi-crm/internal/jsonrows"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/campaigns"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"
)

// campaign is what a pass reads of a campaign record.
type campaign struct {
	id, ws, name, channel, provider, status, hash string
	snap                                          campaigns.Snapshot
	snapErr                                       error // no snapshot, or one that does not match its hash
	materialised                                  bool
}

func loadCampaign(app core.App, id string) (*campaign, error) {
	rec, err := app.FindRecordById("campaigns", id)
	if err != nil {
		return nil, err
	}
	c := &campaign{id: rec.Id, ws: rec.GetString("workspace"), name: rec.GetString("name"), channel: rec.GetString("type"),
		provider: rec.GetString("provider"), status: rec.GetString("status"), hash: rec.GetString("snapshot_hash")}
	c.snap, c.snapErr = campaigns.LoadSnapshot(rec)
	if c.snapErr == nil {
		if c.snap.Channel != "" {
			c.channel = c.snap.Channel
		}
		if c.snap.Provider != "" {
			c.provider = c.snap.Provider
		}
	}
	if c.provider == "" {
		c.provider = "outbox"
	}
	var counters map[string]any
	_ = json.Unmarshal([]byte(rec.GetString("counters")), &counters)
	_, c.materialised = counters["total"]
	return c, nil
}

// notSending says whether the campaign is no longer "sending" (paused,
// cancelled, finished), read in the transaction that would claim its next
// rows: a pause or cancel committed before it is seen, and the read uses the
// writer's connection, whose page cache the send's commits leave warm (a
// read-pool connection would start with its cache emptied, see
// startPrefetch).
func notSending(tx core.App, id string) (bool, error) {
	var s string
	if err := tx.DB().NewQuery("SELECT status FROM campaigns WHERE id = {:id}").Bind(dbx.Params{"id": id}).Row(&s); err != nil {
		return false, err // an error, not a stop: the pass ends with it and is retried
	}
	return s != statusSending, nil
}

func dbTime(t time.Time) string {
	d, _ := types.ParseDateTime(t.UTC())
	return d.String()
}

// materialise writes the ledger: one row per recipient (skipped ones with
// their reason), in batches, INSERT OR IGNORE on the unique (campaign,
// contact) index, so a materialisation interrupted by a crash is simply run
// again. The counters' "total" marks it finished: it is written here, once
// the last batch is in (flushCounters leaves it out while the ledger is
// being written, see materialising). committed is called after each batch.
func (e *Engine) materialise(ctx context.Context, c *campaign, committed func()) error {
	buf := make([]campaigns.Recipient, 0, e.opt.MaterializeBatch)
	rows := jsonrows.New(5) // id, contact, address, status, reason; its buffer serves every batch
	write := func() error {
		if len(buf) == 0 {
			return nil
		}
		now := dbTime(e.opt.Clock.Now())
		for _, r := range buf {
			status := "queued"
			if r.Skip != "" {
				status = "skipped"
			}
			if err := rows.Add(e.ids.ID(), r.ContactID, r.Address, status, r.Skip); err != nil {
				return err
			}
		}
		// one statement per batch (internal/jsonrows)
		_, err := e.app.DB().NewQuery(`INSERT OR IGNORE INTO campaign_deliveries (id, campaign, contact, channel, address, status, reason, created, updated)
			SELECT value->>0, {:c}, value->>1, {:ch}, value->>2, value->>3, value->>4, {:now}, {:now} FROM jsonb_each({:rows})`).
			Bind(dbx.Params{"c": c.id, "ch": c.channel, "now": now, "rows": rows.Take()}).Execute()
		buf = buf[:0]
		if err == nil {
			committed()
		}
		return err
	}
	err := e.opt.Audience(e.app, c.ws, c.snap.Segment, c.channel, func(r campaigns.Recipient) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		buf = append(buf, r)
		if len(buf) >= e.opt.MaterializeBatch {
			return write()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := write(); err != nil {
		return err
	}
	e.setMaterialising(c.id, false)
	return e.flushCounters(c.id)
}

// recoverCampaign settles rows a crash (or a panic) left "sending": for a
// TxSender nothing was sent (the send and the row commit together), so they
// are queued again; for a remote provider the send may have happened, so
// they become "unknown" — a person decides (retry) or a look-up settles it.
func (e *Engine) recoverCampaign(id string, txSender bool) error {
	status, msg := "unknown", "interrupted: the message may or may not have reached the provider"
	if txSender {
		status, msg = "queued", ""
	}
	_, err := e.app.DB().NewQuery(`UPDATE campaign_deliveries SET status = {:s}, error = {:e}, next_attempt_at = '', updated = {:now}
		WHERE campaign = {:c} AND status = 'sending'`).
		Bind(dbx.Params{"s": status, "e": msg, "now": dbTime(e.opt.Clock.Now()), "c": id}).Execute()
	return err
}

// RecoverAll settles the "sending" rows of every campaign (at start, before
// any runner) and answers the campaigns left sending, to resume.
func (e *Engine) RecoverAll() ([]string, error) {
	var stuck []struct {
		Campaign string `db:"campaign"`
	}
	if err := e.app.DB().NewQuery("SELECT DISTINCT campaign FROM campaign_deliveries WHERE status = 'sending'").All(&stuck); err != nil {
		return nil, err
	}
	for _, s := range stuck {
		txSender := false
		if c, err := loadCampaign(e.app, s.Campaign); err == nil {
			if snd, _, err := e.opt.Open(e.app, c.ws, c.provider); err == nil {
				txSender = isTx(snd)
				_ = snd.Close()
			}
		}
		if err := e.recoverCampaign(s.Campaign, txSender); err != nil {
			return nil, err
		}
	}
	var ids []string
	err := e.app.DB().NewQuery("SELECT id FROM campaigns WHERE status = 'sending' ORDER BY started_at, id").Column(&ids)
	return ids, err
}

func dailyCount(app core.App, ws, provider string, now time.Time) (int, error) {
	var n []int
	err := app.DB().NewQuery("SELECT count FROM provider_daily_counts WHERE workspace = {:w} AND provider = {:p} AND day = {:d}").
		Bind(dbx.Params{"w": ws, "p": provider, "d": now.UTC().Format(time.DateOnly)}).Column(&n)
	if err != nil || len(n) == 0 {
		return 0, err
	}
	return n[0], nil
}

// addDaily adds n (< 0: gives back) to the day's count of the provider.
func addDaily(tx core.App, ws, provider string, now time.Time, n int) error {
	if n == 0 {
		return nil
	}
	_, err := tx.DB().NewQuery(`INSERT INTO provider_daily_counts (id, workspace, provider, day, count) VALUES ({:id}, {:w}, {:p}, {:d}, max(0, {:n}))
		ON CONFLICT (workspace, provider, day) DO UPDATE SET count = max(0, count + {:n})`).
		Bind(dbx.Params{"id": core.GenerateDefaultRandomId(), "w": ws, "p": provider, "d": now.UTC().Format(time.DateOnly), "n": n}).Execute()
	return err
}

// nextDue: whether rows are still open (queued or sending) and when the
// earliest queued one is due.
func nextDue(app core.App, id string) (time.Time, bool, error) {
	var r struct {
		Open int    `db:"open"`
		Next string `db:"next"`
	}
	err := app.DB().NewQuery(`SELECT count(*) AS open, coalesce(min(CASE WHEN status = 'queued' THEN next_attempt_at END), '') AS next
		FROM campaign_deliveries WHERE campaign = {:c} AND status IN ('queued', 'sending')`).Bind(dbx.Params{"c": id}).One(&r)
	if err != nil || r.Open == 0 {
		return time.Time{}, false, err
	}
	if r.Next == "" {
		return time.Time{}, true, nil
	}
	t, err := types.ParseDateTime(r.Next)
	return t.Time(), true, err
}

// anyDue reports whether a queued row of the campaign is due now.
func anyDue(app core.App, id string, now time.Time) (bool, error) {
	var due bool
	err := app.DB().NewQuery(`SELECT EXISTS (SELECT 1 FROM campaign_deliveries WHERE campaign = {:c} AND status = 'queued'
		AND next_attempt_at <= {:now})`).Bind(dbx.Params{"c": id, "now": dbTime(now)}).Row(&due)
	return due, err
}

// counts are the ledger's rows by status.
func counts(app core.App, id string) (map[string]int, error) {
	var rows []struct {
		Status string `db:"status"`
		N      int    `db:"n"`
	}
	err := app.DB().NewQuery("SELECT status, count(*) AS n FROM campaign_deliveries WHERE campaign = {:c} GROUP BY status").
		Bind(dbx.Params{"c": id}).All(&rows)
	m := map[string]int{}
	for _, r := range rows {
		m[r.Status] = r.N
	}
	return m, err
}

// Counters are the campaign's counters from its ledger counts: delivered,
// bounced and complained rows were sent; suppressed ones skipped; total is
// every row (and says the ledger is written).
func Counters(byStatus map[string]int) map[string]int {
	c := map[string]int{"queued": byStatus["queued"], "sending": byStatus["sending"],
		"sent":   byStatus["sent"] + byStatus["delivered"] + byStatus["bounced"] + byStatus["complained"],
		"failed": byStatus["failed"], "skipped": byStatus["skipped"] + byStatus["suppressed"], "unknown": byStatus["unknown"]}
	total := 0
	for _, n := range byStatus {
		total += n
	}
	c["total"] = total
	return c
}

// flushCounters writes the campaign's counters, computed from the ledger (so
// they are exact after any crash), through app.Save for realtime, without a
// per-write audit entry.
func (e *Engine) flushCounters(id string) error {
	return e.app.RunInTransaction(func(tx core.App) error {
		byStatus, err := counts(tx, id)
		if err != nil {
			return err
		}
		rec, err := tx.FindRecordById("campaigns", id)
		if err != nil {
			return err
		}
		next := Counters(byStatus)
		if e.isMaterialising(id) {
			delete(next, "total") // the ledger is not all written: "total" would say it is
		}
		var old map[string]int
		_ = json.Unmarshal([]byte(rec.GetString("counters")), &old)
		if sameCounters(old, next) {
			return nil
		}
		rec.Set("counters", next)
		audit.Skip(rec)
		return tx.Save(rec)
	})
}

func sameCounters(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if w, ok := a[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// finish ends a campaign whose rows are all final: "failed" when every row
// that was to be sent failed, "sent" otherwise. Audited (the server's entry).
func (e *Engine) finish(id string) error {
	return e.app.RunInTransaction(func(tx core.App) error {
		rec, err := tx.FindRecordById("campaigns", id)
		if err != nil {
			return err
		}
		if rec.GetString("status") != statusSending {
			return nil
		}
		byStatus, err := counts(tx, id)
		if err != nil {
			return err
		}
		c := Counters(byStatus)
		if c["queued"]+c["sending"] > 0 {
			return nil
		}
		status, reason := finalStatus(c)
		rec.Set("status", status)
		rec.Set("counters", c)
		rec.Set("status_reason", reason)
		rec.Set("finished_at", e.opt.Clock.Now().UTC())
		return tx.Save(rec)
	})
}

// finalStatus is a finished campaign's status and reason from its
// counters: "failed" when every row that was to be sent failed, "sent"
// otherwise (unknown rows may have reached the provider: settle.go).
func finalStatus(c map[string]int) (string, string) {
	status := statusSent
	if c["failed"] > 0 && c["sent"] == 0 && c["unknown"] == 0 {
		status = statusFailed
	}
	return status, fmt.Sprintf("%d sent, %d failed, %d skipped, %d unknown", c["sent"], c["failed"], c["skipped"], c["unknown"])
}

// pause stops a campaign that is sending, with the reason (audited as the
// server's change).
func (e *Engine) pause(id, reason string) error {
	return e.app.RunInTransaction(func(tx core.App) error {
		rec, err := tx.FindRecordById("campaigns", id)
		if err != nil {
			return err
		}
		if rec.GetString("status") != statusSending {
			return nil
		}
		if len(reason) > 990 {
			reason = reason[:990] + "…"
		}
		rec.Set("status", statusPaused)
		rec.Set("status_reason", strings.ToValidUTF8(reason, ""))
		return tx.Save(rec)
	})
}
