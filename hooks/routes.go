package hooks

import (
	"database/sql"
	"errors"
	"sort"
	"sync"

	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/imports"
	"github.com/pi-crm/pi-crm/services/tenancy"
	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
	"github.com/pocketbase/pocketbase/tools/router"
)

// Wiring is what Register hands back: the custom routes it added, so tests can
// hold every route to its obligations (audit, scopes) and fail when a new one
// is added without them.
type Wiring struct {
	mu     sync.Mutex
	routes map[string]bool
	// Imports is the import service the routes use (tests tune its batch
	// size and progress interval).
	Imports *imports.Service
}

// Routes lists the custom routes as "METHOD /path", sorted.
func (w *Wiring) Routes() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.routes))
	for r := range w.routes {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

func (w *Wiring) record(method, path string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.routes == nil {
		w.routes = map[string]bool{}
	}
	w.routes[method+" "+path] = true
}

// crmPrefix is where every custom route lives.
const crmPrefix = "/api/crm"

// Scopes a route may declare besides the API-key scopes of services/apikeys.
const (
	// anyCaller: a session or any API key (the route checks the rest).
	anyCaller = ""
	// sessionOnly: a person's own session; API keys are refused (a key does
	// not consent for its user, e.g. to join a workspace).
	sessionOnly = "session"
)

// crmHandler is a custom route's action: it gets the caller (already
// authenticated and holding the route's scope) and returns an error that the
// group translates (apperr codes, validation errors, or a 500 with a log line).
type crmHandler func(e *core.RequestEvent, c caller) error

type crmRoute struct {
	method, path, scope string
	action              crmHandler
	middlewares         []*hook.Handler[*core.RequestEvent]
}

// crmRoutes is the one way into a custom route. Register hands it to every
// area, each declares its routes with add (path, scope, action), and mount
// puts them all in one /api/crm route group on serve: authentication (a user
// session or an API key) is bound once for the group, the scope each route
// needs and the translation of errors are applied once, here.
type crmRoutes struct {
	app    core.App
	w      *Wiring
	routes []crmRoute
}

func newCRMRoutes(app core.App, w *Wiring) *crmRoutes { return &crmRoutes{app: app, w: w} }

// add declares a route under /api/crm (path is relative: "/contacts/merge").
// scope is the API-key scope it needs (apikeys.Scope*), anyCaller or
// sessionOnly.
func (r *crmRoutes) add(method, path, scope string, action crmHandler, middlewares ...*hook.Handler[*core.RequestEvent]) {
	r.w.record(method, crmPrefix+path)
	r.routes = append(r.routes, crmRoute{method: method, path: path, scope: scope, action: action, middlewares: middlewares})
}

func (r *crmRoutes) mount(se *core.ServeEvent) {
	g := se.Router.Group(crmPrefix)
	g.Bind(requireCaller())
	for _, rt := range r.routes {
		g.Route(rt.method, rt.path, r.handler(rt)).Bind(rt.middlewares...)
	}
}

func (r *crmRoutes) handler(rt crmRoute) func(*core.RequestEvent) error {
	return func(e *core.RequestEvent) error {
		c := callerOf(e)
		switch {
		case rt.scope == sessionOnly:
			if c.Key != nil {
				return apperr.Forbidden("api_key_route_forbidden", "API keys cannot be used on this route: log in as the person")
			}
		case !c.Allows(rt.scope):
			return scopeMissing(rt.scope)
		}
		return r.translate(e, rt.action(e, c))
	}
}

// translate turns a route's error into PocketBase's error shape: a coded
// apperr keeps its status and code, PocketBase's own and validation errors
// pass as PocketBase would render them, and anything else is a failure of
// ours: a 500 with a log line, never a user's "bad request" or "not found".
func (r *crmRoutes) translate(e *core.RequestEvent, err error) error {
	if err == nil {
		return nil
	}
	var coded *apperr.Error
	if errors.As(err, &coded) {
		return coded
	}
	var api *router.ApiError
	if errors.As(err, &api) {
		return api
	}
	if errors.Is(err, sql.ErrNoRows) {
		return e.NotFoundError("", nil)
	}
	var invalid validation.Errors
	if errors.As(err, &invalid) {
		return e.BadRequestError("", invalid)
	}
	r.app.Logger().Error("custom route failed", "method", e.Request.Method, "path", e.Request.URL.Path, "error", err.Error())
	return e.InternalServerError("", nil)
}

// Require is the access check of every route that acts in a workspace: the
// caller's role there when it is min or stronger. A workspace the caller is
// not in, or that its API key does not reach, is tenancy.ErrWorkspaceNotFound;
// a weaker role is below (the area's own "viewers cannot …").
func (c caller) Require(app core.App, ws, min string, below *apperr.Error) (string, error) {
	if !c.Reaches(ws) {
		return "", tenancy.ErrWorkspaceNotFound
	}
	return tenancy.Require(app, ws, c.UserID, min, below)
}
