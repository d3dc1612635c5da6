package insights

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// The nightly job and the retention of runs. Both read system settings
// (system_settings, scope "system", as audit.retention_days):
//
//	insights.nightly_at      "HH:MM" in the server's local time (default
//	                         "02:30"), or "off"
//	insights.retention_days  days a run and its insights are kept (default
//	                         90); each workspace's newest run is always kept
//
// The cron job ticks every minute (Tick): the nightly run is due once the
// day's time has passed and no nightly run started since then, so a server
// that was down at 02:30 runs it when it comes back, and a changed setting
// takes effect without a restart.

// Setting keys and defaults.
const (
	NightlyAtKey         = "insights.nightly_at"
	RetentionKey         = "insights.retention_days"
	DefaultNightlyAt     = "02:30"
	DefaultRetentionDays = 90
)

func systemSetting(app core.App, key string, v any) bool {
	var raw string
	err := app.DB().Select("setting_value").From("system_settings").
		Where(dbx.HashExp{"scope": "system", "setting_key": key}).Limit(1).Row(&raw)
	return err == nil && json.Unmarshal([]byte(raw), v) == nil
}

// NightlyAt is the configured time of the nightly run (ok false: off).
// A value that is not "HH:MM" or "off" is the default.
func NightlyAt(app core.App) (hour, minute int, ok bool) {
	var s string
	if !systemSetting(app, NightlyAtKey, &s) {
		s = DefaultNightlyAt
	}
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "off" {
		return 0, 0, false
	}
	t, err := time.Parse("15:04", s)
	if err != nil {
		t, _ = time.Parse("15:04", DefaultNightlyAt)
	}
	return t.Hour(), t.Minute(), true
}

// RetentionDays is how long runs are kept.
func RetentionDays(app core.App) int {
	var days int
	if !systemSetting(app, RetentionKey, &days) || days <= 0 {
		return DefaultRetentionDays
	}
	return days
}

// NightlyDue: the time of today's nightly run has passed (in now's zone)
// and no nightly run started since. The demo's seed measures every demo
// workspace as a nightly pass would, so it counts as one: a freshly seeded
// server (make run, the e2e server) does not measure everything again in
// its first minute (which also sent the e2e suite's model fake requests no
// test made).
func (s *Service) NightlyDue(now time.Time) (bool, error) {
	h, m, on := NightlyAt(s.app)
	if !on {
		return false, nil
	}
	at := time.Date(now.Year(), now.Month(), now.Day(), h, m, 0, 0, now.Location())
	if now.Before(at) {
		return false, nil
	}
	var last string
	if err := s.app.DB().NewQuery(`SELECT COALESCE(MAX(started_at), '') FROM ` + RunsCollection + ` WHERE trigger IN ({:nightly}, {:seed})`).
		Bind(dbx.Params{"nightly": TriggerNightly, "seed": TriggerSeed}).Row(&last); err != nil {
		return false, err
	}
	return last == "" || last < stamp(at), nil
}

// Tick is the cron job's body: the nightly runs when due, then the prune.
// Failures are logged, never fatal: one workspace's failure does not stop
// the others'.
func (s *Service) Tick(ctx context.Context) {
	if !s.nightly.TryLock() {
		return // the previous tick is still running the nightly runs
	}
	defer s.nightly.Unlock()
	log := s.app.Logger()
	due, err := s.NightlyDue(s.now())
	if err != nil {
		log.Error("insights: nightly check failed", "error", err)
		return
	}
	if !due {
		return
	}
	var ids []string
	if err := s.app.DB().NewQuery(`SELECT id FROM workspaces ORDER BY id`).Column(&ids); err != nil {
		log.Error("insights: nightly run failed", "error", err)
		return
	}
	failed := 0
	for _, ws := range ids {
		res, err := s.Run(ctx, ws, TriggerNightly, Who{})
		switch {
		case errors.Is(err, ErrRunning):
		case err != nil:
			failed++
			log.Error("insights: nightly run of a workspace failed", "workspace", ws, "error", err)
		default:
			log.Info("insights: nightly run", "workspace", ws, "metrics", res.Run.GetInt("metrics"),
				"metrics_ms", res.Run.GetInt("metrics_ms"), "summary", res.Run.GetString("summary"))
		}
	}
	n, err := s.Prune(s.now())
	if err != nil {
		log.Error("insights: retention prune failed", "error", err)
	}
	log.Info("insights: nightly runs done", "workspaces", len(ids), "failed", failed, "pruned_runs", n)
}

// Prune deletes the runs (with their insights) started before the retention
// period, except each workspace's newest finished run, and returns how many
// runs went. Raw SQL: bookkeeping of the server, no hooks or audit entries.
func (s *Service) Prune(now time.Time) (int64, error) {
	cutoff := stamp(now.AddDate(0, 0, -RetentionDays(s.app)))
	old := `SELECT r.id FROM ` + RunsCollection + ` r WHERE r.started_at < {:cutoff} AND r.status != 'running'
		AND r.id != COALESCE((SELECT n.id FROM ` + RunsCollection + ` n WHERE n.workspace = r.workspace AND n.status = 'done'
			ORDER BY n.started_at DESC, n.created DESC LIMIT 1), '')`
	var n int64
	err := s.app.RunInTransaction(func(tx core.App) error {
		p := dbx.Params{"cutoff": cutoff}
		if _, err := tx.DB().NewQuery(`DELETE FROM ` + Collection + ` WHERE run IN (` + old + `)`).Bind(p).Execute(); err != nil {
			return err
		}
		res, err := tx.DB().NewQuery(`DELETE FROM ` + RunsCollection + ` WHERE id IN (` + old + `)`).Bind(p).Execute()
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("insights: prune: %w", err)
	}
	return n, nil
}

// RecoverInterrupted marks failed (insights_interrupted) the runs a stopped
// server left "running", and returns how many. Runs happen only inside the
// server (the route and the nightly job), so when it starts none is under
// way; without this such a run stayed "running" for good, and Prune, which
// never removes a running run, kept it forever.
func (s *Service) RecoverInterrupted() (int, error) {
	runs, err := s.app.FindAllRecords(RunsCollection, dbx.HashExp{"status": "running"})
	if err != nil {
		return 0, fmt.Errorf("insights: interrupted runs: %w", err)
	}
	for _, run := range runs {
		if err := s.finish(run, "failed", run.GetDateTime("started_at").Time(), int64(run.GetInt("metrics_ms")), run.GetInt("metrics"), "",
			"insights_interrupted", "The server stopped during this run; run the insights again."); err != nil {
			return 0, fmt.Errorf("insights: marking interrupted run %s: %w", run.Id, err)
		}
	}
	return len(runs), nil
}
