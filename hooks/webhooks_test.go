package hooks_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// webhook_tokens are written by the webhook with raw SQL (the server's own
// replay record, no API rules); a superuser's write through the API is
// audited like any other.
func init() {
	auditCases["webhook_tokens"] = auditCase{
		create: func(f *auditFixture) map[string]any {
			return map[string]any{"workspace": f.ws.Id, "provider": "mailgun", "token": fmt.Sprintf("tok%d", f.next()), "expires_at": "2026-12-01 12:00:00.000Z"}
		},
		update: map[string]any{"token": "tok-changed"},
	}
}

type hookFix struct {
	f         *aiFixture
	camp      *core.Record
	contact   *core.Record
	d1, d2    *core.Record
	sms1      *core.Record
	appURL    string
	responses []string
}

func newHookFix(t *testing.T) *hookFix {
	f := newAIFixture(t)
	h := &hookFix{f: f, appURL: "https://crm.example"}
	s := f.env.App.Settings()
	s.Meta.AppURL = h.appURL
	if err := f.env.App.Save(s); err != nil {
		t.Fatal(err)
	}
	base := "/api/crm/workspaces/" + f.ws.Id + "/providers/"
	if res := f.do(t, "PUT", base+"mailgun", f.admin, map[string]any{"from": "news@mg.example.com", "domain": "mg.example.com",
		"api_key": mailgunTestKey, "webhook_signing_key": mailgunTestSigning}); res.Status != 200 {
		t.Fatalf("%s", res.Body)
	}
	if res := f.do(t, "PUT", base+"twilio", f.admin, map[string]any{"account_sid": "AC" + hex32, "auth_token": twilioTestToken,
		"from_number": "+15017122661"}); res.Status != 200 {
		t.Fatalf("%s", res.Body)
	}
	ownerID := f.ownerID
	h.contact = f.env.Create("contacts", map[string]any{"workspace": f.ws.Id, "first_name": "Ann", "primary_email": "ann@example.org", "primary_phone": "+14155550123"})
	other := f.env.Create("contacts", map[string]any{"workspace": f.ws.Id, "first_name": "Bob", "primary_email": "bob@example.org"})
	h.camp = f.env.Create("campaigns", map[string]any{"workspace": f.ws.Id, "name": "Winter", "type": "email", "status": "sent", "created_by": ownerID})
	smsCamp := f.env.Create("campaigns", map[string]any{"workspace": f.ws.Id, "name": "Winter SMS", "type": "sms", "status": "sent", "created_by": ownerID})
	h.d1 = f.env.Create("campaign_deliveries", map[string]any{"campaign": h.camp.Id, "contact": h.contact.Id, "channel": "email",
		"address": "ann@example.org", "status": "sent", "provider_message_id": "20261201.a1@mg.example.com"})
	h.d2 = f.env.Create("campaign_deliveries", map[string]any{"campaign": h.camp.Id, "contact": other.Id, "channel": "email",
		"address": "bob@example.org", "status": "sent", "provider_message_id": "20261201.b2@mg.example.com"})
	h.sms1 = f.env.Create("campaign_deliveries", map[string]any{"campaign": smsCamp.Id, "contact": h.contact.Id, "channel": "sms",
		"address": "+14155550123", "status": "sent", "provider_message_id": "SM" + hex32})
	return h
}

// mailgunBody is a webhook as Mailgun posts it, signed with key (HMAC-SHA256
// of timestamp + token, hex: Mailgun's "Securing webhooks").
func mailgunBody(key, token string, at time.Time, event map[string]any) map[string]any {
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(ts + token))
	return map[string]any{"signature": map[string]any{"timestamp": ts, "token": token, "signature": hex.EncodeToString(m.Sum(nil))},
		"event-data": event}
}

func (h *hookFix) status(t *testing.T, d *core.Record) *core.Record {
	r, err := h.f.env.App.FindRecordById("campaign_deliveries", d.Id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (h *hookFix) suppressed(t *testing.T, channel, address string) string {
	r, err := h.f.env.App.FindFirstRecordByFilter("suppressions", "workspace = {:w} && channel = {:c} && address = {:a}",
		dbx.Params{"w": h.f.ws.Id, "c": channel, "a": address})
	if err != nil {
		return ""
	}
	return r.GetString("reason")
}

// Mailgun's webhook: delivered, a permanent failure (→ bounce suppression),
// a temporary one (nothing), complained (→ suppression), opened; a forged,
// stale or replayed signature 403 and nothing changes; another workspace's
// delivery untouched; unknown workspace 404; malformed 400.
func TestMailgunWebhook(t *testing.T) {
	h := newHookFix(t)
	env := h.f.env
	path := "/api/crm/webhooks/mailgun/" + h.f.ws.Id
	now := time.Now()
	post := func(body any) testutil.Response {
		res := env.Do("POST", path, "", body)
		h.responses = append(h.responses, string(res.Body))
		return res
	}
	ev := func(event, delivery, msgID string, extra map[string]any) map[string]any {
		e := map[string]any{"event": event, "timestamp": float64(now.Unix()), "recipient": "x@example.org",
			"message": map[string]any{"headers": map[string]any{"message-id": msgID}}, "user-variables": map[string]any{}}
		if delivery != "" {
			e["user-variables"] = map[string]any{"picrm_delivery": delivery}
		}
		for k, v := range extra {
			e[k] = v
		}
		return e
	}

	// forged: the wrong key; nothing changes
	wantCode(t, post(mailgunBody("not-the-key", "tok-forged", now, ev("failed", h.d1.Id, "", map[string]any{"severity": "permanent"}))),
		http.StatusForbidden, "webhook_signature_invalid")
	if h.status(t, h.d1).GetString("status") != "sent" || h.suppressed(t, "email", "ann@example.org") != "" {
		t.Fatal("a forged webhook changed something")
	}
	// stale: older than 5 minutes
	wantCode(t, post(mailgunBody(mailgunTestSigning, "tok-stale", now.Add(-6*time.Minute), ev("delivered", h.d1.Id, "", nil))),
		http.StatusForbidden, "webhook_signature_invalid")
	if h.status(t, h.d1).GetString("status") != "sent" {
		t.Fatal("a stale webhook changed the delivery")
	}

	// delivered, found by our v: variable
	if res := post(mailgunBody(mailgunTestSigning, "tok-1", now, ev("delivered", h.d1.Id, "", nil))); res.Status != 200 {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	if d := h.status(t, h.d1); d.GetString("status") != "delivered" || d.GetDateTime("delivered_at").IsZero() {
		t.Errorf("delivered: %v", d.FieldsData())
	}
	// the same token again: a replay
	wantCode(t, post(mailgunBody(mailgunTestSigning, "tok-1", now, ev("complained", h.d1.Id, "", nil))), http.StatusForbidden, "webhook_signature_invalid")
	if h.status(t, h.d1).GetString("status") != "delivered" || h.suppressed(t, "email", "ann@example.org") != "" {
		t.Error("a replayed token changed something")
	}
	// opened (first time kept)
	post(mailgunBody(mailgunTestSigning, "tok-2", now, ev("opened", h.d1.Id, "", nil)))
	if h.status(t, h.d1).GetDateTime("opened_at").IsZero() {
		t.Error("opened_at not set")
	}
	// a temporary failure: nothing; a permanent one by message id: bounced and suppressed
	post(mailgunBody(mailgunTestSigning, "tok-3", now, ev("failed", "", "<20261201.b2@mg.example.com>", map[string]any{"severity": "temporary"})))
	if h.status(t, h.d2).GetString("status") != "sent" {
		t.Error("a temporary failure changed the delivery")
	}
	res := post(mailgunBody(mailgunTestSigning, "tok-4", now, ev("failed", "", "<20261201.b2@mg.example.com>", map[string]any{"severity": "permanent",
		"reason": "bounce", "delivery-status": map[string]any{"code": 550, "description": "No such user"}})))
	if res.Status != 200 {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	if d := h.status(t, h.d2); d.GetString("status") != "bounced" || !strings.Contains(d.GetString("error"), "No such user") {
		t.Errorf("bounced: %v", d.FieldsData())
	}
	if h.suppressed(t, "email", "bob@example.org") != "hard_bounce" {
		t.Error("no bounce suppression")
	}
	// complained: suppressed
	post(mailgunBody(mailgunTestSigning, "tok-5", now, ev("complained", h.d1.Id, "", nil)))
	if h.status(t, h.d1).GetString("status") != "complained" || h.suppressed(t, "email", "ann@example.org") != "complaint" {
		t.Error("complaint not recorded")
	}

	// another workspace's URL with W's delivery: no such delivery there (and no key: 403)
	wantCode(t, env.Do("POST", "/api/crm/webhooks/mailgun/"+h.f.other.Id, "", mailgunBody(mailgunTestSigning, "tok-6", now, ev("delivered", h.d2.Id, "", nil))),
		http.StatusForbidden, "webhook_signature_invalid")
	wantCode(t, env.Do("POST", "/api/crm/webhooks/mailgun/nosuchworkspace1", "", mailgunBody(mailgunTestSigning, "tok-7", now, ev("delivered", h.d2.Id, "", nil))),
		http.StatusNotFound, "webhook_workspace_not_found")
	wantCode(t, env.Do("POST", path, "", map[string]any{"hello": "world"}), http.StatusBadRequest, "webhook_malformed")
	wantCode(t, env.Do("POST", path, "", "not an object"), http.StatusBadRequest, "webhook_malformed")
	if h.status(t, h.d2).GetString("status") != "bounced" {
		t.Error("changed by a refused call")
	}
}

// twilioSign is X-Twilio-Signature as Twilio's security page describes it:
// the URL, then each POST parameter name and value sorted by name,
// HMAC-SHA1 with the auth token, base64 (written here, checked by the SDK's
// RequestValidator on the server).
func twilioSign(token, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := fullURL
	for _, k := range keys {
		s += k + form.Get(k)
	}
	m := hmac.New(sha1.New, []byte(token))
	m.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Twilio's webhook: status callbacks, STOP then START, HELP, an inbound
// text on the contact's timeline; a forged signature 403 and nothing.
func TestTwilioWebhook(t *testing.T) {
	h := newHookFix(t)
	env := h.f.env
	path := "/api/crm/webhooks/twilio/" + h.f.ws.Id
	post := func(form url.Values, sig string) (int, string) {
		req, _ := http.NewRequest("POST", env.Server.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if sig != "" {
			req.Header.Set("X-Twilio-Signature", sig)
		}
		res, err := env.Server.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		h.responses = append(h.responses, string(b))
		return res.StatusCode, string(b)
	}
	signed := func(form url.Values) (int, string) {
		return post(form, twilioSign(twilioTestToken, h.appURL+path, form))
	}
	inbound := func(body string) url.Values {
		return url.Values{"AccountSid": {"AC" + hex32}, "MessageSid": {"SM" + strings.Repeat("f", 32)}, "From": {"+14155550123"},
			"To": {"+15017122661"}, "Body": {body}, "SmsStatus": {"received"}}
	}

	// forged: signed with another token, or not signed; nothing changes
	if st, _ := post(inbound("STOP"), twilioSign("wrongtoken", h.appURL+path, inbound("STOP"))); st != 403 {
		t.Fatalf("forged: %d", st)
	}
	if st, _ := post(inbound("STOP"), ""); st != 403 {
		t.Fatalf("unsigned: %d", st)
	}
	// signed for another URL (the signature covers the URL)
	if st, _ := post(inbound("STOP"), twilioSign(twilioTestToken, h.appURL+"/api/crm/webhooks/twilio/"+h.f.other.Id, inbound("STOP"))); st != 403 {
		t.Fatalf("other URL: %d", st)
	}
	if h.suppressed(t, "sms", "+14155550123") != "" {
		t.Fatal("a forged STOP suppressed the number")
	}

	// a status callback: delivered
	st, body := signed(url.Values{"AccountSid": {"AC" + hex32}, "MessageSid": {"SM" + hex32}, "MessageStatus": {"delivered"}, "To": {"+14155550123"}})
	if st != 200 || !strings.Contains(body, "<Response>") {
		t.Fatalf("%d %s", st, body)
	}
	if h.status(t, h.sms1).GetString("status") != "delivered" {
		t.Errorf("status callback: %v", h.status(t, h.sms1).FieldsData())
	}
	// STOP then START
	if st, _ := signed(inbound(" stop ")); st != 200 || h.suppressed(t, "sms", "+14155550123") != "sms_stop" {
		t.Fatalf("STOP: %d %q", st, h.suppressed(t, "sms", "+14155550123"))
	}
	if st, _ := signed(inbound("START")); st != 200 || h.suppressed(t, "sms", "+14155550123") != "" {
		t.Fatalf("START: %d", st)
	}
	// START never lifts a person's manual suppression
	env.Create("suppressions", map[string]any{"workspace": h.f.ws.Id, "channel": "sms", "address": "+14155550123", "reason": "manual"})
	signed(inbound("UNSTOP"))
	if h.suppressed(t, "sms", "+14155550123") != "manual" {
		t.Error("START lifted a manual suppression")
	}
	// HELP: logged only; any other text: the contact's timeline
	before, _ := env.App.CountRecords("communication_logs", dbx.HashExp{"contact": h.contact.Id, "direction": "inbound"})
	signed(inbound("HELP"))
	signed(inbound("Do you open on Sunday?"))
	logs, err := env.App.FindAllRecords("communication_logs", dbx.HashExp{"contact": h.contact.Id, "direction": "inbound"})
	if err != nil || int64(len(logs)) != before+1 || logs[len(logs)-1].GetString("content") != "Do you open on Sunday?" || logs[0].GetString("type") != "sms" {
		t.Errorf("inbound entries %d (before %d) %v", len(logs), before, err)
	}
	// malformed (signed, but neither a status nor a message) 400; unknown workspace 404
	if st, _ := signed(url.Values{"AccountSid": {"AC" + hex32}}); st != 400 {
		t.Errorf("malformed: %d", st)
	}
	req, _ := http.NewRequest("POST", env.Server.URL+"/api/crm/webhooks/twilio/nosuchworkspace1", strings.NewReader("Body=STOP&From=%2B1"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", "x")
	if res, err := env.Server.Client().Do(req); err != nil || res.StatusCode != 404 {
		t.Errorf("unknown workspace: %v %v", res, err)
	}

	// no secret in any answer
	for _, b := range h.responses {
		if strings.Contains(b, twilioTestToken) || strings.Contains(b, mailgunTestSigning) {
			t.Errorf("an answer holds a secret: %s", b)
		}
	}
}
