package hooks_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/dbx"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pocketbase/pocketbase/core"
)

type keyFixture struct {
	env        *testutil.Env
	user       *core.Record
	token      string
	ws, other  *core.Record
	contactW   *core.Record
	contactO   *core.Record
	templateW  *core.Record
	clockShift time.Duration
}

func newKeyFixture(t *testing.T) *keyFixture {
	f := &keyFixture{}
	f.env = testutil.NewWithClock(t, func() time.Time { return time.Now().Add(f.clockShift) })
	f.user, f.token = f.env.User("andy@example.com")
	f.ws = f.env.Workspace("Main", f.user, nil)
	f.other = f.env.Workspace("Other", f.user, nil)
	f.contactW = f.env.Create("contacts", map[string]any{"workspace": f.ws.Id, "primary_email": "w@example.org"})
	f.contactO = f.env.Create("contacts", map[string]any{"workspace": f.other.Id, "primary_email": "o@example.org"})
	f.templateW = f.env.Create("templates", map[string]any{"workspace": f.ws.Id, "name": "T", "channel": "email"})
	return f
}

// key creates an API key through the route and returns the plain key.
func (f *keyFixture) key(t *testing.T, body map[string]any) string {
	t.Helper()
	res := f.env.Do("POST", "/api/crm/api-keys", f.token, body)
	if res.Status != http.StatusOK {
		t.Fatalf("create key: %d %s", res.Status, res.Body)
	}
	k, _ := res.JSON()["key"].(string)
	if !strings.HasPrefix(k, "pcrm_") {
		t.Fatalf("key %q lacks the prefix", k)
	}
	return k
}

func withKey(key string) map[string]string { return map[string]string{"X-Api-Key": key} }

func TestAPIKeyStoredAsHashOnly(t *testing.T) {
	f := newKeyFixture(t)
	res := f.env.Do("POST", "/api/crm/api-keys", f.token, map[string]any{"description": "zapier", "scopes": []string{"contacts:read"}})
	if res.Status != http.StatusOK {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	key, _ := res.JSON()["key"].(string)
	sum := sha256.Sum256([]byte(key))
	hash := hex.EncodeToString(sum[:])

	rec, err := f.env.App.FindFirstRecordByData("api_keys", "key_hash", hash)
	if err != nil {
		t.Fatal("the SHA-256 of the key is not what is stored")
	}
	if strings.Contains(string(res.Body), hash) {
		t.Error("the create response carries the hash")
	}
	for _, path := range []string{"/api/collections/api_keys/records", "/api/collections/api_keys/records/" + rec.Id} {
		r := f.env.Do("GET", path, f.token, nil)
		if r.Status != http.StatusOK || strings.Contains(string(r.Body), hash) || strings.Contains(string(r.Body), key) {
			t.Errorf("%s: %d, leaks hash or key: %s", path, r.Status, r.Body)
		}
		if !strings.Contains(string(r.Body), rec.GetString("key_prefix")) {
			t.Errorf("%s does not show the display prefix", path)
		}
	}
	// the audit entry of the creation redacts the hash too
	entries, _ := f.env.App.FindAllRecords("audit_logs")
	for _, e := range entries {
		if strings.Contains(e.GetString("details"), hash) || strings.Contains(e.GetString("details"), key) {
			t.Errorf("audit entry %s leaks the key", e.Id)
		}
	}
	// a hidden field cannot be written through the API either
	r := f.env.Do("PATCH", "/api/collections/api_keys/records/"+rec.Id, f.token, map[string]any{"key_hash": "x"})
	if fresh, _ := f.env.App.FindRecordById("api_keys", rec.Id); fresh.GetString("key_hash") != hash {
		t.Errorf("key_hash was writable (%d)", r.Status)
	}
}

func TestAPIKeyScopes(t *testing.T) {
	f := newKeyFixture(t)
	read := f.key(t, map[string]any{"scopes": []string{"contacts:read"}})
	write := f.key(t, map[string]any{"scopes": []string{"contacts:write"}})
	tpl := f.key(t, map[string]any{"scopes": []string{"templates:write"}})
	admin := f.key(t, map[string]any{"scopes": []string{"admin"}})

	type call struct {
		method, path string
		body         map[string]any
	}
	listContacts := call{"GET", "/api/collections/contacts/records", nil}
	n := 0
	createContact := func() call {
		n++
		return call{"POST", "/api/collections/contacts/records", map[string]any{"workspace": f.ws.Id, "primary_email": fmt.Sprintf("new%d@x.org", n)}}
	}
	listTemplates := call{"GET", "/api/collections/templates/records", nil}
	updateTemplate := call{"PATCH", "/api/collections/templates/records/" + f.templateW.Id, map[string]any{"subject": "Hi"}}
	listSettings := call{"GET", "/api/collections/system_settings/records", nil}
	listWorkspaces := call{"GET", "/api/collections/workspaces/records", nil}
	newKey := call{"POST", "/api/crm/api-keys", map[string]any{"scopes": []string{"contacts:read"}}}
	authRefresh := call{"POST", "/api/collections/users/auth-refresh", nil}

	cases := []struct {
		key  string
		name string
		c    call
		want int
	}{
		{read, "read lists contacts", listContacts, 200},
		{read, "read cannot create", createContact(), 403},
		{read, "read cannot see templates", listTemplates, 403},
		{read, "any key lists workspaces", listWorkspaces, 200},
		{read, "read cannot mint keys", newKey, 403},
		{read, "no session token for a key", authRefresh, 403},
		{write, "write implies read", listContacts, 200},
		{write, "write creates", createContact(), 200},
		{write, "write is not templates", updateTemplate, 403},
		{tpl, "templates:write updates", updateTemplate, 200},
		{tpl, "templates:write reads templates", listTemplates, 200},
		{tpl, "templates:write is not contacts", listContacts, 403},
		{write, "settings need admin", listSettings, 403},
		{admin, "admin reads settings", listSettings, 200},
		{admin, "admin creates contacts", createContact(), 200},
		{admin, "admin mints keys", newKey, 200},
		{admin, "admin still gets no session token", authRefresh, 403},
	}
	for _, c := range cases {
		res := f.env.DoWithHeaders(c.c.method, c.c.path, "", withKey(c.key), c.c.body)
		if res.Status != c.want {
			t.Errorf("%s: %d, want %d: %s", c.name, res.Status, c.want, res.Body)
		}
		if c.want == 403 && c.c.path != authRefresh.path && res.Code() != "api_key_scope_missing" {
			t.Errorf("%s: code %q", c.name, res.Code())
		}
	}

	// batch: every sub-request needs the scope
	batch := map[string]any{"requests": []map[string]any{{"method": "POST", "url": "/api/collections/contacts/records",
		"body": map[string]any{"workspace": f.ws.Id, "primary_email": "batch@x.org"}}}}
	if res := f.env.DoWithHeaders("POST", "/api/batch", "", withKey(read), batch); res.Status != 403 {
		t.Errorf("read key batch create: %d %s", res.Status, res.Body)
	}
	if res := f.env.DoWithHeaders("POST", "/api/batch", "", withKey(write), batch); res.Status != 200 {
		t.Errorf("write key batch create: %d %s", res.Status, res.Body)
	}

	// /api/crm/me reports the key's scopes
	res := f.env.DoWithHeaders("GET", "/api/crm/me", "", withKey(read), nil)
	if res.Status != 200 || !strings.Contains(string(res.Body), `"scopes":["contacts:read"]`) || !strings.Contains(string(res.Body), `"via":"api_key"`) {
		t.Errorf("me: %d %s", res.Status, res.Body)
	}

	// realtime: subscribing needs the read scope of the topic
	clientID := testutil.RealtimeClientID(t, f.env)
	if res := f.env.DoWithHeaders("POST", "/api/realtime", "", withKey(read), map[string]any{"clientId": clientID, "subscriptions": []string{"templates/*"}}); res.Status != 403 {
		t.Errorf("read key subscribing to templates: %d", res.Status)
	}
	if res := f.env.DoWithHeaders("POST", "/api/realtime", "", withKey(read), map[string]any{"clientId": clientID, "subscriptions": []string{"contacts/*"}}); res.Status != 204 {
		t.Errorf("read key subscribing to contacts: %d %s", res.Status, res.Body)
	}
}

func TestAPIKeyRejections(t *testing.T) {
	f := newKeyFixture(t)
	revoked := f.key(t, map[string]any{"scopes": []string{"contacts:read"}})
	expiring := f.key(t, map[string]any{"scopes": []string{"contacts:read"}, "expires_in_days": 1})

	rec, _ := f.env.App.FindFirstRecordByData("api_keys", "key_prefix", revoked[:17])
	if res := f.env.Do("PATCH", "/api/collections/api_keys/records/"+rec.Id, f.token, map[string]any{"is_active": false}); res.Status != 200 {
		t.Fatalf("revoke: %d %s", res.Status, res.Body)
	}
	if res := f.env.Do("PATCH", "/api/collections/api_keys/records/"+rec.Id, f.token, map[string]any{"is_active": true}); res.Status == 200 {
		t.Error("a revoked key was revived")
	}

	list := "/api/collections/contacts/records"
	if res := f.env.DoWithHeaders("GET", list, "", withKey(expiring), nil); res.Status != 200 {
		t.Fatalf("fresh expiring key: %d", res.Status)
	}
	f.clockShift = 49 * time.Hour

	tampered := expiring[:len(expiring)-1] + "x"
	if strings.HasSuffix(expiring, "x") {
		tampered = expiring[:len(expiring)-1] + "y"
	}
	cases := map[string]string{
		revoked:     "api_key_revoked",
		expiring:    "api_key_expired",
		tampered:    "api_key_invalid",
		"pcrm_nope": "api_key_invalid",
		"pcrm_AAAAAAAAAAAA_" + strings.Repeat("b", 40): "api_key_invalid",
	}
	for k, code := range cases {
		res := f.env.DoWithHeaders("GET", list, "", withKey(k), nil)
		if res.Status != 401 || res.Code() != code {
			t.Errorf("key %q: %d %q, want 401 %s", k[:9], res.Status, res.Code(), code)
		}
	}
	n, _ := f.env.App.CountRecords("audit_logs", nil)
	rejections, _ := f.env.App.FindRecordsByFilter("audit_logs", "action = 'auth.api_key_rejected'", "", 0, 0)
	if len(rejections) != len(cases) || n == 0 {
		t.Errorf("%d rejections logged, want %d", len(rejections), len(cases))
	}
}

func TestAPIKeyWorkspaceRestriction(t *testing.T) {
	f := newKeyFixture(t)
	key := f.key(t, map[string]any{"scopes": []string{"contacts:write"}, "workspace": f.ws.Id})

	res := f.env.DoWithHeaders("GET", "/api/collections/contacts/records", "", withKey(key), nil)
	if res.Status != 200 || !strings.Contains(string(res.Body), f.contactW.Id) || strings.Contains(string(res.Body), f.contactO.Id) {
		t.Errorf("list: %d %s", res.Status, res.Body)
	}
	if res := f.env.DoWithHeaders("GET", "/api/collections/workspaces/records", "", withKey(key), nil); strings.Contains(string(res.Body), f.other.Id) {
		t.Error("the other workspace is listed")
	}
	if res := f.env.DoWithHeaders("GET", "/api/collections/contacts/records/"+f.contactO.Id, "", withKey(key), nil); res.Status != 404 {
		t.Errorf("view outside: %d", res.Status)
	}
	if res := f.env.DoWithHeaders("PATCH", "/api/collections/contacts/records/"+f.contactO.Id, "", withKey(key), map[string]any{"company": "x"}); res.Status != 404 {
		t.Errorf("update outside: %d", res.Status)
	}
	// the create rule refuses it (PocketBase answers a failed create rule with 400)
	if res := f.env.DoWithHeaders("POST", "/api/collections/contacts/records", "", withKey(key), map[string]any{"workspace": f.other.Id, "primary_email": "n@x.org"}); res.Status != 400 {
		t.Errorf("create outside: %d %s", res.Status, res.Body)
	}
	if n, _ := f.env.App.CountRecords("contacts", dbx.HashExp{"workspace": f.other.Id, "primary_email": "n@x.org"}); n != 0 {
		t.Error("created a contact outside the key's workspace")
	}
	if res := f.env.DoWithHeaders("POST", "/api/collections/contacts/records", "", withKey(key), map[string]any{"workspace": f.ws.Id, "primary_email": "n@x.org"}); res.Status != 200 {
		t.Errorf("create inside: %d %s", res.Status, res.Body)
	}

	// realtime: events of the other workspace are not delivered
	events := testutil.Subscribe(t, f.env, "", withKey(key), "contacts/*")
	outside := f.env.Create("contacts", map[string]any{"workspace": f.other.Id, "primary_email": "o2@x.org"})
	inside := f.env.Create("contacts", map[string]any{"workspace": f.ws.Id, "primary_email": "w2@x.org"})
	got := testutil.CollectUntil(events, inside.Id, 3*time.Second)
	if !got[inside.Id] || got[outside.Id] {
		t.Errorf("realtime: inside=%v outside=%v", got[inside.Id], got[outside.Id])
	}

	// a key cannot be restricted to a workspace its user is not in
	stranger, _ := f.env.User("stranger@example.com")
	strangerWs := f.env.Workspace("S", stranger, nil)
	if res := f.env.Do("POST", "/api/crm/api-keys", f.token, map[string]any{"scopes": []string{"contacts:read"}, "workspace": strangerWs.Id}); res.Status != 403 {
		t.Errorf("restricting to a foreign workspace: %d", res.Status)
	}
}

func TestAPIKeyInputErrors(t *testing.T) {
	f := newKeyFixture(t)
	for name, body := range map[string]map[string]any{
		"no scopes":     {"description": "x"},
		"unknown scope": {"scopes": []string{"everything"}},
		"bad expiry":    {"scopes": []string{"admin"}, "expires_in_days": -3},
	} {
		res := f.env.Do("POST", "/api/crm/api-keys", f.token, body)
		if res.Status != 400 || res.Code() == "" {
			t.Errorf("%s: %d %s", name, res.Status, res.Body)
		}
	}
	if res := f.env.Do("POST", "/api/crm/api-keys", "", map[string]any{"scopes": []string{"admin"}}); res.Status != 401 {
		t.Errorf("guest: %d", res.Status)
	}
	if n, _ := f.env.App.CountRecords("api_keys", nil); n != 0 {
		t.Errorf("%d keys stored by failed requests", n)
	}
}

func TestAPIKeyLastUsed(t *testing.T) {
	f := newKeyFixture(t)
	key := f.key(t, map[string]any{"scopes": []string{"contacts:read"}})
	rec, _ := f.env.App.FindFirstRecordByData("api_keys", "key_prefix", key[:17])
	if !rec.GetDateTime("last_used_at").IsZero() {
		t.Fatal("a new key has last_used_at")
	}
	f.env.DoWithHeaders("GET", "/api/collections/contacts/records", "", withKey(key), nil)
	rec, _ = f.env.App.FindRecordById("api_keys", rec.Id)
	if rec.GetDateTime("last_used_at").IsZero() {
		t.Fatal("last_used_at not set after use")
	}
}

// The rules read a key's state from its record: revoking a key stops the
// events of a realtime connection it opened, at once, without a reconnect.
func TestAPIKeyRevokedStopsRealtime(t *testing.T) {
	f := newKeyFixture(t)
	res := f.env.Do("POST", "/api/crm/api-keys", f.token, map[string]any{"scopes": []string{"contacts:read"}})
	if res.Status != http.StatusOK {
		t.Fatalf("create key: %d %s", res.Status, res.Body)
	}
	key, _ := res.JSON()["key"].(string)
	keyID, _ := res.JSON()["record"].(map[string]any)["id"].(string)

	events := testutil.Subscribe(t, f.env, "", withKey(key), "contacts/*")
	before := f.env.Create("contacts", map[string]any{"workspace": f.ws.Id, "primary_email": "before@x.org"})
	if got := testutil.CollectUntil(events, before.Id, 3*time.Second); !got[before.Id] {
		t.Fatal("control: no event before the revocation")
	}
	if res := f.env.Do("PATCH", "/api/collections/api_keys/records/"+keyID, f.token, map[string]any{"is_active": false}); res.Status != http.StatusOK {
		t.Fatalf("revoke: %d %s", res.Status, res.Body)
	}
	after := f.env.Create("contacts", map[string]any{"workspace": f.ws.Id, "primary_email": "after@x.org"})
	// a session's subscription sees the new contact: the wait is long enough
	control := testutil.Subscribe(t, f.env, f.token, nil, "contacts/*")
	later := f.env.Create("contacts", map[string]any{"workspace": f.ws.Id, "primary_email": "later@x.org"})
	if got := testutil.CollectUntil(control, later.Id, 3*time.Second); !got[later.Id] {
		t.Fatal("control: the session got no event")
	}
	got := testutil.CollectUntil(events, later.Id, 500*time.Millisecond)
	if got[after.Id] || got[later.Id] {
		t.Errorf("a revoked key still receives events: after=%v later=%v", got[after.Id], got[later.Id])
	}
}
