// Package tenancy answers "which workspace does this record belong to", the
// question the audit log and workspace-restricted API keys both ask. The
// answer follows the same paths as the API rules in migrations/.
package tenancy

import (
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// parentOf lists the collections whose workspace comes through a relation.
var parentOf = map[string]struct{ field, collection string }{
	"custom_fields":            {"contact", "contacts"},
	"contact_list_assignments": {"contact", "contacts"},
	"campaign_approvals":       {"campaign", "campaigns"},
	"campaign_deliveries":      {"campaign", "campaigns"},
}

// WorkspaceOf returns the id of the workspace rec belongs to, or "" for
// records outside any workspace (users, user-wide definitions, system
// settings, auth events).
func WorkspaceOf(app core.App, rec *core.Record) string {
	return WorkspaceOfData(app, rec.Collection(), rec.GetString)
}

// WorkspaceOfData is WorkspaceOf for a record known only by its field values
// (a realtime message, say): get returns a field's value as a string.
func WorkspaceOfData(app core.App, col *core.Collection, get func(field string) string) string {
	name := col.Name
	switch name {
	case "workspaces":
		return get("id")
	case "system_settings":
		if get("scope") == "workspace" {
			return get("scope_id")
		}
		return ""
	}
	if p, ok := parentOf[name]; ok {
		parentID := get(p.field)
		if parentID == "" {
			return ""
		}
		var ws string
		err := app.DB().Select("workspace").From(p.collection).Where(dbx.HashExp{"id": parentID}).Limit(1).Row(&ws)
		if err != nil {
			return ""
		}
		return ws
	}
	if col.Fields.GetByName("workspace") != nil {
		return get("workspace")
	}
	return ""
}

// FilterPath is the PocketBase filter path from a record of collection to its
// workspace id ("" when the collection has no workspace).
func FilterPath(collection string) string {
	switch collection {
	case "workspaces":
		return "id"
	case "system_settings":
		return "scope_id"
	case "users":
		return ""
	}
	if p, ok := parentOf[collection]; ok {
		return p.field + ".workspace"
	}
	return "workspace"
}

// memberReadable are the collections whose records every member of their
// workspace reads, whatever the role (the read rules in migrations/ say
// "any member"). A client filter may follow a back-relation only into one of
// these: the records reached are then records the caller reads anyway. Not
// here: api_keys (their user only), audit_logs and system_settings (admins),
// invitations (admins and the invitee), users (shared between workspaces),
// ai_insights (its AI-usage rows are read by admins only).
var memberReadable = map[string]bool{
	"workspaces": true, "workspace_members": true,
	"contacts": true, "custom_fields": true, "custom_field_definitions": true,
	"contact_lists": true, "contact_list_assignments": true, "communication_logs": true,
	"suppressions": true, "import_jobs": true, "contact_merges": true, "ai_insight_runs": true,
	"templates": true, "campaigns": true, "campaign_approvals": true, "campaign_deliveries": true, "outbox_messages": true,
}

// MemberReadable reports whether every member of a workspace reads every
// record of collection in that workspace.
func MemberReadable(collection string) bool { return memberReadable[collection] }
