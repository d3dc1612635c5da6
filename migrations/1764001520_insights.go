package migrations

import (
	"strings"

	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// Insights: a workspace's health measured by runs (services/insights).
//
// ai_insight_runs: one row per run of the metrics (nightly, on demand, at
// demo seed time): its state and phase (the UI's progress, through realtime),
// when it started and ended, how many metrics it wrote and what became of the
// AI summary. Written by the server only; members read them (keys:
// contacts:read); a run goes with its workspace, and the retention prune
// deletes old runs with their insights (raw SQL, services/insights).
//
// ai_insights gains what a metric is: the run it belongs to (its id; the
// prune deletes them together), a number (value), the data behind it (data, JSON) and the area whose
// permission reads it. user is no longer required: the nightly job has no
// user. The read rule asks, per area, for what the same facts would need
// elsewhere:
//
//	contacts  (contact counts, lists, duplicates, timeline, suppressions,
//	          imports): any member; keys contacts:read
//	campaigns (results per campaign and provider): any member; keys
//	          campaigns:read (as campaign_deliveries) and contacts:read (the
//	          collection's own scope, which the collection API checks first)
//	admin     (AI usage and its cost): owners and admins; keys admin, as ai_usage
//	summary   (the model's findings, written from the contacts and campaigns
//	          metrics only): any member; keys contacts:read and campaigns:read
//
// campaign_deliveries gains a partial index of its unsubscribed rows (the
// metrics count them per campaign without reading the ledger).
//
// A row of the old shape (area "") keeps the rule it had: contacts:read.
// The rule builders are copied from 1764001100 into this file, so this
// migration keeps doing what it does when live code changes.
func init() {
	m.Register(func(app core.App) error {
		if err := insightRuns1520(app); err != nil {
			return err
		}
		return insights1520(app)
	}, func(app core.App) error {
		c, err := app.FindCollectionByNameOrId("ai_insights")
		if err != nil {
			return err
		}
		for _, f := range []string{"run", "value", "data", "area"} {
			c.Fields.RemoveByName(f)
		}
		c.RemoveIndex("idx_ai_insights_run")
		c.RemoveIndex("idx_ai_insights_ws_created")
		if u, ok := c.Fields.GetByName("user").(*core.RelationField); ok {
			u.Required = true
		}
		read := p1520(or1520(`(workspace = "" && `+self1520("user", "contacts:read", "")+")",
			`(workspace != "" && `+access1520("workspace", anyRole1520, "contacts:read")+")"))
		c.ListRule, c.ViewRule = read, read
		if err := app.Save(c); err != nil {
			return err
		}
		if d, err := app.FindCollectionByNameOrId("campaign_deliveries"); err == nil {
			d.RemoveIndex("idx_deliveries_unsubscribed")
			if err := app.Save(d); err != nil {
				return err
			}
		}
		if runs, err := app.FindCollectionByNameOrId("ai_insight_runs"); err == nil {
			return app.Delete(runs)
		}
		return nil
	})
}

const (
	isUser1520 = `@request.auth.collectionName = "users"`
	isKey1520  = `@request.auth.collectionName = "api_keys" && @request.auth.is_active = true && (@request.auth.expires_at = "" || @request.auth.expires_at > @now)`
)

var (
	anyRole1520 = []string{"owner", "admin", "editor", "viewer"}
	admins1520  = []string{"owner", "admin"}
)

// member1520: principal holds one of roles in the workspace the relation
// path wsExpr points at (see member1100 for why the join looks like this).
func member1520(wsExpr, principal string, roles []string) string {
	prefix := wsExpr + ".workspace_members_via_workspace."
	var b strings.Builder
	b.WriteString("(" + prefix + "user ?= " + principal)
	if len(roles) < len(anyRole1520) {
		b.WriteString(" && (")
		for i, r := range roles {
			if i > 0 {
				b.WriteString(" || ")
			}
			b.WriteString(prefix + `role ?= "` + r + `"`)
		}
		b.WriteString(")")
	}
	b.WriteString(")")
	return b.String()
}

// key1520: a valid key granting every one of scopes whose restriction, if
// any, is wsExpr ("" admits unrestricted keys only).
func key1520(wsExpr string, scopes ...string) string {
	s := isKey1520
	for _, scope := range scopes {
		s += ` && @request.auth.grants ~ "|` + scope + `|"`
	}
	if wsExpr == "" {
		s += ` && @request.auth.workspace = ""`
	} else {
		s += ` && (@request.auth.workspace = "" || @request.auth.workspace = ` + wsExpr + `)`
	}
	return s
}

func access1520(wsExpr string, roles []string, scopes ...string) string {
	return "((" + isUser1520 + " && " + member1520(wsExpr, "@request.auth.id", roles) + ") || (" +
		key1520(wsExpr, scopes...) + " && " + member1520(wsExpr, "@request.auth.user", roles) + "))"
}

func self1520(field, scope, wsExpr string) string {
	return "((" + isUser1520 + " && " + field + " = @request.auth.id) || (" +
		key1520(wsExpr, scope) + " && " + field + " = @request.auth.user))"
}

func or1520(parts ...string) string { return "(" + strings.Join(parts, " || ") + ")" }

func p1520(s string) *string { return &s }

func insightRuns1520(app core.App) error {
	workspaces, err := app.FindCollectionByNameOrId("workspaces")
	if err != nil {
		return err
	}
	c := core.NewBaseCollection("ai_insight_runs")
	c.Fields.Add(
		&core.RelationField{Name: "workspace", CollectionId: workspaces.Id, MaxSelect: 1, Required: true, CascadeDelete: true},
		// a plain id, as in ai_usage: the history outlives the user ("" = the nightly job)
		&core.TextField{Name: "user", Max: 50},
		&core.SelectField{Name: "trigger", Required: true, MaxSelect: 1, Values: []string{"nightly", "manual", "seed"}},
		&core.SelectField{Name: "status", Required: true, MaxSelect: 1, Values: []string{"running", "done", "failed"}},
		// what the run is doing now: metrics, summary, done
		&core.TextField{Name: "phase", Max: 50},
		&core.DateField{Name: "started_at"},
		&core.DateField{Name: "finished_at"},
		&core.NumberField{Name: "duration_ms", OnlyInt: true},
		&core.NumberField{Name: "metrics_ms", OnlyInt: true},
		&core.NumberField{Name: "metrics", OnlyInt: true},
		// the AI summary: ok, not_configured, error (error_code says which)
		&core.SelectField{Name: "summary", MaxSelect: 1, Values: []string{"ok", "not_configured", "error"}},
		&core.TextField{Name: "error_code", Max: 50},
		&core.TextField{Name: "error", Max: 1000},
		&core.AutodateField{Name: "created", OnCreate: true},
		&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true},
	)
	c.AddIndex("idx_ai_insight_runs_ws_created", false, "workspace, created", "")
	read := p1520(access1520("workspace", anyRole1520, "contacts:read"))
	c.ListRule, c.ViewRule = read, read
	c.CreateRule, c.UpdateRule, c.DeleteRule = nil, nil, nil
	return app.Save(c)
}

func insights1520(app core.App) error {
	c, err := app.FindCollectionByNameOrId("ai_insights")
	if err != nil {
		return err
	}
	c.Fields.Add(
		// the run's id as text, not a relation: a relation would add four
		// expand edges to every rule path through insights (the expand
		// matrix's cost) for a link nobody expands; the prune deletes a run's
		// insights with it and the workspace's deletion cascades to both
		&core.TextField{Name: "run", Max: 15},
		&core.NumberField{Name: "value"},
		&core.JSONField{Name: "data", MaxSize: 256 << 10},
		&core.SelectField{Name: "area", MaxSelect: 1, Values: []string{"contacts", "campaigns", "admin", "summary"}},
	)
	if u, ok := c.Fields.GetByName("user").(*core.RelationField); ok {
		u.Required = false
	}
	c.AddIndex("idx_ai_insights_run", false, "run", "")
	c.AddIndex("idx_ai_insights_ws_created", false, "workspace, created", "")
	inWorkspace := or1520(
		`((area = "" || area = "contacts") && `+access1520("workspace", anyRole1520, "contacts:read")+")",
		`(area = "campaigns" && `+access1520("workspace", anyRole1520, "contacts:read", "campaigns:read")+")",
		`(area = "admin" && `+access1520("workspace", admins1520, "admin")+")",
		`(area = "summary" && `+access1520("workspace", anyRole1520, "contacts:read", "campaigns:read")+")",
	)
	read := p1520(or1520(`(workspace = "" && `+self1520("user", "contacts:read", "")+")",
		`(workspace != "" && `+inWorkspace+")"))
	c.ListRule, c.ViewRule = read, read
	if err := app.Save(c); err != nil {
		return err
	}
	// the unsubscribed deliveries per campaign (services/insights): a small
	// partial index, so counting them reads no ledger row
	d, err := app.FindCollectionByNameOrId("campaign_deliveries")
	if err != nil {
		return err
	}
	d.AddIndex("idx_deliveries_unsubscribed", false, "campaign", "reason = 'unsubscribed'")
	return app.Save(d)
}
