package merge_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/commlog"
	"github.com/pi-crm/pi-crm/services/merge"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// BenchmarkMerge50Custom1000Logs is DESIGN.md's merge target (p50 ≤ 20 ms):
// both contacts have 50 custom values (25 equal, 25 different, resolved to
// the source's), the source has 1,000 timeline entries and 2 list
// memberships. Each iteration merges a fresh pair; only the merge is timed.
//
//	go test -run '^$' -bench Merge50Custom1000Logs -benchtime 30x ./services/merge
func BenchmarkMerge50Custom1000Logs(b *testing.B) {
	env := testutil.New(b)
	owner, _ := env.User("owner@example.com")
	ws := env.Workspace("W", owner, nil)
	for i := 0; i < 50; i++ {
		env.Create("custom_field_definitions", map[string]any{"user": owner.Id, "workspace": ws.Id,
			"field_name": fmt.Sprintf("f%02d", i), "label": "F", "field_type": "text"})
	}
	l1 := env.Create("contact_lists", map[string]any{"workspace": ws.Id, "name": "L1", "is_primary": true})
	l2 := env.Create("contact_lists", map[string]any{"workspace": ws.Id, "name": "L2"})
	m := merge.NewMerger(env.App, commlog.NewWriter(nil), nil, 0)
	caller := merge.Caller{UserID: owner.Id}
	resolution := map[string]json.RawMessage{"primary_email": json.RawMessage(`"target"`)}
	for i := 25; i < 50; i++ {
		resolution[fmt.Sprintf("custom.f%02d", i)] = json.RawMessage(`"source"`)
	}

	pair := func(n int) (string, string) {
		cs, ct := map[string]any{}, map[string]any{}
		for i := 0; i < 50; i++ {
			cs[fmt.Sprintf("f%02d", i)] = fmt.Sprintf("v%d", i)
			ct[fmt.Sprintf("f%02d", i)] = fmt.Sprintf("v%d", i)
			if i >= 25 {
				ct[fmt.Sprintf("f%02d", i)] = fmt.Sprintf("t%d", i)
			}
		}
		src := env.Create("contacts", map[string]any{"workspace": ws.Id, "first_name": "Ada", "primary_email": fmt.Sprintf("s%d@example.org", n), "custom": cs})
		tgt := env.Create("contacts", map[string]any{"workspace": ws.Id, "first_name": "Ada", "primary_email": fmt.Sprintf("t%d@example.org", n), "custom": ct})
		env.Create("contact_list_assignments", map[string]any{"contact": src.Id, "list": l2.Id})
		_ = l1
		// 1,000 entries written directly (setup speed only)
		err := env.App.RunInTransaction(func(tx core.App) error {
			ts := time.Now().UTC().Format("2006-01-02 15:04:05.000Z")
			for i := 0; i < 1000; i++ {
				if _, err := tx.DB().Insert("communication_logs", dbx.Params{"id": core.GenerateDefaultRandomId(), "workspace": ws.Id, "contact": src.Id,
					"type": "email", "direction": "outbound", "content": "hello", "timestamp": ts, "created": ts, "updated": ts}).Execute(); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		return src.Id, tgt.Id
	}

	durations := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		src, tgt := pair(n)
		b.StartTimer()
		start := time.Now()
		res, err := m.Merge(caller, merge.Request{Source: src, Target: tgt, Resolution: resolution})
		durations = append(durations, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		if res.Moved["communication_logs"] < 1000 { // its 1,000 + its system entries
			b.Fatalf("moved %v", res.Moved)
		}
	}
	b.StopTimer()
	sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
	b.ReportMetric(float64(durations[len(durations)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(durations[len(durations)*99/100].Microseconds())/1000, "p99-ms")
}
