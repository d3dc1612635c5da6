package hooks_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pocketbase/pocketbase/core"
)

type auditFixture struct {
	env     *testutil.Env
	owner   *core.Record
	token   string
	su      string
	ws      *core.Record
	contact *core.Record
	seq     int
}

func newAuditFixture(t *testing.T) *auditFixture {
	env := testutil.New(t)
	f := &auditFixture{env: env}
	f.owner, f.token = env.User("owner@example.com")
	f.su = env.SuperuserToken()
	f.ws = env.Workspace("Audited", f.owner, nil)
	// custom values need a definition
	env.Create("custom_field_definitions", map[string]any{"user": f.owner.Id, "field_name": "tier", "label": "Tier", "field_type": "text"})
	f.contact = env.Create("contacts", map[string]any{"workspace": f.ws.Id, "primary_email": "base@example.org"})
	return f
}

func (f *auditFixture) next() int { f.seq++; return f.seq }

// auditCase says how to create and update one record of a collection through
// the REST API. Every collection of ours must have one: a collection added
// without a case fails TestEveryChangeAudited.
type auditCase struct {
	create func(f *auditFixture) map[string]any
	update map[string]any
}

var auditCases = map[string]auditCase{
	"users": {
		create: func(f *auditFixture) map[string]any {
			return map[string]any{"email": fmt.Sprintf("u%d@example.org", f.next()), "password": "password-123", "passwordConfirm": "password-123", "name": "U"}
		},
		update: map[string]any{"name": "Renamed"},
	},
	"workspaces": {
		create: func(f *auditFixture) map[string]any {
			return map[string]any{"owner": f.owner.Id, "name": fmt.Sprintf("WS%d", f.next())}
		},
		update: map[string]any{"name": "Renamed ws"},
	},
	"workspace_members": {
		create: func(f *auditFixture) map[string]any {
			u, _ := f.env.User(fmt.Sprintf("m%d@example.org", f.next()))
			return map[string]any{"workspace": f.ws.Id, "user": u.Id, "role": "viewer"}
		},
		update: map[string]any{"role": "editor"},
	},
	"contacts": {
		create: func(f *auditFixture) map[string]any {
			return map[string]any{"workspace": f.ws.Id, "first_name": "A", "primary_email": fmt.Sprintf("c%d@example.org", f.next())}
		},
		update: map[string]any{"company": "Acme"},
	},
	"custom_field_definitions": {
		create: func(f *auditFixture) map[string]any {
			return map[string]any{"user": f.owner.Id, "workspace": f.ws.Id, "field_name": fmt.Sprintf("f%d", f.next()), "label": "F", "field_type": "text"}
		},
		update: map[string]any{"label": "Changed"},
	},
	"custom_fields": {
		create: func(f *auditFixture) map[string]any {
			c := f.env.Create("contacts", map[string]any{"workspace": f.ws.Id, "primary_email": fmt.Sprintf("cf%d@example.org", f.next())})
			return map[string]any{"contact": c.Id, "field_name": "tier", "field_value": "gold"}
		},
		update: map[string]any{"field_value": "silver"},
	},
	"contact_lists": {
		create: func(f *auditFixture) map[string]any {
			return map[string]any{"workspace": f.ws.Id, "name": fmt.Sprintf("L%d", f.next())}
		},
		update: map[string]any{"name": "Renamed list"},
	},
	"contact_list_assignments": {
		create: func(f *auditFixture) map[string]any {
			l := f.env.Create("contact_lists", map[string]any{"workspace": f.ws.Id, "name": fmt.Sprintf("AL%d", f.next())})
			return map[string]any{"contact": f.contact.Id, "list": l.Id}
		},
		update: map[string]any{"is_primary": true},
	},
	"templates": {
		create: func(f *auditFixture) map[string]any {
			return map[string]any{"workspace": f.ws.Id, "name": fmt.Sprintf("T%d", f.next()), "channel": "email"}
		},
		update: map[string]any{"subject": "Hello"},
	},
	"campaigns": {
		create: func(f *auditFixture) map[string]any {
			return map[string]any{"workspace": f.ws.Id, "name": fmt.Sprintf("C%d", f.next()), "type": "email", "status": "draft"}
		},
		update: map[string]any{"name": "Renamed campaign"},
	},
	"campaign_approvals": {
		create: func(f *auditFixture) map[string]any {
			c := f.env.Create("campaigns", map[string]any{"workspace": f.ws.Id, "name": fmt.Sprintf("AC%d", f.next()), "type": "sms", "status": "pending_approval"})
			return map[string]any{"campaign": c.Id, "status": "pending"}
		},
		update: map[string]any{"notes": "ok"},
	},
	"campaign_deliveries": {
		create: func(f *auditFixture) map[string]any {
			c := f.env.Create("campaigns", map[string]any{"workspace": f.ws.Id, "name": fmt.Sprintf("DC%d", f.next()), "type": "sms", "status": "sending"})
			return map[string]any{"campaign": c.Id, "contact": f.contact.Id, "channel": "sms", "address": "+14155550100", "status": "queued"}
		},
		update: map[string]any{"status": "sent"},
	},
	"suppressions": {
		create: func(f *auditFixture) map[string]any {
			return map[string]any{"workspace": f.ws.Id, "channel": "email", "address": fmt.Sprintf("s%d@example.org", f.next()), "reason": "manual"}
		},
		update: map[string]any{"reason": "unsubscribe"},
	},
	"communication_logs": {
		create: func(f *auditFixture) map[string]any {
			return map[string]any{"workspace": f.ws.Id, "contact": f.contact.Id, "type": "note", "content": "hi"}
		},
		update: map[string]any{"content": "edited"},
	},
	"ai_insights": {
		create: func(f *auditFixture) map[string]any {
			return map[string]any{"user": f.owner.Id, "workspace": f.ws.Id, "type": "summary", "content": "x"}
		},
		update: map[string]any{"content": "y"},
	},
	"system_settings": {
		create: func(f *auditFixture) map[string]any {
			return map[string]any{"scope": "workspace", "scope_id": f.ws.Id, "setting_key": fmt.Sprintf("k%d", f.next()), "setting_value": 1, "secret_value": "s3cret-value"}
		},
		update: map[string]any{"secret_value": "n3w-s3cret"},
	},
	"api_keys": {
		create: func(f *auditFixture) map[string]any {
			n := f.next()
			return map[string]any{"user": f.owner.Id, "key_hash": fmt.Sprintf("%064d", n), "key_prefix": fmt.Sprintf("pcrm_%012d", n), "scopes": []string{"admin"}, "is_active": true,
				// a key is an auth record (its principal): PocketBase wants a password, never used
				"password": "unused-password", "passwordConfirm": "unused-password"}
		},
		update: map[string]any{"description": "renamed"},
	},
	"import_jobs": {
		create: func(f *auditFixture) map[string]any {
			return map[string]any{"workspace": f.ws.Id, "status": "queued"}
		},
		update: map[string]any{"status": "running"},
	},
	"contact_merges": {
		create: func(f *auditFixture) map[string]any {
			return map[string]any{"workspace": f.ws.Id, "source_id": fmt.Sprintf("src%d", f.next()), "target": f.contact.Id, "snapshot": map[string]any{}}
		},
		update: map[string]any{"undone_at": "2026-01-02 00:00:00.000Z"},
	},
}

// entriesFor returns the audit entries about one record.
func entriesFor(t *testing.T, app core.App, collection, id string) []*core.Record {
	t.Helper()
	recs, err := app.FindRecordsByFilter(audit.Collection, "entity_type = {:c} && entity_id = {:id}", "timestamp", 0, 0, map[string]any{"c": collection, "id": id})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestEveryChangeAudited creates, updates and deletes one record of every
// collection through the REST API (as a superuser, so every collection is
// writable) and expects exactly one correct entry per operation.
func TestEveryChangeAudited(t *testing.T) {
	f := newAuditFixture(t)
	cols, err := f.env.App.FindAllCollections()
	if err != nil {
		t.Fatal(err)
	}
	suID := f.env.SuperuserID()
	for _, col := range cols {
		if col.System || col.Name == audit.Collection {
			continue
		}
		c, ok := auditCases[col.Name]
		if !ok {
			t.Errorf("collection %s has no audit case: add one (and make sure its changes are audited)", col.Name)
			continue
		}
		t.Run(col.Name, func(t *testing.T) {
			base := "/api/collections/" + col.Name + "/records"
			res := f.env.Do("POST", base, f.su, c.create(f))
			if res.Status != http.StatusOK {
				t.Fatalf("create: %d %s", res.Status, res.Body)
			}
			id, _ := res.JSON()["id"].(string)
			if res := f.env.Do("PATCH", base+"/"+id, f.su, c.update); res.Status != http.StatusOK {
				t.Fatalf("update: %d %s", res.Status, res.Body)
			}
			rec, _ := f.env.App.FindRecordById(col.Name, id)
			wantWs := ""
			if rec != nil {
				wantWs = workspaceFor(f, col.Name, rec)
			}
			if res := f.env.Do("DELETE", base+"/"+id, f.su, nil); res.Status != http.StatusNoContent {
				t.Fatalf("delete: %d %s", res.Status, res.Body)
			}

			entries := entriesFor(t, f.env.App, col.Name, id)
			var actions []string
			for _, e := range entries {
				actions = append(actions, e.GetString("action"))
				if e.GetString("user") != suID {
					t.Errorf("%s entry: actor %q, want the superuser", e.GetString("action"), e.GetString("user"))
				}
				if e.GetString("workspace") != wantWs {
					t.Errorf("%s entry: workspace %q, want %q", e.GetString("action"), e.GetString("workspace"), wantWs)
				}
				if e.GetString("ip_address") == "" {
					t.Errorf("%s entry without ip", e.GetString("action"))
				}
				details := e.GetString("details")
				for _, secret := range []string{"s3cret-value", "n3w-s3cret", "password-123"} {
					if strings.Contains(details, secret) {
						t.Errorf("%s entry leaks a secret: %s", e.GetString("action"), details)
					}
				}
			}
			if strings.Join(actions, ",") != "create,update,delete" {
				t.Fatalf("actions %v, want exactly create,update,delete", actions)
			}
			var upd struct{ Before, After map[string]any }
			_ = json.Unmarshal([]byte(entries[1].GetString("details")), &upd)
			for k := range c.update {
				if _, ok := upd.After[k]; !ok {
					t.Errorf("update diff lacks %s: %s", k, entries[1].GetString("details"))
				}
			}
			var del struct{ Before map[string]any }
			_ = json.Unmarshal([]byte(entries[2].GetString("details")), &del)
			if len(del.Before) == 0 {
				t.Error("delete entry has no snapshot")
			}
		})
	}
}

func workspaceFor(f *auditFixture, collection string, rec *core.Record) string {
	switch collection {
	case "users":
		return ""
	case "workspaces":
		return rec.Id
	case "system_settings":
		return rec.GetString("scope_id")
	case "custom_fields", "contact_list_assignments", "campaign_approvals", "campaign_deliveries":
		return f.ws.Id
	}
	return rec.GetString("workspace")
}

// Every mutating custom route must be listed here with how its audit is
// checked; a new route without an entry fails the test.
var auditedRoutes = map[string]string{
	"POST /api/crm/workspaces/{id}/import":   "TestImportRoutesAudited",
	"POST /api/crm/import-jobs/{id}/undo":    "TestImportRoutesAudited",
	"POST /api/crm/api-keys":                 "TestAuditActorAndAPIKey",
	"POST /api/crm/contacts/{id}/custom":     "TestCustomRouteAudited",
	"POST /api/crm/contacts/merge":           "TestMergeAudited",
	"POST /api/crm/contacts/merge/{id}/undo": "TestMergeAudited",
	"POST /api/crm/workspaces/{id}/members":  "TestAddMemberByEmail",
}

func TestEveryMutatingRouteListed(t *testing.T) {
	env := testutil.New(t)
	for _, r := range env.Routes() {
		if !strings.HasPrefix(r, "POST /api/crm/") && !strings.HasPrefix(r, "PUT /api/crm/") &&
			!strings.HasPrefix(r, "PATCH /api/crm/") && !strings.HasPrefix(r, "DELETE /api/crm/") {
			continue
		}
		if _, ok := auditedRoutes[r]; !ok {
			t.Errorf("route %s changes data but has no audit test: add it to auditedRoutes", r)
		}
	}
}

// The actor is the user behind a token or an API key, with the key's id.
func TestAuditActorAndAPIKey(t *testing.T) {
	f := newAuditFixture(t)
	res := f.env.Do("POST", "/api/crm/api-keys", f.token, map[string]any{"scopes": []string{"contacts:write"}})
	if res.Status != http.StatusOK {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	key, _ := res.JSON()["key"].(string)
	keyRec, _ := res.JSON()["record"].(map[string]any)
	keyID, _ := keyRec["id"].(string)
	if e := entriesFor(t, f.env.App, "api_keys", keyID); len(e) != 1 || e[0].GetString("user") != f.owner.Id {
		t.Fatalf("key creation entries: %v", e)
	}

	res = f.env.DoWithHeaders("POST", "/api/collections/contacts/records", "", map[string]string{"X-Api-Key": key},
		map[string]any{"workspace": f.ws.Id, "primary_email": "bykey@example.org"})
	if res.Status != http.StatusOK {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	id, _ := res.JSON()["id"].(string)
	e := entriesFor(t, f.env.App, "contacts", id)
	if len(e) != 1 || e[0].GetString("user") != f.owner.Id || e[0].GetString("api_key") != keyID || e[0].GetString("workspace") != f.ws.Id {
		t.Fatalf("entry: %v", e)
	}
}

// A change that fails writes no entry; the workspace hook's membership write
// and the workspace's own entry commit together.
func TestAuditOnlyForCommittedChanges(t *testing.T) {
	f := newAuditFixture(t)
	before, _ := f.env.App.CountRecords(audit.Collection)
	// duplicate email: refused by the unique index
	res := f.env.Do("POST", "/api/collections/contacts/records", f.token, map[string]any{"workspace": f.ws.Id, "primary_email": "base@example.org"})
	if res.Status == http.StatusOK {
		t.Fatal("duplicate accepted")
	}
	after, _ := f.env.App.CountRecords(audit.Collection)
	if after != before {
		t.Fatalf("a refused change wrote %d audit entries", after-before)
	}

	res = f.env.Do("POST", "/api/collections/workspaces/records", f.token, map[string]any{"owner": f.owner.Id, "name": "Fresh"})
	wsID, _ := res.JSON()["id"].(string)
	ms, _ := f.env.App.FindRecordsByFilter("workspace_members", "workspace = {:w}", "", 0, 0, map[string]any{"w": wsID})
	if len(ms) != 1 || len(entriesFor(t, f.env.App, "workspace_members", ms[0].Id)) != 1 || len(entriesFor(t, f.env.App, "workspaces", wsID)) != 1 {
		t.Fatal("workspace and owner membership not audited together")
	}
	if e := entriesFor(t, f.env.App, "workspace_members", ms[0].Id); e[0].GetString("user") != f.owner.Id {
		t.Errorf("membership made by the hook is attributed to %q", e[0].GetString("user"))
	}
}

func TestAuditAuthEvents(t *testing.T) {
	f := newAuditFixture(t)
	login := func(pw string) int {
		return f.env.Do("POST", "/api/collections/users/auth-with-password", "", map[string]any{"identity": "owner@example.com", "password": pw}).Status
	}
	if login("wrong-password") != 400 || login("password-123") != 200 {
		t.Fatal("login statuses")
	}
	failed, _ := f.env.App.FindRecordsByFilter(audit.Collection, "action = 'auth.login_failed'", "", 0, 0)
	ok, _ := f.env.App.FindRecordsByFilter(audit.Collection, "action = 'auth.login'", "", 0, 0)
	if len(failed) != 1 || len(ok) != 1 || ok[0].GetString("user") != f.owner.Id || strings.Contains(failed[0].GetString("details"), "wrong-password") {
		t.Fatalf("failed=%v ok=%v", failed, ok)
	}

	res := f.env.Do("PATCH", "/api/collections/users/records/"+f.owner.Id, f.token, map[string]any{"oldPassword": "password-123", "password": "new-password-456", "passwordConfirm": "new-password-456"})
	if res.Status != 200 {
		t.Fatalf("password change: %d %s", res.Status, res.Body)
	}
	// the user's own creation (by the fixture) and then the password change
	e := entriesFor(t, f.env.App, "users", f.owner.Id)
	if len(e) != 2 || e[0].GetString("action") != audit.ActionCreate || e[1].GetString("action") != audit.ActionPasswordChange ||
		e[1].GetString("user") != f.owner.Id || strings.Contains(e[1].GetString("details"), "new-password-456") {
		for _, x := range e {
			t.Log(x.GetString("action"), x.GetString("details"))
		}
		t.Fatal("password change not audited as one password_change entry")
	}
}

// Nobody changes the log through the API; admins of the workspace read it.
func TestAuditAppendOnlyAndReadable(t *testing.T) {
	f := newAuditFixture(t)
	viewer, viewerTok := f.env.User("viewer@example.com")
	f.env.Create("workspace_members", map[string]any{"workspace": f.ws.Id, "user": viewer.Id, "role": "viewer"})
	entry := entriesFor(t, f.env.App, "contacts", f.contact.Id)[0]

	for _, tok := range []string{f.token, viewerTok} {
		if res := f.env.Do("PATCH", "/api/collections/audit_logs/records/"+entry.Id, tok, map[string]any{"action": "x"}); res.Status < 400 {
			t.Errorf("update: %d", res.Status)
		}
		if res := f.env.Do("DELETE", "/api/collections/audit_logs/records/"+entry.Id, tok, nil); res.Status < 400 {
			t.Errorf("delete: %d", res.Status)
		}
		if res := f.env.Do("POST", "/api/collections/audit_logs/records", tok, map[string]any{"action": "forged", "timestamp": "2026-01-01 00:00:00Z"}); res.Status < 400 {
			t.Errorf("create: %d", res.Status)
		}
	}
	if res := f.env.Do("GET", "/api/collections/audit_logs/records/"+entry.Id, f.token, nil); res.Status != 200 {
		t.Errorf("owner read: %d", res.Status)
	}
	if res := f.env.Do("GET", "/api/collections/audit_logs/records/"+entry.Id, viewerTok, nil); res.Status != 404 {
		t.Errorf("viewer read: %d", res.Status)
	}
	// filter by entity and action, as the audit viewer does
	res := f.env.Do("GET", "/api/collections/audit_logs/records?filter="+escape(`entity_type = "contacts" && action = "create"`), f.token, nil)
	if res.Status != 200 || !strings.Contains(string(res.Body), f.contact.Id) {
		t.Errorf("filter: %d %s", res.Status, res.Body)
	}
}

func TestAuditRetention(t *testing.T) {
	f := newAuditFixture(t)
	now := time.Now()
	old := audit.Entry{Action: "update", EntityType: "contacts", EntityID: "old"}
	if err := audit.Log(f.env.App, old, now.AddDate(0, 0, -400)); err != nil {
		t.Fatal(err)
	}
	if err := audit.Log(f.env.App, audit.Entry{Action: "update", EntityType: "contacts", EntityID: "recent"}, now.AddDate(0, 0, -10)); err != nil {
		t.Fatal(err)
	}
	n, err := audit.Prune(f.env.App, now)
	if err != nil || n != 1 {
		t.Fatalf("pruned %d (%v), want 1 with the default %d days", n, err, audit.DefaultRetentionDays)
	}
	// a shorter retention from the system setting
	f.env.Create("system_settings", map[string]any{"scope": "system", "setting_key": audit.RetentionSettingKey, "setting_value": 5})
	if n, _ := audit.Prune(f.env.App, now); n != 1 {
		t.Fatalf("pruned %d with a 5-day retention, want 1", n)
	}
	if len(entriesFor(t, f.env.App, "contacts", f.contact.Id)) != 1 {
		t.Fatal("today's entries were pruned")
	}
}

func escape(s string) string { return url.QueryEscape(s) }
