package hooks

import (
	"net/http"
	"strconv"

	"github.com/pi-crm/pi-crm/services/apikeys"
	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/duplicates"
	"github.com/pi-crm/pi-crm/services/search"
	"github.com/pi-crm/pi-crm/services/tenancy"
	"github.com/pocketbase/pocketbase/core"
)

// registerSearch adds contact search and the duplicate finder
// (services/duplicates). Both read
// only, for any member of the workspace.
func registerSearch(app core.App, crm *crmRoutes) {
	s := search.NewService(app)
	finder := duplicates.NewService(app)
	crm.add(http.MethodGet, "/contacts/search", apikeys.ScopeContactsRead, func(e *core.RequestEvent, c caller) error {
		q, err := search.ParseQuery(e.Request.URL.Query())
		if err != nil {
			return err
		}
		if _, err := c.Require(app, q.Workspace, tenancy.RoleViewer, nil); err != nil {
			return err
		}
		res, err := s.Search(q)
		if err != nil {
			return err
		}
		if e.Request.URL.Query().Has("fields") {
			return e.JSON(http.StatusOK, res) // PocketBase's field picker
		}
		// the items are JSON already (SQLite wrote them): copied, not
		// parsed and encoded again
		return e.Blob(http.StatusOK, "application/json", res.AppendJSON(make([]byte, 0, 256+len(res.Items))))
	})

	crm.add(http.MethodGet, "/workspaces/{id}/duplicates", apikeys.ScopeContactsRead, func(e *core.RequestEvent, c caller) error {
		ws := e.Request.PathValue("id")
		if _, err := c.Require(app, ws, tenancy.RoleViewer, nil); err != nil {
			return err
		}
		page, perPage, err := pageParams(e)
		if err != nil {
			return err
		}
		res, err := finder.Duplicates(ws, page, perPage)
		if err != nil {
			return err
		}
		return e.JSON(http.StatusOK, res)
	})
}

func pageParams(e *core.RequestEvent) (int, int, error) {
	page, perPage := 1, search.DefaultPerPage
	q := e.Request.URL.Query()
	var err error
	if v := q.Get("page"); v != "" {
		if page, err = strconv.Atoi(v); err != nil || page < 1 || page > 1_000_000 {
			return 0, 0, apperr.BadRequest(search.CodeInvalid, "page must be a whole number from 1")
		}
	}
	if v := q.Get("perPage"); v != "" {
		if perPage, err = strconv.Atoi(v); err != nil || perPage < 1 || perPage > search.MaxPerPage {
			return 0, 0, apperr.BadRequest(search.CodeInvalid, "perPage must be a whole number from 1 to "+strconv.Itoa(search.MaxPerPage))
		}
	}
	return page, perPage, nil
}
