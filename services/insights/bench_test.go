package insights_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/imports"
	"github.com/pi-crm/pi-crm/services/insights"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// BenchmarkMetrics: every metric of one workspace of BENCH_N contacts (the
// bench CSV, 10 custom values each, imported into a list), a timeline entry
// per contact (half older than 90 days), a campaign with a delivery per
// contact, 1,000 suppressions and 200 AI calls. Baseline of the same run:
// one plain pass over the workspace's contacts (a COUNT with a sum over the
// email column), the least any contact metric costs; the ratio says how many
// such passes the whole set costs.
//
//	BENCH_N=100000 go test ./services/insights -run '^$' -bench Metrics -benchtime 5x
func BenchmarkMetrics(b *testing.B) {
	n := testutil.BenchN()
	env := testutil.New(b)
	owner, _ := env.User("owner@example.com")
	ws := env.Workspace("Bench", owner, nil)
	for i := 0; i < 10; i++ {
		env.Create("custom_field_definitions", map[string]any{"user": owner.Id, "field_name": fmt.Sprintf("c%d", i), "label": fmt.Sprintf("C%d", i), "field_type": "text"})
	}
	list := env.Create("contact_lists", map[string]any{"workspace": ws.Id, "name": "Imported"})
	src, err := os.Open(testutil.BenchCSV(b, n))
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := env.Imports().RunLocal(imports.Input{Workspace: ws.Id, FileName: "bench.csv",
		Options: imports.Options{Mode: imports.ModeCreate, List: list.Id}}, src, nil); err != nil {
		b.Fatal(err)
	}
	src.Close()
	seed(b, env.App, ws.Id, n)

	now := time.Now()
	baseline := func() {
		var c, sum int
		if err := env.App.DB().NewQuery("SELECT COUNT(*), COALESCE(SUM(length(primary_email)), 0) FROM contacts WHERE workspace = {:ws}").
			Bind(dbx.Params{"ws": ws.Id}).Row(&c, &sum); err != nil || c != n {
			b.Fatalf("baseline: %d %v", c, err)
		}
	}
	// warm both (page cache, the duplicate finder's first refresh after the import)
	baseline()
	if _, err := insights.Metrics(env.App, ws.Id, now); err != nil {
		b.Fatal(err)
	}
	const rounds = 5
	t0 := time.Now()
	for i := 0; i < rounds; i++ {
		baseline()
	}
	base := time.Since(t0) / rounds

	b.ResetTimer()
	c0 := testutil.CPUTime()
	for b.Loop() {
		ms, err := insights.Metrics(env.App, ws.Id, now)
		if err != nil || ms[0].Data["total"] != n {
			b.Fatalf("%v %v", err, ms[0].Data["total"])
		}
	}
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(per.Milliseconds()), "ms/run")
	// CPU per run beside wall time: the box is shared, and under load the
	// wall-clock figure mostly measures the neighbours
	b.ReportMetric(float64((testutil.CPUTime()-c0).Milliseconds())/float64(b.N), "cpu_ms/run")
	b.ReportMetric(float64(base.Microseconds())/1000, "baseline_ms")
	b.ReportMetric(float64(per)/float64(base), "x_baseline")
	b.ReportMetric(testutil.PeakRSSMB(), "peak_MB")
}

// seed writes the rows besides the contacts with raw SQL (what the metrics
// read, at the scale of the contacts): one transaction.
func seed(b *testing.B, app core.App, ws string, n int) {
	stamp := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000Z") }
	now := time.Now()
	err := app.RunInTransaction(func(tx core.App) error {
		camp := core.GenerateDefaultRandomId()
		if _, err := tx.DB().NewQuery(`INSERT INTO campaigns (id, workspace, name, type, status, provider, created, updated)
			VALUES ({:id}, {:ws}, 'Bench campaign', 'email', 'sent', 'outbox', {:now}, {:now})`).
			Bind(dbx.Params{"id": camp, "ws": ws, "now": stamp(now)}).Execute(); err != nil {
			return err
		}
		var ids []string
		if err := tx.DB().NewQuery("SELECT id FROM contacts WHERE workspace = {:ws} ORDER BY id").Bind(dbx.Params{"ws": ws}).Column(&ids); err != nil {
			return err
		}
		logQ := tx.DB().NewQuery(`INSERT INTO communication_logs (id, workspace, contact, type, direction, content, timestamp, status, campaign, created, updated)
			VALUES ({:id}, {:ws}, {:c}, 'email', 'outbound', 'x', {:ts}, 'sent', '', {:ts}, {:ts})`).Prepare()
		defer logQ.Close()
		delQ := tx.DB().NewQuery(`INSERT INTO campaign_deliveries (id, campaign, contact, channel, address, status, reason, attempts, created, updated)
			VALUES ({:id}, {:camp}, {:c}, 'email', 'x@example.org', {:st}, '', 1, {:now}, {:now})`).Prepare()
		defer delQ.Close()
		statuses := []string{"sent", "sent", "sent", "delivered", "failed", "bounced", "complained", "skipped"}
		for i, id := range ids {
			age := time.Duration(i%180) * 24 * time.Hour // half within 90 days
			if _, err := logQ.Bind(dbx.Params{"id": core.GenerateDefaultRandomId(), "ws": ws, "c": id, "ts": stamp(now.Add(-age))}).Execute(); err != nil {
				return err
			}
			if _, err := delQ.Bind(dbx.Params{"id": core.GenerateDefaultRandomId(), "camp": camp, "c": id, "st": statuses[i%len(statuses)], "now": stamp(now)}).Execute(); err != nil {
				return err
			}
		}
		for i := 0; i < 1000; i++ {
			if _, err := tx.DB().NewQuery(`INSERT INTO suppressions (id, workspace, channel, address, reason, created, updated)
				VALUES ({:id}, {:ws}, 'email', {:a}, 'unsubscribe', {:ts}, {:ts})`).
				Bind(dbx.Params{"id": core.GenerateDefaultRandomId(), "ws": ws, "a": fmt.Sprintf("s%d@example.org", i), "ts": stamp(now.Add(-time.Duration(i) * time.Hour))}).Execute(); err != nil {
				return err
			}
		}
		for i := 0; i < 200; i++ {
			if _, err := tx.DB().NewQuery(`INSERT INTO ai_usage (id, workspace, user, api_key, purpose, model, prompt_tokens, completion_tokens, total_tokens, latency_ms, status, error_code, created)
				VALUES ({:id}, {:ws}, '', '', 'template_generate', 'gpt-4o-mini', 500, 300, 800, 900, 'ok', '', {:ts})`).
				Bind(dbx.Params{"id": core.GenerateDefaultRandomId(), "ws": ws, "ts": stamp(now.Add(-time.Duration(i) * 6 * time.Hour))}).Execute(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
