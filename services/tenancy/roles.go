package tenancy

import (
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// Roles of a workspace member, from most to least powerful (the API rules in
// migrations/rules.go use the same names).
const (
	RoleOwner  = "owner"
	RoleAdmin  = "admin"
	RoleEditor = "editor"
	RoleViewer = "viewer"
)

var rank = map[string]int{RoleViewer: 1, RoleEditor: 2, RoleAdmin: 3, RoleOwner: 4}

// Role returns userID's role in workspace ws, "" when it is not a member.
// Custom routes check access with it, the way the API rules do for the
// collection API. Pass the transaction's app inside a transaction.
func Role(app core.App, ws, userID string) string {
	if ws == "" || userID == "" {
		return ""
	}
	var role string
	_ = app.DB().Select("role").From("workspace_members").
		Where(dbx.HashExp{"workspace": ws, "user": userID}).Limit(1).Row(&role)
	return role
}

// AtLeast reports whether role is min or a more powerful one.
func AtLeast(role, min string) bool {
	return role != "" && rank[role] >= rank[min]
}
