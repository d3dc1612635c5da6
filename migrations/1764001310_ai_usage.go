package migrations

import (
	"strings"

	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// AI usage, and provider settings only through their service.
//
// ai_usage: one row per call of an AI model (template drafts and rewrites,
// the provider test, later insights): who, for what, which model, the tokens
// the server reported and how long it took, also for calls whose answer was
// refused (the tokens were spent). Rows are written by the server only
// (services/ai): no create, update or delete rule; the workspace's owners and
// admins read them (keys: scope admin), as they read the audit log.
//
// system_settings: a setting whose key starts with "provider." holds a
// provider's configuration and, encrypted, its secrets (services/settings).
// The collection API may no longer create one or change one (nor turn another
// setting into one): a client could otherwise store an unvalidated
// configuration, or a secret in clear. Reading and deleting stay as they were
// (the secret field is hidden from every API read).
//
// The rule builders are copied from 1764001100 into this file: this
// migration keeps doing what it does when live code changes.
func init() {
	m.Register(func(app core.App) error {
		if err := aiUsage1310(app); err != nil {
			return err
		}
		return settingsRules1310(app, true)
	}, func(app core.App) error {
		if c, err := app.FindCollectionByNameOrId("ai_usage"); err == nil {
			if err := app.Delete(c); err != nil {
				return err
			}
		}
		return settingsRules1310(app, false)
	})
}

const (
	isUser1310 = `@request.auth.collectionName = "users"`
	isKey1310  = `@request.auth.collectionName = "api_keys" && @request.auth.is_active = true && (@request.auth.expires_at = "" || @request.auth.expires_at > @now)`
)

var (
	anyRole1310 = []string{"owner", "admin", "editor", "viewer"}
	admins1310  = []string{"owner", "admin"}
)

// member1310: principal holds one of roles in the workspace wsExpr points at
// (a relation path ending at the workspace, or with textID a text field
// holding a workspace id). See member1100 for why the joins look like this.
func member1310(wsExpr, principal string, roles []string, textID bool) string {
	prefix := wsExpr + ".workspace_members_via_workspace."
	if textID {
		prefix = "@collection.workspace_members."
	}
	var b strings.Builder
	b.WriteString("(")
	if textID {
		b.WriteString(prefix + "workspace ?= " + wsExpr + " && ")
	}
	b.WriteString(prefix + "user ?= " + principal)
	if len(roles) < len(anyRole1310) {
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

// key1310: a valid key granting scope whose restriction, if any, is wsExpr
// ("" admits unrestricted keys only).
func key1310(scope, wsExpr string) string {
	s := isKey1310
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

func accessAs1310(wsExpr string, roles []string, scope string, textID bool) string {
	return "((" + isUser1310 + " && " + member1310(wsExpr, "@request.auth.id", roles, textID) + ") || (" +
		key1310(scope, wsExpr) + " && " + member1310(wsExpr, "@request.auth.user", roles, textID) + "))"
}

func self1310(field, scope, wsExpr string) string {
	return "((" + isUser1310 + " && " + field + " = @request.auth.id) || (" +
		key1310(scope, wsExpr) + " && " + field + " = @request.auth.user))"
}

func and1310(parts ...string) string { return strings.Join(parts, " && ") }

func or1310(parts ...string) string { return "(" + strings.Join(parts, " || ") + ")" }

func immutable1310(fields ...string) string {
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = "(@request.body." + f + ":isset = false || @request.body." + f + " = " + f + ")"
	}
	return strings.Join(parts, " && ")
}

func p1310(s string) *string { return &s }

func aiUsage1310(app core.App) error {
	workspaces, err := app.FindCollectionByNameOrId("workspaces")
	if err != nil {
		return err
	}
	c := core.NewBaseCollection("ai_usage")
	c.Fields.Add(
		&core.RelationField{Name: "workspace", CollectionId: workspaces.Id, MaxSelect: 1, Required: true, CascadeDelete: true},
		// plain ids, as in audit_logs: the history outlives the user or key
		&core.TextField{Name: "user", Max: 50},
		&core.TextField{Name: "api_key", Max: 50},
		&core.SelectField{Name: "purpose", Required: true, MaxSelect: 1,
			Values: []string{"template_generate", "template_rewrite", "provider_test", "insights"}},
		&core.TextField{Name: "model", Max: 200},
		&core.NumberField{Name: "prompt_tokens", OnlyInt: true},
		&core.NumberField{Name: "completion_tokens", OnlyInt: true},
		&core.NumberField{Name: "total_tokens", OnlyInt: true},
		&core.NumberField{Name: "latency_ms", OnlyInt: true},
		&core.SelectField{Name: "status", Required: true, MaxSelect: 1, Values: []string{"ok", "error"}},
		&core.TextField{Name: "error_code", Max: 50},
		&core.AutodateField{Name: "created", OnCreate: true},
	)
	c.AddIndex("idx_ai_usage_ws_created", false, "workspace, created", "")
	read := p1310(accessAs1310("workspace", admins1310, "admin", false))
	c.ListRule, c.ViewRule = read, read
	c.CreateRule, c.UpdateRule, c.DeleteRule = nil, nil, nil
	return app.Save(c)
}

// settingsRules1310 states the rules of system_settings: those of 1764001100,
// and with closeProviders the create and update rules refuse provider.* keys.
func settingsRules1310(app core.App, closeProviders bool) error {
	c, err := app.FindCollectionByNameOrId("system_settings")
	if err != nil {
		return err
	}
	allowed := or1310(`(scope = "user" && `+self1310("scope_id", "admin", "")+")",
		`(scope = "workspace" && `+accessAs1310("scope_id", admins1310, "admin", true)+")")
	create := allowed
	update := and1310(allowed, immutable1310("scope", "scope_id"))
	if closeProviders {
		create = and1310(create, `setting_key !~ "provider.%"`)
		update = and1310(update, `setting_key !~ "provider.%"`,
			`(@request.body.setting_key:isset = false || @request.body.setting_key !~ "provider.%")`)
	}
	c.ListRule, c.ViewRule, c.DeleteRule = p1310(allowed), p1310(allowed), p1310(allowed)
	c.CreateRule, c.UpdateRule = p1310(create), p1310(update)
	return app.Save(c)
}
