package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// nightlyOff turns the nightly insights job off, right after the cold start
// and before any row is measured (the idle RSS first).
//
// Why: the job runs at 02:30, and a fresh server catches up in its first
// minute. On the bench's copy of the data set its duplicates metric is the
// duplicate finder's first pass over the 100k workspace (about 4 s, RssAnon
// 15 → 134 MB, sampled each second), which landed in whichever row the
// minute boundary fell in: the idle RSS of one send run was 43 MB instead of
// 26–29 MB (docs/BENCHMARKS.md, 2026-12-02 03:35), and a send row that
// overlaps it loses a core for those seconds.
//
// The setting is written as the superuser through the collection API (a
// system setting). A tick that won the race with it (the server was up for
// a few milliseconds) has started a run: nightlyOff then waits for it to
// end and says so in the notes, so no row measures it.
func (b *bench) nightlyOff() error {
	su, err := b.superuserToken()
	if err != nil {
		return err
	}
	owner := b.token
	b.token = su
	defer func() { b.token = owner }()
	status, body, err := b.doJSON(http.MethodPost, "/api/collections/system_settings/records",
		map[string]any{"scope": "system", "setting_key": "insights.nightly_at", "setting_value": "off"})
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("insights.nightly_at off: HTTP %d %s %v", status, body, err)
	}
	// the newest runs, looked at here (no filter text is built)
	newest := "/api/collections/ai_insight_runs/records?perPage=50&skipTotal=1&sort=-started_at"
	start := time.Now()
	for waited := false; ; waited = true {
		status, body, err := b.doJSON(http.MethodGet, newest, nil)
		if err != nil || status != http.StatusOK {
			return fmt.Errorf("ai_insight_runs: HTTP %d %s %v", status, body, err)
		}
		var page struct {
			Items []insightRun `json:"items"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return fmt.Errorf("ai_insight_runs: %w", err)
		}
		if !slices.ContainsFunc(page.Items, func(r insightRun) bool { return r.Status == "running" }) {
			if waited {
				b.notef("the nightly insights run had started before the bench turned it off: waited %s for it before measuring", time.Since(start).Round(time.Second))
			}
			return nil
		}
		if time.Since(start) > 2*time.Minute {
			return fmt.Errorf("an insights run is still running after %s", time.Since(start).Round(time.Second))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// insightRun is what nightlyOff reads of an ai_insight_runs record.
type insightRun struct {
	Status string `json:"status"`
}
