package hooks

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/router"
)

// queryGuard closes a side channel of PocketBase filters. A list rule limits
// which records come back, but a client filter may still walk relations to
// records the caller could never read and use them as a yes/no oracle:
//
//	GET /api/collections/workspaces/records?filter=@collection.contacts.primary_email ?= "x@y"
//	GET /api/collections/users/records?filter=workspaces_via_owner.contacts_via_workspace.company ~ "a%"
//
// Records of one workspace only relate to records of the same workspace (the
// create rules check it), so the only bridges between workspaces are
// @collection joins and back-relations out of a user record, which a user
// shares between workspaces. Client filter and sort expressions may use
// neither; the API rules themselves are not affected.
type queryGuard struct {
	app core.App

	mu sync.RWMutex
	// userBackRelations holds "<collection>_via_<field>" for every relation
	// field that points at an auth collection.
	userBackRelations map[string]bool
}

var backRelationToken = regexp.MustCompile(`[A-Za-z0-9_]+_via_[A-Za-z0-9_]+`)

func newQueryGuard(app core.App) *queryGuard {
	return &queryGuard{app: app}
}

func (g *queryGuard) register() {
	g.app.OnRealtimeSubscribeRequest().BindFunc(func(e *core.RealtimeSubscribeRequestEvent) error {
		if e.HasSuperuserAuth() {
			return e.Next()
		}
		for _, sub := range e.Subscriptions {
			if err := g.checkSubscription(sub); err != nil {
				return err
			}
		}
		return e.Next()
	})
	reset := func(e *core.CollectionEvent) error {
		g.mu.Lock()
		g.userBackRelations = nil
		g.mu.Unlock()
		return e.Next()
	}
	g.app.OnCollectionAfterCreateSuccess().BindFunc(reset)
	g.app.OnCollectionAfterUpdateSuccess().BindFunc(reset)
	g.app.OnCollectionAfterDeleteSuccess().BindFunc(reset)
}

// middleware checks the filter and sort of every collection API read.
func (g *queryGuard) middleware(e *core.RequestEvent) error {
	if e.Request.Method != http.MethodGet || !strings.HasPrefix(e.Request.URL.Path, "/api/collections/") || e.HasSuperuserAuth() {
		return e.Next()
	}
	q := e.Request.URL.Query()
	for _, param := range []string{"filter", "sort"} {
		if err := g.check(q.Get(param)); err != nil {
			return err
		}
	}
	return e.Next()
}

// checkSubscription reads the options a realtime subscription carries
// ("contacts/*?options={"query":{"filter":...}}").
func (g *queryGuard) checkSubscription(sub string) error {
	_, rawQuery, ok := strings.Cut(sub, "?")
	if !ok {
		return nil
	}
	params, err := url.ParseQuery(rawQuery)
	if err != nil {
		return forbiddenQuery("the subscription options could not be read")
	}
	raw := params.Get("options")
	if raw == "" {
		return nil
	}
	var opts struct {
		Query map[string]string `json:"query"`
	}
	if err := json.Unmarshal([]byte(raw), &opts); err != nil {
		return forbiddenQuery("the subscription options are not valid JSON")
	}
	for _, param := range []string{"filter", "sort"} {
		if err := g.check(opts.Query[param]); err != nil {
			return err
		}
	}
	return nil
}

func (g *queryGuard) check(expr string) error {
	if expr == "" {
		return nil
	}
	if strings.Contains(strings.ToLower(expr), "@collection") {
		return forbiddenQuery("filters may not use @collection; filter on the fields of the listed records and their relations")
	}
	bridges := g.bridges()
	for _, tok := range backRelationToken.FindAllString(expr, -1) {
		// PocketBase resolves collection names case-insensitively
		if bridges[strings.ToLower(tok)] {
			return forbiddenQuery("filters may not follow " + tok + ": it leaves the records you can read")
		}
	}
	return nil
}

func (g *queryGuard) bridges() map[string]bool {
	g.mu.RLock()
	b := g.userBackRelations
	g.mu.RUnlock()
	if b != nil {
		return b
	}

	b = map[string]bool{}
	collections, err := g.app.FindAllCollections()
	if err == nil {
		authIDs := map[string]bool{}
		for _, c := range collections {
			if c.IsAuth() {
				authIDs[c.Id] = true
			}
		}
		for _, c := range collections {
			for _, f := range c.Fields {
				if rf, ok := f.(*core.RelationField); ok && authIDs[rf.CollectionId] {
					b[strings.ToLower(c.Name+"_via_"+rf.Name)] = true
				}
			}
		}
	}
	g.mu.Lock()
	g.userBackRelations = b
	g.mu.Unlock()
	return b
}

func forbiddenQuery(message string) error {
	return &router.ApiError{Status: http.StatusBadRequest, Message: message, Data: map[string]any{"code": "filter_forbidden"}}
}
