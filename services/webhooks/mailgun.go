package webhooks

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	mg "github.com/mailgun/mailgun-go/v4"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/providers"
	"github.com/pi-crm/pi-crm/services/senders/mailgun"
	"github.com/pi-crm/pi-crm/services/suppressions"
	"github.com/pi-crm/pi-crm/services/unsubscribe"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// mailgunEvent is the part of Mailgun's event-data we read.
type mailgunEvent struct {
	Event     string  `json:"event"`
	Timestamp float64 `json:"timestamp"`
	Severity  string  `json:"severity"`
	Reason    string  `json:"reason"`
	Recipient string  `json:"recipient"`
	Message   struct {
		Headers struct {
			MessageID string `json:"message-id"`
		} `json:"headers"`
	} `json:"message"`
	UserVariables  map[string]any `json:"user-variables"`
	DeliveryStatus struct {
		Code        int    `json:"code"`
		Message     string `json:"message"`
		Description string `json:"description"`
	} `json:"delivery-status"`
}

// Mailgun takes one Mailgun webhook (the JSON body) for workspace ws: the
// signature checked with the workspace's webhook signing key in constant
// time, refused when older than MaxAge or its token was seen; then the
// event applied. An event for no delivery of ws is accepted and ignored.
func (h *Handler) Mailgun(ws string, body []byte) error {
	l, err := h.config(ws, providers.Mailgun)
	if err != nil {
		return err
	}
	var p mg.WebhookPayload
	if err := json.Unmarshal(body, &p); err != nil || p.Signature.Token == "" || p.Signature.TimeStamp == "" || p.Signature.Signature == "" {
		return ErrMalformed
	}
	key := l.Config.Secret("webhook_signing_key")
	if key == "" {
		return ErrNoKey
	}
	v := mg.NewMailgun("", "")
	v.SetWebhookSigningKey(key)
	if ok, err := v.VerifyWebhookSignature(p.Signature); err != nil || !ok {
		return ErrSignature
	}
	ts, err := strconv.ParseInt(p.Signature.TimeStamp, 10, 64)
	if err != nil {
		return ErrSignature
	}
	now := h.now()
	at := time.Unix(ts, 0)
	if d := now.Sub(at); d > MaxAge || d < -MaxAge {
		return ErrStale
	}
	var ev mailgunEvent
	if err := json.Unmarshal(p.EventData, &ev); err != nil || ev.Event == "" {
		return ErrMalformed
	}
	return h.app.RunInTransaction(func(tx core.App) error {
		if err := seen(tx, ws, providers.Mailgun, p.Signature.Token, now); err != nil {
			return err
		}
		return h.mailgunEvent(tx, ws, ev, now)
	})
}

// seen records a token, refusing one recorded before (and forgets the
// expired ones).
func seen(tx core.App, ws, provider, token string, now time.Time) error {
	if _, err := tx.DB().Delete("webhook_tokens", dbx.NewExp("expires_at < {:now}", dbx.Params{"now": dbTime(now)})).Execute(); err != nil {
		return err
	}
	n := 0
	if err := tx.DB().Select("count(*)").From("webhook_tokens").Where(dbx.HashExp{"provider": provider, "token": token}).Row(&n); err != nil {
		return err
	}
	if n > 0 {
		return ErrStale
	}
	_, err := tx.DB().Insert("webhook_tokens", dbx.Params{"id": core.GenerateDefaultRandomId(), "workspace": ws, "provider": provider,
		"token": token, "expires_at": dbTime(now.Add(2 * MaxAge))}).Execute()
	return err
}

func (h *Handler) mailgunEvent(tx core.App, ws string, ev mailgunEvent, now time.Time) error {
	id, _ := ev.UserVariables[mailgun.VarDelivery].(string)
	d, err := delivery(tx, ws, id, strings.Trim(ev.Message.Headers.MessageID, "<>"))
	if err != nil || d == nil {
		return err
	}
	at := now
	if ev.Timestamp > 0 {
		at = time.Unix(0, int64(ev.Timestamp*1e9))
	}
	address := d.Address
	if address == "" {
		address = ev.Recipient
	}
	switch ev.Event {
	case "delivered":
		return update(tx, d.ID, map[string]any{"status": "delivered", "delivered_at": dbTime(at)}, "sent", "unknown", "sending")
	case "failed":
		if ev.Severity != "permanent" {
			return nil // Mailgun retries a temporary failure itself
		}
		reason := strings.TrimSpace(strings.Join(nonEmpty(ev.Reason, strconv.Itoa(ev.DeliveryStatus.Code), ev.DeliveryStatus.Description, ev.DeliveryStatus.Message), ": "))
		if err := update(tx, d.ID, map[string]any{"status": "bounced", "error": clip("bounced: " + reason)}); err != nil {
			return err
		}
		_, err := suppressions.Add(tx, ws, "email", address, suppressions.HardBounce, audit.Actor{})
		return err
	case "complained":
		if err := update(tx, d.ID, map[string]any{"status": "complained"}); err != nil {
			return err
		}
		_, err := suppressions.Add(tx, ws, "email", address, suppressions.Complaint, audit.Actor{})
		return err
	case "unsubscribed":
		if err := update(tx, d.ID, map[string]any{"reason": unsubscribe.DeliveryReason}); err != nil {
			return err
		}
		_, err := suppressions.Add(tx, ws, "email", address, suppressions.Unsubscribe, audit.Actor{})
		return err
	case "opened":
		_, err := tx.DB().NewQuery("UPDATE campaign_deliveries SET opened_at = {:at} WHERE id = {:id} AND (opened_at = '' OR opened_at IS NULL)").
			Bind(dbx.Params{"at": dbTime(at), "id": d.ID}).Execute()
		return err
	case "clicked":
		_, err := tx.DB().NewQuery("UPDATE campaign_deliveries SET clicked_at = {:at} WHERE id = {:id} AND (clicked_at = '' OR clicked_at IS NULL)").
			Bind(dbx.Params{"at": dbTime(at), "id": d.ID}).Execute()
		return err
	}
	return nil
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" && s != "0" {
			out = append(out, s)
		}
	}
	return out
}

func clip(s string) string {
	if r := []rune(s); len(r) > 1900 {
		return string(r[:1900]) + "…"
	}
	return s
}
