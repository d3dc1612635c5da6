package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// The public unsubscribe links (/u/{token}, outside /api) get rate-limit
// rules of their own: an unsubscribe POST 20 per minute and IP (one person
// clicks once; a client that hammers is refused), every other request
// (the confirmation page, which mail scanners fetch for many recipients at
// once from one address) 300 per minute. A rule already there (an admin's
// own) is kept.
func init() {
	m.Register(func(app core.App) error {
		s := app.Settings()
		for _, r := range []core.RateLimitRule{
			{Label: "POST /u/", MaxRequests: 20, Duration: 60},
			{Label: "/u/", MaxRequests: 300, Duration: 60},
		} {
			found := false
			for _, have := range s.RateLimits.Rules {
				if have.Label == r.Label {
					found = true
				}
			}
			if !found {
				s.RateLimits.Rules = append(s.RateLimits.Rules, r)
			}
		}
		return app.Save(s)
	}, func(app core.App) error {
		s := app.Settings()
		kept := s.RateLimits.Rules[:0]
		for _, r := range s.RateLimits.Rules {
			if r.Label != "POST /u/" && r.Label != "/u/" {
				kept = append(kept, r)
			}
		}
		s.RateLimits.Rules = kept
		return app.Save(s)
	})
}
