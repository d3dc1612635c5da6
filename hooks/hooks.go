// Package hooks wires pi-crm into PocketBase: record event hooks, middleware
// and routes. Everything here stays thin and calls into services/.
package hooks

import (
	"io/fs"
	"strings"
	"time"

	"github.com/pi-crm/pi-crm/services/apikeys"
	"github.com/pi-crm/pi-crm/services/imports"
	"github.com/pi-crm/pi-crm/services/providers"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
)

// Config is what main.go (and the tests) hand to Register.
type Config struct {
	// Public is the built web UI served at "/" (nil: not served).
	Public fs.FS
	// Now is the clock (nil: time.Now); tests move it to expire keys.
	Now func() time.Time
	// ImportRunner runs import jobs (nil: a runner with two workers); tests
	// pass their own and Wait on it.
	ImportRunner *imports.Runner
	// Providers are the options every remote provider is opened with, by
	// the sending engine and the provider test route alike (zero: their
	// SDKs' defaults); tests pass their TLS test servers' client.
	Providers providers.Options
}

// Register binds every pi-crm hook, middleware and route to app. main.go and
// the tests call the same function, so tests exercise the real wiring.
func Register(app core.App, cfg Config) *Wiring {
	w := &Wiring{}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	registerTextClean(app)
	guard := newQueryGuard(app)
	guard.register()
	listTotal := registerListTotal(app)

	log := &auditor{app: app, now: now}
	registerAudit(app, log)
	// every custom route is declared on crm and mounted in one group below
	crm := newCRMRoutes(app, w)
	registerAPIKeys(app, crm, apikeys.NewService(app, now), log)

	registerWorkspaceHooks(app)
	registerCampaignHooks(app)
	registerSearch(app, crm)
	registerContactsCore(app, crm, now)
	w.Imports = registerImports(app, crm, cfg.ImportRunner, now)
	registerExport(app, crm, now)
	registerMerge(app, crm, now)
	registerMembers(app, crm)
	registerTemplates(app, crm)
	registerSending(app, crm, registerCampaigns(app, crm, now), now, cfg.Providers)
	registerAI(app, crm, now)
	registerProviders(app, crm, now, cfg.Providers)
	registerInsights(app, crm, now)

	app.OnServe().Bind(&hook.Handler[*core.ServeEvent]{
		Func: func(se *core.ServeEvent) error {
			se.Router.BindFunc(guard.middleware)
			se.Router.BindFunc(listTotal) // after the guard: a refused filter is never counted
			crm.mount(se)
			if cfg.Public != nil {
				// the least specific pattern: every API route wins over it
				static := apis.Static(cfg.Public, true)
				se.Router.GET("/{path...}", func(e *core.RequestEvent) error {
					// an unknown API path is a JSON 404, never the app's index page
					if strings.HasPrefix(e.Request.URL.Path, "/api/") {
						return e.NotFoundError("", nil)
					}
					return static(e)
				})
			}
			return se.Next()
		},
		// late, so routes registered by other handlers are in place first
		Priority: 999,
	})
	return w
}
