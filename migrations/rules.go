package migrations

import "strings"

// Roles a workspace member may hold, from most to least powerful.
const (
	RoleOwner  = "owner"
	RoleAdmin  = "admin"
	RoleEditor = "editor"
	RoleViewer = "viewer"
)

// Role sets used by the API rules. Every rule goes through workspace_members:
// being the owner of a workspace record is not enough on its own, the owner is
// also a member (the workspaces hook guarantees it).
var (
	anyRole = []string{RoleOwner, RoleAdmin, RoleEditor, RoleViewer}
	editors = []string{RoleOwner, RoleAdmin, RoleEditor}
	admins  = []string{RoleOwner, RoleAdmin}
)

const authed = `@request.auth.id != "" && @request.auth.collectionName = "users"`

// member is true when the caller holds one of roles in the workspace that
// wsExpr (a field path or id expression) points at.
//
// All three conditions name the same un-aliased @collection join, so they must
// hold for one and the same workspace_members row: being a viewer of this
// workspace and an owner of another never adds up to "owner here". Adding an
// alias (":m") to any of them would make the joins independent and leak.
func member(wsExpr string, roles []string) string {
	var b strings.Builder
	b.WriteString("(@collection.workspace_members.workspace ?= ")
	b.WriteString(wsExpr)
	b.WriteString(" && @collection.workspace_members.user ?= @request.auth.id")
	if len(roles) < len(anyRole) {
		b.WriteString(" && (")
		for i, r := range roles {
			if i > 0 {
				b.WriteString(" || ")
			}
			b.WriteString(`@collection.workspace_members.role ?= "` + r + `"`)
		}
		b.WriteString(")")
	}
	b.WriteString(")")
	return b.String()
}

// immutable forbids an update from changing field (moving a record to another
// workspace or contact would bypass the create rule of the destination).
func immutable(fields ...string) string {
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = "(@request.body." + f + ":isset = false || @request.body." + f + " = " + f + ")"
	}
	return strings.Join(parts, " && ")
}

func and(parts ...string) string {
	nonEmpty := parts[:0:0]
	for _, p := range parts {
		if p != "" {
			nonEmpty = append(nonEmpty, p)
		}
	}
	return strings.Join(nonEmpty, " && ")
}

func ptr(s string) *string { return &s }

// ruleSet holds the five API rules of a collection; nil means superusers only.
type ruleSet struct {
	list, view, create, update, delete *string
}

// workspaceScoped is the rule set of a collection whose records carry a
// workspace relation at wsPath: members read, roles in write change.
// Create rules see the submitted record as it would be stored, so wsPath
// resolves against the new record there too.
func workspaceScoped(wsPath string, write []string, extraCreate, extraUpdate string, immutables ...string) ruleSet {
	read := ptr(and(authed, member(wsPath, anyRole)))
	return ruleSet{
		list:   read,
		view:   read,
		create: ptr(and(authed, member(wsPath, write), extraCreate)),
		update: ptr(and(authed, member(wsPath, write), extraUpdate, immutable(immutables...))),
		delete: ptr(and(authed, member(wsPath, write))),
	}
}

// readOnly lets members read and leaves every write to the server itself
// (custom routes, hooks, the CLI) or superusers.
func readOnly(wsPath string, roles []string) ruleSet {
	read := ptr(and(authed, member(wsPath, roles)))
	return ruleSet{list: read, view: read}
}
