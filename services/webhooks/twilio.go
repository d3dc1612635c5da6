package webhooks

import (
	"net/url"
	"strings"
	"time"

	twclient "github.com/twilio/twilio-go/client"

	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/providers"
	"github.com/pi-crm/pi-crm/services/suppressions"
	"github.com/pi-crm/pi-crm/services/textclean"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// Keywords of an inbound SMS (Twilio's own opt-out handling answers them
// on the carrier side; here they keep the suppressions in step).
var (
	stopWords  = map[string]bool{"STOP": true, "STOPALL": true, "UNSUBSCRIBE": true, "CANCEL": true, "END": true, "QUIT": true}
	startWords = map[string]bool{"START": true, "YES": true, "UNSTOP": true}
)

// TwilioResult says what an inbound message did (for the route's log line
// and the tests).
type TwilioResult struct {
	Kind string // "status", "stop", "start", "help", "inbound", "ignored"
}

// Twilio takes one Twilio webhook for workspace ws: publicURL is the URL
// Twilio signed (the Application URL and the request's path and query),
// form the POST parameters, signature X-Twilio-Signature.
func (h *Handler) Twilio(ws, publicURL string, form url.Values, signature string) (TwilioResult, error) {
	l, err := h.config(ws, providers.Twilio)
	if err != nil {
		return TwilioResult{}, err
	}
	token := l.Config.Secret("auth_token")
	if token == "" {
		return TwilioResult{}, ErrNoKey
	}
	if signature == "" {
		return TwilioResult{}, ErrSignature
	}
	params := make(map[string]string, len(form))
	for k, v := range form {
		if len(v) > 0 {
			params[k] = v[0]
		}
	}
	rv := twclient.NewRequestValidator(token)
	if !rv.Validate(publicURL, params, signature) {
		return TwilioResult{}, ErrSignature
	}
	if sid := l.Config.String("account_sid"); form.Get("AccountSid") != "" && form.Get("AccountSid") != sid {
		return TwilioResult{}, ErrSignature
	}
	now := h.now()
	var res TwilioResult
	err = h.app.RunInTransaction(func(tx core.App) error {
		var err error
		switch {
		case form.Get("MessageStatus") != "" && form.Get("Body") == "":
			res.Kind = "status"
			err = twilioStatus(tx, ws, form, now)
		case form.Get("From") != "" && form.Has("Body"):
			res.Kind, err = h.twilioInbound(tx, ws, form, now)
		default:
			err = ErrMalformed
		}
		return err
	})
	return res, err
}

func twilioStatus(tx core.App, ws string, form url.Values, now time.Time) error {
	d, err := delivery(tx, ws, "", form.Get("MessageSid"))
	if err != nil || d == nil {
		return err
	}
	switch form.Get("MessageStatus") {
	case "delivered":
		return update(tx, d.ID, map[string]any{"status": "delivered", "delivered_at": dbTime(now)}, "sent", "unknown", "sending")
	case "undelivered", "failed":
		code := form.Get("ErrorCode")
		if err := update(tx, d.ID, map[string]any{"status": "failed", "error": clip("twilio: " + form.Get("MessageStatus") + " (error " + code + ")")}); err != nil {
			return err
		}
		if code == "21610" {
			_, err := suppressions.Add(tx, ws, "sms", d.Address, suppressions.SMSStop, audit.Actor{})
			return err
		}
	}
	return nil // queued, sending, sent: the row is already sent
}

func (h *Handler) twilioInbound(tx core.App, ws string, form url.Values, now time.Time) (string, error) {
	from := strings.TrimSpace(form.Get("From"))
	body := strings.TrimSpace(form.Get("Body"))
	word := strings.ToUpper(strings.Trim(body, " .!"))
	switch {
	case body == "":
		return "ignored", nil
	case stopWords[word]:
		_, err := suppressions.Add(tx, ws, "sms", from, suppressions.SMSStop, audit.Actor{})
		return "stop", err
	case startWords[word]:
		_, err := suppressions.Remove(tx, ws, "sms", from, audit.Actor{}, suppressions.SMSStop)
		return "start", err
	case word == "HELP" || word == "INFO":
		h.app.Logger().Info("twilio: HELP received", "workspace", ws, "message", form.Get("MessageSid"))
		return "help", nil
	}
	var contacts []string
	if err := tx.DB().Select("id").From("contacts").Where(dbx.HashExp{"workspace": ws, "primary_phone": from}).Limit(1).Column(&contacts); err != nil {
		return "", err
	}
	if len(contacts) == 0 {
		return "ignored", nil
	}
	col, err := tx.FindCachedCollectionByNameOrId("communication_logs")
	if err != nil {
		return "", err
	}
	rec := core.NewRecord(col)
	rec.Set("workspace", ws)
	rec.Set("contact", contacts[0])
	rec.Set("type", "sms")
	rec.Set("direction", "inbound")
	rec.Set("content", textclean.String(clip(body)))
	rec.Set("timestamp", dbTime(now))
	rec.Set("status", "received")
	return "inbound", tx.Save(rec)
}
