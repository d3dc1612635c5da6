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

// registerMerge adds the contact merge and its undo; the work and the rules
// (roles included, checked inside the merge's transaction) are in
// services/merge.
func registerMerge(app core.App, crm *crmRoutes, now func() time.Time) {
	tl := commlog.NewWriter(now)
	merger := merge.NewMerger(app, tl, now, merge.DefaultUndoWindow)
	undoer := merge.NewUndoer(app, tl, now)
	crm.add(http.MethodPost, "/contacts/merge", apikeys.ScopeContactsWrite, func(e *core.RequestEvent, c caller) error {
		var req merge.Request
		if err := e.BindBody(&req); err != nil {
			return apperr.BadRequest(merge.CodeInvalid, `Send {"source": id, "target": id, "resolution": {field: "source" | "target" | {"value": …}}, "dry_run": false}`)
		}
		res, err := merger.Merge(mergeCaller(c), req)
		if err != nil {
			return err
		}
		return e.JSON(http.StatusOK, res)
	})
	crm.add(http.MethodPost, "/contacts/merge/{id}/undo", apikeys.ScopeContactsWrite, func(e *core.RequestEvent, c caller) error {
		res, err := undoer.Undo(mergeCaller(c), e.Request.PathValue("id"))
		if err != nil {
			return err
		}
		return e.JSON(http.StatusOK, res)
	})
}

// mergeCaller: who asks, and the workspace a restricted key is limited to.
func mergeCaller(c caller) merge.Caller {
	return merge.Caller{UserID: c.UserID, Actor: c.Actor, KeyWorkspace: c.KeyWorkspace()}
}
