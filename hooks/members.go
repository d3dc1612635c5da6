package hooks

import (
	"net/http"

	"github.com/pi-crm/pi-crm/services/apikeys"
	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/members"
	"github.com/pi-crm/pi-crm/services/tenancy"
	"github.com/pocketbase/pocketbase/core"
)

// registerMembers binds the invitation routes (services/members): admins
// invite by email and revoke; the invited account lists, accepts and
// declines its own invitations, with a session only (a key does not consent
// for its user).
func registerMembers(app core.App, crm *crmRoutes) {
	svc := members.NewService(app)
	// POST /api/crm/workspaces/{id}/members {email, role}: an invitation,
	// answered alike for every address (the old route name stays)
	invite := func(e *core.RequestEvent, c caller) error {
		ws := e.Request.PathValue("id")
		if !c.Reaches(ws) {
			return tenancy.ErrWorkspaceNotFound
		}
		var in members.InviteInput
		if err := e.BindBody(&in); err != nil {
			return apperr.BadRequest(members.CodeInvalid, `send {"email": "...", "role": "editor"}`)
		}
		out, err := svc.Invite(ws, c.Actor, in)
		if err != nil {
			return err
		}
		return e.JSON(http.StatusAccepted, out)
	}
	crm.add(http.MethodPost, "/workspaces/{id}/members", apikeys.ScopeAdmin, invite)
	crm.add(http.MethodPost, "/workspaces/{id}/invitations", apikeys.ScopeAdmin, invite)

	crm.add(http.MethodGet, "/invitations", sessionOnly, func(e *core.RequestEvent, c caller) error {
		list, err := svc.PendingFor(c.UserID)
		if err != nil {
			return err
		}
		return e.JSON(http.StatusOK, map[string]any{"items": list})
	})
	crm.add(http.MethodPost, "/invitations/{id}/accept", sessionOnly, func(e *core.RequestEvent, c caller) error {
		out, err := svc.Accept(e.Request.PathValue("id"), c.Actor)
		if err != nil {
			return err
		}
		return e.JSON(http.StatusOK, out)
	})
	crm.add(http.MethodPost, "/invitations/{id}/decline", sessionOnly, func(e *core.RequestEvent, c caller) error {
		if err := svc.Decline(e.Request.PathValue("id"), c.Actor); err != nil {
			return err
		}
		return e.JSON(http.StatusOK, map[string]any{"status": members.StatusDeclined})
	})

	// the workspace's owners and admins withdraw one
	crm.add(http.MethodPost, "/invitations/{id}/revoke", apikeys.ScopeAdmin, func(e *core.RequestEvent, c caller) error {
		if err := svc.Revoke(e.Request.PathValue("id"), c.Actor, c.Reaches); err != nil {
			return err
		}
		return e.JSON(http.StatusOK, map[string]any{"status": members.StatusRevoked})
	})
}
