package hooks

import (
	"net/http"

	"github.com/pi-crm/pi-crm/services/apikeys"
	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/members"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
)

func registerMembers(app core.App, w *Wiring) {
	svc := members.NewService(app)
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		// POST /api/crm/workspaces/{id}/members {email, role}
		w.route(se.Router, http.MethodPost, "/api/crm/workspaces/{id}/members", func(e *core.RequestEvent) error {
			if err := requireScope(e, apikeys.ScopeAdmin); err != nil {
				return err
			}
			ws := e.Request.PathValue("id")
			if key := apiKeyFromEvent(e); key != nil && key.Workspace != "" && key.Workspace != ws {
				return apperr.ToAPI(apperr.NotFound(members.CodeWorkspaceNotFound, "No such workspace, or you are not a member of it"))
			}
			var in members.AddInput
			if err := e.BindBody(&in); err != nil {
				return apperr.ToAPI(apperr.BadRequest(members.CodeInvalid, `send {"email": "...", "role": "editor"}`))
			}
			m, err := svc.Add(ws, actorOf(e), in)
			if err != nil {
				return apperr.ToAPI(err)
			}
			return e.JSON(http.StatusOK, m)
		}).Bind(apis.RequireAuth("users"))
		return se.Next()
	})
}
