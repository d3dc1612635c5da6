package hooks

import (
	"github.com/pi-crm/pi-crm/services/imports"
	"sort"
	"sync"

	"github.com/pocketbase/pocketbase/core"
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

// route registers a custom route and records it. Every /api/crm route goes
// through here.
func (w *Wiring) route(r *router.Router[*core.RequestEvent], method, path string, action func(*core.RequestEvent) error) *router.Route[*core.RequestEvent] {
	w.mu.Lock()
	if w.routes == nil {
		w.routes = map[string]bool{}
	}
	w.routes[method+" "+path] = true
	w.mu.Unlock()
	return r.Route(method, path, action)
}
