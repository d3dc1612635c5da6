package hooks_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/pi-crm/pi-crm/internal/providerfake/gmailfake"
)

// A provider's test says whether its credentials can settle unknown rows:
// "lookup" is no_read_permission (with the permission to grant) when the
// Gmail service account may only send or the Graph app has no
// Mail.ReadBasic.All (the fake answers the Sent Items list 403), ok once
// they may read, unsupported for a provider without look-ups (the outbox).
func TestProviderTestReportsLookup(t *testing.T) {
	w := newProviderWorld(t)
	test := func(name, to string) map[string]any {
		t.Helper()
		return mustStatus(t, w.env.Do(http.MethodPost, "/api/crm/workspaces/"+w.w.Id+"/providers/"+name+"/test", w.adminTok,
			map[string]any{"to": to}), 200, "")
	}
	check := func(what string, got map[string]any, lookup, detail string) {
		t.Helper()
		d, _ := got["lookup_detail"].(string)
		if got["lookup"] != lookup || (detail == "" && d != "") || !strings.Contains(d, detail) {
			t.Errorf("%s: %v", what, got)
		}
	}

	w.configure(t, "gmail", map[string]any{"service_account_json": w.gmail.ServiceAccountJSON(), "delegated_user": "anna@shop.example",
		"base_url": w.gmail.Srv.URL})
	w.gmail.Grant(gmailfake.ScopeSend)
	check("gmail, gmail.send only", test("gmail", "me@example.org"), "no_read_permission", "gmail.readonly")
	w.gmail.Grant(gmailfake.ScopeSend, gmailfake.ScopeReadonly)
	check("gmail with gmail.readonly", test("gmail", "me@example.org"), "ok", "")
	if n := len(w.gmail.Sent()); n != 2 {
		t.Errorf("gmail: %d test messages", n)
	}

	w.configure(t, "microsoft365", map[string]any{"tenant_id": w.graph.Tenant, "client_id": w.graph.ClientID,
		"client_secret": w.graph.Secret, "sender": w.graph.Mailbox, "base_url": w.graph.Srv.URL})
	w.graph.SetCanRead(false)
	check("graph without Mail.ReadBasic.All", test("microsoft365", "me@example.org"), "no_read_permission", "Mail.ReadBasic")
	w.graph.SetCanRead(true)
	check("graph with Mail.ReadBasic.All", test("microsoft365", "me@example.org"), "ok", "")

	check("outbox", test("outbox", "me@example.org"), "unsupported", "cannot look a delivery up")

	// the audit entry of each test says it too
	var n int
	if err := w.env.App.DB().NewQuery(`SELECT count(*) FROM audit_logs WHERE action = 'provider.test' AND json_extract(details, '$.lookup') = 'no_read_permission'`).
		Row(&n); err != nil || n != 2 {
		t.Errorf("audit entries with no_read_permission: %d %v", n, err)
	}
}
