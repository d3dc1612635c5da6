package migrations

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
	"github.com/pocketbase/pocketbase/tools/security"
	"golang.org/x/crypto/bcrypt"
)

// API keys become their own principal. A request with X-Api-Key
// is authenticated as the key's record in the auth collection api_keys, and
// every API rule reads the key's limits from @request.auth: is_active,
// expires_at, grants (the scopes with their implications, "|contacts:read|…|"),
// workspace (the one it is restricted to) and user (whose memberships count).
// PocketBase evaluates those rules for list, view, expand at every depth,
// realtime, batch and rule joins alike, so no request hook has to narrow a
// path for keys any more.
//
// @request.auth.<field> other than id/collectionName/email is read from the
// database by a join on the auth record, so a revoked or expired key loses
// its access at once, realtime subscriptions included.
//
// Everything this migration needs is in this file (rule builders included):
// it must keep doing what it does when live code changes.
func init() {
	m.Register(func(app core.App) error {
		if err := apiKeysToAuth1100(app); err != nil {
			return fmt.Errorf("api_keys as principal: %w", err)
		}
		return rules1100(app)
	}, nil)
}

// ---------------------------------------------------------------------------
// rule builders (frozen copies; see migrations/rules.go for the older ones)

const (
	isUser1100 = `@request.auth.collectionName = "users"`
	isKey1100  = `@request.auth.collectionName = "api_keys" && @request.auth.is_active = true && (@request.auth.expires_at = "" || @request.auth.expires_at > @now)`
)

var (
	anyRole1100 = []string{"owner", "admin", "editor", "viewer"}
	editors1100 = []string{"owner", "admin", "editor"}
	admins1100  = []string{"owner", "admin"}
)

// member1100 is true when principal (an expression of a user id) holds one of
// roles in the workspace wsExpr points at. wsExpr is "id" (the workspace
// itself), a relation path ending at the workspace ("workspace",
// "contact.workspace") or, with textID, a text field holding a workspace id
// (audit_logs.workspace, system_settings.scope_id).
//
// Through a relation the membership is a back-relation join from the
// record's workspace: its ON clause (workspace_members.workspace = the
// workspace) uses the (workspace, user) index whatever the principal, so the
// two principal branches cost one small join per record, not a scan of the
// memberships (an un-aliased @collection join under an OR of two branches
// made counting 20k contacts 7x slower for users and 80x for keys). The
// user and role conditions name the same join alias: they hold for one
// and the same membership row.
func member1100(wsExpr, principal string, roles []string, textID bool) string {
	var prefix string
	switch {
	case textID:
		prefix = "@collection.workspace_members."
	case wsExpr == "id":
		prefix = "workspace_members_via_workspace."
	default:
		prefix = wsExpr + ".workspace_members_via_workspace."
	}
	var b strings.Builder
	b.WriteString("(")
	if textID {
		b.WriteString(prefix + "workspace ?= " + wsExpr + " && ")
	}
	b.WriteString(prefix + "user ?= " + principal)
	if len(roles) < len(anyRole1100) {
		b.WriteString(" && (")
		for i, r := range roles {
			if i > 0 {
				b.WriteString(" || ")
			}
			b.WriteString(prefix + `role ?= "` + r + `"`)
		}
		b.WriteString(")")
	}
	b.WriteString(")")
	return b.String()
}

// key1100 is a valid key granting scope ("" = any key) whose restriction, if
// any, is the workspace wsExpr. wsExpr "" admits unrestricted keys only: a
// record outside every workspace is beyond a restricted key.
func key1100(scope, wsExpr string) string {
	s := isKey1100
	if scope != "" {
		s += ` && @request.auth.grants ~ "|` + scope + `|"`
	}
	if wsExpr == "" {
		s += ` && @request.auth.workspace = ""`
	} else {
		s += ` && (@request.auth.workspace = "" || @request.auth.workspace = ` + wsExpr + `)`
	}
	return s
}

// access1100: a session user with one of roles in the workspace, or a key of
// such a user that grants scope and may reach that workspace.
func access1100(wsExpr string, roles []string, scope string) string {
	return accessAs1100(wsExpr, roles, scope, false)
}

// accessText1100 is access1100 for a workspace id held in a text field.
func accessText1100(wsExpr string, roles []string, scope string) string {
	return accessAs1100(wsExpr, roles, scope, true)
}

func accessAs1100(wsExpr string, roles []string, scope string, textID bool) string {
	return "((" + isUser1100 + " && " + member1100(wsExpr, "@request.auth.id", roles, textID) + ") || (" +
		key1100(scope, wsExpr) + " && " + member1100(wsExpr, "@request.auth.user", roles, textID) + "))"
}

// self1100: field holds the acting person's user id (a session's user, or a
// key's user when the key grants scope and may reach wsExpr).
func self1100(field, scope, wsExpr string) string {
	return "((" + isUser1100 + " && " + field + " = @request.auth.id) || (" +
		key1100(scope, wsExpr) + " && " + field + " = @request.auth.user))"
}

func and1100(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " && ")
}

func or1100(parts ...string) string { return "(" + strings.Join(parts, " || ") + ")" }

func immutable1100(fields ...string) string {
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = "(@request.body." + f + ":isset = false || @request.body." + f + " = " + f + ")"
	}
	return strings.Join(parts, " && ")
}

type rules1100Set struct{ list, view, create, update, delete *string }

func p1100(s string) *string { return &s }

// scoped1100: members read with area:read, roles in write change with
// area:write.
func scoped1100(wsPath, area string, write []string, extraCreate, extraUpdate string, immutables ...string) rules1100Set {
	read := p1100(access1100(wsPath, anyRole1100, area+":read"))
	w := access1100(wsPath, write, area+":write")
	return rules1100Set{
		list:   read,
		view:   read,
		create: p1100(and1100(w, extraCreate)),
		update: p1100(and1100(w, extraUpdate, immutable1100(immutables...))),
		delete: p1100(w),
	}
}

func readOnly1100(wsPath, scope string, roles []string) rules1100Set {
	read := p1100(access1100(wsPath, roles, scope))
	return rules1100Set{list: read, view: read}
}

// ---------------------------------------------------------------------------
// the rules of every collection

func rules1100(app core.App) error {
	set := map[string]rules1100Set{}

	// users: a session user reads itself and its co-members; a key reads its
	// user and the co-members of the workspaces it may reach. Only the person
	// changes its account: a key can never set a password or an email.
	coMembers := "workspace_members_via_user.workspace.workspace_members_via_workspace.user ?= "
	userRead := p1100(or1100(
		"("+isUser1100+" && (id = @request.auth.id || "+coMembers+"@request.auth.id))",
		"("+isKey1100+" && (id = @request.auth.user || ("+coMembers+"@request.auth.user && "+
			`(@request.auth.workspace = "" || workspace_members_via_user.workspace ?= @request.auth.workspace))))`,
	))
	self := p1100(isUser1100 + " && id = @request.auth.id")
	set["users"] = rules1100Set{list: userRead, view: userRead, update: self, delete: self}

	set["workspaces"] = rules1100Set{
		list: p1100(access1100("id", anyRole1100, "")),
		view: p1100(access1100("id", anyRole1100, "")),
		// a restricted key cannot make a workspace beyond its restriction
		create: p1100(or1100("("+isUser1100+" && owner = @request.auth.id)", "("+key1100("admin", "")+" && owner = @request.auth.user)")),
		update: p1100(and1100(access1100("id", admins1100, "admin"), immutable1100("owner"))),
		delete: p1100(self1100("owner", "admin", "id")),
	}

	// memberships come by invitation only (the accept route writes them);
	// nobody, admins included, adds an account without its consent
	notOwner := `role != "owner"`
	set["workspace_members"] = rules1100Set{
		list: p1100(access1100("workspace", anyRole1100, "")),
		view: p1100(access1100("workspace", anyRole1100, "")),
		update: p1100(and1100(access1100("workspace", admins1100, "admin"), notOwner,
			`(@request.body.role:isset = false || @request.body.role != "owner")`, immutable1100("workspace", "user"))),
		// admins remove members; a member may leave (a session only)
		delete: p1100(and1100(notOwner, or1100(access1100("workspace", admins1100, "admin"), "("+isUser1100+" && user = @request.auth.id)"))),
	}

	for _, name := range []string{"contacts", "contact_lists"} {
		set[name] = scoped1100("workspace", "contacts", editors1100, "", "", "workspace")
	}
	set["custom_fields"] = scoped1100("contact.workspace", "contacts", editors1100, "", "", "contact")
	set["contact_list_assignments"] = scoped1100("contact.workspace", "contacts", editors1100, "list.workspace = contact.workspace", "", "contact", "list")
	set["templates"] = scoped1100("workspace", "templates", editors1100, "", "", "workspace")

	// A definition without a workspace applies to every workspace its user
	// owns: members of those workspaces read it; only its user changes it,
	// and not through a key restricted to one workspace.
	ownerWS := "user.workspaces_via_owner."
	// a workspace's definition is read through membership only (its user
	// may have left the workspace); a user-wide one by its user too
	defRead := p1100(or1100(
		`(workspace = "" && `+self1100("user", "contacts:read", "")+")",
		`(workspace != "" && `+access1100("workspace", anyRole1100, "contacts:read")+")",
		`(workspace = "" && ((`+isUser1100+" && "+ownerWS+"workspace_members_via_workspace.user ?= @request.auth.id) || ("+
			key1100("contacts:read", ownerWS+"id")+" && "+ownerWS+"workspace_members_via_workspace.user ?= @request.auth.user)))",
	))
	defManage := or1100(
		`(workspace = "" && `+self1100("user", "contacts:write", "")+")",
		`(workspace != "" && `+access1100("workspace", admins1100, "contacts:write")+")",
	)
	set["custom_field_definitions"] = rules1100Set{
		list: defRead, view: defRead,
		create: p1100(and1100(self1100("user", "contacts:write", "workspace"), defManage)),
		update: p1100(and1100(defManage, immutable1100("user", "workspace"))),
		delete: p1100(defManage),
	}

	sameWsTemplate := `(template = "" || template.workspace = workspace)`
	set["campaigns"] = rules1100Set{
		list: p1100(access1100("workspace", anyRole1100, "campaigns:read")),
		view: p1100(access1100("workspace", anyRole1100, "campaigns:read")),
		create: p1100(and1100(access1100("workspace", editors1100, "campaigns:write"), `(status = "" || status = "draft")`, sameWsTemplate,
			`(created_by = "" || `+self1100("created_by", "campaigns:write", "workspace")+")")),
		update: p1100(and1100(access1100("workspace", editors1100, "campaigns:write"), `status = "draft"`,
			`(@request.body.status:isset = false || @request.body.status = "draft")`,
			`(@request.body.template:isset = false || @request.body.template = "" || @request.body.template.workspace = workspace)`,
			immutable1100("workspace", "created_by", "counters"))),
		delete: p1100(or1100("("+access1100("workspace", editors1100, "campaigns:write")+` && status = "draft")`,
			"("+access1100("workspace", admins1100, "campaigns:write")+` && status != "sending")`)),
	}
	set["campaign_approvals"] = scoped1100("campaign.workspace", "campaigns", admins1100, "", "", "campaign")
	set["campaign_deliveries"] = readOnly1100("campaign.workspace", "campaigns:read", anyRole1100)

	supp := scoped1100("workspace", "contacts", editors1100, "", "", "workspace")
	// lifting a suppression lets messages flow to that address again: admins
	supp.update = p1100(and1100(access1100("workspace", admins1100, "contacts:write"), immutable1100("workspace")))
	supp.delete = p1100(access1100("workspace", admins1100, "contacts:write"))
	set["suppressions"] = supp

	userEntry := `type != "system"`
	consistent := `contact.workspace = workspace && (campaign = "" || campaign.workspace = workspace)`
	logs := scoped1100("workspace", "contacts", editors1100, and1100(userEntry, consistent),
		and1100(userEntry, `(@request.body.type:isset = false || @request.body.type != "system")`), "workspace", "contact", "campaign")
	logs.delete = p1100(and1100(*logs.delete, userEntry))
	set["communication_logs"] = logs

	// as definitions: a workspace's insight through membership only
	insightRead := p1100(or1100(`(workspace = "" && `+self1100("user", "contacts:read", "")+")",
		`(workspace != "" && `+access1100("workspace", anyRole1100, "contacts:read")+")"))
	set["ai_insights"] = rules1100Set{
		list: insightRead, view: insightRead,
		delete: p1100(or1100(`(workspace = "" && `+self1100("user", "contacts:write", "")+")",
			`(workspace != "" && `+access1100("workspace", admins1100, "contacts:write")+")")),
	}

	auditRead := p1100(accessText1100("workspace", admins1100, "admin"))
	set["audit_logs"] = rules1100Set{list: auditRead, view: auditRead}
	set["import_jobs"] = readOnly1100("workspace", "contacts:read", anyRole1100)
	set["contact_merges"] = readOnly1100("workspace", "contacts:read", anyRole1100)

	settingsAllowed := or1100(`(scope = "user" && `+self1100("scope_id", "admin", "")+")",
		`(scope = "workspace" && `+accessText1100("scope_id", admins1100, "admin")+")")
	set["system_settings"] = rules1100Set{
		list: p1100(settingsAllowed), view: p1100(settingsAllowed), create: p1100(settingsAllowed),
		update: p1100(and1100(settingsAllowed, immutable1100("scope", "scope_id"))),
		delete: p1100(settingsAllowed),
	}

	// a person's keys: read, described, revoked (never revived) and deleted by
	// that person, or by one of its admin keys within that key's workspace;
	// keys are made by POST /api/crm/api-keys only
	ownKey := self1100("user", "admin", "workspace")
	set["api_keys"] = rules1100Set{
		list: p1100(ownKey), view: p1100(ownKey),
		update: p1100(and1100(ownKey, `@request.body.key_hash:isset = false`, `@request.body.grants:isset = false`,
			`@request.body.email:isset = false`, `@request.body.password:isset = false`, `@request.body.tokenKey:isset = false`,
			`@request.body.verified:isset = false`, `@request.body.emailVisibility:isset = false`,
			`(@request.body.is_active:isset = false || @request.body.is_active = false)`,
			immutable1100("user", "key_prefix", "scopes", "workspace", "expires_at", "last_used_at"))),
		delete: p1100(ownKey),
	}

	for name, r := range set {
		c, err := app.FindCollectionByNameOrId(name)
		if err != nil {
			return fmt.Errorf("collection %s: %w", name, err)
		}
		c.ListRule, c.ViewRule, c.CreateRule, c.UpdateRule, c.DeleteRule = r.list, r.view, r.create, r.update, r.delete
		if err := app.Save(c); err != nil {
			return fmt.Errorf("rules of %s: %w", name, err)
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// api_keys: base collection → auth collection, same id, same rows

// grants1100 expands scopes the way keys have always been read: admin grants
// everything, area:write implies area:read. Stored as "|a|b|" so that a rule
// matches one grant with ~ "|a|".
func grants1100(scopes []string) string {
	all := []string{"contacts:read", "contacts:write", "templates:read", "templates:write",
		"campaigns:read", "campaigns:write", "campaigns:send", "admin"}
	has := map[string]bool{}
	for _, s := range scopes {
		switch {
		case s == "admin":
			for _, a := range all {
				has[a] = true
			}
		case strings.HasSuffix(s, ":write"):
			has[s] = true
			has[strings.TrimSuffix(s, ":write")+":read"] = true
		default:
			has[s] = true
		}
	}
	var b strings.Builder
	b.WriteString("|")
	for _, a := range all {
		if has[a] {
			b.WriteString(a + "|")
		}
	}
	return b.String()
}

func apiKeysToAuth1100(app core.App) error {
	old, err := app.FindCollectionByNameOrId("api_keys")
	if err != nil {
		return err
	}
	if old.IsAuth() {
		return nil
	}
	users, err := app.FindCollectionByNameOrId("users")
	if err != nil {
		return err
	}
	workspaces, err := app.FindCollectionByNameOrId("workspaces")
	if err != nil {
		return err
	}

	// the old table steps aside under another name; its rows come back below
	for _, sql := range []string{
		"DROP INDEX IF EXISTS idx_api_keys_hash",
		"DROP INDEX IF EXISTS idx_api_keys_user",
		"ALTER TABLE api_keys RENAME TO _api_keys_1100",
		"DELETE FROM _collections WHERE id = {:id}",
	} {
		if _, err := app.DB().NewQuery(sql).Bind(dbx.Params{"id": old.Id}).Execute(); err != nil {
			return fmt.Errorf("%s: %w", sql, err)
		}
	}
	if err := app.ReloadCachedCollections(); err != nil {
		return err
	}

	c := core.NewAuthCollection("api_keys", old.Id)
	c.Fields.Add(
		&core.RelationField{Name: "user", CollectionId: users.Id, MaxSelect: 1, Required: true, CascadeDelete: true},
		&core.TextField{Name: "description", Max: 200},
		&core.TextField{Name: "key_hash", Max: 128, Required: true, Hidden: true},
		&core.TextField{Name: "key_prefix", Max: 32, Required: true},
		&core.JSONField{Name: "scopes", MaxSize: 4 << 10},
		// what the scopes grant, for the rules; hidden: scopes is what people read
		&core.TextField{Name: "grants", Max: 500, Hidden: true},
		&core.RelationField{Name: "workspace", CollectionId: workspaces.Id, MaxSelect: 1, CascadeDelete: true},
		&core.DateField{Name: "expires_at"},
		&core.BoolField{Name: "is_active"},
		&core.DateField{Name: "last_used_at"},
		&core.AutodateField{Name: "created", OnCreate: true},
		&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true},
	)
	// a key has no email and no usable password: it is never a login
	if email, ok := c.Fields.GetByName(core.FieldNameEmail).(*core.EmailField); ok {
		email.Required = false
	}
	c.PasswordAuth.Enabled = false
	c.OAuth2.Enabled = false
	c.OTP.Enabled = false
	c.MFA.Enabled = false
	c.AuthAlert.Enabled = false
	c.AuthRule = nil   // no auth route ever answers a token for a key
	c.ManageRule = nil // nobody manages a key's auth fields
	c.AddIndex("idx_api_keys_hash", true, "key_hash", "")
	c.AddIndex("idx_api_keys_user", false, "user", "")
	if err := app.Save(c); err != nil {
		return err
	}

	// The password is required by PocketBase's auth fields but never used
	// (password auth is off): every migrated row gets the hash of the same
	// random, discarded secret.
	pw, err := bcrypt.GenerateFromPassword([]byte(security.RandomString(40)), bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	type row struct {
		ID     string `db:"id"`
		Scopes string `db:"scopes"`
	}
	var rows []row
	if err := app.DB().NewQuery("SELECT id, COALESCE(scopes, '[]') AS scopes FROM _api_keys_1100").All(&rows); err != nil {
		return err
	}
	for _, r := range rows {
		var scopes []string
		if err := json.Unmarshal([]byte(r.Scopes), &scopes); err != nil {
			scopes = nil
		}
		_, err := app.DB().NewQuery(`INSERT INTO api_keys
			(id, user, description, key_hash, key_prefix, scopes, grants, workspace, expires_at, is_active, last_used_at,
			 created, updated, email, emailVisibility, verified, password, tokenKey)
			SELECT id, user, description, key_hash, key_prefix, scopes, {:grants}, workspace, expires_at, is_active, last_used_at,
			 created, updated, '', FALSE, FALSE, {:pw}, {:token}
			FROM _api_keys_1100 WHERE id = {:id}`).Bind(dbx.Params{
			"id": r.ID, "grants": grants1100(scopes), "pw": string(pw), "token": security.RandomString(50),
		}).Execute()
		if err != nil {
			return fmt.Errorf("copy key %s: %w", r.ID, err)
		}
	}
	_, err = app.DB().NewQuery("DROP TABLE _api_keys_1100").Execute()
	return err
}
