package hooks_test

// Red-team probes of the isolation design (API keys as principals, the query
// guard, invitations). Each test asserts the secure behaviour: a failing test
// is a hole (and is then skipped with "HOLE: ..." so main stays green).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// rtFix: andy owns W (mal is its admin) and P (pat is its editor; mal is not a
// member). P holds the secret contact the probes try to learn about.
type rtFix struct {
	env                     *testutil.Env
	andy, mal, pat          *core.Record
	andyTok, malTok, patTok string
	W, P                    *core.Record
	cW, cP                  *core.Record
	secretLike, nomatchLike string
}

func rtNew(t *testing.T) *rtFix {
	t.Helper()
	f := &rtFix{env: testutil.New(t), secretLike: "secret.p%", nomatchLike: "nomatch.q%"}
	f.andy, f.andyTok = f.env.User("andy@example.com")
	f.mal, f.malTok = f.env.User("mal@example.com")
	f.pat, f.patTok = f.env.User("pat@example.com")
	f.W = f.env.Workspace("Wspace", f.andy, map[*core.Record]string{f.mal: "admin"})
	f.P = f.env.Workspace("Private", f.andy, map[*core.Record]string{f.pat: "editor"})
	f.cW = f.env.Create("contacts", map[string]any{"workspace": f.W.Id, "primary_email": "w.contact@example.org", "first_name": "Wendy"})
	f.cP = f.env.Create("contacts", map[string]any{"workspace": f.P.Id, "primary_email": "secret.p@example.org", "first_name": "Zed"})
	return f
}

// rtKey creates a key through the route with a session token; returns the plain key and its record id.
func (f *rtFix) rtKey(t *testing.T, tok string, body map[string]any) (string, string) {
	t.Helper()
	if body["description"] == nil {
		body["description"] = "rt"
	}
	res := f.env.Do("POST", "/api/crm/api-keys", tok, body)
	if res.Status != http.StatusOK {
		t.Fatalf("create key %v: %d %s", body, res.Status, res.Body)
	}
	k, _ := res.JSON()["key"].(string)
	rec, _ := res.JSON()["record"].(map[string]any)
	id, _ := rec["id"].(string)
	return k, id
}

func rtH(key string) map[string]string { return map[string]string{"X-Api-Key": key} }

type rtResp struct {
	status int
	length string
	body   string
}

func (f *rtFix) raw(t *testing.T, method, path, tok, key string, body io.Reader, ctype string) rtResp {
	t.Helper()
	req, err := http.NewRequest(method, f.env.Server.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", tok)
	}
	if key != "" {
		req.Header.Set("X-Api-Key", key)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := f.env.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return rtResp{status: res.StatusCode, length: res.Header.Get("Content-Length"), body: string(b)}
}

// rtOracle runs probe with a value matching P's secret and one matching
// nothing; the answers must be the same (or the probe refused).
func (f *rtFix) rtOracle(t *testing.T, name string, probe func(like string) rtResp) {
	t.Helper()
	a, b := probe(f.secretLike), probe(f.nomatchLike)
	if a.status != b.status || a.body != b.body || a.length != b.length {
		t.Errorf("ORACLE %s: secret → %d len=%s %.200s | nomatch → %d len=%s %.200s", name, a.status, a.length, a.body, b.status, b.length, b.body)
	}
}

func rtQ(path string, kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return path + "?" + v.Encode()
}

func rtIDs(body []byte) []string {
	var out struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	_ = json.Unmarshal(body, &out)
	ids := []string{}
	for _, it := range out.Items {
		ids = append(ids, it.ID)
	}
	return ids
}

func rtHas(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// API key record: a key (or its user) cannot make the key stronger

func rtKeyCannotEditItsLimits(t *testing.T, f *rtFix) {
	adminW, adminWID := f.rtKey(t, f.andyTok, map[string]any{"scopes": []string{"admin"}, "workspace": f.W.Id, "expires_in_days": 2})
	readW, readWID := f.rtKey(t, f.andyTok, map[string]any{"scopes": []string{"contacts:read"}, "workspace": f.W.Id, "expires_in_days": 2})
	_ = readW

	snap := func(id string) string {
		r, err := f.env.App.FindRecordById("api_keys", id)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%s|%s|%s|%s|%s|%v|%s|%v|%s|%s|%s|%s|%v", r.GetString("scopes"), r.GetString("grants"), r.GetString("workspace"),
			r.GetString("expires_at"), r.GetString("user"), r.GetBool("is_active"), r.Email(), r.Verified(), r.TokenKey(),
			r.GetString("key_hash"), r.GetString("key_prefix"), r.GetString("password"), r.GetBool("emailVisibility"))
	}
	bodies := []map[string]any{
		{"scopes": []string{"admin"}},
		{"scopes": []string{"contacts:read", "admin"}},
		{"grants": "|contacts:read|admin|"},
		{"workspace": ""},
		{"workspace": f.P.Id},
		{"workspace+": f.P.Id},
		{"workspace-": f.W.Id},
		{"expires_at": ""},
		{"expires_at": "2999-01-01 00:00:00.000Z"},
		{"user": f.mal.Id},
		{"email": "k@example.com"},
		{"email": "k@example.com", "emailVisibility": true},
		{"password": "password-123456", "passwordConfirm": "password-123456"},
		{"password": "password-123456", "passwordConfirm": "password-123456", "oldPassword": "x"},
		{"verified": true},
		{"tokenKey": "abcdefabcdefabcdefabcdefabcdefabcdef"},
		{"key_hash": "00"},
		{"key_prefix": "pcrm_aaaaaaaaaaaa"},
	}
	for _, who := range []struct {
		name, tok, key, target string
	}{
		{"session on the read key", f.andyTok, "", readWID},
		{"admin key on itself", "", adminW, adminWID},
	} {
		for _, b := range bodies {
			before := snap(who.target)
			js, _ := json.Marshal(b)
			res := f.raw(t, "PATCH", "/api/collections/api_keys/records/"+who.target, who.tok, who.key, bytes.NewReader(js), "application/json")
			if after := snap(who.target); after != before {
				t.Errorf("HOLE %s PATCH %s → %d: key changed\n  before %s\n  after  %s", who.name, js, res.status, before, after)
			}
			if _, pw := b["password"]; pw {
				continue
			}
			// the same as multipart form data
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			for k, v := range b {
				s, ok := v.(string)
				if !ok {
					vb, _ := json.Marshal(v)
					s = string(vb)
				}
				_ = mw.WriteField(k, s)
			}
			mw.Close()
			res = f.raw(t, "PATCH", "/api/collections/api_keys/records/"+who.target, who.tok, who.key, &buf, mw.FormDataContentType())
			if after := snap(who.target); after != before {
				t.Errorf("HOLE %s multipart PATCH %s → %d: key changed\n  before %s\n  after  %s", who.name, js, res.status, before, after)
			}
		}
	}

	// revoked stays revoked, through PATCH, batch update and batch upsert
	if r := f.env.Do("PATCH", "/api/collections/api_keys/records/"+readWID, f.andyTok, map[string]any{"is_active": false}); r.Status != 200 {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	for _, v := range []any{true, "true", 1, "1", "on"} {
		f.env.Do("PATCH", "/api/collections/api_keys/records/"+readWID, f.andyTok, map[string]any{"is_active": v})
		f.env.Do("POST", "/api/batch", f.andyTok, map[string]any{"requests": []map[string]any{
			{"method": "PATCH", "url": "/api/collections/api_keys/records/" + readWID, "body": map[string]any{"is_active": v}},
			{"method": "PUT", "url": "/api/collections/api_keys/records", "body": map[string]any{"id": readWID, "is_active": v}},
		}})
		if r, _ := f.env.App.FindRecordById("api_keys", readWID); r.GetBool("is_active") {
			t.Errorf("HOLE a revoked key was revived with is_active=%v", v)
		}
	}
	// nobody creates a key record through the collection API or a batch
	body := map[string]any{"user": f.andy.Id, "key_hash": "x", "key_prefix": "pcrm_bbbbbbbbbbbb", "scopes": []string{"admin"}, "grants": "|admin|",
		"is_active": true, "password": "password-123456", "passwordConfirm": "password-123456"}
	if r := f.env.Do("POST", "/api/collections/api_keys/records", f.andyTok, body); r.Status < 400 {
		t.Errorf("HOLE key record created through the collection API: %d %s", r.Status, r.Body)
	}
	if r := f.env.Do("POST", "/api/batch", f.andyTok, map[string]any{"requests": []map[string]any{
		{"method": "PUT", "url": "/api/collections/api_keys/records", "body": body}}}); r.Status < 400 {
		t.Errorf("HOLE key record upserted through a batch: %d %s", r.Status, r.Body)
	}
}

// ---------------------------------------------------------------------------
// auth routes: a key is never a login, never exchanged for a token

func rtKeyAuthRoutes(t *testing.T, f *rtFix) {
	key, keyID := f.rtKey(t, f.andyTok, map[string]any{"scopes": []string{"admin"}})
	col := "/api/collections/api_keys"
	calls := []struct{ method, path, body string }{
		{"POST", col + "/auth-refresh", ``},
		{"POST", col + "/auth-with-password", `{"identity":"` + keyID + `","password":"x"}`},
		{"POST", col + "/request-password-reset", `{"email":""}`},
		{"POST", col + "/request-verification", `{"email":""}`},
		{"POST", col + "/request-otp", `{"email":""}`},
		{"POST", col + "/auth-with-otp", `{"otpId":"x","password":"y"}`},
		{"POST", col + "/request-email-change", `{"newEmail":"k@example.com"}`},
		{"POST", col + "/impersonate/" + keyID, `{}`},
		{"POST", "/api/collections/users/auth-refresh", ``},
		{"POST", "/api/collections/users/impersonate/" + f.andy.Id, `{}`},
		{"POST", "/api/collections/users/request-email-change", `{"newEmail":"k@example.com"}`},
		{"POST", "/api/files/token", ``},
		{"GET", "/api/collections", ``},
		{"GET", "/api/settings", ``},
		{"GET", "/api/logs", ``},
		{"POST", "/api/collections/api_keys/records/../auth-refresh", ``},
		{"POST", "/api/collections/api_keys/records/%2E%2E/auth-refresh", ``},
		{"POST", "//api/collections/api_keys/auth-refresh", ``},
	}
	for _, c := range calls {
		var body io.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		}
		res := f.raw(t, c.method, c.path, "", key, body, "application/json")
		if res.status < 400 {
			t.Errorf("HOLE key %s %s → %d %.200s", c.method, c.path, res.status, res.body)
		}
		if strings.Contains(res.body, `"token"`) {
			t.Errorf("HOLE key %s %s answered a token: %.200s", c.method, c.path, res.body)
		}
	}
	// anonymous and session attempts on the keys' auth routes
	for _, tok := range []string{"", f.andyTok} {
		for _, c := range calls[:2] {
			res := f.raw(t, c.method, c.path, tok, "", strings.NewReader(c.body), "application/json")
			if strings.Contains(res.body, `"token"`) || res.status < 400 {
				t.Errorf("HOLE (tok=%v) %s %s → %d %.200s", tok != "", c.method, c.path, res.status, res.body)
			}
		}
		res := f.raw(t, "POST", col+"/impersonate/"+keyID, tok, "", strings.NewReader(`{}`), "application/json")
		if res.status < 400 || strings.Contains(res.body, `"token"`) {
			t.Errorf("HOLE impersonate a key (tok=%v) → %d %.200s", tok != "", res.status, res.body)
		}
	}
	// auth-methods tells nothing about keys and offers no way in
	res := f.raw(t, "GET", col+"/auth-methods", "", "", nil, "")
	var am map[string]any
	_ = json.Unmarshal([]byte(res.body), &am)
	for _, k := range []string{"password", "oauth2", "otp", "mfa"} {
		if m, ok := am[k].(map[string]any); ok && m["enabled"] == true {
			t.Errorf("HOLE api_keys auth-methods: %s enabled: %s", k, res.body)
		}
	}
}

// ---------------------------------------------------------------------------
// a restricted key sees the people and memberships of its workspace only

func rtRestrictedKeySeesOnlyItsWorkspace(t *testing.T, f *rtFix) {
	keyW, _ := f.rtKey(t, f.andyTok, map[string]any{"scopes": []string{"contacts:read"}, "workspace": f.W.Id})
	h := rtH(keyW)
	users := f.env.DoWithHeaders("GET", "/api/collections/users/records?perPage=200", "", h, nil)
	ids := rtIDs(users.Body)
	if rtHas(ids, f.pat.Id) || !rtHas(ids, f.mal.Id) || !rtHas(ids, f.andy.Id) {
		t.Errorf("HOLE W-restricted key lists users %v (pat=%s must be absent, mal and andy present): %s", ids, f.pat.Id, users.Body)
	}
	if r := f.env.DoWithHeaders("GET", "/api/collections/users/records/"+f.pat.Id, "", h, nil); r.Status != 404 {
		t.Errorf("HOLE W-restricted key views pat: %d %s", r.Status, r.Body)
	}
	for _, p := range []string{
		"/api/collections/workspaces/records?perPage=200",
		"/api/collections/workspace_members/records?perPage=200&expand=user,workspace",
		"/api/collections/users/records/" + f.andy.Id + "?expand=workspace_members_via_user.workspace,workspaces_via_owner",
		"/api/collections/users/records?expand=workspace_members_via_user.workspace.workspace_members_via_workspace.user",
		"/api/collections/contacts/records?perPage=200&expand=workspace.owner.workspaces_via_owner",
	} {
		r := f.env.DoWithHeaders("GET", p, "", h, nil)
		if strings.Contains(string(r.Body), f.P.Id) || strings.Contains(string(r.Body), f.pat.Id) || strings.Contains(string(r.Body), f.cP.Id) {
			t.Errorf("HOLE %s leaks P (or pat): %.400s", p, r.Body)
		}
	}
	// the same with a key whose user is then removed from W
	malKey, _ := f.rtKey(t, f.malTok, map[string]any{"scopes": []string{"admin"}, "workspace": f.W.Id})
	m, err := f.env.App.FindFirstRecordByFilter("workspace_members", "workspace={:w} && user={:u}", map[string]any{"w": f.W.Id, "u": f.mal.Id})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.env.App.Delete(m); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/api/collections/contacts/records", "/api/collections/workspaces/records", "/api/collections/workspace_members/records",
		"/api/collections/workspace_invitations/records", "/api/collections/audit_logs/records"} {
		r := f.env.DoWithHeaders("GET", p, "", rtH(malKey), nil)
		if ids := rtIDs(r.Body); len(ids) > 0 {
			t.Errorf("HOLE a key of a removed member still lists %s: %v", p, ids)
		}
	}
	r := f.env.DoWithHeaders("GET", "/api/collections/users/records", "", rtH(malKey), nil)
	if ids := rtIDs(r.Body); len(ids) != 1 || ids[0] != f.mal.Id {
		t.Errorf("HOLE a key of a removed member lists users %v", ids)
	}
	if r := f.env.DoWithHeaders("GET", "/api/crm/workspaces/"+f.W.Id+"/export", "", rtH(malKey), nil); r.Status < 400 {
		t.Errorf("HOLE a key of a removed member exports W: %d", r.Status)
	}
}

// ---------------------------------------------------------------------------
// revoked and expired keys over realtime and batch

func TestRedteamDeadKeysRealtimeBatch(t *testing.T) {
	t.Parallel()
	f := rtNew(t)
	revoked, revokedID := f.rtKey(t, f.andyTok, map[string]any{"scopes": []string{"admin"}})
	expired, expiredID := f.rtKey(t, f.andyTok, map[string]any{"scopes": []string{"admin"}, "expires_in_days": 1})
	live, liveID := f.rtKey(t, f.andyTok, map[string]any{"scopes": []string{"admin"}, "expires_in_days": 1})

	// a connection subscribed while the key was live
	liveEvents := testutil.Subscribe(t, f.env, "", rtH(live), "contacts/*")
	control := testutil.Subscribe(t, f.env, f.andyTok, nil, "contacts/*")

	if r := f.env.Do("PATCH", "/api/collections/api_keys/records/"+revokedID, f.andyTok, map[string]any{"is_active": false}); r.Status != 200 {
		t.Fatal(r.Status, string(r.Body))
	}
	for _, id := range []string{expiredID, liveID} {
		rec, _ := f.env.App.FindRecordById("api_keys", id)
		rec.Set("expires_at", time.Now().Add(-time.Minute).UTC())
		if err := f.env.App.Save(rec); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{revoked, expired} {
		clientID := testutil.RealtimeClientID(t, f.env)
		if r := f.env.DoWithHeaders("POST", "/api/realtime", "", rtH(k), map[string]any{"clientId": clientID, "subscriptions": []string{"contacts/*"}}); r.Status != 401 {
			t.Errorf("HOLE dead key subscribes: %d %s", r.Status, r.Body)
		}
		if r := f.env.DoWithHeaders("POST", "/api/batch", "", rtH(k), map[string]any{"requests": []map[string]any{
			{"method": "POST", "url": "/api/collections/contacts/records", "body": map[string]any{"workspace": f.W.Id, "primary_email": "dead@x.org"}}}}); r.Status != 401 {
			t.Errorf("HOLE dead key batch: %d %s", r.Status, r.Body)
		}
	}
	c := f.env.Create("contacts", map[string]any{"workspace": f.W.Id, "primary_email": "after.expiry@x.org"})
	if got := testutil.CollectUntil(control, c.Id, 5*time.Second); !got[c.Id] {
		t.Fatal("control subscriber got nothing")
	}
	if got := testutil.CollectUntil(liveEvents, c.Id, 500*time.Millisecond); got[c.Id] {
		t.Errorf("HOLE a connection of a key that has since expired still receives events")
	}
}

// ---------------------------------------------------------------------------
// invitations

func TestRedteamInvitations(t *testing.T) {
	t.Parallel()
	f := rtNew(t)
	bob, bobTok := f.env.User("Bob@Example.com")
	eve, eveTok := f.env.User("eve@example.com")
	_ = eve
	// andy (owner of P) invites bob to P as viewer
	if r := f.env.Do("POST", "/api/crm/workspaces/"+f.P.Id+"/invitations", f.andyTok, map[string]any{"email": "BOB@example.com ", "role": "viewer"}); r.Status != 202 {
		t.Fatalf("invite: %d %s", r.Status, r.Body)
	}
	inv, err := f.env.App.FindFirstRecordByFilter("workspace_invitations", "workspace={:w}", map[string]any{"w": f.P.Id})
	if err != nil {
		t.Fatal(err)
	}
	// bob reads it, without the workspace or the inviter through expand
	r := f.env.Do("GET", "/api/collections/workspace_invitations/records?expand=workspace,invited_by,workspace.owner,workspace.contacts_via_workspace", bobTok, nil)
	if !rtHas(rtIDs(r.Body), inv.Id) {
		t.Errorf("bob does not see his invitation: %s", r.Body)
	}
	if strings.Contains(string(r.Body), `"collectionName":"workspaces"`) || strings.Contains(string(r.Body), "Private") || strings.Contains(string(r.Body), f.cP.Id) ||
		strings.Contains(string(r.Body), `"collectionName":"users"`) {
		t.Errorf("HOLE the invitee reads the workspace through expand before accepting: %s", r.Body)
	}
	// the invitee's filters on the invitation's workspace tell nothing
	for _, flt := range []string{
		`workspace.contacts_via_workspace.primary_email !~ "%s"`,
		`workspace.contacts_via_workspace.primary_email:each !~ "%s"`,
		`workspace.workspace_members_via_workspace.user.email !~ "%s"`,
		`workspace.name ~ "%s" || id = ""`,
		`invited_by.name ~ "%s"`,
	} {
		flt := flt
		f.rtOracle(t, "invitee "+flt, func(like string) rtResp {
			if strings.Contains(flt, "workspace.name") || strings.Contains(flt, "invited_by") {
				// probe known values: "Priv%" (the real name) vs nothing
				if like == f.secretLike {
					like = "Priv%"
				}
				if strings.Contains(flt, "invited_by") && like == "Priv%" {
					like = "andy%"
				}
			}
			return f.raw(t, "GET", rtQ("/api/collections/workspace_invitations/records", "filter", fmt.Sprintf(flt, like)), bobTok, "", nil, "")
		})
	}
	// somebody else: not visible, not answerable
	if r := f.env.Do("GET", "/api/collections/workspace_invitations/records", eveTok, nil); len(rtIDs(r.Body)) != 0 {
		t.Errorf("HOLE eve lists invitations: %s", r.Body)
	}
	for _, act := range []string{"accept", "decline"} {
		if r := f.env.Do("POST", "/api/crm/invitations/"+inv.Id+"/"+act, eveTok, nil); r.Status != 404 {
			t.Errorf("HOLE eve %ss bob's invitation: %d %s", act, r.Status, r.Body)
		}
	}
	// an admin of another workspace (mal, admin of W) neither reads nor revokes P's invitations
	if r := f.env.Do("GET", "/api/collections/workspace_invitations/records", f.malTok, nil); rtHas(rtIDs(r.Body), inv.Id) {
		t.Errorf("HOLE mal reads P's invitation")
	}
	if r := f.env.Do("POST", "/api/crm/invitations/"+inv.Id+"/revoke", f.malTok, nil); r.Status != 404 {
		t.Errorf("HOLE mal revokes P's invitation: %d %s", r.Status, r.Body)
	}
	malAdmin, _ := f.rtKey(t, f.malTok, map[string]any{"scopes": []string{"admin"}})
	if r := f.env.DoWithHeaders("GET", "/api/collections/workspace_invitations/records", "", rtH(malAdmin), nil); rtHas(rtIDs(r.Body), inv.Id) {
		t.Errorf("HOLE mal's admin key reads P's invitation")
	}
	// andy's admin key restricted to W does not reach P's invitations
	andyW, _ := f.rtKey(t, f.andyTok, map[string]any{"scopes": []string{"admin"}, "workspace": f.W.Id})
	if r := f.env.DoWithHeaders("GET", "/api/collections/workspace_invitations/records", "", rtH(andyW), nil); rtHas(rtIDs(r.Body), inv.Id) {
		t.Errorf("HOLE a W-restricted key reads P's invitation")
	}
	if r := f.env.DoWithHeaders("POST", "/api/crm/invitations/"+inv.Id+"/revoke", "", rtH(andyW), nil); r.Status != 404 {
		t.Errorf("HOLE a W-restricted key revokes P's invitation: %d %s", r.Status, r.Body)
	}
	// bob's own key (admin, unrestricted) cannot accept for him, nor read it
	bobKey, _ := f.rtKey(t, bobTok, map[string]any{"scopes": []string{"admin"}})
	if r := f.env.DoWithHeaders("POST", "/api/crm/invitations/"+inv.Id+"/accept", "", rtH(bobKey), nil); r.Status != 403 {
		t.Errorf("HOLE bob's key accepts: %d %s", r.Status, r.Body)
	}
	if r := f.env.DoWithHeaders("GET", "/api/collections/workspace_invitations/records", "", rtH(bobKey), nil); rtHas(rtIDs(r.Body), inv.Id) {
		t.Errorf("bob's key reads his invitation (keys do not answer invitations)")
	}
	// decline, re-invite, accept; then removed: the old invitation opens nothing
	if r := f.env.Do("POST", "/api/crm/invitations/"+inv.Id+"/decline", bobTok, nil); r.Status != 200 {
		t.Fatalf("decline: %d %s", r.Status, r.Body)
	}
	if r := f.env.Do("POST", "/api/crm/invitations/"+inv.Id+"/accept", bobTok, nil); r.Status != 409 {
		t.Errorf("HOLE accept after decline: %d %s", r.Status, r.Body)
	}
	if r := f.env.Do("POST", "/api/crm/workspaces/"+f.P.Id+"/invitations", f.andyTok, map[string]any{"email": "bob@example.com", "role": "admin"}); r.Status != 202 {
		t.Fatalf("re-invite: %d %s", r.Status, r.Body)
	}
	inv2, err := f.env.App.FindFirstRecordByFilter("workspace_invitations", "workspace={:w} && status='pending'", map[string]any{"w": f.P.Id})
	if err != nil {
		t.Fatal(err)
	}
	if r := f.env.Do("POST", "/api/crm/invitations/"+inv2.Id+"/accept", bobTok, nil); r.Status != 200 {
		t.Fatalf("accept: %d %s", r.Status, r.Body)
	}
	if role := rtRole(t, f, f.P.Id, bob.Id); role != "admin" {
		t.Errorf("bob's role %q", role)
	}
	if r := f.env.Do("POST", "/api/crm/invitations/"+inv2.Id+"/accept", bobTok, nil); r.Status != 409 {
		t.Errorf("accepting twice: %d %s", r.Status, r.Body)
	}
	m, _ := f.env.App.FindFirstRecordByFilter("workspace_members", "workspace={:w} && user={:u}", map[string]any{"w": f.P.Id, "u": bob.Id})
	if r := f.env.Do("DELETE", "/api/collections/workspace_members/records/"+m.Id, f.andyTok, nil); r.Status != 204 {
		t.Fatalf("remove bob: %d %s", r.Status, r.Body)
	}
	f.rtOracle(t, "removed invitee via accepted invitation", func(like string) rtResp {
		return f.raw(t, "GET", rtQ("/api/collections/workspace_invitations/records", "filter",
			`workspace.contacts_via_workspace.primary_email !~ "`+like+`"`), bobTok, "", nil, "")
	})
	// nor does an accepted invitation re-open the door
	if r := f.env.Do("POST", "/api/crm/invitations/"+inv2.Id+"/accept", bobTok, nil); r.Status == 200 {
		t.Errorf("HOLE a removed member re-joins with the old accepted invitation")
	}
	// an invitee's realtime subscription on its invitations gets no workspace data
	ev := testutil.SubscribeEvents(t, f.env, bobTok, nil, "workspace_invitations/*?options="+url.QueryEscape(`{"query":{"expand":"workspace,invited_by"}}`))
	f.env.Do("POST", "/api/crm/workspaces/"+f.P.Id+"/invitations", f.andyTok, map[string]any{"email": "bob@example.com", "role": "viewer"})
	select {
	case e := <-ev:
		if b, _ := json.Marshal(e.Record); strings.Contains(string(b), `"collectionName":"workspaces"`) || strings.Contains(string(b), `"collectionName":"users"`) {
			t.Errorf("HOLE realtime expand of the invitation's workspace: %s", b)
		}
	case <-time.After(2 * time.Second):
	}
}

func rtRole(t *testing.T, f *rtFix, ws, user string) string {
	m, err := f.env.App.FindFirstRecordByFilter("workspace_members", "workspace={:w} && user={:u}", map[string]any{"w": ws, "u": user})
	if err != nil {
		return ""
	}
	return m.GetString("role")
}

// ---------------------------------------------------------------------------
// custom routes with a key restricted to another workspace

func rtCustomRoutesRestrictedKey(t *testing.T, f *rtFix) {
	key, _ := f.rtKey(t, f.andyTok, map[string]any{"scopes": []string{"admin"}, "workspace": f.W.Id})
	cP2 := f.env.Create("contacts", map[string]any{"workspace": f.P.Id, "primary_email": "secret.p2@example.org", "first_name": "Zed2"})
	inv := f.env.Create("workspace_invitations", map[string]any{"workspace": f.P.Id, "email": "z@example.com", "role": "viewer", "status": "pending",
		"invited_by": f.andy.Id, "expires_at": time.Now().Add(time.Hour).UTC()})
	calls := []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/crm/contacts/search?workspace=" + f.P.Id, nil},
		{"GET", "/api/crm/contacts/search?workspace=" + f.P.Id + "&q=secret", nil},
		{"GET", "/api/crm/workspaces/" + f.P.Id + "/duplicates", nil},
		{"GET", "/api/crm/workspaces/" + f.P.Id + "/export", nil},
		{"GET", "/api/crm/contacts/" + f.cP.Id + "/custom", nil},
		{"POST", "/api/crm/contacts/" + f.cP.Id + "/custom", map[string]any{"custom": map[string]any{}}},
		{"POST", "/api/crm/contacts/merge", map[string]any{"source": cP2.Id, "target": f.cP.Id, "dry_run": true}},
		{"POST", "/api/crm/contacts/merge", map[string]any{"source": f.cW.Id, "target": f.cP.Id, "dry_run": true}},
		{"POST", "/api/crm/workspaces/" + f.P.Id + "/invitations", map[string]any{"email": "x@example.com", "role": "admin"}},
		{"POST", "/api/crm/workspaces/" + f.P.Id + "/members", map[string]any{"email": "x@example.com", "role": "admin"}},
		{"POST", "/api/crm/invitations/" + inv.Id + "/revoke", nil},
		{"GET", "/api/crm/workspaces/" + f.P.Id + "/providers", nil},
		{"PUT", "/api/crm/workspaces/" + f.P.Id + "/providers/default", map[string]any{"name": "outbox"}},
		{"GET", "/api/crm/workspaces/" + f.P.Id + "/providers/smtp", nil},
		{"PUT", "/api/crm/workspaces/" + f.P.Id + "/providers/outbox", map[string]any{"from": "x@example.com"}},
		{"POST", "/api/crm/api-keys", map[string]any{"description": "x", "scopes": []string{"admin"}, "workspace": f.P.Id}},
		{"POST", "/api/crm/api-keys", map[string]any{"description": "x", "scopes": []string{"admin"}, "workspace": ""}},
	}
	for _, c := range calls {
		r := f.env.DoWithHeaders(c.method, c.path, "", rtH(key), c.body)
		if c.path == "/api/crm/api-keys" && r.Status == 200 {
			rec, _ := r.JSON()["record"].(map[string]any)
			if rec["workspace"] != f.W.Id {
				t.Errorf("HOLE W key minted a key for workspace %v", rec["workspace"])
			}
			continue
		}
		if r.Status < 400 || strings.Contains(string(r.Body), "secret.p@") {
			t.Errorf("HOLE W-restricted key %s %s → %d %.300s", c.method, c.path, r.Status, r.Body)
		}
	}
	// and answers alike for a P contact and a contact that does not exist
	a := f.env.DoWithHeaders("GET", "/api/crm/contacts/"+f.cP.Id+"/custom", "", rtH(key), nil)
	b := f.env.DoWithHeaders("GET", "/api/crm/contacts/aaaaaaaaaaaaaaa/custom", "", rtH(key), nil)
	if a.Status != b.Status || a.Code() != b.Code() {
		t.Errorf("ORACLE contact existence in P: %d %s vs %d %s", a.Status, a.Body, b.Status, b.Body)
	}
}

// ---------------------------------------------------------------------------
// filter and sort forms the guard must read as PocketBase does

func rtGuardForms(t *testing.T, f *rtFix) {
	// mal: admin of W; andy (W and P) is his co-member: every probe below
	// tries to learn about P's secret contact through andy or through W
	get := func(method, path, tok, key string, kv ...string) func(string) rtResp {
		return func(like string) rtResp {
			vals := make([]string, len(kv))
			for i, v := range kv {
				vals[i] = strings.ReplaceAll(v, "LIKE", like)
			}
			return f.raw(t, method, rtQ(path, vals...), tok, key, nil, "")
		}
	}
	andyF := `id = "` + f.andy.Id + `" && `
	userProbes := []string{
		`workspace_members_via_user.workspace.contacts_via_workspace.primary_email !~ "LIKE"`,
		`Workspace_Members_via_user.workspace.contacts_via_workspace.primary_email !~ "LIKE"`,
		`WORKSPACE_MEMBERS_via_user.workspace.contacts_via_workspace.primary_email !~ "LIKE"`,
		`pbc_5317093_via_user.workspace.contacts_via_workspace.primary_email !~ "LIKE"`,
		`workspaces_via_owner.contacts_via_workspace.primary_email !~ "LIKE"`,
		`Workspaces_via_owner.contacts_via_workspace.primary_email !~ "LIKE"`,
		`workspaces_via_owner.contacts_via_workspace.primary_email:lower !~ "LIKE"`,
		`workspaces_via_owner.contacts_via_workspace.primary_email:each !~ "LIKE"`,
		`workspaces_via_owner.contacts_via_workspace.primary_email:length != 99 && workspaces_via_owner.contacts_via_workspace.primary_email !~ "LIKE"`,
		`workspaces_via_owner.contacts_via_workspace.custom.x != 1 && workspaces_via_owner.contacts_via_workspace.primary_email !~ "LIKE"`,
		`custom_field_definitions_via_user.workspace.contacts_via_workspace.primary_email !~ "LIKE"`,
		`campaigns_via_created_by.workspace.contacts_via_workspace.primary_email !~ "LIKE"`,
		`api_keys_via_user.workspace.contacts_via_workspace.primary_email !~ "LIKE"`,
		`@request.auth.workspace_members_via_user.workspace.contacts_via_workspace.primary_email !~ "LIKE"`,
		`geoDistance(0, 0, workspaces_via_owner.contacts_via_workspace.custom.lat, 0) > -1 && workspaces_via_owner.contacts_via_workspace.primary_email !~ "LIKE"`,
		`strftime("%Y", workspaces_via_owner.contacts_via_workspace.created) != "" && workspaces_via_owner.contacts_via_workspace.primary_email !~ "LIKE"`,
		`strftime("%Y", workspaces_via_owner.contacts_via_workspace.primary_email) !~ "LIKE"`,
		"id != '' // comment\n && workspaces_via_owner.contacts_via_workspace.primary_email !~ \"LIKE\"",
		`((((((((((workspaces_via_owner.contacts_via_workspace.primary_email !~ "LIKE"))))))))))`,
	}
	for _, p := range userProbes {
		for _, m := range []string{"GET", "HEAD"} {
			f.rtOracle(t, m+" users "+p, get(m, "/api/collections/users/records", f.malTok, "", "filter", andyF+"("+p+")", "fields", "id"))
		}
	}
	// two filter params, the second the probe; filter + sort
	f.rtOracle(t, "two filters", get("GET", "/api/collections/users/records", f.malTok, "", "filter", `id != ""`, "filter", andyF+userProbes[0]))
	for _, s := range []string{"-workspaces_via_owner.contacts_via_workspace.primary_email", "+workspace_members_via_user.workspace.contacts_via_workspace.primary_email",
		"id,-workspaces_via_owner.contacts_via_workspace.primary_email", " -Workspaces_via_owner.contacts_via_workspace.primary_email"} {
		r := f.raw(t, "GET", rtQ("/api/collections/users/records", "sort", s), f.malTok, "", nil, "")
		if r.status != 400 {
			t.Errorf("sort %q not refused: %d %.200s", s, r.status, r.body)
		}
	}
	// from W's own records (mal reads them) to andy, then beyond
	for _, c := range []struct{ col, flt string }{
		{"workspaces", `owner.workspaces_via_owner.contacts_via_workspace.primary_email !~ "LIKE"`},
		{"workspaces", `owner.workspace_members_via_user.workspace.contacts_via_workspace.primary_email !~ "LIKE"`},
		{"workspaces", `workspace_members_via_workspace.user.workspaces_via_owner.contacts_via_workspace.primary_email !~ "LIKE"`},
		{"workspace_members", `user.workspace_members_via_user.workspace.contacts_via_workspace.primary_email !~ "LIKE"`},
		{"contacts", `workspace.owner.workspaces_via_owner.contacts_via_workspace.primary_email !~ "LIKE"`},
		{"contacts", `@request.auth.workspace_members_via_user.workspace.contacts_via_workspace.primary_email !~ "LIKE"`},
		{"contacts", `workspace.workspace_members_via_workspace.user.workspace_members_via_user.workspace.contacts_via_workspace.primary_email !~ "LIKE"`},
	} {
		f.rtOracle(t, c.col+" "+c.flt, get("GET", "/api/collections/"+c.col+"/records", f.malTok, "", "filter", c.flt))
	}
	// andy's own keys: restricted to W, following @request.auth out of it
	keyW, _ := f.rtKey(t, f.andyTok, map[string]any{"scopes": []string{"contacts:read"}, "workspace": f.W.Id})
	tplW, _ := f.rtKey(t, f.andyTok, map[string]any{"scopes": []string{"templates:read"}, "workspace": f.W.Id})
	for _, c := range []struct{ key, col, flt string }{
		{keyW, "contacts", `@request.auth.user.workspace_members_via_user.workspace.contacts_via_workspace.primary_email !~ "LIKE"`},
		{keyW, "contacts", `@request.auth.user.workspaces_via_owner.contacts_via_workspace.primary_email !~ "LIKE"`},
		{keyW, "contacts", `@request.auth.api_keys_via_user.id != ""`},
		{keyW, "users", andyF + `workspaces_via_owner.contacts_via_workspace.primary_email !~ "LIKE"`},
		{keyW, "workspaces", `owner.workspaces_via_owner.contacts_via_workspace.primary_email !~ "LIKE"`},
		{keyW, "workspace_members", `user.workspace_members_via_user.workspace.contacts_via_workspace.primary_email !~ "LIKE"`},
		{tplW, "workspaces", `contacts_via_workspace.primary_email !~ "LIKE"`},
		{tplW, "workspaces", `contacts_via_workspace.primary_email ~ "LIKE"`},
		{tplW, "templates", `workspace.contacts_via_workspace.primary_email ~ "LIKE"`},
	} {
		for _, m := range []string{"GET", "HEAD"} {
			f.rtOracle(t, "key "+m+" "+c.col+" "+c.flt, get(m, "/api/collections/"+c.col+"/records", "", c.key, "filter", c.flt))
		}
	}
	// realtime: topic by collection id, the deprecated form, odd case
	for _, topic := range []string{
		"pbc_2170078043/*?options=" + url.QueryEscape(`{"query":{"filter":"owner.workspaces_via_owner.contacts_via_workspace.primary_email !~ \"x%\""}}`),
		"workspaces?options=" + url.QueryEscape(`{"query":{"filter":"owner.workspaces_via_owner.contacts_via_workspace.primary_email !~ \"x%\""}}`),
		"workspaces/*?options=" + url.QueryEscape(`{"query":{"filter":"id != \"\"","filter":"owner.workspaces_via_owner.contacts_via_workspace.primary_email !~ \"x%\""}}`),
		"workspaces/" + f.W.Id + "?options=" + url.QueryEscape(`{"query":{"filter":"owner.workspaces_via_owner.contacts_via_workspace.primary_email !~ \"x%\""}}`),
		"workspaces/*?options=" + url.QueryEscape(`{"query":{"sort":"-owner.workspaces_via_owner.contacts_via_workspace.primary_email"}}`),
		"workspaces/*?options=" + url.QueryEscape(`{"query":{"filter":"owner.workspaces_via_owner.contacts_via_workspace.primary_email !~ \"x%\""},"headers":{"x-api-key":"x"}}`),
	} {
		clientID := testutil.RealtimeClientID(t, f.env)
		r := f.env.Do("POST", "/api/realtime", f.malTok, map[string]any{"clientId": clientID, "subscriptions": []string{topic}})
		if r.Status != 204 {
			continue // refused
		}
		// accepted: what the broker will evaluate must hold no forbidden path
		client, err := f.env.App.SubscriptionsBroker().ClientById(clientID)
		if err != nil {
			t.Fatal(err)
		}
		for sub, opts := range client.Subscriptions() {
			if strings.Contains(opts.Query["filter"], "_via_") || strings.Contains(opts.Query["sort"], "_via_") {
				t.Errorf("HOLE realtime %s accepted; the broker evaluates %v", sub, opts.Query)
			}
		}
	}
}

// ---------------------------------------------------------------------------
// batch: sub-requests with a restricted key

func rtBatchRestrictedKey(t *testing.T, f *rtFix) {
	key, _ := f.rtKey(t, f.andyTok, map[string]any{"scopes": []string{"contacts:write"}, "workspace": f.W.Id})
	reqs := []map[string]any{
		{"method": "POST", "url": "/api/collections/contacts/records", "body": map[string]any{"workspace": f.P.Id, "primary_email": "in.p@x.org"}},
		{"method": "PUT", "url": "/api/collections/contacts/records", "body": map[string]any{"id": f.cP.Id, "workspace": f.P.Id, "first_name": "Owned"}},
		{"method": "PUT", "url": "/api/collections/contacts/records", "body": map[string]any{"id": f.cP.Id, "workspace": f.W.Id, "first_name": "Moved"}},
		{"method": "PATCH", "url": "/api/collections/contacts/records/" + f.cP.Id, "body": map[string]any{"first_name": "Owned"}},
		{"method": "PATCH", "url": "/api/collections/contacts/records/" + f.cW.Id, "body": map[string]any{"workspace": f.P.Id}},
		{"method": "DELETE", "url": "/api/collections/contacts/records/" + f.cP.Id},
		{"method": "POST", "url": "/api/collections/contacts/records?expand=workspace.owner.workspaces_via_owner", "body": map[string]any{"workspace": f.W.Id, "primary_email": "ok.w@x.org"}},
		{"method": "POST", "url": "/api/collections/api_keys/auth-refresh"},
		{"method": "POST", "url": "http://evil.example/api/collections/contacts/records", "body": map[string]any{"workspace": f.P.Id, "primary_email": "abs@x.org"}},
	}
	for i, r := range reqs {
		res := f.env.DoWithHeaders("POST", "/api/batch", "", rtH(key), map[string]any{"requests": []map[string]any{r}})
		if i == 6 {
			if strings.Contains(string(res.Body), f.P.Id) {
				t.Errorf("HOLE batch create expand leaks P: %s", res.Body)
			}
			continue
		}
		if res.Status < 400 {
			t.Errorf("HOLE batch %v → %d %.300s", r, res.Status, res.Body)
		}
	}
	fresh, _ := f.env.App.FindRecordById("contacts", f.cP.Id)
	if fresh == nil || fresh.GetString("first_name") != "Zed" || fresh.GetString("workspace") != f.P.Id {
		t.Errorf("HOLE P's contact changed through a batch")
	}
	if w, _ := f.env.App.FindRecordById("contacts", f.cW.Id); w.GetString("workspace") != f.W.Id {
		t.Errorf("HOLE W's contact moved to P")
	}
	if n, _ := f.env.App.CountRecords("contacts", dbx.In("primary_email", "in.p@x.org", "abs@x.org")); n != 0 {
		t.Errorf("HOLE batch created %d contacts in P", n)
	}
}

// ---------------------------------------------------------------------------
// a member who leaves (or is removed) reads nothing more of the workspace

func TestRedteamRemovedMemberReadsNothing(t *testing.T) {
	t.Parallel()
	f := rtNew(t)
	// mal, admin of W, defines a custom field of W; the server writes an insight for him in W
	r := f.env.Do("POST", "/api/collections/custom_field_definitions/records", f.malTok, map[string]any{
		"user": f.mal.Id, "workspace": f.W.Id, "field_name": "deal_size", "label": "Deal size (W only)", "field_type": "text"})
	if r.Status != 200 {
		t.Fatalf("define: %d %s", r.Status, r.Body)
	}
	def := r.JSON()["id"].(string)
	ins := f.env.Create("ai_insights", map[string]any{"user": f.mal.Id, "workspace": f.W.Id, "type": "summary", "content": "W's pipeline is 1.2M"})
	m, err := f.env.App.FindFirstRecordByFilter("workspace_members", "workspace={:w} && user={:u}", map[string]any{"w": f.W.Id, "u": f.mal.Id})
	if err != nil {
		t.Fatal(err)
	}
	if r := f.env.Do("DELETE", "/api/collections/workspace_members/records/"+m.Id, f.andyTok, nil); r.Status != 204 {
		t.Fatalf("remove mal: %d %s", r.Status, r.Body)
	}
	for _, c := range []struct{ col, id string }{{"custom_field_definitions", def}, {"ai_insights", ins.Id}} {
		if r := f.env.Do("GET", "/api/collections/"+c.col+"/records", f.malTok, nil); rtHas(rtIDs(r.Body), c.id) {
			t.Errorf("HOLE a removed member still lists W's %s: %s", c.col, r.Body)
		}
		if r := f.env.Do("GET", "/api/collections/"+c.col+"/records/"+c.id, f.malTok, nil); r.Status == 200 {
			t.Errorf("HOLE a removed member still views W's %s %s", c.col, c.id)
		}
	}
	// nor can he change them
	f.env.Do("PATCH", "/api/collections/custom_field_definitions/records/"+def, f.malTok, map[string]any{"label": "pwned"})
	if d, _ := f.env.App.FindRecordById("custom_field_definitions", def); d.GetString("label") == "pwned" {
		t.Errorf("HOLE a removed member renames W's field")
	}
}

// ---------------------------------------------------------------------------
// routes reading the workspace from a repeated parameter

func rtRepeatedWorkspaceParam(t *testing.T, f *rtFix) {
	key, _ := f.rtKey(t, f.andyTok, map[string]any{"scopes": []string{"contacts:read"}, "workspace": f.W.Id})
	for _, q := range []string{
		"workspace=" + f.W.Id + "&workspace=" + f.P.Id,
		"workspace=" + f.P.Id + "&workspace=" + f.W.Id,
		"workspace=" + f.W.Id + "&workspace=" + f.P.Id + "&q=secret",
		"workspace=" + f.W.Id + "%00" + f.P.Id,
	} {
		r := f.env.DoWithHeaders("GET", "/api/crm/contacts/search?"+q, "", rtH(key), nil)
		if strings.Contains(string(r.Body), "secret.p@") || strings.Contains(string(r.Body), f.cP.Id) {
			t.Errorf("HOLE search?%s leaks P: %.300s", q, r.Body)
		}
		for _, p := range []string{"/api/crm/workspaces/" + f.W.Id + "/export?", "/api/crm/workspaces/" + f.W.Id + "/duplicates?"} {
			r := f.env.DoWithHeaders("GET", p+q, "", rtH(key), nil)
			if strings.Contains(string(r.Body), "secret.p@") {
				t.Errorf("HOLE %s%s leaks P: %.300s", p, q, r.Body)
			}
		}
	}
	// a list of P named in W's search and export
	lp := f.env.Create("contact_lists", map[string]any{"workspace": f.P.Id, "name": "P list"})
	f.env.Create("contact_list_assignments", map[string]any{"contact": f.cP.Id, "list": lp.Id})
	for _, p := range []string{"/api/crm/contacts/search?workspace=" + f.W.Id + "&list=" + lp.Id, "/api/crm/workspaces/" + f.W.Id + "/export?list=" + lp.Id} {
		r := f.env.Do("GET", p, f.malTok, nil)
		if strings.Contains(string(r.Body), "secret.p@") {
			t.Errorf("HOLE %s leaks P: %.300s", p, r.Body)
		}
	}
}

// ---------------------------------------------------------------------------
// the probes grouped on shared fixtures (each fixture starts an app)

// The api_keys record and the auth routes.
func TestRedteamKeyRecordAndAuthRoutes(t *testing.T) {
	t.Parallel()
	f := rtNew(t)
	t.Run("record", func(t *testing.T) { rtKeyCannotEditItsLimits(t, f) })
	t.Run("auth_routes", func(t *testing.T) { rtKeyAuthRoutes(t, f) })
}

// The query guard (GET, HEAD, realtime), then what a restricted key and a
// removed member's key read (this part removes mal from W: it runs last).
func TestRedteamGuardAndRestrictedReads(t *testing.T) {
	t.Parallel()
	f := rtNew(t)
	t.Run("guard", func(t *testing.T) { rtGuardForms(t, f) })
	t.Run("restricted_reads", func(t *testing.T) { rtRestrictedKeySeesOnlyItsWorkspace(t, f) })
}

// Custom routes and batch with a key restricted to W, against P.
func TestRedteamRestrictedKeyRoutesAndBatch(t *testing.T) {
	t.Parallel()
	f := rtNew(t)
	t.Run("routes", func(t *testing.T) { rtCustomRoutesRestrictedKey(t, f) })
	t.Run("repeated_params", func(t *testing.T) { rtRepeatedWorkspaceParam(t, f) })
	t.Run("batch", func(t *testing.T) { rtBatchRestrictedKey(t, f) })
}
