package insights

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/pi-crm/pi-crm/services/ai"
)

// The summary: the model reads the run's contacts and campaigns metrics
// (their numbers, sentences and the aggregates behind them, record ids
// removed) and answers 3 to 5 findings, each with one action in the app.
// What it is given is built here and nowhere else, from metrics that hold
// counts, rates and the names of lists, campaigns and providers: no
// contact's name, address or number is in any metric, so none can be in the
// prompt. The AI-usage metric is left out (an admin's fact; the summary is
// read by every member).

const (
	minFindings    = 3
	maxFindings    = 5
	maxFindingText = 400
	summaryTokens  = 1024
)

const summarySystem = `You are the analyst of a small business's CRM. You are given the health metrics of one workspace as JSON: counts, rates and the names of its lists, campaigns and providers, measured today. Write 3 to 5 findings, the most useful to the owner first. Each finding states a fact from the metrics with its number and recommends one concrete action in the CRM (for example "312 likely duplicates" with "review them in Merge"; contacts without a primary list: "assign them a list in Contacts"; failed or bounced messages: "check the provider settings or the addresses"; contacts not contacted: "plan a campaign for them"; import errors: "open the import's error report"). Use only the numbers given; do not invent any. Give your confidence in the findings between 0 and 1.`

var summarySchema = &ai.Schema{Name: "workspace_insights", JSON: json.RawMessage(`{
  "type": "object",
  "properties": {
    "findings": {
      "type": "array",
      "items": {
        "type": "object",
        "properties": {
          "finding": {"type": "string"},
          "action": {"type": "string"},
          "metric": {"type": "string"}
        },
        "required": ["finding", "action", "metric"],
        "additionalProperties": false
      }
    },
    "confidence": {"type": "number"}
  },
  "required": ["findings", "confidence"],
  "additionalProperties": false
}`)}

// Finding is one of the summary's findings.
type Finding struct {
	Finding string `json:"finding"`
	Action  string `json:"action"`
	Metric  string `json:"metric"`
}

type summaryAnswer struct {
	Findings   []Finding `json:"findings"`
	Confidence float64   `json:"confidence"`
}

// Prompt is the user message of the summary for metrics: the JSON of the
// metrics the model may read. Exported for the tests, which hold it to the
// workspace's aggregates.
func Prompt(metrics []Metric) (string, error) {
	type fact struct {
		Type    string         `json:"type"`
		Value   float64        `json:"value"`
		Summary string         `json:"summary"`
		Data    map[string]any `json:"data"`
	}
	var facts []fact
	for _, m := range metrics {
		if m.Area != AreaContacts && m.Area != AreaCampaigns {
			continue
		}
		d, _ := stripIDs(m.Data).(map[string]any)
		facts = append(facts, fact{Type: m.Type, Value: m.Value, Summary: m.Content, Data: d})
	}
	b, err := json.Marshal(map[string]any{"metrics": facts})
	if err != nil {
		return "", err
	}
	return "The workspace's metrics:\n" + string(b), nil
}

// stripIDs copies v without record ids and record times (no use to the
// model, and not aggregates).
func stripIDs(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if k == "id" || k == "created" {
				continue
			}
			out[k] = stripIDs(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = stripIDs(e)
		}
		return out
	default:
		// typed slices and structs: through JSON, then stripped
		if b, err := json.Marshal(v); err == nil && len(b) > 0 && (b[0] == '{' || b[0] == '[') {
			var back any
			if json.Unmarshal(b, &back) == nil {
				return stripIDs(back)
			}
		}
		return v
	}
}

// summarise asks the model. A workspace without an AI provider gets
// (nil, ai.ErrNotConfigured); a failed call its coded error (recorded in
// ai_usage by the client either way).
func (s *Service) summarise(ctx context.Context, ws string, who Who, metrics []Metric) (*Metric, error) {
	if s.client == nil {
		return nil, ai.ErrNotConfigured
	}
	_, cfg, err := ai.Load(s.store, ws)
	if err != nil {
		return nil, err
	}
	user, err := Prompt(metrics)
	if err != nil {
		return nil, err
	}
	var parsed summaryAnswer
	accept := func(a ai.Answer) error {
		if err := ai.DecodeObject(a, &parsed); err != nil {
			return err
		}
		return parsed.check()
	}
	ans, _, err := s.client.Ask(ctx, ai.Call{Workspace: ws, User: who.UserID, APIKey: who.KeyID, Purpose: ai.PurposeInsights}, cfg,
		ai.Request{System: summarySystem, User: user, Schema: summarySchema, MaxTokens: summaryTokens}, accept)
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, f := range parsed.Findings {
		lines = append(lines, "• "+f.Finding+" → "+f.Action)
	}
	return &Metric{Type: TypeSummary, Area: AreaSummary, Value: float64(len(parsed.Findings)), Content: strings.Join(lines, "\n"),
		Confidence: parsed.Confidence, Model: ans.Model, Tokens: ans.Usage.TotalTokens,
		Data: map[string]any{"findings": parsed.Findings, "prompt_tokens": ans.Usage.PromptTokens,
			"completion_tokens": ans.Usage.CompletionTokens, "mode": ans.Mode}}, nil
}

// check keeps at most 5 findings, refuses fewer than 3 or empty ones, and
// bounds the confidence to [0, 1].
func (a *summaryAnswer) check() error {
	var kept []Finding
	for _, f := range a.Findings {
		f.Finding, f.Action, f.Metric = strings.TrimSpace(f.Finding), strings.TrimSpace(f.Action), strings.TrimSpace(f.Metric)
		if f.Finding == "" || f.Action == "" {
			continue
		}
		if utf8.RuneCountInString(f.Finding) > maxFindingText || utf8.RuneCountInString(f.Action) > maxFindingText {
			return ai.BadOutput(fmt.Sprintf("a finding or action longer than %d characters", maxFindingText))
		}
		kept = append(kept, f)
	}
	if len(kept) < minFindings {
		return ai.BadOutput(fmt.Sprintf("%d usable findings, at least %d were asked for", len(kept), minFindings))
	}
	if len(kept) > maxFindings {
		kept = kept[:maxFindings]
	}
	a.Findings = kept
	if math.IsNaN(a.Confidence) || a.Confidence < 0 {
		a.Confidence = 0
	}
	if a.Confidence > 1 {
		a.Confidence = 1
	}
	return nil
}

// notConfigured: the error says the workspace has no AI provider.
func notConfigured(err error) bool { return errors.Is(err, ai.ErrNotConfigured) }
