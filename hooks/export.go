package hooks

import (
	"net/http"
	"time"

	"github.com/pi-crm/pi-crm/services/apikeys"
	"github.com/pi-crm/pi-crm/services/contacts"
	"github.com/pi-crm/pi-crm/services/customfields"
	"github.com/pi-crm/pi-crm/services/export"
	"github.com/pi-crm/pi-crm/services/tenancy"
	"github.com/pocketbase/pocketbase/core"
)

// registerExport adds the CSV export, for any member of the workspace.
func registerExport(app core.App, crm *crmRoutes, now func() time.Time) {
	cs := contacts.NewService(app)
	svc := export.NewService(app, customfields.NewService(app, cs), now)
	// GET /api/crm/workspaces/{id}/export: the search route's parameters
	// (q, match, list, cf.<field>=<op>:<value>, filter=…, sort; the
	// workspace is the path's) and columns=a,b. Every match, no pages.
	crm.add(http.MethodGet, "/workspaces/{id}/export", apikeys.ScopeContactsRead, func(e *core.RequestEvent, c caller) error {
		ws := e.Request.PathValue("id")
		if _, err := c.Require(app, ws, tenancy.RoleViewer, nil); err != nil {
			return err
		}
		v := e.Request.URL.Query()
		v.Set("workspace", ws) // the path's, whatever the query says
		q, err := export.ParseQuery(v)
		if err != nil {
			return err
		}
		// errors in the query are found before the first byte is sent
		p, err := svc.Prepare(q)
		if err != nil {
			return err
		}
		e.Response.Header().Set("Content-Type", "text/csv; charset=utf-8")
		e.Response.Header().Set("Content-Disposition", `attachment; filename="contacts-`+ws+`.csv"`)
		e.Response.WriteHeader(http.StatusOK)
		n, err := svc.Write(e.Response, p)
		if err != nil {
			e.App.Logger().Error("export failed midway", "workspace", ws, "rows", n, "error", err)
			return nil // the status is sent; the truncated file is all we can do
		}
		if err := svc.Audit(c.Actor, q, n, nil); err != nil {
			e.App.Logger().Error("export: audit entry not written", "error", err)
		}
		return nil
	})
}
