package hooks

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/pi-crm/pi-crm/services/apikeys"
	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
)

// eventKeyAPIKey is where the resolved key lives on a request (and on the
// sub-requests of a batch, which copy the parent's store).
const eventKeyAPIKey = "picrm.apiKey"

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

func registerAPIKeys(app core.App, crm *crmRoutes, keys *apikeys.Service, log *auditor) {
	h := &apiKeyAuth{app: app, keys: keys, log: log}

	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		se.Router.Bind(&hook.Handler[*core.RequestEvent]{Id: "picrmApiKey", Func: h.middleware, Priority: apiKeyPriority})
		return se.Next()
	})
	crm.add(http.MethodPost, "/api-keys", apikeys.ScopeAdmin, h.create)
	crm.add(http.MethodGet, "/me", anyCaller, h.me)

	app.OnBatchRequest().BindFunc(func(e *core.BatchRequestEvent) error {
		if key := apiKeyFromEvent(e.RequestEvent); key != nil {
			for _, r := range e.Batch {
				u, err := url.Parse(r.URL)
				if err != nil {
					return apperr.BadRequest("batch_invalid_url", "a batch request has an invalid url")
				}
				if err := authorizeKeyPath(key, r.Method, u.Path); err != nil {
					return err
				}
			}
		}
		return e.Next()
	})

	// A subscription to a collection the key's scopes do not grant is refused
	// at once, for a clear error; the rules would deliver nothing anyway.
	app.OnRealtimeSubscribeRequest().BindFunc(func(e *core.RealtimeSubscribeRequestEvent) error {
		if key := apiKeyFromEvent(e.RequestEvent); key != nil {
			for _, sub := range e.Subscriptions {
				topic, _, _ := strings.Cut(sub, "?")
				collection, _, _ := strings.Cut(topic, "/")
				if scope := apikeys.RequiredScope(collection, false); !key.Allows(scope) {
					return scopeMissing(scope)
				}
			}
		}
		return e.Next()
	})

	// No API request authenticates as a key's record through an auth route:
	// its only way in is the X-Api-Key header (password auth is off and the
	// auth rule is superusers-only, this is the last word).
	app.OnRecordAuthRequest("api_keys").BindFunc(func(e *core.RecordAuthRequestEvent) error {
		return apperr.Forbidden("api_key_route_forbidden", "API keys cannot be exchanged for a token")
	})
}

func (h *apiKeyAuth) middleware(e *core.RequestEvent) error {
	raw := e.Request.Header.Get("X-Api-Key")
	if raw == "" {
		return e.Next()
	}
	key, err := h.keys.Resolve(raw)
	if err != nil {
		h.log.authEvent(e, audit.ActionAPIKeyRejected, "", map[string]any{"key_prefix": apikeys.Prefix(raw), "reason": errorCode(err)})
		return err
	}
	// the key's own record is the principal: the API rules read its limits
	// (scopes, workspace, expiry, revocation) from @request.auth
	e.Auth = key.Record
	e.Set(eventKeyAPIKey, key)
	if err := authorizeKeyPath(key, e.Request.Method, e.Request.URL.Path); err != nil {
		return err
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

func errorCode(err error) string {
	var ae *apperr.Error
	if errors.As(err, &ae) {
		return ae.Code
	}
	return "error"
}

func (h *apiKeyAuth) create(e *core.RequestEvent, c caller) error {
	var in apikeys.CreateInput
	if err := e.BindBody(&in); err != nil {
		return apperr.BadRequest("api_key_invalid_input", "send JSON: {description, scopes, expires_in_days?, workspace?}")
	}
	created, err := h.keys.Create(c.User, c.Key, in, c.Actor)
	if err != nil {
		return err
	}
	return e.JSON(http.StatusOK, created)
}

// me is the original plan's "protected" route: who is calling, and with what.
func (h *apiKeyAuth) me(e *core.RequestEvent, c caller) error {
	u := c.User
	out := map[string]any{
		"user":   map[string]any{"id": u.Id, "email": u.Email(), "name": u.GetString("name")},
		"via":    "token",
		"scopes": apikeys.AllScopes,
	}
	if key := c.Key; key != nil {
		out["via"] = "api_key"
		out["scopes"] = key.Scopes
		out["api_key"] = map[string]any{"id": key.ID, "prefix": key.Prefix, "workspace": key.Workspace}
	}
	return e.JSON(http.StatusOK, out)
}
