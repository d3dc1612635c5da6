package hooks_test

import (
	"net/http"
	"testing"
)

func init() {
	auditedRoutes["PUT /api/crm/workspaces/{id}/providers/default"] = "TestProviderListAndDefault"
}

const (
	mailgunTestKey     = "key-mg-DO-NOT-LEAK-5a1f0c"
	mailgunTestSigning = "sign-mg-DO-NOT-LEAK-77d2"
	twilioTestToken    = "twtokenDONOTLEAK9e4b21"
)

// The list of providers (each view with its schema: fields, hints, default
// limits), the default provider, the new providers' fields and their
// secrets write-only, by role and workspace.
func TestProviderListAndDefault(t *testing.T) {
	f := newAIFixture(t)
	base := "/api/crm/workspaces/" + f.ws.Id + "/providers"

	res := f.do(t, "GET", base, f.admin, nil)
	if res.Status != 200 || res.JSON()["default"] != "outbox" {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	items, _ := res.JSON()["items"].([]any)
	names := []string{}
	limits := map[string]map[string]any{}
	for _, it := range items {
		v := it.(map[string]any)
		names = append(names, v["name"].(string))
		schema := v["schema"].(map[string]any)
		limits[v["name"].(string)] = schema["default_limits"].(map[string]any)
		for _, fl := range schema["fields"].([]any) {
			if fl.(map[string]any)["hint"] == "" {
				t.Errorf("%s: field %v has no hint", v["name"], fl)
			}
		}
	}
	if want := "[outbox smtp mailgun gmail microsoft365 twilio]"; sprint(names) != want {
		t.Errorf("providers %v, want %s", names, want)
	}
	// the providers' published limits are the defaults the form shows
	if limits["gmail"]["daily_limit"] != float64(2000) || limits["gmail"]["rate_per_second"] != 2.5 ||
		limits["microsoft365"]["daily_limit"] != float64(10000) || limits["microsoft365"]["rate_per_second"] != 0.5 ||
		limits["twilio"]["rate_per_second"] != float64(1) || limits["mailgun"]["rate_per_second"] != float64(0) {
		t.Errorf("default limits %v", limits)
	}

	// mailgun: required fields, region, secrets write-only
	wantCode(t, f.do(t, "PUT", base+"/mailgun", f.admin, map[string]any{"from": "news@mg.example.com"}), http.StatusBadRequest, "provider_settings_invalid")
	d := wantCode(t, f.do(t, "PUT", base+"/mailgun", f.admin, map[string]any{"from": "news@mg.example.com", "domain": "mg.example.com",
		"region": "asia", "base_url": "ftp://x"}), http.StatusBadRequest, "provider_settings_invalid")
	if fl := d["fields"].(map[string]any); fl["region"] == nil || fl["base_url"] == nil {
		t.Errorf("fields %v", d)
	}
	res = f.do(t, "PUT", base+"/mailgun", f.admin, map[string]any{"from": "news@mg.example.com", "domain": "mg.example.com",
		"region": "eu", "api_key": mailgunTestKey, "webhook_signing_key": mailgunTestSigning})
	got := res.JSON()
	if res.Status != 200 || got["has_api_key"] != true || got["has_webhook_signing_key"] != true || got["configured"] != true ||
		got["region"] != "eu" || got["api_key"] != nil || got["rate_per_second"] != float64(0) {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	// twilio: from_number or messaging_service_sid, the default segment rate
	d = wantCode(t, f.do(t, "PUT", base+"/twilio", f.admin, map[string]any{"account_sid": "AC" + hex32, "auth_token": twilioTestToken}),
		http.StatusBadRequest, "provider_settings_invalid")
	if d["fields"].(map[string]any)["from_number"] == nil {
		t.Errorf("%v", d)
	}
	wantCode(t, f.do(t, "PUT", base+"/twilio", f.admin, map[string]any{"account_sid": "AC12", "from_number": "+15017122661"}),
		http.StatusBadRequest, "provider_settings_invalid")
	res = f.do(t, "PUT", base+"/twilio", f.admin, map[string]any{"account_sid": "AC" + hex32, "auth_token": twilioTestToken, "from_number": "+15017122661"})
	if got := res.JSON(); res.Status != 200 || got["has_auth_token"] != true || got["rate_per_second"] != float64(1) || got["channel"] != "sms" {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	// microsoft365: its defaults; a test through a Graph that is not there fails as a test, not a 500
	res = f.do(t, "PUT", base+"/microsoft365", f.admin, map[string]any{"tenant_id": "contoso.onmicrosoft.com",
		"client_id": "00000000-0000-0000-0000-000000000001", "client_secret": "m365-secret", "sender": "news@contoso.example",
		"base_url": "https://localhost:1"})
	if got := res.JSON(); res.Status != 200 || got["save_to_sent_items"] != true || got["has_client_secret"] != true || got["daily_limit"] != float64(10000) {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	wantCode(t, f.do(t, "POST", base+"/microsoft365/test", f.admin, map[string]any{"to": "me@example.org"}), http.StatusBadGateway, "provider_test_failed")
	wantCode(t, f.do(t, "POST", base+"/twilio/test", f.admin, map[string]any{"to": "me@example.org"}), http.StatusBadRequest, "provider_test_invalid")

	// the default: a configured provider, audited; an unconfigured one refused
	wantCode(t, f.do(t, "PUT", base+"/default", f.admin, map[string]any{"name": "gmail"}), http.StatusBadRequest, "provider_not_configured")
	wantCode(t, f.do(t, "PUT", base+"/default", f.admin, map[string]any{"name": "fax"}), http.StatusBadRequest, "provider_unknown")
	wantCode(t, f.do(t, "PUT", base+"/default", f.admin, map[string]any{}), http.StatusBadRequest, "provider_default_invalid")
	if res := f.do(t, "PUT", base+"/default", f.owner, map[string]any{"name": "mailgun"}); res.Status != 200 || res.JSON()["default"] != "mailgun" {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	if res := f.do(t, "GET", base+"/mailgun", f.admin, nil); res.JSON()["default"] != true {
		t.Errorf("%s", res.Body)
	}
	if n, err := f.env.App.CountRecords("audit_logs"); err != nil || n == 0 {
		t.Errorf("audit %d %v", n, err)
	}
	entries, err := f.env.App.FindRecordsByFilter("audit_logs", "entity_type = 'system_settings' && user = {:u}", "", 0, 0, map[string]any{"u": f.ownerID})
	if err != nil || len(entries) != 1 {
		t.Errorf("the default's audit entry: %d %v", len(entries), err)
	}

	// who may: owners and admins; editors and viewers 403; outsiders and another workspace 404
	for _, tok := range []string{f.editor, f.viewer} {
		wantCode(t, f.do(t, "GET", base, tok, nil), http.StatusForbidden, "provider_settings_forbidden")
		wantCode(t, f.do(t, "PUT", base+"/default", tok, map[string]any{"name": "outbox"}), http.StatusForbidden, "provider_settings_forbidden")
	}
	wantCode(t, f.do(t, "GET", base, f.outsider, nil), http.StatusNotFound, "workspace_not_found")
	wantCode(t, f.do(t, "PUT", base+"/default", f.outsider, map[string]any{"name": "outbox"}), http.StatusNotFound, "workspace_not_found")
	wantCode(t, f.do(t, "GET", "/api/crm/workspaces/"+f.other.Id+"/providers", f.owner, nil), http.StatusNotFound, "workspace_not_found")
	if res := f.do(t, "GET", base+"/mailgun", f.admin, nil); res.JSON()["default"] != true {
		t.Errorf("a refused caller changed the default: %s", res.Body)
	}

	for secret, what := range map[string]string{mailgunTestKey: "api_key", mailgunTestSigning: "webhook_signing_key", twilioTestToken: "auth_token", "m365-secret": "client_secret"} {
		assertSecretNowhere(t, f.env.App, secret, what, f.bodies, "audit_logs", "system_settings")
	}
}

const hex32 = "0123456789abcdef0123456789abcdef"

func sprint(v []string) string {
	out := "["
	for i, s := range v {
		if i > 0 {
			out += " "
		}
		out += s
	}
	return out + "]"
}
