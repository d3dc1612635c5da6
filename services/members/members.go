// Package members adds people to a workspace by email: the collection API
// needs a user id, and the users rule (rightly) hides accounts a caller shares
// no workspace with, so an admin could never find a new colleague's id.
package members

import (
	"net/http"
	"strings"

	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/tenancy"
	"github.com/pocketbase/pocketbase/core"
)

// Stable error codes.
const (
	CodeWorkspaceNotFound = "workspace_not_found"
	CodeForbidden         = "member_forbidden"
	CodeInvalid           = "member_invalid"
	CodeUserNotFound      = "user_not_found"
	CodeExists            = "member_exists"
)

// Service adds members.
type Service struct{ app core.App }

// NewService returns a members service on app.
func NewService(app core.App) *Service { return &Service{app: app} }

// AddInput is the request of an admin.
type AddInput struct {
	Email string `json:"email"`
	Role  string `json:"role"`
}

// Add makes the account with in.Email a member of workspace ws with in.Role.
// Only owners and admins of ws may, and nobody grants "owner": a workspace
// has exactly the one its creator became.
func (s *Service) Add(ws string, caller audit.Actor, in AddInput) (*core.Record, error) {
	role := tenancy.Role(s.app, ws, caller.UserID)
	if role == "" {
		return nil, apperr.NotFound(CodeWorkspaceNotFound, "No such workspace, or you are not a member of it")
	}
	if !tenancy.AtLeast(role, tenancy.RoleAdmin) {
		return nil, apperr.Forbidden(CodeForbidden, "Only the workspace's owner and admins add members")
	}
	switch in.Role {
	case tenancy.RoleAdmin, tenancy.RoleEditor, tenancy.RoleViewer:
	default:
		return nil, apperr.BadRequest(CodeInvalid, "role must be admin, editor or viewer")
	}
	email := strings.ToLower(strings.TrimSpace(in.Email))
	if email == "" {
		return nil, apperr.BadRequest(CodeInvalid, "give the email address of the person to add")
	}
	user, err := s.app.FindAuthRecordByEmail("users", email)
	if err != nil {
		return nil, apperr.New(http.StatusNotFound, CodeUserNotFound,
			"No pi-crm account uses "+email+": the server's administrator creates accounts (admin dashboard /_/), then add the person here")
	}
	if tenancy.Role(s.app, ws, user.Id) != "" {
		return nil, apperr.Conflict(CodeExists, email+" is already a member of this workspace")
	}
	col, err := s.app.FindCachedCollectionByNameOrId("workspace_members")
	if err != nil {
		return nil, err
	}
	m := core.NewRecord(col)
	m.Set("workspace", ws)
	m.Set("user", user.Id)
	m.Set("role", in.Role)
	audit.Attach(m, caller)
	if err := s.app.Save(m); err != nil {
		return nil, err
	}
	return m, nil
}
