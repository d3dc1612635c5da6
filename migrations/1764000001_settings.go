package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// Settings a self-hosted install must not be left without: the rate limiter on
// (auth endpoints especially), the batch API on, and bounded request logs.
func init() {
	m.Register(func(app core.App) error {
		s := app.Settings()
		s.Meta.AppName = "pi-crm"
		s.Batch.Enabled = true
		s.Batch.MaxRequests = 100
		s.Batch.Timeout = 5
		s.Logs.MaxDays = 7
		s.RateLimits.Enabled = true
		s.RateLimits.Rules = []core.RateLimitRule{
			// password guessing: 10 attempts per minute and IP on every auth endpoint
			{Label: "*:auth", MaxRequests: 10, Duration: 60},
			{Label: "*:create", MaxRequests: 60, Duration: 5},
			{Label: "/api/batch", MaxRequests: 10, Duration: 1},
			{Label: "/api/", MaxRequests: 600, Duration: 10},
		}
		return app.Save(s)
	}, nil)
}
