package hooks_test

import (
	"bytes"
	"net/http"
	"net/mail"
	"strings"
	"testing"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/senders/smtp/smtptest"
	"github.com/pocketbase/dbx"
)

// The provider routes' audit: a PUT is the system_settings record's entry,
// a test message its provider.test entry (TestProviderSettings).
func init() {
	auditedRoutes["PUT /api/crm/workspaces/{id}/providers/{name}"] = "TestProviderSettings"
	auditedRoutes["POST /api/crm/workspaces/{id}/providers/{name}/test"] = "TestProviderSettings"
}

const smtpTestPassword = "smtp-pw-DO-NOT-LEAK-71c3"

// Outbox and SMTP settings: round trip, the password write-only (kept when
// omitted, removed with ""), field errors, roles, another workspace, the
// test message through the in-process SMTP server and into the outbox, and
// the AI route beside {name}; the password in no answer, row, audit entry
// or log line.
func TestProviderSettings(t *testing.T) {
	f := newAIFixture(t)
	srv := smtptest.Start(t, smtptest.Options{TLS: "none", Username: "mailer", Password: smtpTestPassword})
	base := "/api/crm/workspaces/" + f.ws.Id + "/providers/"
	var bodies []string
	do := func(method, path, tok string, body any) testutil.Response {
		t.Helper()
		res := f.env.Do(method, path, tok, body)
		bodies = append(bodies, string(res.Body))
		return res
	}

	// nothing stored: outbox is configured and the default, smtp is not
	res := do("GET", base+"outbox", f.admin, nil)
	if got := res.JSON(); res.Status != 200 || got["configured"] != true || got["default"] != true || got["name"] != "outbox" || got["host"] != nil {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	res = do("GET", base+"smtp", f.admin, nil)
	if got := res.JSON(); res.Status != 200 || got["configured"] != false || got["has_password"] != false || got["tls"] != "starttls" || got["port"] != float64(587) {
		t.Fatalf("%d %s", res.Status, res.Body)
	}

	smtpBody := map[string]any{"from": "Shop <news@shop.example>", "host": srv.Host, "port": srv.Port, "tls": "none",
		"username": "mailer", "password": smtpTestPassword, "reply_to": "help@shop.example", "rate_per_second": 3, "daily_limit": 1000}
	res = do("PUT", base+"smtp", f.owner, smtpBody)
	got := res.JSON()
	if res.Status != 200 || got["has_password"] != true || got["configured"] != true || got["host"] != srv.Host || got["port"] != float64(srv.Port) ||
		got["rate_per_second"] != float64(3) || got["daily_limit"] != float64(1000) || got["reply_to"] != "help@shop.example" || got["username"] != "mailer" {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	if _, ok := got["password"]; ok {
		t.Fatal("PUT answers the password")
	}
	setting, err := f.env.App.FindFirstRecordByFilter("system_settings", "scope_id = {:ws} && setting_key = 'provider.smtp'", dbx.Params{"ws": f.ws.Id})
	if err != nil {
		t.Fatal(err)
	}
	if e, err := f.env.App.FindFirstRecordByFilter("audit_logs", "entity_type = 'system_settings' && entity_id = {:id} && user = {:u}",
		dbx.Params{"id": setting.Id, "u": f.ownerID}); err != nil || e.GetString("workspace") != f.ws.Id {
		t.Fatalf("settings audit entry: %v", err)
	}
	// password omitted: kept
	delete(smtpBody, "password")
	smtpBody["daily_limit"] = 2000
	if res := do("PUT", base+"smtp", f.admin, smtpBody); res.JSON()["has_password"] != true || res.JSON()["daily_limit"] != float64(2000) {
		t.Fatalf("%s", res.Body)
	}
	if res := do("GET", base+"smtp", f.admin, nil); res.JSON()["has_password"] != true || res.JSON()["from"] != "Shop <news@shop.example>" {
		t.Fatalf("%s", res.Body)
	}

	// the test message reaches the SMTP server with the stored login
	res = do("POST", base+"smtp/test", f.admin, map[string]any{"to": "me@example.org"})
	if res.Status != 200 || res.JSON()["message_id"] == "" {
		t.Fatalf("test: %d %s", res.Status, res.Body)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || msgs[0].User != "mailer" || msgs[0].To[0] != "me@example.org" || msgs[0].From != "news@shop.example" {
		t.Fatalf("received %+v", msgs)
	}
	m, err := mail.ReadMessage(bytes.NewReader(msgs[0].Data))
	if err != nil || !strings.Contains(m.Header.Get("Subject"), "test message") || m.Header.Get("Reply-To") != "<help@shop.example>" {
		t.Fatalf("%v %v", err, m.Header)
	}
	if e, err := f.env.App.FindFirstRecordByFilter("audit_logs", "action = 'provider.test' && workspace = {:ws} && user = {:u}",
		dbx.Params{"ws": f.ws.Id, "u": f.adminID(t)}); err != nil || !strings.Contains(e.GetString("details"), "me@example.org") {
		t.Fatalf("test audit entry: %v", err)
	}
	// a refused recipient: 502 provider_test_failed naming the server's answer
	srv.Answer("nobody@example.org", 550, "no such user")
	d := wantCode(t, do("POST", base+"smtp/test", f.admin, map[string]any{"to": "nobody@example.org"}), http.StatusBadGateway, "provider_test_failed")
	if !strings.Contains(d["error"].(string), "550") || d["permanent"] != true {
		t.Errorf("%v", d)
	}
	wantCode(t, do("POST", base+"smtp/test", f.admin, map[string]any{"to": "not an address"}), http.StatusBadRequest, "provider_test_invalid")

	// the outbox: settings and a test message stored as a test row
	if res := do("PUT", base+"outbox", f.admin, map[string]any{"from": "news@shop.example", "rate_per_second": 50}); res.Status != 200 || res.JSON()["rate_per_second"] != float64(50) {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	if res := do("POST", base+"outbox/test", f.admin, map[string]any{"to": "me@example.org"}); res.Status != 200 {
		t.Fatalf("outbox test: %d %s", res.Status, res.Body)
	}
	rows, err := f.env.App.FindAllRecords("outbox_messages", dbx.HashExp{"workspace": f.ws.Id})
	if err != nil || len(rows) != 1 || !rows[0].GetBool("test") || rows[0].GetString("to") != "me@example.org" ||
		!strings.Contains(rows[0].GetString("headers"), "news@shop.example") {
		t.Fatalf("outbox rows %v %v", err, rows)
	}

	// password "": removed, and smtp is then not usable with a username
	smtpBody["password"] = ""
	if res := do("PUT", base+"smtp", f.admin, smtpBody); res.JSON()["has_password"] != false {
		t.Fatalf("%s", res.Body)
	}
	wantCode(t, do("POST", base+"smtp/test", f.admin, map[string]any{"to": "me@example.org"}), http.StatusBadRequest, "provider_not_configured")
	smtpBody["password"] = smtpTestPassword
	do("PUT", base+"smtp", f.admin, smtpBody)

	// validation: 400 with the field; nothing changes
	for _, tc := range []struct {
		name  string
		body  any
		field string
	}{
		{"smtp", map[string]any{"host": "h"}, "from"},
		{"smtp", map[string]any{"from": "a@b.example", "host": "smtp://h"}, "host"},
		{"smtp", map[string]any{"from": "a@b.example", "host": "h", "tls": "ssl"}, "tls"},
		{"smtp", map[string]any{"from": "a@b.example", "host": "h", "port": 0.5}, ""},
		{"smtp", map[string]any{"from": "a@b.example", "host": "h", "daily_limit": -1}, "daily_limit"},
		{"outbox", map[string]any{"host": "h"}, "host"},
		{"outbox", "nope", ""},
	} {
		d := wantCode(t, do("PUT", base+tc.name, f.owner, tc.body), http.StatusBadRequest, "provider_settings_invalid")
		if tc.field != "" {
			if fields, _ := d["fields"].(map[string]any); fields[tc.field] == nil {
				t.Errorf("%v: fields %v", tc.body, d)
			}
		}
	}
	if res := do("GET", base+"smtp", f.owner, nil); res.JSON()["host"] != srv.Host || res.JSON()["has_password"] != true {
		t.Errorf("after refused PUTs: %s", res.Body)
	}

	// unknown provider: 404 provider_unknown; the AI route still answers
	wantCode(t, do("GET", base+"fax", f.owner, nil), http.StatusNotFound, "provider_unknown")
	wantCode(t, do("PUT", base+"fax", f.owner, map[string]any{}), http.StatusNotFound, "provider_unknown")
	if res := do("GET", base+"ai", f.owner, nil); res.Status != 200 || res.JSON()["has_api_key"] == nil || res.JSON()["configured"] != false {
		t.Errorf("ai: %d %s", res.Status, res.Body)
	}

	// who may: owners and admins; editors and viewers 403, outsiders 404
	for _, tok := range []string{f.editor, f.viewer} {
		wantCode(t, do("GET", base+"smtp", tok, nil), http.StatusForbidden, "provider_settings_forbidden")
		wantCode(t, do("PUT", base+"smtp", tok, map[string]any{"from": "evil@x.example", "host": "evil"}), http.StatusForbidden, "provider_settings_forbidden")
		wantCode(t, do("POST", base+"smtp/test", tok, map[string]any{"to": "me@example.org"}), http.StatusForbidden, "provider_settings_forbidden")
	}
	wantCode(t, do("GET", base+"smtp", f.outsider, nil), http.StatusNotFound, "workspace_not_found")
	wantCode(t, do("PUT", base+"smtp", f.outsider, map[string]any{"from": "evil@x.example", "host": "evil"}), http.StatusNotFound, "workspace_not_found")
	wantCode(t, do("GET", "/api/crm/workspaces/"+f.other.Id+"/providers/smtp", f.owner, nil), http.StatusNotFound, "workspace_not_found")
	if len(srv.Messages()) != 1 {
		t.Errorf("%d messages: a refused caller sent one", len(srv.Messages()))
	}

	// the password: in no answer, no row in clear, no audit entry, no log line
	assertSecretNowhere(t, f.env.App, smtpTestPassword, "password", bodies, "audit_logs", "system_settings", "outbox_messages")
}

func (f *aiFixture) adminID(t *testing.T) string {
	t.Helper()
	u, err := f.env.App.FindAuthRecordByEmail("users", "admin@example.com")
	if err != nil {
		t.Fatal(err)
	}
	return u.Id
}
