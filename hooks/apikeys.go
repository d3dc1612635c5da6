package hooks

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/pi-crm/pi-crm/services/apikeys"
	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/tenancy"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
)

// eventKeyAPIKey is where the resolved key lives on a request (and on the
// sub-requests of a batch, which copy the parent's store).
const eventKeyAPIKey = "picrm.apiKey"

// clientKeyAPIKey is where a realtime client's key lives.
const clientKeyAPIKey = "picrm.apiKey"

// apiKeyPriority puts the key middleware after PocketBase's panic recovery
// (-1030) and before its token loader (-1020), which then leaves our e.Auth
// alone, and before the rate limiter (-1000), which then counts per user.
const apiKeyPriority = -1025

type apiKeyAuth struct {
	app  core.App
	keys *apikeys.Service
	log  *auditor
}

func apiKeyFromEvent(e *core.RequestEvent) *apikeys.Key {
	k, _ := e.Get(eventKeyAPIKey).(*apikeys.Key)
	return k
}

func registerAPIKeys(app core.App, w *Wiring, keys *apikeys.Service, log *auditor) {
	h := &apiKeyAuth{app: app, keys: keys, log: log}

	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		se.Router.Bind(&hook.Handler[*core.RequestEvent]{Id: "picrmApiKey", Func: h.middleware, Priority: apiKeyPriority})
		w.route(se.Router, http.MethodPost, "/api/crm/api-keys", h.create).Bind(apis.RequireAuth("users"))
		w.route(se.Router, http.MethodGet, "/api/crm/me", h.me).Bind(apis.RequireAuth("users"))
		return se.Next()
	})

	app.OnBatchRequest().BindFunc(func(e *core.BatchRequestEvent) error {
		if key := apiKeyFromEvent(e.RequestEvent); key != nil {
			for _, r := range e.Batch {
				u, err := url.Parse(r.URL)
				if err != nil {
					return apperr.ToAPI(apperr.BadRequest("batch_invalid_url", "a batch request has an invalid url"))
				}
				if err := authorizeKeyPath(key, r.Method, u.Path); err != nil {
					return apperr.ToAPI(err)
				}
			}
		}
		return e.Next()
	})

	// A key restricted to a workspace reaches records of that workspace only.
	check := func(e *core.RecordRequestEvent, status int) error {
		key := apiKeyFromEvent(e.RequestEvent)
		if key == nil || key.Workspace == "" {
			return e.Next()
		}
		if e.Record.Collection().Name == "users" && e.Record.Id == key.User.Id {
			return e.Next()
		}
		if tenancy.WorkspaceOf(e.App, e.Record) != key.Workspace {
			if status == http.StatusNotFound {
				return e.NotFoundError("", nil)
			}
			return apperr.ToAPI(apperr.Forbidden("api_key_workspace_forbidden", "this API key is restricted to another workspace"))
		}
		return e.Next()
	}
	app.OnRecordViewRequest().BindFunc(func(e *core.RecordRequestEvent) error { return check(e, http.StatusNotFound) })
	app.OnRecordUpdateRequest().BindFunc(func(e *core.RecordRequestEvent) error { return check(e, http.StatusNotFound) })
	app.OnRecordDeleteRequest().BindFunc(func(e *core.RecordRequestEvent) error { return check(e, http.StatusNotFound) })
	app.OnRecordCreateRequest().BindFunc(func(e *core.RecordRequestEvent) error { return check(e, http.StatusForbidden) })

	app.OnRealtimeSubscribeRequest().BindFunc(func(e *core.RealtimeSubscribeRequestEvent) error {
		key := apiKeyFromEvent(e.RequestEvent)
		if key == nil {
			return e.Next()
		}
		for _, sub := range e.Subscriptions {
			collection, _, _ := strings.Cut(sub, "/")
			if !key.Allows(apikeys.RequiredScope(collection, false)) {
				return apperr.ToAPI(scopeMissing(apikeys.RequiredScope(collection, false)))
			}
		}
		e.Client.Set(clientKeyAPIKey, key)
		return e.Next()
	})
	app.OnRealtimeMessageSend().BindFunc(func(e *core.RealtimeMessageEvent) error {
		key, _ := e.Client.Get(clientKeyAPIKey).(*apikeys.Key)
		if key == nil || key.Workspace == "" || !h.messageOutside(e.Message.Name, e.Message.Data, key.Workspace) {
			return e.Next()
		}
		return nil // drop the message: it belongs to another workspace
	})
}

// messageOutside reports whether a realtime record message concerns a
// workspace other than ws.
func (h *apiKeyAuth) messageOutside(topic string, data []byte, ws string) bool {
	collection, _, ok := strings.Cut(topic, "/")
	if !ok {
		return false // PB_CONNECT and other non-record messages
	}
	col, err := h.app.FindCachedCollectionByNameOrId(collection)
	if err != nil {
		return true
	}
	var msg struct {
		Record map[string]any `json:"record"`
	}
	if json.Unmarshal(data, &msg) != nil || msg.Record == nil {
		return true
	}
	get := func(f string) string { s, _ := msg.Record[f].(string); return s }
	return tenancy.WorkspaceOfData(h.app, col, get) != ws
}

func (h *apiKeyAuth) middleware(e *core.RequestEvent) error {
	raw := e.Request.Header.Get("X-Api-Key")
	if raw == "" {
		return e.Next()
	}
	key, err := h.keys.Resolve(raw)
	if err != nil {
		h.log.authEvent(e, audit.ActionAPIKeyRejected, "", map[string]any{"key_prefix": apikeys.Prefix(raw), "reason": errorCode(err)})
		return apperr.ToAPI(err)
	}
	e.Auth = key.User
	e.Set(eventKeyAPIKey, key)
	if err := authorizeKeyPath(key, e.Request.Method, e.Request.URL.Path); err != nil {
		return apperr.ToAPI(err)
	}
	if key.Workspace != "" && e.Request.Method == http.MethodGet {
		restrictListToWorkspace(e, key)
	}
	return e.Next()
}

// authorizeKeyPath decides which routes a key may use and with which scope.
// Anything not listed is refused: in particular the auth routes, so a key can
// never be exchanged for an unrestricted session token.
func authorizeKeyPath(key *apikeys.Key, method, path string) error {
	write := method != http.MethodGet && method != http.MethodHead
	switch {
	case strings.HasPrefix(path, "/api/collections/"):
		rest := strings.TrimPrefix(path, "/api/collections/")
		collection, tail, _ := strings.Cut(rest, "/")
		if tail != "records" && !strings.HasPrefix(tail, "records/") {
			return apperr.Forbidden("api_key_route_forbidden", "API keys cannot be used on this route")
		}
		if scope := apikeys.RequiredScope(collection, write); !key.Allows(scope) {
			return scopeMissing(scope)
		}
		return nil
	case path == "/api/realtime", path == "/api/batch", path == "/api/health", strings.HasPrefix(path, "/api/crm/"):
		return nil // checked per subscription, per sub-request, or by the route
	case !write && strings.HasPrefix(path, "/api/files/"):
		return nil
	}
	return apperr.Forbidden("api_key_route_forbidden", "API keys cannot be used on this route")
}

func scopeMissing(scope string) *apperr.Error {
	return apperr.Forbidden("api_key_scope_missing", "this API key lacks the scope "+scope).With("scope", scope)
}

// requireScope is what a custom route calls for the scope it needs; requests
// authenticated by a session token pass (their user's rules apply).
func requireScope(e *core.RequestEvent, scope string) error {
	if key := apiKeyFromEvent(e); key != nil && !key.Allows(scope) {
		return apperr.ToAPI(scopeMissing(scope))
	}
	return nil
}

// restrictListToWorkspace narrows a collection list to the key's workspace by
// adding a condition to the client's filter; the API rules still apply on top.
func restrictListToWorkspace(e *core.RequestEvent, key *apikeys.Key) {
	rest, ok := strings.CutPrefix(e.Request.URL.Path, "/api/collections/")
	if !ok {
		return
	}
	collection, tail, _ := strings.Cut(rest, "/")
	if tail != "records" {
		return
	}
	cond := `id = "` + key.User.Id + `"` // users: a restricted key sees only its own user
	if path := tenancy.FilterPath(collection); path != "" {
		cond = path + ` = "` + key.Workspace + `"`
	}
	q := e.Request.URL.Query()
	if f := q.Get("filter"); f != "" {
		cond = "(" + f + ") && " + cond
	}
	q.Set("filter", cond)
	e.Request.URL.RawQuery = q.Encode()
}

func errorCode(err error) string {
	var ae *apperr.Error
	if errors.As(err, &ae) {
		return ae.Code
	}
	return "error"
}

func (h *apiKeyAuth) create(e *core.RequestEvent) error {
	if err := requireScope(e, apikeys.ScopeAdmin); err != nil {
		return err
	}
	var in apikeys.CreateInput
	if err := e.BindBody(&in); err != nil {
		return apperr.ToAPI(apperr.BadRequest("api_key_invalid_input", "send JSON: {description, scopes, expires_in_days?, workspace?}"))
	}
	created, err := h.keys.Create(e.Auth, in, actorOf(e))
	if err != nil {
		return apperr.ToAPI(err)
	}
	return e.JSON(http.StatusOK, created)
}

// me is the original plan's "protected" route: who is calling, and with what.
func (h *apiKeyAuth) me(e *core.RequestEvent) error {
	out := map[string]any{
		"user":   map[string]any{"id": e.Auth.Id, "email": e.Auth.Email(), "name": e.Auth.GetString("name")},
		"via":    "token",
		"scopes": apikeys.AllScopes,
	}
	if key := apiKeyFromEvent(e); key != nil {
		out["via"] = "api_key"
		out["scopes"] = key.Scopes
		out["api_key"] = map[string]any{"id": key.ID, "prefix": key.Prefix, "workspace": key.Workspace}
	}
	return e.JSON(http.StatusOK, out)
}
