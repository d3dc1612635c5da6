package sending

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/campaigns"
	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/templates"
	"github.com/pi-crm/pi-crm/services/unsubscribe"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// Error codes of the manual actions.
const (
	CodeRetryInvalid    = "campaign_retry_invalid"
	CodeTestSendInvalid = "campaign_test_invalid"
	// CodeUnsubscribeNotConfigured: no unsubscribe link can be made (the
	// Application URL is not set)
	CodeUnsubscribeNotConfigured = "unsubscribe_not_configured"
	// MaxTestAddresses bounds one test send.
	MaxTestAddresses = 5
	// CodeTestSendLimit: the workspace's test sends of the last hour are at
	// MaxTestMessagesPerHour.
	CodeTestSendLimit = "campaign_test_limit"
	// MaxTestMessagesPerHour bounds a workspace's test messages: a test
	// goes to any address a member types, needs no approval and is not in
	// the ledger, so without a bound the test route would be a way around
	// four-eyes approval for bulk mail.
	MaxTestMessagesPerHour = 50
	// CodeDailyLimit: the provider's daily limit leaves too little today.
	CodeDailyLimit = "provider_daily_limit"
)

// testAllowance refuses a test send of n messages that would pass the
// workspace's hourly bound for tests (counted from the audit log, so it
// holds across restarts) or the provider's daily limit (test messages count
// in the provider's day, as the provider counts them).
func (e *Engine) testAllowance(ws, provider string, limits senders.Limits, n int, now time.Time) error {
	var recent int
	if err := e.app.DB().NewQuery(`SELECT coalesce(sum(json_array_length(details, '$.addresses')), 0) FROM audit_logs
		WHERE workspace = {:w} AND timestamp > {:since} AND action = 'campaign.test_send'`).
		Bind(dbx.Params{"w": ws, "since": dbTime(now.Add(-time.Hour))}).Row(&recent); err != nil {
		return err
	}
	if recent+n > MaxTestMessagesPerHour {
		return apperr.New(http.StatusTooManyRequests, CodeTestSendLimit, fmt.Sprintf(
			"This workspace has sent %d test messages in the last hour; at most %d an hour (try again later)", recent, MaxTestMessagesPerHour)).
			With("sent_last_hour", recent).With("limit", MaxTestMessagesPerHour)
	}
	if limits.DailyLimit > 0 {
		used, err := dailyCount(e.app, ws, provider, now)
		if err != nil {
			return err
		}
		if used+n > limits.DailyLimit {
			return apperr.New(http.StatusTooManyRequests, CodeDailyLimit, fmt.Sprintf(
				"The %s provider's daily limit (%d) leaves %d messages today", provider, limits.DailyLimit, max(0, limits.DailyLimit-used))).
				With("daily_limit", limits.DailyLimit).With("used", used)
		}
	}
	return nil
}

// Retry moves the campaign's rows in statuses ("failed", "unknown") back to
// queued (attempts kept), in one transaction with its audit entry; a
// finished campaign (sent, failed) goes back to sending. It answers the
// number of rows requeued; the caller kicks the engine.
func (e *Engine) Retry(actor audit.Actor, rec *core.Record, statuses []string) (int64, error) {
	if len(statuses) == 0 {
		return 0, apperr.BadRequest(CodeRetryInvalid, `Send {"statuses": ["failed", "unknown"]}`)
	}
	in := make([]any, 0, len(statuses))
	for _, s := range statuses {
		if s != "failed" && s != "unknown" {
			return 0, apperr.BadRequest(CodeRetryInvalid, fmt.Sprintf(`statuses: %q cannot be retried; use "failed" or "unknown"`, s))
		}
		in = append(in, s)
	}
	var n int64
	err := e.app.RunInTransaction(func(tx core.App) error {
		c, err := tx.FindRecordById("campaigns", rec.Id)
		if err != nil {
			return err
		}
		from := c.GetString("status")
		switch from {
		case statusSending, statusPaused, statusSent, statusFailed:
		default:
			return apperr.Conflict(campaigns.CodeInvalidTransition, fmt.Sprintf("a campaign that is %s has nothing to retry", strings.ReplaceAll(from, "_", " "))).
				With("status", from).With("allowed", campaigns.Allowed(from))
		}
		res, err := tx.DB().Update("campaign_deliveries", dbx.Params{"status": "queued", "next_attempt_at": "", "error": "",
			"updated": dbTime(e.opt.Clock.Now())}, dbx.And(dbx.HashExp{"campaign": c.Id}, dbx.In("status", in...))).Execute()
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		to := from
		if n > 0 && (from == statusSent || from == statusFailed) {
			to = statusSending
			c.Set("status", statusSending)
			c.Set("status_reason", fmt.Sprintf("retry of %d %s rows", n, strings.Join(statuses, "/")))
			c.Set("finished_at", "")
			audit.Skip(c) // the entry below says it
			if err := tx.Save(c); err != nil {
				return err
			}
		}
		return audit.Log(tx, audit.Entry{Actor: actor, Workspace: c.GetString("workspace"), Action: "campaign.retry", EntityType: "campaigns",
			EntityID: c.Id, Details: map[string]any{"statuses": statuses, "rows": n, "from": from, "to": to}}, e.opt.Clock.Now())
	})
	if err != nil {
		return 0, err
	}
	if n > 0 {
		_ = e.flushCounters(rec.Id)
		e.Kick(rec.Id)
	}
	return n, nil
}

// TestResult is one test message.
type TestResult struct {
	To                string `json:"to"`
	ProviderMessageID string `json:"provider_message_id"`
	units             int    // what it counts in the provider's day
}

// SendTest renders the campaign (its snapshot once submitted, else its
// current template) for contact (nil: empty values) and sends it to each
// address through the campaign's provider, marked as a test: no ledger row,
// no counter. Audited with the addresses.
func (e *Engine) SendTest(ctx context.Context, actor audit.Actor, rec *core.Record, addresses []string, contact *core.Record) ([]TestResult, error) {
	if len(addresses) == 0 || len(addresses) > MaxTestAddresses {
		return nil, apperr.BadRequest(CodeTestSendInvalid, fmt.Sprintf("addresses: 1 to %d", MaxTestAddresses))
	}
	ws, channel := rec.GetString("workspace"), rec.GetString("type")
	provider := rec.GetString("provider")
	var src templates.Source
	if snap, err := campaigns.LoadSnapshot(rec); err == nil {
		src = snap.Source()
		if snap.Provider != "" {
			provider = snap.Provider
		}
	} else {
		tpl, err := e.app.FindRecordById("templates", rec.GetString("template"))
		if err != nil || tpl.GetString("workspace") != ws {
			return nil, apperr.BadRequest(campaigns.CodeNotReady, "the campaign has no template to test")
		}
		src = templates.Source{Channel: tpl.GetString("channel"), Subject: tpl.GetString("subject"), Preheader: tpl.GetString("preheader"),
			HTML: tpl.GetString("body_html"), Text: tpl.GetString("body_text"), Signature: tpl.GetString("signature")}
	}
	if provider == "" {
		provider = "outbox"
	}
	fields, err := templates.WorkspaceFields(e.app, ws)
	if err != nil {
		return nil, err
	}
	compiled, err := templates.Compile(src, fields)
	if err != nil {
		return nil, err
	}
	values := templates.Values{}
	contactID := ""
	if contact != nil {
		values, contactID = templates.ValuesOf(contact), contact.Id
	}
	// a test without a contact has nobody to unsubscribe: the preview's
	// stand-in link; with one, the real signed link (which needs the
	// Application URL: a set-up for the admin to fix, said so)
	link := templates.PreviewUnsubscribeURL
	if contactID != "" {
		if link, err = e.opt.Links.URL(ws, contactID, rec.Id, channel); err != nil {
			return nil, apperr.BadRequest(CodeUnsubscribeNotConfigured, "no unsubscribe link can be made: "+err.Error())
		}
	}
	values["unsubscribe_url"] = link
	out, err := compiled.Render(values)
	if err != nil {
		return nil, err
	}
	for _, to := range addresses {
		if strings.TrimSpace(to) == "" {
			return nil, apperr.BadRequest(CodeTestSendInvalid, "addresses: an empty address")
		}
	}
	snd, limits, err := e.opt.Open(e.app, ws, provider)
	if err != nil {
		return nil, err
	}
	defer snd.Close()
	if err := e.testAllowance(ws, provider, limits, len(addresses), e.opt.Clock.Now()); err != nil {
		return nil, err
	}
	results := make([]TestResult, 0, len(addresses))
	var sendErr error
	for i, to := range addresses {
		to = strings.TrimSpace(to)
		m := senders.Message{Workspace: ws, CampaignID: rec.Id, ContactID: contactID, Channel: channel, To: to, Subject: "[Test] " + out.Subject,
			HTML: out.HTML, Text: out.Text, Test: true, MessageID: fmt.Sprintf("<test.%d.%s.%s@%s>", i, rec.Id, randomID(), e.host()),
			Headers: map[string]string{"X-PiCRM-Campaign": rec.Id, "X-PiCRM-Test": "1"}}
		if channel == "email" && link != "" {
			maps.Copy(m.Headers, unsubscribe.Headers(link))
		}
		var res senders.Result
		if tx, ok := snd.(senders.TxSender); ok {
			res, err = tx.SendTx(e.app, m)
		} else {
			sctx, cancel := context.WithTimeout(ctx, e.opt.SendTimeout)
			res, err = snd.Send(sctx, m)
			cancel()
		}
		if err != nil {
			sendErr = apperr.New(http.StatusBadGateway, "campaign_test_failed", fmt.Sprintf("sending to %s: %v", to, err))
			break
		}
		results = append(results, TestResult{To: to, ProviderMessageID: res.ProviderMessageID, units: res.DailyUnits()})
	}
	if len(results) == 0 {
		return results, sendErr
	}
	// what went out is audited and counted in the provider's day, also when
	// a later address failed
	sent := make([]string, len(results))
	units := 0
	for i, r := range results {
		sent[i] = r.To
		units += r.units
	}
	now := e.opt.Clock.Now()
	err = e.app.RunInTransaction(func(tx core.App) error {
		if err := addDaily(tx, ws, provider, now, units); err != nil {
			return err
		}
		return audit.Log(tx, audit.Entry{Actor: actor, Workspace: ws, Action: "campaign.test_send", EntityType: "campaigns",
			EntityID: rec.Id, Details: map[string]any{"addresses": sent, "contact": contactID, "provider": provider}}, now)
	})
	return results, errors.Join(sendErr, err)
}

func randomID() string { return core.GenerateDefaultRandomId() }
