package hooks

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/pi-crm/pi-crm/services/ai"
	"github.com/pi-crm/pi-crm/services/apikeys"
	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/insights"
	"github.com/pi-crm/pi-crm/services/settings"
	"github.com/pi-crm/pi-crm/services/tenancy"
	"github.com/pocketbase/pocketbase/core"
)

// InsightsNightlyJob is the cron job's id (testutil removes it: a test's
// clock, not the wall clock, decides when a nightly run happens).
const InsightsNightlyJob = "picrm_insights_nightly"

var errInsightsRunForbidden = apperr.Forbidden("insights_run_forbidden", "Only the workspace's owners and admins run the insights")

// registerInsights binds the insights routes and the nightly job.
//
// GET …/insights: any member (key scope contacts:read), the latest run with
// the insights the caller reads by the collection's own rule (campaign
// results with campaigns:read, AI usage for owners and admins with admin, the
// summary with campaigns:read too). POST …/insights/run: owners and admins
// (scope admin: a run may spend model tokens, as the provider test does).
func registerInsights(app core.App, crm *crmRoutes, now func() time.Time) *insights.Service {
	store := settings.New(app)
	svc := insights.New(app, store, ai.NewClient(app, ai.OpenAI{}, now), now)
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		// runs a previous process left running are marked failed before
		// the routes and the nightly job can start another
		if n, err := svc.RecoverInterrupted(); err != nil {
			app.Logger().Error("insights: recovering interrupted runs", "error", err)
		} else if n > 0 {
			app.Logger().Warn("insights: runs interrupted by a restart marked failed", "count", n)
		}
		return se.Next()
	})

	sees := func(c caller, role string) func(string) bool {
		return func(area string) bool {
			switch area {
			case insights.AreaCampaigns, insights.AreaSummary:
				return c.Allows(apikeys.ScopeCampaignsRead)
			case insights.AreaAdmin:
				return tenancy.AtLeast(role, tenancy.RoleAdmin) && c.Allows(apikeys.ScopeAdmin)
			}
			return true // contacts: the route's own scope
		}
	}
	answer := func(e *core.RequestEvent, c caller, ws, role string) error {
		latest, err := svc.Latest(ws, sees(c, role))
		if err != nil {
			return err
		}
		v, _, err := ai.Load(store, ws)
		if err != nil && !errors.Is(err, ai.ErrNotConfigured) {
			return err
		}
		return e.JSON(http.StatusOK, map[string]any{
			"run": latest.Run, "insights": latest.Insights, "running": latest.Running,
			"ai_configured": v.Configured,
			"can_run":       tenancy.AtLeast(role, tenancy.RoleAdmin) && c.Allows(apikeys.ScopeAdmin),
		})
	}

	crm.add(http.MethodGet, "/workspaces/{id}/insights", apikeys.ScopeContactsRead, func(e *core.RequestEvent, c caller) error {
		ws := e.Request.PathValue("id")
		role, err := c.Require(e.App, ws, tenancy.RoleViewer, nil)
		if err != nil {
			return err
		}
		return answer(e, c, ws, role)
	})

	crm.add(http.MethodPost, "/workspaces/{id}/insights/run", apikeys.ScopeAdmin, func(e *core.RequestEvent, c caller) error {
		ws := e.Request.PathValue("id")
		role, err := c.Require(e.App, ws, tenancy.RoleAdmin, errInsightsRunForbidden)
		if err != nil {
			return err
		}
		// the run finishes (and records its model call) even if the
		// browser goes away meanwhile
		ctx := context.WithoutCancel(e.Request.Context())
		if _, err := svc.Run(ctx, ws, insights.TriggerManual, insights.Who{UserID: c.UserID, KeyID: keyID(c)}); err != nil {
			return err
		}
		return answer(e, c, ws, role)
	})

	// the nightly runs (a tick a minute; insights.Tick says when it is due);
	// a panic is logged, never fatal
	app.Cron().MustAdd(InsightsNightlyJob, "* * * * *", func() {
		defer func() {
			if r := recover(); r != nil {
				app.Logger().Error("insights nightly job panicked", "panic", r)
			}
		}()
		svc.Tick(context.Background())
	})
	return svc
}
