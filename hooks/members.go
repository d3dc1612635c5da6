package hooks

import (
	"net/http"

	"github.com/pi-crm/pi-crm/services/apikeys"
	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/members"
	"github.com/pocketbase/pocketbase/core"
)

// registerMembers binds the invitation routes (services/members): admins
// invite by email and revoke; the invited account lists, accepts and
// declines its own invitations, with a session only.
func registerMembers(app core.App, w *Wiring) {
	svc := members.NewService(app)
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		// POST /api/crm/workspaces/{id}/members {email, role}: an invitation,
		// answered alike for every address (the old route name stays)
		invite := func(e *core.RequestEvent) error {
			c := callerOf(e)
			if err := c.RequireScope(apikeys.ScopeAdmin); err != nil {
				return err
			}
			ws := e.Request.PathValue("id")
			if !c.Reaches(ws) {
				return apperr.ToAPI(apperr.NotFound(members.CodeWorkspaceNotFound, "No such workspace, or you are not a member of it"))
			}
			var in members.InviteInput
			if err := e.BindBody(&in); err != nil {
				return apperr.ToAPI(apperr.BadRequest(members.CodeInvalid, `send {"email": "...", "role": "editor"}`))
			}
			out, err := svc.Invite(ws, c.Actor, in)
			if err != nil {
				return apperr.ToAPI(err)
			}
			return e.JSON(http.StatusAccepted, out)
		}
		w.route(se.Router, http.MethodPost, "/api/crm/workspaces/{id}/members", invite).Bind(requireCaller())
		w.route(se.Router, http.MethodPost, "/api/crm/workspaces/{id}/invitations", invite).Bind(requireCaller())

		// the invitee's own: sessions only (a key does not consent for its user)
		w.route(se.Router, http.MethodGet, "/api/crm/invitations", func(e *core.RequestEvent) error {
			c, err := invitee(e)
			if err != nil {
				return err
			}
			list, err := svc.PendingFor(c.UserID)
			if err != nil {
				return apperr.ToAPI(err)
			}
			return e.JSON(http.StatusOK, map[string]any{"items": list})
		}).Bind(requireCaller())
		w.route(se.Router, http.MethodPost, "/api/crm/invitations/{id}/accept", func(e *core.RequestEvent) error {
			c, err := invitee(e)
			if err != nil {
				return err
			}
			out, err := svc.Accept(e.Request.PathValue("id"), c.Actor)
			if err != nil {
				return apperr.ToAPI(err)
			}
			return e.JSON(http.StatusOK, out)
		}).Bind(requireCaller())
		w.route(se.Router, http.MethodPost, "/api/crm/invitations/{id}/decline", func(e *core.RequestEvent) error {
			c, err := invitee(e)
			if err != nil {
				return err
			}
			if err := svc.Decline(e.Request.PathValue("id"), c.Actor); err != nil {
				return apperr.ToAPI(err)
			}
			return e.JSON(http.StatusOK, map[string]any{"status": members.StatusDeclined})
		}).Bind(requireCaller())

		// the workspace's owners and admins withdraw one
		w.route(se.Router, http.MethodPost, "/api/crm/invitations/{id}/revoke", func(e *core.RequestEvent) error {
			c := callerOf(e)
			if err := c.RequireScope(apikeys.ScopeAdmin); err != nil {
				return err
			}
			if err := svc.Revoke(e.Request.PathValue("id"), c.Actor, c.Reaches); err != nil {
				return apperr.ToAPI(err)
			}
			return e.JSON(http.StatusOK, map[string]any{"status": members.StatusRevoked})
		}).Bind(requireCaller())
		return se.Next()
	})
}

// invitee is the caller of an invitee route: a user's session, never an API
// key (accepting joins a workspace: the person decides, not an integration).
func invitee(e *core.RequestEvent) (caller, error) {
	c := callerOf(e)
	if c.Key != nil {
		return c, apperr.ToAPI(apperr.Forbidden("api_key_route_forbidden", "API keys cannot answer invitations: log in as the invited account"))
	}
	return c, nil
}
