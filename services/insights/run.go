package insights

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pi-crm/pi-crm/services/ai"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pocketbase/pocketbase/core"
)

// ActionRun is the audit action of a run someone asked for.
const ActionRun = "insights.run"

// Result is a run with its insights.
type Result struct {
	Run      *core.Record   `json:"run"`
	Insights []*core.Record `json:"insights"`
}

// Metrics computes every metric of workspace ws at now, in the order of
// the Type constants. It reads only; a run stores what it returns.
func Metrics(app core.App, ws string, now time.Time) ([]Metric, error) {
	m := measure{db: app, ws: ws, now: now}
	t, err := m.totals()
	if err != nil {
		return nil, fmt.Errorf("insights: contacts: %w", err)
	}
	var out []Metric
	add := func(name string, mt Metric, err error) error {
		if err != nil {
			return fmt.Errorf("insights: %s: %w", name, err)
		}
		mt.Confidence = MeasuredConfidence
		out = append(out, mt)
		return nil
	}
	steps := []func() error{
		func() error { mt, err := m.contactsAdded(t.Total); return add(TypeContactsAdded, mt, err) },
		func() error { mt, err := m.listSizes(); return add(TypeListSizes, mt, err) },
		func() error { mt, err := m.withoutPrimaryList(t.Total); return add(TypeNoPrimaryList, mt, err) },
		func() error {
			return add(TypeNoEmail, share(TypeNoEmail, "contacts have no email address", t.NoEmail, t.Total), nil)
		},
		func() error {
			return add(TypeNoPhone, share(TypeNoPhone, "contacts have no phone number", t.NoPhone, t.Total), nil)
		},
		func() error { mt, err := m.duplicates(); return add(TypeDuplicates, mt, err) },
		func() error { mt, err := m.notContacted(t.Total); return add(TypeNotContacted, mt, err) },
		func() error { mt, err := m.suppressions(); return add(TypeSuppressions, mt, err) },
		func() error { mt, err := m.importErrors(); return add(TypeImportErrors, mt, err) },
		func() error {
			c, p, err := m.campaignMetrics()
			if err := add(TypeCampaignResults, c, err); err != nil {
				return err
			}
			return add(TypeProviderResults, p, nil)
		},
		func() error { mt, err := m.aiUsage(); return add(TypeAIUsage, mt, err) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Service) claim(ws string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running[ws] {
		return false
	}
	s.running[ws] = true
	return true
}

func (s *Service) release(ws string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.running, ws)
}

// Run measures workspace ws and stores the run and its insights: the run
// record first (status running, phase metrics: the UI follows it through
// realtime), the metrics in one transaction, then the summary when the
// workspace has an AI provider, and the run's end. A failed summary does not
// fail the run (the metrics stand; the run says why there is no summary); a
// failed measurement marks the run failed and returns the error. A manual
// run writes one audit entry naming who asked.
func (s *Service) Run(ctx context.Context, ws, trigger string, who Who) (*Result, error) {
	if !s.claim(ws) {
		return nil, ErrRunning
	}
	defer s.release(ws)
	started := s.now()
	run, err := s.startRun(ws, trigger, who, started)
	if err != nil {
		return nil, err
	}
	metrics, err := Metrics(s.app, ws, started)
	metricsMS := s.now().Sub(started).Milliseconds()
	if err != nil {
		return nil, s.failed(run, started, metricsMS, err)
	}
	var saved []*core.Record
	err = s.app.RunInTransaction(func(tx core.App) error {
		for _, mt := range metrics {
			rec, err := s.insight(tx, run, who, mt)
			if err != nil {
				return err
			}
			saved = append(saved, rec)
		}
		return nil
	})
	if err != nil {
		return nil, s.failed(run, started, metricsMS, err)
	}

	summary, code, msg := SummaryNotConfigured, "", ""
	if s.client != nil {
		run.Set("phase", "summary")
		if err := s.save(s.app, run); err != nil {
			return nil, err
		}
	}
	sm, err := s.summarise(ctx, ws, who, metrics)
	switch {
	case err == nil:
		rec, serr := s.insight(s.app, run, who, *sm)
		if serr != nil {
			return nil, serr
		}
		saved = append(saved, rec)
		summary = SummaryOK
	case notConfigured(err):
	default:
		summary, code, msg = SummaryError, ai.Code(err), err.Error()
	}
	if err := s.finish(run, "done", started, metricsMS, len(metrics), summary, code, msg); err != nil {
		return nil, err
	}
	if trigger == TriggerManual {
		if err := audit.Log(s.app, audit.Entry{Actor: audit.Actor{UserID: who.UserID, APIKeyID: who.KeyID}, Workspace: ws, Action: ActionRun,
			EntityType: RunsCollection, EntityID: run.Id, Details: map[string]any{"metrics": len(metrics), "summary": summary}}, s.now()); err != nil {
			return nil, err
		}
	}
	return &Result{Run: run, Insights: saved}, nil
}

func (s *Service) startRun(ws, trigger string, who Who, at time.Time) (*core.Record, error) {
	col, err := s.app.FindCachedCollectionByNameOrId(RunsCollection)
	if err != nil {
		return nil, err
	}
	run := core.NewRecord(col)
	run.Set("workspace", ws)
	run.Set("user", who.UserID)
	run.Set("trigger", trigger)
	run.Set("status", "running")
	run.Set("phase", "metrics")
	run.Set("started_at", at.UTC())
	return run, s.save(s.app, run)
}

// save writes a record of the run: bookkeeping of the server, no audit
// entry per record (a manual run writes its one entry).
func (s *Service) save(app core.App, rec *core.Record) error {
	audit.Skip(rec)
	return app.Save(rec)
}

// failed marks the run failed with err's message and returns err (with the
// marking's own error, if that failed too).
func (s *Service) failed(run *core.Record, started time.Time, metricsMS int64, err error) error {
	if ferr := s.finish(run, "failed", started, metricsMS, 0, "", "insights_failed", err.Error()); ferr != nil {
		return errors.Join(err, ferr)
	}
	return err
}

func (s *Service) finish(run *core.Record, status string, started time.Time, metricsMS int64, n int, summary, code, msg string) error {
	end := s.now()
	run.Set("status", status)
	run.Set("phase", "done")
	run.Set("finished_at", end.UTC())
	run.Set("duration_ms", end.Sub(started).Milliseconds())
	run.Set("metrics_ms", metricsMS)
	run.Set("metrics", n)
	run.Set("summary", summary)
	run.Set("error_code", code)
	if len(msg) > 1000 {
		msg = msg[:1000]
	}
	run.Set("error", msg)
	return s.save(s.app, run)
}

func (s *Service) insight(app core.App, run *core.Record, who Who, mt Metric) (*core.Record, error) {
	col, err := app.FindCachedCollectionByNameOrId(Collection)
	if err != nil {
		return nil, err
	}
	rec := core.NewRecord(col)
	rec.Set("workspace", run.GetString("workspace"))
	rec.Set("run", run.Id)
	rec.Set("user", who.UserID)
	rec.Set("type", mt.Type)
	rec.Set("area", mt.Area)
	rec.Set("value", mt.Value)
	rec.Set("content", mt.Content)
	rec.Set("data", mt.Data)
	rec.Set("confidence", mt.Confidence)
	rec.Set("model", mt.Model)
	rec.Set("tokens", mt.Tokens)
	return rec, s.save(app, rec)
}
