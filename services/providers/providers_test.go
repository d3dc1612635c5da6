package providers_test

import (
	"context"
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

func ptr[T any](v T) *T { return &v }

func TestValidate(t *testing.T) {
	s, secrets, err := providers.Validate("smtp", providers.Input{From: ptr("Shop <news@shop.example>"), Host: ptr("smtp.shop.example"),
		TLS: ptr("tls"), Username: ptr("u"), Password: ptr("p w "), RatePerSecond: ptr(2.5), DailyLimit: ptr(500)})
	if err != nil {
		t.Fatal(err)
	}
	if s.Port != 465 || s.Concurrency != providers.DefaultSMTPConcurrent || secrets["password"] != "p w " || s.RatePerSecond != 2.5 {
		t.Errorf("%+v %v", s, secrets)
	}
	if s, _, err := providers.Validate("outbox", providers.Input{}); err != nil || s.From != "" {
		t.Errorf("outbox without settings: %v", err)
	}
	for _, tc := range []struct {
		name  string
		in    providers.Input
		field string
	}{
		{"smtp", providers.Input{Host: ptr("h")}, "from"},
		{"smtp", providers.Input{From: ptr("a@b.example")}, "host"},
		{"smtp", providers.Input{From: ptr("a@b.example"), Host: ptr("smtp://h")}, "host"},
		{"smtp", providers.Input{From: ptr("a@b.example"), Host: ptr("h:25")}, "host"},
		{"smtp", providers.Input{From: ptr("nope"), Host: ptr("h")}, "from"},
		{"smtp", providers.Input{From: ptr("a@b.example"), Host: ptr("h"), TLS: ptr("ssl")}, "tls"},
		{"smtp", providers.Input{From: ptr("a@b.example"), Host: ptr("h"), Port: ptr(70000)}, "port"},
		{"smtp", providers.Input{From: ptr("a@b.example"), Host: ptr("h"), Password: ptr("a\nb")}, "password"},
		{"smtp", providers.Input{From: ptr("a@b.example"), Host: ptr("h"), ReplyTo: ptr("x")}, "reply_to"},
		{"smtp", providers.Input{From: ptr("a@b.example"), Host: ptr("h"), Concurrency: ptr(0)}, "concurrency"},
		{"outbox", providers.Input{RatePerSecond: ptr(-1.0)}, "rate_per_second"},
		{"outbox", providers.Input{DailyLimit: ptr(-1)}, "daily_limit"},
		{"outbox", providers.Input{Host: ptr("h")}, "host"},
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
	_, _, err = providers.Validate("mailgun", providers.Input{})
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
	st, secrets, err := providers.Validate("smtp", providers.Input{From: ptr("Shop <news@shop.example>"), Host: ptr(srv.Host), Port: ptr(srv.Port),
		TLS: ptr("starttls"), Username: ptr("u"), Password: ptr("pw"), RatePerSecond: ptr(5.0), DailyLimit: ptr(100), Concurrency: ptr(2)})
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
