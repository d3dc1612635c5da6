package hooks

import (
	"net/http"
	"time"

	"github.com/pi-crm/pi-crm/services/apikeys"
	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/commlog"
	"github.com/pi-crm/pi-crm/services/merge"
	"github.com/pocketbase/pocketbase/core"
)

// registerMerge adds the contact merge and its undo (issue 4, point 6); the
// work and the rules are in services/merge.
func registerMerge(app core.App, w *Wiring, now func() time.Time) {
	tl := commlog.NewWriter(now)
	merger := merge.NewMerger(app, tl, now, merge.DefaultUndoWindow)
	undoer := merge.NewUndoer(app, tl, now)
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		w.route(se.Router, http.MethodPost, "/api/crm/contacts/merge", func(e *core.RequestEvent) error {
			caller, err := mergeCaller(e)
			if err != nil {
				return err
			}
			var req merge.Request
			if err := e.BindBody(&req); err != nil {
				return apperr.ToAPI(apperr.BadRequest(merge.CodeInvalid, `Send {"source": id, "target": id, "resolution": {field: "source" | "target" | {"value": …}}, "dry_run": false}`))
			}
			res, err := merger.Merge(caller, req)
			if err != nil {
				return apperr.ToAPI(err)
			}
			return e.JSON(http.StatusOK, res)
		}).Bind(requireCaller())

		w.route(se.Router, http.MethodPost, "/api/crm/contacts/merge/{id}/undo", func(e *core.RequestEvent) error {
			caller, err := mergeCaller(e)
			if err != nil {
				return err
			}
			res, err := undoer.Undo(caller, e.Request.PathValue("id"))
			if err != nil {
				return apperr.ToAPI(err)
			}
			return e.JSON(http.StatusOK, res)
		}).Bind(requireCaller())
		return se.Next()
	})
}

// mergeCaller: the key's scope first (a 403 says what the key lacks), then
// who asks, and the workspace a restricted key is limited to.
func mergeCaller(e *core.RequestEvent) (merge.Caller, error) {
	who := callerOf(e)
	if err := who.RequireScope(apikeys.ScopeContactsWrite); err != nil {
		return merge.Caller{}, err
	}
	return merge.Caller{UserID: who.UserID, Actor: who.Actor, KeyWorkspace: who.KeyWorkspace()}, nil
}
