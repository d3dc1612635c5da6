package tenancy

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/pi-crm/pi-crm/services/apperr"
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

// CodeWorkspaceNotFound is the one answer to "no such workspace, or not
// yours": a workspace the caller cannot read is indistinguishable from one
// that does not exist.
const CodeWorkspaceNotFound = "workspace_not_found"

// ErrWorkspaceNotFound is the 404 every route gives for a workspace the
// caller does not belong to (or its API key does not reach).
var ErrWorkspaceNotFound = apperr.NotFound(CodeWorkspaceNotFound, "No such workspace, or you are not a member of it")

// Role returns userID's role in workspace ws, "" when it is not a member.
// A failed query is an error, never "not a member". Custom routes check
// access with Require; pass the transaction's app inside a transaction.
func Role(app core.App, ws, userID string) (string, error) {
	if ws == "" || userID == "" {
		return "", nil
	}
	var role string
	err := app.DB().Select("role").From("workspace_members").
		Where(dbx.HashExp{"workspace": ws, "user": userID}).Limit(1).Row(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("role of %s in workspace %s: %w", userID, ws, err)
	}
	return role, nil
}

// Require returns userID's role in ws when it is min or stronger. Not a
// member: ErrWorkspaceNotFound (404). A member below min: below (each area
// says what the role cannot do, e.g. "Viewers cannot import contacts").
// A database error is returned as it is (the route answers 500 and logs it).
func Require(app core.App, ws, userID, min string, below *apperr.Error) (string, error) {
	role, err := Role(app, ws, userID)
	if err != nil {
		return "", err
	}
	if role == "" {
		return "", ErrWorkspaceNotFound
	}
	if !AtLeast(role, min) {
		if below == nil {
			below = apperr.Forbidden("role_insufficient", "Your role in this workspace does not allow this: ask a workspace admin")
		}
		return role, below
	}
	return role, nil
}

// AtLeast reports whether role is min or a more powerful one.
func AtLeast(role, min string) bool {
	return role != "" && rank[role] >= rank[min]
}
