package hooks

import (
	"net/http"
	"strconv"

	"github.com/pi-crm/pi-crm/services/apikeys"
	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/search"
	"github.com/pocketbase/pocketbase/core"
)

// registerSearch adds contact search and the duplicate finder (issue 4,
// points 5 and 7). Both read only, for any member of the workspace.
func registerSearch(app core.App, w *Wiring) {
	s := search.NewService(app)
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		w.route(se.Router, http.MethodGet, "/api/crm/contacts/search", func(e *core.RequestEvent) error {
			q, err := search.ParseQuery(e.Request.URL.Query())
			if err != nil {
				return apperr.ToAPI(err)
			}
			if err := searchAccess(e, s, q.Workspace); err != nil {
				return err
			}
			res, err := s.Search(q)
			if err != nil {
				return apperr.ToAPI(err)
			}
			if e.Request.URL.Query().Has("fields") {
				return e.JSON(http.StatusOK, res) // PocketBase's field picker
			}
			// the items are JSON already (SQLite wrote them): copied, not
			// parsed and encoded again
			return e.Blob(http.StatusOK, "application/json", res.AppendJSON(make([]byte, 0, 256+len(res.Items))))
		}).Bind(requireCaller())

		w.route(se.Router, http.MethodGet, "/api/crm/workspaces/{id}/duplicates", func(e *core.RequestEvent) error {
			ws := e.Request.PathValue("id")
			if err := searchAccess(e, s, ws); err != nil {
				return err
			}
			page, perPage, err := pageParams(e)
			if err != nil {
				return apperr.ToAPI(err)
			}
			res, err := s.Duplicates(ws, page, perPage)
			if err != nil {
				return apperr.ToAPI(err)
			}
			return e.JSON(http.StatusOK, res)
		}).Bind(requireCaller())
		return se.Next()
	})
}

// searchAccess: the key's scope first (a 403 says what the key lacks), then
// membership, including a key restricted to another workspace (a 404).
func searchAccess(e *core.RequestEvent, s *search.Service, ws string) error {
	c := callerOf(e)
	if err := c.RequireScope(apikeys.ScopeContactsRead); err != nil {
		return err
	}
	return apperr.ToAPI(s.CheckMember(ws, c.UserID, c.KeyWorkspace()))
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
