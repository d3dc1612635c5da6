package ai

import (
	"context"
	"fmt"
	"time"

	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pocketbase/pocketbase/core"
)

// UsageCollection holds one row per model call.
const UsageCollection = "ai_usage"

// Purposes of a call (ai_usage.purpose).
const (
	PurposeTemplateGenerate = "template_generate"
	PurposeTemplateRewrite  = "template_rewrite"
	PurposeProviderTest     = "provider_test"
	PurposeInsights         = "insights"
)

// Call says who makes a model call and why (the ai_usage row).
type Call struct {
	Workspace string
	User      string
	APIKey    string
	Purpose   string
}

// Client makes model calls and records each in ai_usage.
type Client struct {
	app   core.App
	model Model
	now   func() time.Time
}

// NewClient returns a client over model; now is the clock of the latency
// (nil: time.Now).
func NewClient(app core.App, model Model, now func() time.Time) *Client {
	if now == nil {
		now = time.Now
	}
	return &Client{app: app, model: model, now: now}
}

// Ask makes one call and checks its answer with accept (nil: any answer).
// Whatever happens, one ai_usage row records the call: the tokens the server
// reported (also when accept refused the answer: they were spent), the
// latency of the call, and the outcome (ok, or error with the code). The row
// is written outside any transaction of the caller, so a draft that is not
// saved still leaves its usage.
func (c *Client) Ask(ctx context.Context, call Call, cfg Config, req Request, accept func(Answer) error) (Answer, time.Duration, error) {
	start := c.now()
	ans, err := c.model.Chat(ctx, cfg, req)
	latency := c.now().Sub(start)
	if err == nil && accept != nil {
		err = accept(ans)
	}
	if rerr := c.record(call, cfg, ans, latency, err); rerr != nil {
		return ans, latency, rerr
	}
	return ans, latency, err
}

func (c *Client) record(call Call, cfg Config, ans Answer, latency time.Duration, outcome error) error {
	col, err := c.app.FindCachedCollectionByNameOrId(UsageCollection)
	if err != nil {
		return err
	}
	rec := core.NewRecord(col)
	model := ans.Model
	if model == "" {
		model = cfg.Model
	}
	rec.Set("workspace", call.Workspace)
	rec.Set("user", call.User)
	rec.Set("api_key", call.APIKey)
	rec.Set("purpose", call.Purpose)
	rec.Set("model", model)
	rec.Set("prompt_tokens", ans.Usage.PromptTokens)
	rec.Set("completion_tokens", ans.Usage.CompletionTokens)
	rec.Set("total_tokens", ans.Usage.TotalTokens)
	rec.Set("latency_ms", latency.Milliseconds())
	if outcome == nil {
		rec.Set("status", "ok")
	} else {
		rec.Set("status", "error")
		rec.Set("error_code", Code(outcome))
	}
	// bookkeeping, not a change someone made: no audit entry per call (the
	// generation's own entry names the call)
	audit.Skip(rec)
	if err := c.app.Save(rec); err != nil {
		return fmt.Errorf("ai usage: %w", err)
	}
	return nil
}

// Test makes one tiny call (the provider test): the answer's model and the
// call's latency; the call is recorded as provider_test.
func (c *Client) Test(ctx context.Context, call Call, cfg Config) (Answer, time.Duration, error) {
	call.Purpose = PurposeProviderTest
	req := Request{System: "This is a connection test. Reply with the single word OK.", User: "ping", MaxTokens: 16}
	return c.Ask(ctx, call, cfg, req, nil)
}
