package hooks

import (
	"github.com/pi-crm/pi-crm/services/apikeys"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
)

// caller is who a custom route acts for: the person (a session's user, or the
// user an API key belongs to) and, for a key, the key with its limits. Custom
// routes read the caller through here only, never e.Auth: with an API key
// e.Auth is the key's own principal record, which the API rules read.
type caller struct {
	User   *core.Record
	UserID string
	Key    *apikeys.Key // nil for a session
	Actor  audit.Actor
}

func callerOf(e *core.RequestEvent) caller {
	c := caller{Key: apiKeyFromEvent(e), Actor: actorOf(e), User: e.Auth}
	if c.Key != nil {
		c.User = c.Key.User
	}
	c.UserID = c.Actor.UserID
	return c
}

// requireCaller lets a custom route be called with a session of a user or
// with an API key (the route then reads the caller through callerOf).
func requireCaller() *hook.Handler[*core.RequestEvent] {
	return apis.RequireAuth("users", "api_keys")
}

// Allows reports whether the caller may act with scope (sessions: always;
// the user's own role is checked by the route).
func (c caller) Allows(scope string) bool { return c.Key == nil || c.Key.Allows(scope) }

// Reaches reports whether the caller may reach workspace ws at all: a key
// restricted to one workspace reaches no other.
func (c caller) Reaches(ws string) bool {
	return c.Key == nil || c.Key.Workspace == "" || c.Key.Workspace == ws
}

// KeyWorkspace is the workspace the caller's key is restricted to ("" for
// sessions and unrestricted keys).
func (c caller) KeyWorkspace() string {
	if c.Key == nil {
		return ""
	}
	return c.Key.Workspace
}
