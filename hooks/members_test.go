package hooks_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/members"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// The invitation routes change data: TestEveryMutatingRouteListed wants them
// listed with the test that checks their audit, and TestEveryChangeAudited
// wants a case for the new collection (written here rather than in
// audit_test.go, which others are editing).
func init() {
	for _, r := range []string{
		"POST /api/crm/workspaces/{id}/members",
		"POST /api/crm/workspaces/{id}/invitations",
		"POST /api/crm/invitations/{id}/accept",
		"POST /api/crm/invitations/{id}/decline",
		"POST /api/crm/invitations/{id}/revoke",
	} {
		auditedRoutes[r] = "TestInvitationLifecycle"
	}
	auditCases[members.Collection] = auditCase{
		create: func(f *auditFixture) map[string]any {
			return map[string]any{"workspace": f.ws.Id, "email": fmt.Sprintf("inv%d@example.org", f.next()), "role": "viewer",
				"status": "pending", "expires_at": "2030-01-01 00:00:00.000Z"}
		},
		update: map[string]any{"role": "editor"},
	}
}

type invFixture struct {
	env                         *testutil.Env
	owner, admin, editor, andy  *core.Record
	ownerTok, adminTok, editTok string
	andyTok, strangerTok        string
	ws                          *core.Record
}

func newInvFixture(t *testing.T) *invFixture {
	f := &invFixture{env: testutil.New(t)}
	f.owner, f.ownerTok = f.env.User("owner@example.com")
	f.admin, f.adminTok = f.env.User("admin@example.com")
	f.editor, f.editTok = f.env.User("editor@example.com")
	f.andy, f.andyTok = f.env.User("andy@example.com")
	_, f.strangerTok = f.env.User("stranger@example.com")
	f.ws = f.env.Workspace("W", f.owner, map[*core.Record]string{f.admin: "admin", f.editor: "editor"})
	return f
}

func (f *invFixture) invite(t *testing.T, token, email, role string) testutil.Response {
	t.Helper()
	return f.env.Do("POST", "/api/crm/workspaces/"+f.ws.Id+"/members", token, map[string]any{"email": email, "role": role})
}

func (f *invFixture) pending(t *testing.T, token string) []map[string]any {
	t.Helper()
	res := f.env.Do("GET", "/api/crm/invitations", token, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("invitations: %d %s", res.Status, res.Body)
	}
	var out []map[string]any
	items, _ := res.JSON()["items"].([]any)
	for _, it := range items {
		out = append(out, it.(map[string]any))
	}
	return out
}

func (f *invFixture) invitation(t *testing.T, email string) *core.Record {
	t.Helper()
	inv, err := f.env.App.FindFirstRecordByFilter(members.Collection, "workspace = {:w} && email = {:e}", dbx.Params{"w": f.ws.Id, "e": email})
	if err != nil {
		t.Fatalf("no invitation of %s: %v", email, err)
	}
	return inv
}

func (f *invFixture) roleOf(user *core.Record) string {
	m, err := f.env.App.FindFirstRecordByFilter("workspace_members", "workspace = {:w} && user = {:u}", dbx.Params{"w": f.ws.Id, "u": user.Id})
	if err != nil {
		return ""
	}
	return m.GetString("role")
}

func listIDs(t *testing.T, env *testutil.Env, collection, token, filter string) []string {
	t.Helper()
	path := "/api/collections/" + collection + "/records?perPage=200"
	if filter != "" {
		path += "&filter=" + url.QueryEscape(filter)
	}
	res := env.Do("GET", path, token, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("list %s: %d %s", collection, res.Status, res.Body)
	}
	var ids []string
	items, _ := res.JSON()["items"].([]any)
	for _, it := range items {
		ids = append(ids, it.(map[string]any)["id"].(string))
	}
	return ids
}

func contains(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func TestInviteRefusals(t *testing.T) {
	f := newInvFixture(t)
	cases := []struct {
		name   string
		token  string
		body   map[string]any
		status int
		code   string
	}{
		{"stranger", f.strangerTok, map[string]any{"email": "andy@example.com", "role": "viewer"}, 404, "workspace_not_found"},
		{"editor", f.editTok, map[string]any{"email": "andy@example.com", "role": "viewer"}, 403, "member_forbidden"},
		{"owner role", f.ownerTok, map[string]any{"email": "andy@example.com", "role": "owner"}, 400, "member_invalid"},
		{"no role", f.ownerTok, map[string]any{"email": "andy@example.com"}, 400, "member_invalid"},
		{"no email", f.ownerTok, map[string]any{"email": " ", "role": "viewer"}, 400, "member_invalid"},
		{"not an email", f.ownerTok, map[string]any{"email": "Andy <andy@example.com>", "role": "viewer"}, 400, "member_invalid"},
		{"guest", "", map[string]any{"email": "andy@example.com", "role": "viewer"}, 401, ""},
	}
	for _, c := range cases {
		res := f.env.Do("POST", "/api/crm/workspaces/"+f.ws.Id+"/members", c.token, c.body)
		if res.Status != c.status || (c.code != "" && res.Code() != c.code) {
			t.Errorf("%s: %d %s", c.name, res.Status, res.Body)
		}
	}
	if n, _ := f.env.App.CountRecords(members.Collection); n != 0 {
		t.Fatalf("refused requests stored %d invitations", n)
	}
	if n, _ := f.env.App.CountRecords("workspace_members"); n != 3 {
		t.Fatalf("refused requests changed the members: %d", n)
	}
	// the collection API writes neither invitations nor members
	for _, w := range []struct {
		col  string
		body map[string]any
	}{
		{members.Collection, map[string]any{"workspace": f.ws.Id, "email": "andy@example.com", "role": "viewer", "status": "pending", "expires_at": "2030-01-01 00:00:00.000Z"}},
		{"workspace_members", map[string]any{"workspace": f.ws.Id, "user": f.andy.Id, "role": "viewer"}},
	} {
		if res := f.env.Do("POST", "/api/collections/"+w.col+"/records", f.ownerTok, w.body); res.Status == http.StatusOK {
			t.Errorf("owner created %s through the collection API: %s", w.col, res.Body)
		}
	}
	if f.roleOf(f.andy) != "" {
		t.Fatal("andy became a member without accepting")
	}
}

func TestInvitationLifecycle(t *testing.T) {
	f := newInvFixture(t)
	res := f.invite(t, f.adminTok, " Andy@Example.COM ", "editor")
	if res.Status != http.StatusAccepted || string(res.Body) != `{"status":"invited","email":"andy@example.com","role":"editor"}` {
		t.Fatalf("invite: %d %s", res.Status, res.Body)
	}
	inv := f.invitation(t, "andy@example.com")
	if inv.GetString("status") != "pending" || inv.GetString("role") != "editor" || inv.GetString("invited_by") != f.admin.Id {
		t.Fatalf("invitation: %v", inv)
	}
	if exp := inv.GetDateTime("expires_at").Time(); exp.Before(time.Now().Add(13*24*time.Hour)) || exp.After(time.Now().Add(15*24*time.Hour)) {
		t.Fatalf("expires_at %v", exp)
	}
	if f.roleOf(f.andy) != "" {
		t.Fatal("invited means member already")
	}
	// andy sees it, with the workspace's and the inviter's names
	p := f.pending(t, f.andyTok)
	if len(p) != 1 || p[0]["id"] != inv.Id || p[0]["role"] != "editor" || p[0]["workspace"].(map[string]any)["name"] != "W" ||
		p[0]["invited_by"].(map[string]any)["email"] != "admin@example.com" {
		t.Fatalf("pending: %v", p)
	}
	// ... and through the collection API; so do the workspace's admins, nobody else
	for who, tok := range map[string]string{"andy": f.andyTok, "owner": f.ownerTok, "admin": f.adminTok} {
		if ids := listIDs(t, f.env, members.Collection, tok, ""); !contains(ids, inv.Id) {
			t.Errorf("%s does not list the invitation", who)
		}
		if res := f.env.Do("GET", "/api/collections/"+members.Collection+"/records/"+inv.Id, tok, nil); res.Status != 200 {
			t.Errorf("%s cannot view the invitation: %d", who, res.Status)
		}
	}
	for who, tok := range map[string]string{"editor": f.editTok, "stranger": f.strangerTok} {
		if ids := listIDs(t, f.env, members.Collection, tok, ""); len(ids) != 0 {
			t.Errorf("%s lists invitations: %v", who, ids)
		}
		if res := f.env.Do("GET", "/api/collections/"+members.Collection+"/records/"+inv.Id, tok, nil); res.Status != 404 {
			t.Errorf("%s views the invitation: %d", who, res.Status)
		}
		if got := f.pending(t, tok); len(got) != 0 {
			t.Errorf("%s has andy's invitation: %v", who, got)
		}
	}
	// the invitee reads no more of the workspace than the invitation until it accepts
	if res := f.env.Do("GET", "/api/collections/workspaces/records/"+f.ws.Id, f.andyTok, nil); res.Status != 404 {
		t.Fatalf("invitee reads the workspace before accepting: %d", res.Status)
	}
	// nobody answers for andy, and no other invitation is andy's
	for who, tok := range map[string]string{"owner": f.ownerTok, "stranger": f.strangerTok} {
		for _, action := range []string{"accept", "decline"} {
			if res := f.env.Do("POST", "/api/crm/invitations/"+inv.Id+"/"+action, tok, nil); res.Status != 404 || res.Code() != "invitation_not_found" {
				t.Errorf("%s %s andy's invitation: %d %s", who, action, res.Status, res.Body)
			}
		}
	}
	if res := f.env.Do("POST", "/api/crm/invitations/nosuchid123456/accept", f.andyTok, nil); res.Status != 404 || res.Code() != "invitation_not_found" {
		t.Errorf("unknown invitation: %d %s", res.Status, res.Body)
	}

	res = f.env.Do("POST", "/api/crm/invitations/"+inv.Id+"/accept", f.andyTok, nil)
	if res.Status != http.StatusOK || res.JSON()["role"] != "editor" || res.JSON()["workspace"].(map[string]any)["id"] != f.ws.Id {
		t.Fatalf("accept: %d %s", res.Status, res.Body)
	}
	if f.roleOf(f.andy) != "editor" {
		t.Fatalf("after accepting andy is %q", f.roleOf(f.andy))
	}
	inv, _ = f.env.App.FindRecordById(members.Collection, inv.Id)
	if inv.GetString("status") != "accepted" || inv.GetDateTime("accepted_at").IsZero() {
		t.Fatalf("invitation after accept: %v", inv)
	}
	if res := f.env.Do("GET", "/api/collections/workspaces/records/"+f.ws.Id, f.andyTok, nil); res.Status != 200 {
		t.Fatalf("member cannot read the workspace: %d", res.Status)
	}
	if len(f.pending(t, f.andyTok)) != 0 {
		t.Fatal("an accepted invitation is still pending")
	}
	for _, action := range []string{"accept", "decline"} {
		if res := f.env.Do("POST", "/api/crm/invitations/"+inv.Id+"/"+action, f.andyTok, nil); res.Status != 409 || res.Code() != "invitation_not_pending" {
			t.Errorf("%s again: %d %s", action, res.Status, res.Body)
		}
	}
	if res := f.env.Do("POST", "/api/crm/invitations/"+inv.Id+"/revoke", f.ownerTok, nil); res.Status != 409 || res.Code() != "invitation_not_pending" {
		t.Errorf("revoke an accepted invitation: %d %s", res.Status, res.Body)
	}

	// audit: the invitation's create and update by their actors, the membership by andy
	m, _ := f.env.App.FindFirstRecordByFilter("workspace_members", "workspace = {:w} && user = {:u}", dbx.Params{"w": f.ws.Id, "u": f.andy.Id})
	e := entriesFor(t, f.env.App, "workspace_members", m.Id)
	if len(e) != 1 || e[0].GetString("action") != "create" || e[0].GetString("user") != f.andy.Id || e[0].GetString("workspace") != f.ws.Id {
		t.Fatalf("membership audit: %v", e)
	}
	e = entriesFor(t, f.env.App, members.Collection, inv.Id)
	if len(e) != 2 || e[0].GetString("action") != "create" || e[0].GetString("user") != f.admin.Id ||
		e[1].GetString("action") != "update" || e[1].GetString("user") != f.andy.Id || e[1].GetString("workspace") != f.ws.Id {
		t.Fatalf("invitation audit: %v", e)
	}

	// decline and revoke, through the alias route
	carol, carolTok := f.env.User("carol@example.com")
	dave, daveTok := f.env.User("dave@example.com")
	for _, who := range []string{"carol@example.com", "dave@example.com"} {
		if res := f.env.Do("POST", "/api/crm/workspaces/"+f.ws.Id+"/invitations", f.ownerTok, map[string]any{"email": who, "role": "viewer"}); res.Status != 202 {
			t.Fatalf("invite %s: %d %s", who, res.Status, res.Body)
		}
	}
	ci, di := f.invitation(t, "carol@example.com"), f.invitation(t, "dave@example.com")
	if res := f.env.Do("POST", "/api/crm/invitations/"+ci.Id+"/decline", carolTok, nil); res.Status != 200 {
		t.Fatalf("decline: %d %s", res.Status, res.Body)
	}
	if f.roleOf(carol) != "" || len(f.pending(t, carolTok)) != 0 {
		t.Fatal("declined and still a member or pending")
	}
	if ci, _ = f.env.App.FindRecordById(members.Collection, ci.Id); ci.GetString("status") != "declined" {
		t.Fatalf("declined invitation: %v", ci)
	}
	if res := f.env.Do("POST", "/api/crm/invitations/"+ci.Id+"/accept", carolTok, nil); res.Status != 409 || res.Code() != "invitation_not_pending" {
		t.Fatalf("accept after decline: %d %s", res.Status, res.Body)
	}
	for who, tok := range map[string]string{"editor": f.editTok, "stranger": f.strangerTok, "invitee": daveTok} {
		if res := f.env.Do("POST", "/api/crm/invitations/"+di.Id+"/revoke", tok, nil); res.Status != 404 || res.Code() != "invitation_not_found" {
			t.Errorf("%s revokes: %d %s", who, res.Status, res.Body)
		}
	}
	if res := f.env.Do("POST", "/api/crm/invitations/"+di.Id+"/revoke", f.adminTok, nil); res.Status != 200 {
		t.Fatalf("revoke: %d %s", res.Status, res.Body)
	}
	if len(f.pending(t, daveTok)) != 0 {
		t.Fatal("a revoked invitation is still pending")
	}
	if res := f.env.Do("POST", "/api/crm/invitations/"+di.Id+"/accept", daveTok, nil); res.Status != 409 || res.Code() != "invitation_not_pending" {
		t.Fatalf("accept after revoke: %d %s", res.Status, res.Body)
	}
	if f.roleOf(dave) != "" {
		t.Fatal("revoked invitation made a member")
	}
	// a new invitation after a declined one is a new pending one
	if res := f.invite(t, f.ownerTok, "carol@example.com", "admin"); res.Status != 202 {
		t.Fatalf("re-invite: %d %s", res.Status, res.Body)
	}
	if p := f.pending(t, carolTok); len(p) != 1 || p[0]["role"] != "admin" || p[0]["id"] == ci.Id {
		t.Fatalf("re-invitation: %v", p)
	}
}

func TestInvitationExpires(t *testing.T) {
	f := newInvFixture(t)
	f.invite(t, f.ownerTok, "andy@example.com", "viewer")
	inv := f.invitation(t, "andy@example.com")
	inv.Set("expires_at", time.Now().Add(-time.Minute).UTC())
	if err := f.env.App.Save(inv); err != nil {
		t.Fatal(err)
	}
	if len(f.pending(t, f.andyTok)) != 0 {
		t.Fatal("an expired invitation is listed")
	}
	for _, action := range []string{"accept", "decline"} {
		if res := f.env.Do("POST", "/api/crm/invitations/"+inv.Id+"/"+action, f.andyTok, nil); res.Status != http.StatusGone || res.Code() != "invitation_expired" {
			t.Errorf("%s expired: %d %s", action, res.Status, res.Body)
		}
	}
	if f.roleOf(f.andy) != "" {
		t.Fatal("expired invitation made a member")
	}
	// inviting again renews the same invitation
	if res := f.invite(t, f.adminTok, "andy@example.com", "editor"); res.Status != 202 {
		t.Fatalf("renew: %d %s", res.Status, res.Body)
	}
	if n, _ := f.env.App.CountRecords(members.Collection); n != 1 {
		t.Fatalf("renewing made %d invitations", n)
	}
	if res := f.env.Do("POST", "/api/crm/invitations/"+inv.Id+"/accept", f.andyTok, nil); res.Status != 200 || f.roleOf(f.andy) != "editor" {
		t.Fatalf("accept renewed: %d %s, role %q", res.Status, res.Body, f.roleOf(f.andy))
	}
}

// The invite answers alike for an address without an account, with one, and
// of a member already: status and bytes, for the same address in each state;
// the invitation an admin can read is the same for the first two.
func TestInviteIsNoAccountOracle(t *testing.T) {
	f := newInvFixture(t)
	email := "newcomer@example.com"
	answer := func() testutil.Response {
		t.Helper()
		res := f.invite(t, f.ownerTok, email, "viewer")
		if res.Status != http.StatusAccepted {
			t.Fatalf("invite: %d %s", res.Status, res.Body)
		}
		return res
	}
	view := func() string {
		t.Helper()
		res := f.env.Do("GET", "/api/collections/"+members.Collection+"/records?filter="+url.QueryEscape(`email = "`+email+`"`)+
			"&fields=email,role,status,invited_by,workspace,accepted_at", f.ownerTok, nil)
		// the fields of a record come out in any order: compare them sorted
		canonical, _ := json.Marshal(res.JSON())
		return string(canonical)
	}
	noAccount := answer()
	viewNoAccount := view()
	user, tok := f.env.User(email)
	withAccount := answer()
	viewWithAccount := view()
	res := f.env.Do("POST", "/api/crm/invitations/"+f.invitation(t, email).Id+"/accept", tok, nil)
	if res.Status != 200 || f.roleOf(user) != "viewer" {
		t.Fatalf("accept: %d %s", res.Status, res.Body)
	}
	member := answer()
	if !bytes.Equal(noAccount.Body, withAccount.Body) || !bytes.Equal(noAccount.Body, member.Body) {
		t.Fatalf("answers differ:\n%s\n%s\n%s", noAccount.Body, withAccount.Body, member.Body)
	}
	if viewNoAccount != viewWithAccount {
		t.Fatalf("the invitation reads differently once an account exists:\n%s\n%s", viewNoAccount, viewWithAccount)
	}
	// nothing new for a member: the admin already sees the members
	if n, _ := f.env.App.CountRecords(members.Collection, dbx.HashExp{"email": email, "status": "pending"}); n != 0 {
		t.Fatalf("a member got a pending invitation")
	}
	// and across addresses, the answer differs only by the address it repeats
	a := f.invite(t, f.ownerTok, "andy@example.com", "viewer")
	b := f.invite(t, f.ownerTok, "nobody-here@example.com", "viewer")
	if a.Status != b.Status || strings.Replace(string(a.Body), "andy@example.com", "X", 1) != strings.Replace(string(b.Body), "nobody-here@example.com", "X", 1) {
		t.Fatalf("answers differ: %s / %s", a.Body, b.Body)
	}
}

// Finding 6: an outsider who invites Andy to her own workspace does not get
// to see Andy (nor anything of Andy's) until Andy accepts.
func TestInviteDoesNotExposeTheInvitee(t *testing.T) {
	env := testutil.New(t)
	andy, andyTok := env.User("andy@example.com")
	env.Workspace("Andy's", andy, nil)
	out, outTok := env.User("outsider@example.com")
	mine := env.Workspace("Mine", out, nil)
	res := env.Do("POST", "/api/crm/workspaces/"+mine.Id+"/members", outTok, map[string]any{"email": "andy@example.com", "role": "viewer"})
	if res.Status != http.StatusAccepted {
		t.Fatalf("invite: %d %s", res.Status, res.Body)
	}
	if ids := listIDs(t, env, "users", outTok, ""); contains(ids, andy.Id) {
		t.Fatalf("outsider sees andy before andy accepted: %v", ids)
	}
	if res := env.Do("GET", "/api/collections/users/records/"+andy.Id, outTok, nil); res.Status != 404 {
		t.Fatalf("outsider views andy: %d", res.Status)
	}
	// andy sees who invited, by name, without becoming visible
	res = env.Do("GET", "/api/crm/invitations", andyTok, nil)
	if res.Status != 200 || !strings.Contains(string(res.Body), "outsider@example.com") {
		t.Fatalf("andy's invitations: %d %s", res.Status, res.Body)
	}
	items := res.JSON()["items"].([]any)
	id := items[0].(map[string]any)["id"].(string)
	if res := env.Do("POST", "/api/crm/invitations/"+id+"/decline", andyTok, nil); res.Status != 200 {
		t.Fatalf("decline: %d %s", res.Status, res.Body)
	}
	if ids := listIDs(t, env, "users", outTok, ""); contains(ids, andy.Id) || len(ids) != 1 || ids[0] != out.Id {
		t.Fatalf("outsider sees %v after andy declined", ids)
	}
}

// API keys: an admin key invites and revokes within its reach; no key
// answers an invitation.
func TestInvitationsWithAPIKeys(t *testing.T) {
	f := newInvFixture(t)
	mkKey := func(body map[string]any) string {
		t.Helper()
		res := f.env.Do("POST", "/api/crm/api-keys", f.ownerTok, body)
		if res.Status != http.StatusOK {
			t.Fatalf("key: %d %s", res.Status, res.Body)
		}
		return res.JSON()["key"].(string)
	}
	other := f.env.Workspace("Other", f.owner, nil)
	admin := mkKey(map[string]any{"description": "a", "scopes": []string{"admin"}})
	reader := mkKey(map[string]any{"description": "r", "scopes": []string{"contacts:read"}})
	elsewhere := mkKey(map[string]any{"description": "o", "scopes": []string{"admin"}, "workspace": other.Id})
	path := "/api/crm/workspaces/" + f.ws.Id + "/members"
	body := map[string]any{"email": "andy@example.com", "role": "viewer"}

	if res := f.env.DoWithHeaders("POST", path, "", withKey(reader), body); res.Status != 403 || res.Code() != "api_key_scope_missing" {
		t.Errorf("contacts:read key invites: %d %s", res.Status, res.Body)
	}
	if res := f.env.DoWithHeaders("POST", path, "", withKey(elsewhere), body); res.Status != 404 || res.Code() != "workspace_not_found" {
		t.Errorf("key of another workspace invites: %d %s", res.Status, res.Body)
	}
	if res := f.env.DoWithHeaders("POST", path, "", withKey(admin), body); res.Status != 202 {
		t.Fatalf("admin key invites: %d %s", res.Status, res.Body)
	}
	inv := f.invitation(t, "andy@example.com")
	if e := entriesFor(t, f.env.App, members.Collection, inv.Id); len(e) != 1 || e[0].GetString("user") != f.owner.Id || e[0].GetString("api_key") == "" {
		t.Errorf("audit of a key's invite: %v", e)
	}
	// the collection API: the key branch of the read rule (admin grant, workspace in reach)
	for name, k := range map[string]string{"admin": admin, "contacts:read": reader, "other workspace": elsewhere} {
		res := f.env.DoWithHeaders("GET", "/api/collections/"+members.Collection+"/records/"+inv.Id, "", withKey(k), nil)
		if want := name == "admin"; (res.Status == 200) != want {
			t.Errorf("%s key views the invitation: %d %s", name, res.Status, res.Body)
		}
	}
	if res := f.env.DoWithHeaders("POST", "/api/crm/invitations/"+inv.Id+"/revoke", "", withKey(elsewhere), nil); res.Status != 404 {
		t.Errorf("key of another workspace revokes: %d %s", res.Status, res.Body)
	}

	// andy's own key answers nothing
	andyKey := func() string {
		res := f.env.Do("POST", "/api/crm/api-keys", f.andyTok, map[string]any{"description": "k", "scopes": []string{"admin"}})
		if res.Status != 200 {
			t.Fatalf("andy's key: %d %s", res.Status, res.Body)
		}
		return res.JSON()["key"].(string)
	}()
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/crm/invitations"},
		{"POST", "/api/crm/invitations/" + inv.Id + "/accept"},
		{"POST", "/api/crm/invitations/" + inv.Id + "/decline"},
	} {
		if res := f.env.DoWithHeaders(r.method, r.path, "", withKey(andyKey), nil); res.Status != 403 || res.Code() != "api_key_route_forbidden" {
			t.Errorf("key on %s %s: %d %s", r.method, r.path, res.Status, res.Body)
		}
	}
	if f.roleOf(f.andy) != "" {
		t.Fatal("a key joined andy to the workspace")
	}
	if res := f.env.DoWithHeaders("POST", "/api/crm/invitations/"+inv.Id+"/revoke", "", withKey(admin), nil); res.Status != 200 {
		t.Fatalf("admin key revokes: %d %s", res.Status, res.Body)
	}
}

// An account whose stored email has capitals still finds and answers its
// invitations (addresses are compared lower-cased).
func TestInvitationMixedCaseAccount(t *testing.T) {
	f := newInvFixture(t)
	u, tok := f.env.User("Mixed.Case@Example.com")
	if res := f.invite(t, f.ownerTok, "mixed.case@example.COM", "viewer"); res.Status != 202 {
		t.Fatalf("invite: %d %s", res.Status, res.Body)
	}
	inv := f.invitation(t, "mixed.case@example.com")
	if ids := listIDs(t, f.env, members.Collection, tok, ""); !contains(ids, inv.Id) {
		t.Errorf("the invitee does not list its invitation (stored email %q)", u.Email())
	}
	if p := f.pending(t, tok); len(p) != 1 {
		t.Fatalf("pending: %v", p)
	}
	if res := f.env.Do("POST", "/api/crm/invitations/"+inv.Id+"/accept", tok, nil); res.Status != 200 || f.roleOf(u) != "viewer" {
		t.Fatalf("accept: %d %s", res.Status, res.Body)
	}
}
