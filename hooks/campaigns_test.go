package hooks_test

import "fmt"

// The collections of campaign sending: written by the server (the engine,
// the outbox sender), and audited like any other when a superuser writes
// them through the API.
func init() {
	auditCases["outbox_messages"] = auditCase{
		create: func(f *auditFixture) map[string]any {
			return map[string]any{"workspace": f.ws.Id, "to": fmt.Sprintf("o%d@example.org", f.next()), "subject": "S", "text": "T"}
		},
		update: map[string]any{"subject": "S2"},
	}
	auditCases["provider_daily_counts"] = auditCase{
		create: func(f *auditFixture) map[string]any {
			return map[string]any{"workspace": f.ws.Id, "provider": "outbox", "day": fmt.Sprintf("2026-02-%02d", 1+f.next()%28), "count": 1}
		},
		update: map[string]any{"count": 2},
	}
}
