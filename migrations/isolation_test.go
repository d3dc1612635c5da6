package migrations_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pocketbase/pocketbase/core"
)

// The principals of the matrix, seen from workspace W.
const (
	pOwner    = "owner"
	pAdmin    = "admin"
	pEditor   = "editor"
	pViewer   = "viewer"
	pOutsider = "outsider" // member (owner) of another workspace only
	pGuest    = "guest"
)

var principals = []string{pOwner, pAdmin, pEditor, pViewer, pOutsider, pGuest}

var (
	everyMember = []string{pOwner, pAdmin, pEditor, pViewer}
	editorsUp   = []string{pOwner, pAdmin, pEditor}
	adminsUp    = []string{pOwner, pAdmin}
	nobody      = []string{}
)

type fixture struct {
	env    *testutil.Env
	users  map[string]*core.Record
	tokens map[string]string
	w, x   *core.Record // W: the workspace under test; X: the outsider's own
	seq    atomic.Int64
}

func (f *fixture) next() int64 { return f.seq.Add(1) }

// newFixture builds W with one member per role. To catch rules that mix up
// memberships, the viewer and the editor hold stronger roles in workspace Y
// (owned by the outsider), and the outsider owns X.
func newFixture(t *testing.T) *fixture {
	env := testutil.New(t)
	f := &fixture{env: env, users: map[string]*core.Record{}, tokens: map[string]string{}}
	for _, p := range principals[:5] {
		f.users[p], f.tokens[p] = env.User(p + "@example.com")
	}
	// custom values must have a definition: "tier" applies to every
	// workspace the owner owns, W and its disposable copies included
	env.Create("custom_field_definitions", map[string]any{"user": f.users[pOwner].Id, "field_name": "tier", "label": "Tier", "field_type": "text"})
	f.w = f.workspaceLikeW()
	f.x = env.Workspace("X", f.users[pOutsider], nil)
	env.Workspace("Y", f.users[pOutsider], map[*core.Record]string{f.users[pViewer]: "editor", f.users[pEditor]: "admin"})
	return f
}

// workspaceLikeW makes a workspace with W's memberships (W itself, or a
// disposable copy for the workspace cells that rename or delete it).
func (f *fixture) workspaceLikeW() *core.Record {
	return f.env.Workspace(fmt.Sprintf("W%d", f.next()), f.users[pOwner], map[*core.Record]string{
		f.users[pAdmin]: "admin", f.users[pEditor]: "editor", f.users[pViewer]: "viewer",
	})
}

func (f *fixture) contact(ws *core.Record) *core.Record {
	n := f.next()
	return f.env.Create("contacts", map[string]any{"workspace": ws.Id, "first_name": "C", "primary_email": fmt.Sprintf("c%d@example.org", n)})
}

func (f *fixture) list(ws *core.Record) *core.Record {
	return f.env.Create("contact_lists", map[string]any{"workspace": ws.Id, "name": fmt.Sprintf("L%d", f.next())})
}

func (f *fixture) campaign(ws *core.Record, status string) *core.Record {
	return f.env.Create("campaigns", map[string]any{"workspace": ws.Id, "name": fmt.Sprintf("Camp%d", f.next()), "type": "email", "status": status})
}

// collectionCase describes one collection: how to make a target record in W,
// what a create and an update send, and who may do what.
type collectionCase struct {
	name    string
	target  func(f *fixture) *core.Record
	create  func(f *fixture) map[string]any // nil: there is no API create (rule nil)
	update  map[string]any                  // strings get a unique suffix where the field is unique
	allowed map[string][]string             // op -> principals
}

func cases() []collectionCase {
	return []collectionCase{
		{
			name:   "workspaces",
			target: func(f *fixture) *core.Record { return f.workspaceLikeW() },
			// a workspace owned by W's owner can only be created by that owner
			create: func(f *fixture) map[string]any {
				return map[string]any{"name": fmt.Sprintf("New%d", f.next()), "owner": f.users[pOwner].Id}
			},
			update:  map[string]any{"name": "Renamed %d"},
			allowed: ops(everyMember, []string{pOwner}, adminsUp, []string{pOwner}),
		},
		{
			name: "workspace_members",
			target: func(f *fixture) *core.Record {
				u, _ := f.env.User(fmt.Sprintf("m%d@example.com", f.next()))
				return f.env.Create("workspace_members", map[string]any{"workspace": f.w.Id, "user": u.Id, "role": "viewer"})
			},
			create: func(f *fixture) map[string]any {
				u, _ := f.env.User(fmt.Sprintf("n%d@example.com", f.next()))
				return map[string]any{"workspace": f.w.Id, "user": u.Id, "role": "editor"}
			},
			update: map[string]any{"role": "editor"},
			// memberships come by invitation: nobody adds an account without its consent
			allowed: ops(everyMember, nobody, adminsUp, adminsUp),
		},
		{
			// written by the invitation routes only (services/members); the
			// invitee (none of the principals here) reads its own: hooks/members_test.go
			name: "workspace_invitations",
			target: func(f *fixture) *core.Record {
				return f.env.Create("workspace_invitations", map[string]any{"workspace": f.w.Id, "email": fmt.Sprintf("invitee%d@example.org", f.next()),
					"role": "editor", "status": "pending", "invited_by": f.users[pOwner].Id, "expires_at": "2030-01-01 00:00:00.000Z"})
			},
			create:  nil,
			update:  map[string]any{"role": "viewer"},
			allowed: ops(adminsUp, nobody, nobody, nobody),
		},
		{
			name:   "contacts",
			target: func(f *fixture) *core.Record { return f.contact(f.w) },
			create: func(f *fixture) map[string]any {
				return map[string]any{"workspace": f.w.Id, "first_name": "New", "primary_email": fmt.Sprintf("new%d@example.org", f.next())}
			},
			update:  map[string]any{"company": "Changed Ltd"},
			allowed: ops(everyMember, editorsUp, editorsUp, editorsUp),
		},
		{
			name: "custom_field_definitions",
			target: func(f *fixture) *core.Record {
				return f.env.Create("custom_field_definitions", map[string]any{"user": f.users[pOwner].Id, "workspace": f.w.Id,
					"field_name": fmt.Sprintf("f%d", f.next()), "label": "F", "field_type": "text"})
			},
			// a workspace definition is managed by the workspace's admins; the
			// creating user must name itself
			create:  nil, // per-principal body below (user = caller)
			update:  map[string]any{"label": "Changed"},
			allowed: ops(everyMember, adminsUp, adminsUp, adminsUp),
		},
		{
			name: "custom_fields",
			target: func(f *fixture) *core.Record {
				return f.env.Create("custom_fields", map[string]any{"contact": f.contact(f.w).Id, "field_name": "tier", "field_value": "gold", "field_type": "text"})
			},
			create: func(f *fixture) map[string]any {
				return map[string]any{"contact": f.contact(f.w).Id, "field_name": "tier", "field_value": "gold", "field_type": "text"}
			},
			update:  map[string]any{"field_value": "silver"},
			allowed: ops(everyMember, editorsUp, editorsUp, editorsUp),
		},
		{
			name:   "contact_lists",
			target: func(f *fixture) *core.Record { return f.list(f.w) },
			create: func(f *fixture) map[string]any {
				return map[string]any{"workspace": f.w.Id, "name": fmt.Sprintf("List%d", f.next())}
			},
			update:  map[string]any{"name": "Renamed list %d"},
			allowed: ops(everyMember, editorsUp, editorsUp, editorsUp),
		},
		{
			name: "contact_list_assignments",
			target: func(f *fixture) *core.Record {
				return f.env.Create("contact_list_assignments", map[string]any{"contact": f.contact(f.w).Id, "list": f.list(f.w).Id})
			},
			create: func(f *fixture) map[string]any {
				return map[string]any{"contact": f.contact(f.w).Id, "list": f.list(f.w).Id, "is_primary": true}
			},
			update:  map[string]any{"is_primary": true},
			allowed: ops(everyMember, editorsUp, editorsUp, editorsUp),
		},
		{
			name: "templates",
			target: func(f *fixture) *core.Record {
				return f.env.Create("templates", map[string]any{"workspace": f.w.Id, "name": fmt.Sprintf("T%d", f.next()), "channel": "email"})
			},
			create: func(f *fixture) map[string]any {
				return map[string]any{"workspace": f.w.Id, "name": fmt.Sprintf("NT%d", f.next()), "channel": "sms", "body_text": "Hi"}
			},
			update:  map[string]any{"subject": "Hello"},
			allowed: ops(everyMember, editorsUp, editorsUp, editorsUp),
		},
		{
			name:   "campaigns",
			target: func(f *fixture) *core.Record { return f.campaign(f.w, "draft") },
			create: func(f *fixture) map[string]any {
				return map[string]any{"workspace": f.w.Id, "name": fmt.Sprintf("NC%d", f.next()), "type": "email"}
			},
			update:  map[string]any{"name": "Renamed campaign"},
			allowed: ops(everyMember, editorsUp, editorsUp, editorsUp),
		},
		{
			name: "campaign_approvals",
			target: func(f *fixture) *core.Record {
				return f.env.Create("campaign_approvals", map[string]any{"campaign": f.campaign(f.w, "pending_approval").Id, "status": "pending"})
			},
			// decisions are made by the campaign routes only (four-eyes)
			create:  nil,
			update:  map[string]any{"notes": "looks good"},
			allowed: ops(everyMember, nobody, nobody, nobody),
		},
		{
			name: "campaign_deliveries",
			target: func(f *fixture) *core.Record {
				c := f.contact(f.w)
				return f.env.Create("campaign_deliveries", map[string]any{"campaign": f.campaign(f.w, "sent").Id, "contact": c.Id,
					"channel": "email", "address": c.GetString("primary_email"), "status": "sent"})
			},
			create:  nil,
			update:  map[string]any{"status": "failed"},
			allowed: ops(everyMember, nobody, nobody, nobody),
		},
		{
			name: "outbox_messages",
			target: func(f *fixture) *core.Record {
				c := f.contact(f.w)
				camp := f.campaign(f.w, "sent")
				d := f.env.Create("campaign_deliveries", map[string]any{"campaign": camp.Id, "contact": c.Id,
					"channel": "email", "address": c.GetString("primary_email"), "status": "sent"})
				return f.env.Create("outbox_messages", map[string]any{"workspace": f.w.Id, "campaign": camp.Id, "delivery": d.Id,
					"contact": c.Id, "to": c.GetString("primary_email"), "subject": "S", "text": "T"})
			},
			create:  nil,
			update:  map[string]any{"subject": "changed"},
			allowed: ops(everyMember, nobody, nobody, nobody),
		},
		{
			name: "provider_daily_counts",
			target: func(f *fixture) *core.Record {
				return f.env.Create("provider_daily_counts", map[string]any{"workspace": f.w.Id, "provider": "outbox",
					"day": fmt.Sprintf("2026-01-%02d", 1+f.next()%28), "count": 3})
			},
			create:  nil,
			update:  map[string]any{"count": 0},
			allowed: ops(nobody, nobody, nobody, nobody),
		},
		{
			name: "webhook_tokens",
			target: func(f *fixture) *core.Record {
				return f.env.Create("webhook_tokens", map[string]any{"workspace": f.w.Id, "provider": "mailgun",
					"token": fmt.Sprintf("tok%d", f.next()), "expires_at": "2026-12-01 12:00:00.000Z"})
			},
			create:  nil,
			update:  map[string]any{"token": "changed"},
			allowed: ops(nobody, nobody, nobody, nobody),
		},
		{
			name: "suppressions",
			target: func(f *fixture) *core.Record {
				return f.env.Create("suppressions", map[string]any{"workspace": f.w.Id, "channel": "email", "address": fmt.Sprintf("s%d@example.org", f.next()), "reason": "unsubscribe"})
			},
			create: func(f *fixture) map[string]any {
				return map[string]any{"workspace": f.w.Id, "channel": "sms", "address": fmt.Sprintf("+1555000%04d", f.next()), "reason": "manual"}
			},
			update:  map[string]any{"reason": "manual"},
			allowed: ops(everyMember, editorsUp, adminsUp, adminsUp),
		},
		{
			name: "communication_logs",
			target: func(f *fixture) *core.Record {
				return f.env.Create("communication_logs", map[string]any{"workspace": f.w.Id, "contact": f.contact(f.w).Id, "type": "note", "content": "hello"})
			},
			create: func(f *fixture) map[string]any {
				return map[string]any{"workspace": f.w.Id, "contact": f.contact(f.w).Id, "type": "call", "content": "called"}
			},
			update:  map[string]any{"content": "edited"},
			allowed: ops(everyMember, editorsUp, editorsUp, editorsUp),
		},
		{
			name: "ai_insights",
			target: func(f *fixture) *core.Record {
				// written by the owner's AI run, shared with the workspace
				return f.env.Create("ai_insights", map[string]any{"user": f.users[pOwner].Id, "workspace": f.w.Id, "type": "summary", "content": "c", "confidence": 0.5})
			},
			create:  nil,
			update:  map[string]any{"content": "x"},
			allowed: ops(everyMember, nobody, nobody, adminsUp),
		},
		// the insights of a run (migration 1764001520): the read rule asks per
		// area for what the same facts need elsewhere
		insightCase("campaigns", everyMember),
		insightCase("summary", everyMember),
		insightCase("admin", adminsUp),
		{
			// written by the insights runs only (services/insights)
			name: "ai_insight_runs",
			target: func(f *fixture) *core.Record {
				return f.env.Create("ai_insight_runs", map[string]any{"workspace": f.w.Id, "trigger": "manual", "status": "done", "metrics": 12})
			},
			create:  nil,
			update:  map[string]any{"status": "failed"},
			allowed: ops(everyMember, nobody, nobody, nobody),
		},
		{
			name: "audit_logs",
			target: func(f *fixture) *core.Record {
				return f.env.Create("audit_logs", map[string]any{"workspace": f.w.Id, "user": f.users[pEditor].Id, "action": "update",
					"entity_type": "contacts", "entity_id": "x", "timestamp": "2026-01-01 00:00:00.000Z"})
			},
			create:  nil,
			update:  map[string]any{"action": "delete"},
			allowed: ops(adminsUp, nobody, nobody, nobody),
		},
		{
			// written by the server only (services/ai), one row per model call
			name: "ai_usage",
			target: func(f *fixture) *core.Record {
				return f.env.Create("ai_usage", map[string]any{"workspace": f.w.Id, "user": f.users[pEditor].Id, "purpose": "template_generate",
					"model": "m", "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, "latency_ms": 3, "status": "ok"})
			},
			create:  nil,
			update:  map[string]any{"total_tokens": 1},
			allowed: ops(adminsUp, nobody, nobody, nobody),
		},
		{
			name: "system_settings",
			target: func(f *fixture) *core.Record {
				return f.env.Create("system_settings", map[string]any{"scope": "workspace", "scope_id": f.w.Id, "setting_key": fmt.Sprintf("k%d", f.next()), "setting_value": map[string]any{"a": 1}})
			},
			create: func(f *fixture) map[string]any {
				return map[string]any{"scope": "workspace", "scope_id": f.w.Id, "setting_key": fmt.Sprintf("n%d", f.next()), "setting_value": map[string]any{"a": 2}}
			},
			update:  map[string]any{"setting_value": map[string]any{"a": 3}},
			allowed: ops(adminsUp, adminsUp, adminsUp, adminsUp),
		},
		{
			name: "api_keys",
			target: func(f *fixture) *core.Record {
				n := f.next()
				return f.env.Create("api_keys", map[string]any{"user": f.users[pOwner].Id, "description": "k", "key_hash": fmt.Sprintf("%064d", n),
					"key_prefix": fmt.Sprintf("pcrm_%d", n), "scopes": []string{"contacts:read"}, "grants": "|contacts:read|", "is_active": true,
					"password": fmt.Sprintf("unused-password-%d", n)})
			},
			create:  nil,
			update:  map[string]any{"description": "renamed"},
			allowed: ops([]string{pOwner}, nobody, []string{pOwner}, []string{pOwner}),
		},
		{
			name: "import_jobs",
			target: func(f *fixture) *core.Record {
				return f.env.Create("import_jobs", map[string]any{"workspace": f.w.Id, "status": "completed"})
			},
			create:  nil,
			update:  map[string]any{"status": "failed"},
			allowed: ops(everyMember, nobody, nobody, nobody),
		},
		{
			// written by the merge routes only (services/merge)
			name: "contact_merges",
			target: func(f *fixture) *core.Record {
				return f.env.Create("contact_merges", map[string]any{"workspace": f.w.Id, "source_id": fmt.Sprintf("src%d", f.next()),
					"target": f.contact(f.w).Id, "snapshot": map[string]any{}, "moved": map[string]any{}})
			},
			create:  nil,
			update:  map[string]any{"undone_at": "2026-01-02 00:00:00.000Z"},
			allowed: ops(everyMember, nobody, nobody, nobody),
		},
	}
}

// insightCase: an insight of a run in area (the nightly job has no user),
// read by readers; deleted by admins and owners as before.
func insightCase(area string, readers []string) collectionCase {
	return collectionCase{
		name: "ai_insights",
		target: func(f *fixture) *core.Record {
			run := f.env.Create("ai_insight_runs", map[string]any{"workspace": f.w.Id, "trigger": "nightly", "status": "done"})
			return f.env.Create("ai_insights", map[string]any{"workspace": f.w.Id, "run": run.Id, "type": "m_" + area, "area": area,
				"content": "c", "value": 3, "data": map[string]any{"n": 3}, "confidence": 1})
		},
		create:  nil,
		update:  map[string]any{"content": "x"},
		allowed: ops(readers, nobody, nobody, adminsUp),
	}
}

func ops(read, create, update, del []string) map[string][]string {
	return map[string][]string{"list": read, "view": read, "create": create, "update": update, "delete": del}
}

// TestIsolationMatrix checks every collection × operation × principal cell.
func TestIsolationMatrix(t *testing.T) {
	f := newFixture(t)
	total := 0

	// every collection of ours must be in the matrix
	covered := map[string]bool{"users": true}
	for _, c := range cases() {
		covered[c.name] = true
	}
	all, err := f.env.App.FindAllCollections(core.CollectionTypeBase)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range all {
		if !c.System && !covered[c.Name] {
			t.Errorf("collection %s has no isolation cases", c.Name)
		}
	}

	for _, cc := range cases() {
		for _, op := range []string{"list", "view", "create", "update", "delete"} {
			for _, p := range principals {
				want := slices.Contains(cc.allowed[op], p)
				t.Run(fmt.Sprintf("%s/%s/%s", cc.name, op, p), func(t *testing.T) {
					total++
					got, detail := f.attempt(t, cc, op, p)
					if got != want {
						t.Errorf("allowed=%v, want %v (%s)", got, want, detail)
					}
				})
			}
		}
	}
	t.Logf("isolation matrix: %d cases", total)
}

// attempt runs one cell and reports whether the operation went through.
func (f *fixture) attempt(t *testing.T, cc collectionCase, op, p string) (bool, string) {
	token := f.tokens[p]
	base := "/api/collections/" + cc.name + "/records"
	switch op {
	case "list":
		target := cc.target(f)
		res := f.env.Do(http.MethodGet, base+"?filter="+url.QueryEscape(`id = "`+target.Id+`"`), token, nil)
		if res.Status != http.StatusOK {
			return false, fmt.Sprintf("status %d", res.Status)
		}
		return strings.Contains(string(res.Body), `"id":"`+target.Id+`"`), "listed"
	case "view":
		target := cc.target(f)
		res := f.env.Do(http.MethodGet, base+"/"+target.Id, token, nil)
		return res.Status == http.StatusOK, fmt.Sprintf("status %d", res.Status)
	case "create":
		var body map[string]any
		switch {
		case cc.name == "custom_field_definitions":
			uid := ""
			if u := f.users[p]; u != nil {
				uid = u.Id
			}
			body = map[string]any{"user": uid, "workspace": f.w.Id, "field_name": fmt.Sprintf("new%d", f.next()), "label": "N", "field_type": "number"}
		case cc.create == nil:
			body = map[string]any{"x": 1}
		default:
			body = cc.create(f)
		}
		res := f.env.Do(http.MethodPost, base, token, body)
		if res.Status == http.StatusOK {
			return true, "created"
		}
		if res.Status != http.StatusBadRequest && res.Status != http.StatusForbidden && res.Status != http.StatusUnauthorized {
			t.Errorf("a refused create must be 400/401/403, got %d: %s", res.Status, res.Body)
		}
		return false, fmt.Sprintf("status %d %s", res.Status, res.Body)
	case "update":
		target := cc.target(f)
		body := map[string]any{}
		for k, v := range cc.update {
			if s, ok := v.(string); ok && strings.Contains(s, "%d") {
				v = fmt.Sprintf(s, f.next())
			}
			body[k] = v
		}
		res := f.env.Do(http.MethodPatch, base+"/"+target.Id, token, body)
		if res.Status == http.StatusOK {
			// the change must really be stored
			fresh, err := f.env.App.FindRecordById(cc.name, target.Id)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range body {
				want, _ := json.Marshal(v)
				got, _ := json.Marshal(fresh.Get(k))
				if string(got) != string(want) {
					t.Errorf("update answered 200 but %s = %s, want %s", k, got, want)
				}
			}
			return true, "updated"
		}
		// nothing may have changed
		fresh, err := f.env.App.FindRecordById(cc.name, target.Id)
		if err != nil {
			t.Fatal(err)
		}
		if fresh.GetString("updated") != target.GetString("updated") {
			t.Errorf("refused update (%d) still changed the record", res.Status)
		}
		return false, fmt.Sprintf("status %d", res.Status)
	case "delete":
		target := cc.target(f)
		res := f.env.Do(http.MethodDelete, base+"/"+target.Id, token, nil)
		_, err := f.env.App.FindRecordById(cc.name, target.Id)
		gone := err != nil
		if (res.Status == http.StatusNoContent) != gone {
			t.Errorf("delete answered %d but record gone=%v", res.Status, gone)
		}
		return gone, fmt.Sprintf("status %d", res.Status)
	}
	t.Fatalf("unknown op %s", op)
	return false, ""
}
