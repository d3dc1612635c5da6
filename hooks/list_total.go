package hooks

import (
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/pi-crm/pi-crm/services/counts"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
	"github.com/pocketbase/pocketbase/tools/search"
)

// listTotalKey holds, in the request's store, the total counts.ListTotal
// found before PocketBase's list ran.
const listTotalKey = "picrm_contacts_list_total"

// registerListTotal gives the collection API's contact list its total from
// the kept counts when the list rule says whose workspaces they are
// (services/counts/listtotal.go): the middleware computes it before the list
// and turns PocketBase's own COUNT off for that request (skipTotal), the list
// hook writes it into the result. The page itself is PocketBase's, under the
// rule, as before; a request the counts cannot answer keeps PocketBase's count.
func registerListTotal(app core.App) func(*core.RequestEvent) error {
	lt := counts.NewListTotal(app)
	app.OnRecordsListRequest("contacts").Bind(&hook.Handler[*core.RecordsListRequestEvent]{
		Func: func(e *core.RecordsListRequestEvent) error {
			if total, ok := e.Get(listTotalKey).(int); ok && e.Result != nil {
				e.Result.TotalItems = total
				e.Result.TotalPages = int(math.Ceil(float64(total) / float64(max(e.Result.PerPage, 1))))
			}
			return e.Next()
		},
		Priority: -100, // before other list hooks read the result
	})
	return func(e *core.RequestEvent) error {
		if e.Request.Method != http.MethodGet || !isContactsList(app, e.Request.URL.Path) {
			return e.Next()
		}
		q := e.Request.URL.Query()
		if skip, _ := strconv.ParseBool(q.Get(search.SkipTotalQueryParam)); skip || len(q[search.FilterQueryParam]) > 1 {
			return e.Next()
		}
		// the request info the list's rule will read, cached before the
		// query changes below
		info, err := e.RequestInfo()
		if err != nil {
			return e.Next() // PocketBase answers it
		}
		total, ok, err := lt.Total(info, q.Get(search.FilterQueryParam))
		if err != nil {
			app.Logger().Warn("contacts list total from the kept counts", "error", err)
			return e.Next()
		}
		if ok {
			q.Set(search.SkipTotalQueryParam, "1")
			e.Request.URL.RawQuery = q.Encode()
			e.Set(listTotalKey, total)
		}
		return e.Next()
	}
}

// isContactsList tells the contacts list route, by collection name or id.
func isContactsList(app core.App, path string) bool {
	rest, ok := strings.CutPrefix(path, "/api/collections/")
	if !ok {
		return false
	}
	name, tail, ok := strings.Cut(rest, "/")
	if !ok || tail != "records" {
		return false
	}
	if name == "contacts" {
		return true
	}
	c, err := app.FindCachedCollectionByNameOrId(name)
	return err == nil && c.Name == "contacts"
}
