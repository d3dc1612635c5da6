package providers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/providers"
	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/senders/smtp/smtptest"
	"github.com/pi-crm/pi-crm/services/settings"
	"github.com/pocketbase/pocketbase/core"
)

// input is a PUT body as the route decodes it.
func input(kv map[string]any) providers.Input {
	in := providers.Input{}
	for k, v := range kv {
		raw, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		in[k] = raw
	}
	return in
}

func TestValidate(t *testing.T) {
	s, secrets, err := providers.Validate("smtp", input(map[string]any{"from": "Shop <news@shop.example>", "host": "smtp.shop.example", "tls": "tls", "username": "u", "password": "p w ", "rate_per_second": 2.5, "daily_limit": 500}))
	if err != nil {
		t.Fatal(err)
	}
	if s["port"] != 465 || s["concurrency"] != providers.DefaultSMTPConcurrent || secrets["password"] != "p w " || s["rate_per_second"] != 2.5 {
		t.Errorf("%+v %v", s, secrets)
	}
	if s, _, err := providers.Validate("outbox", input(map[string]any{})); err != nil || s["from"] != "" {
		t.Errorf("outbox without settings: %v", err)
	}
	for _, tc := range []struct {
		name  string
		in    providers.Input
		field string
	}{
		{"smtp", input(map[string]any{"host": "h"}), "from"},
		{"smtp", input(map[string]any{"from": "a@b.example"}), "host"},
		{"smtp", input(map[string]any{"from": "a@b.example", "host": "smtp://h"}), "host"},
		{"smtp", input(map[string]any{"from": "a@b.example", "host": "h:25"}), "host"},
		{"smtp", input(map[string]any{"from": "nope", "host": "h"}), "from"},
		{"smtp", input(map[string]any{"from": "a@b.example", "host": "h", "tls": "ssl"}), "tls"},
		{"smtp", input(map[string]any{"from": "a@b.example", "host": "h", "port": 70000}), "port"},
		{"smtp", input(map[string]any{"from": "a@b.example", "host": "h", "password": "a\nb"}), "password"},
		{"smtp", input(map[string]any{"from": "a@b.example", "host": "h", "reply_to": "x"}), "reply_to"},
		{"smtp", input(map[string]any{"from": "a@b.example", "host": "h", "concurrency": 0}), "concurrency"},
		{"outbox", input(map[string]any{"rate_per_second": -1.0}), "rate_per_second"},
		{"outbox", input(map[string]any{"daily_limit": -1}), "daily_limit"},
		{"outbox", input(map[string]any{"host": "h"}), "host"},
	} {
		_, _, err := providers.Validate(tc.name, tc.in)
		var e *apperr.Error
		if !errorsAs(err, &e) || e.Code != providers.CodeSettingsInvalid || e.Status != http.StatusBadRequest {
			t.Errorf("%s %+v: %v", tc.name, tc.in, err)
			continue
		}
		if f, _ := e.Details["fields"].(map[string]string); f[tc.field] == "" {
			t.Errorf("%s: fields %v, want %s", tc.name, e.Details["fields"], tc.field)
		}
	}
	_, _, err = providers.Validate("fax", input(map[string]any{}))
	var e *apperr.Error
	if !errorsAs(err, &e) || e.Code != providers.CodeUnknown {
		t.Errorf("unknown: %v", err)
	}
}

func errorsAs(err error, target **apperr.Error) bool {
	e, ok := err.(*apperr.Error)
	if ok {
		*target = e
	}
	return ok
}

// Open: the outbox needs no settings and stays a TxSender (with the from
// address filled in); smtp is not configured until it has host and from,
// then sends over STARTTLS with the test's CA; Default reads
// providers.default.
func TestOpenAndDefault(t *testing.T) {
	env := testutil.New(t)
	owner, _ := env.User("owner@example.com")
	ws := env.Workspace("W", owner, nil)
	app := env.App

	s, lim, err := providers.Open(app, ws.Id, "outbox")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(senders.TxSender); !ok || s.Name() != "outbox" || lim.Concurrency != 1 {
		t.Errorf("outbox: %T %+v", s, lim)
	}
	if _, _, err := providers.Open(app, ws.Id, "fax"); err == nil || !strings.Contains(err.Error(), providers.CodeUnknown) {
		t.Errorf("unknown: %v", err)
	}
	if _, _, err := providers.Open(app, ws.Id, "smtp"); err == nil || !strings.Contains(err.Error(), providers.CodeNotConfigured) {
		t.Errorf("smtp unconfigured: %v", err)
	}

	srv := smtptest.Start(t, smtptest.Options{TLS: "starttls", Username: "u", Password: "pw"})
	store := settings.New(app)
	st, secrets, err := providers.Validate("smtp", input(map[string]any{"from": "Shop <news@shop.example>", "host": srv.Host, "port": srv.Port, "tls": "starttls", "username": "u", "password": "pw", "rate_per_second": 5.0, "daily_limit": 100, "concurrency": 2}))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Put(ws.Id, "smtp", st, secrets, audit.Actor{}); err != nil {
		t.Fatal(err)
	}
	// the system's roots do not trust the test server
	s, _, err = providers.Open(app, ws.Id, "smtp")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(context.Background(), senders.Message{To: "a@example.org", Subject: "x", Text: "y"}); err == nil {
		t.Error("sent to an untrusted server")
	}
	s.Close()
	s, lim, err = providers.OpenWith(app, ws.Id, "smtp", providers.Options{TLSConfig: srv.ClientTLS()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if lim != (senders.Limits{RatePerSecond: 5, DailyLimit: 100, Concurrency: 2}) {
		t.Errorf("limits %+v", lim)
	}
	if _, err := s.Send(context.Background(), senders.Message{To: "a@example.org", Subject: "x", Text: "y"}); err != nil {
		t.Fatal(err)
	}
	if m := srv.Messages(); len(m) != 1 || m[0].From != "news@shop.example" || m[0].User != "u" {
		t.Errorf("%+v", m)
	}

	if d := providers.Default(app, ws.Id); d != "outbox" {
		t.Errorf("default %q", d)
	}
	col, err := app.FindCachedCollectionByNameOrId("system_settings")
	if err != nil {
		t.Fatal(err)
	}
	rec := core.NewRecord(col)
	rec.Set("scope", "workspace")
	rec.Set("scope_id", ws.Id)
	rec.Set("setting_key", providers.DefaultSettingKey)
	rec.Set("setting_value", `"smtp"`)
	if err := app.Save(rec); err != nil {
		t.Fatal(err)
	}
	if d := providers.Default(app, ws.Id); d != "smtp" {
		t.Errorf("default %q", d)
	}
	rec.Set("setting_value", `"carrier-pigeon"`)
	if err := app.Save(rec); err != nil {
		t.Fatal(err)
	}
	if d := providers.Default(app, ws.Id); d != "outbox" {
		t.Errorf("default of an unknown name %q", d)
	}
}

// Twilio's daily limit counts segments: its limits say so, and the opened
// (guarded) sender still tells the engine what a message counts.
func TestTwilioDailyLimitInSegments(t *testing.T) {
	env := testutil.New(t)
	owner, _ := env.User("o@example.com")
	ws := env.Workspace("W", owner, nil)
	st, secrets, err := providers.Validate("twilio", input(map[string]any{"account_sid": "AC0123456789abcdef0123456789abcdef",
		"auth_token": "tok", "from_number": "+15017122661", "daily_limit": 500}))
	if err != nil {
		t.Fatal(err)
	}
	if err := settings.New(env.App).Put(ws.Id, "twilio", st, secrets, audit.Actor{}); err != nil {
		t.Fatal(err)
	}
	s, lim, err := providers.Open(env.App, ws.Id, "twilio")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if lim.DailyLimit != 500 || lim.DailyUnits != "segments" || lim.DailyUnitName() != "segments" {
		t.Errorf("limits %+v", lim)
	}
	u, ok := s.(senders.UnitCounter)
	if !ok || u.UnitsOf(senders.Message{Channel: "sms", Text: strings.Repeat("a", 161)}) != 2 {
		t.Errorf("%T is not a unit counter of segments", s)
	}
	if _, ok := s.(senders.Looker); !ok {
		t.Errorf("%T lost its look-up", s)
	}
}

// Twilio sends with the auth token or with an API key (both halves); the
// key's secret is a write-only secret like the token.
func TestTwilioAPIKeyCredentials(t *testing.T) {
	p := providers.Get("twilio")
	base := map[string]any{"account_sid": "AC0123456789abcdef0123456789abcdef", "from_number": "+15017122661"}
	with := func(extra map[string]any, secrets map[string]string) providers.Config {
		plain := map[string]any{}
		for k, v := range base {
			plain[k] = v
		}
		for k, v := range extra {
			plain[k] = v
		}
		return providers.Config{Plain: plain, Secrets: secrets}
	}
	key := map[string]any{"api_key_sid": "SK0123456789abcdef0123456789abcdef"}
	for _, tc := range []struct {
		c       providers.Config
		missing bool
	}{
		{with(nil, map[string]string{"auth_token": "tok"}), false},
		{with(key, map[string]string{"api_key_secret": "s"}), false},
		{with(key, nil), true},
		{with(nil, map[string]string{"api_key_secret": "s"}), true},
	} {
		if got := p.Missing(tc.c) != ""; got != tc.missing {
			t.Errorf("%+v: missing %q", tc.c, p.Missing(tc.c))
		}
	}
	var secret bool
	for _, f := range p.Fields {
		if f.Name == "api_key_secret" {
			secret = f.Secret()
		}
	}
	if !secret {
		t.Error("api_key_secret is not a secret field")
	}
}
