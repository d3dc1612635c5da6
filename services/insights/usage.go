package insights

import (
	"fmt"
	"strings"
	"time"
)

// The AI-usage metric: tokens and calls per model and month from ai_usage
// (every model call of the workspace, failed ones included: their tokens
// were spent), with an estimated cost. An admin's fact, as ai_usage is.

// price is a model's list price in US dollars per million tokens.
type price struct{ in, out float64 }

// prices are OpenAI's published list prices (standard tier, per 1M tokens,
// as of 2025) for the models people are likely to configure; a model is
// priced by the longest name that starts it ("gpt-4o-mini-2024-07-18" is
// gpt-4o-mini). Any other model (Ollama, llama.cpp on the Pi or the LAN) is
// reported with tokens and no price: its cost is the owner's electricity,
// not a bill. An estimate, said so in the data and on the card.
var prices = map[string]price{
	"gpt-4o-mini":   {0.15, 0.60},
	"gpt-4o":        {2.50, 10.00},
	"gpt-4.1-nano":  {0.10, 0.40},
	"gpt-4.1-mini":  {0.40, 1.60},
	"gpt-4.1":       {2.00, 8.00},
	"gpt-4-turbo":   {10.00, 30.00},
	"gpt-3.5-turbo": {0.50, 1.50},
	"o4-mini":       {1.10, 4.40},
	"o3-mini":       {1.10, 4.40},
	"o3":            {2.00, 8.00},
	"o1-mini":       {1.10, 4.40},
	"o1":            {15.00, 60.00},
	"gpt-5-nano":    {0.05, 0.40},
	"gpt-5-mini":    {0.25, 2.00},
	"gpt-5":         {1.25, 10.00},
}

func priceOf(model string) (price, bool) {
	best, found := "", false
	for name := range prices {
		if strings.HasPrefix(model, name) && len(name) > len(best) {
			best, found = name, true
		}
	}
	return prices[best], found
}

// EstimateCost is the estimated cost in US dollars of the tokens of model
// (false: the model has no known price).
func EstimateCost(model string, prompt, completion int) (float64, bool) {
	p, ok := priceOf(model)
	if !ok {
		return 0, false
	}
	return (float64(prompt)*p.in + float64(completion)*p.out) / 1e6, true
}

// aiUsage: the current month and the two before it, per model.
func (m measure) aiUsage() (Metric, error) {
	now := m.now.UTC()
	thisMonth := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	from := thisMonth.AddDate(0, -2, 0)
	var rows []struct {
		Month      string `db:"month"`
		Model      string `db:"model"`
		Calls      int    `db:"calls"`
		Errors     int    `db:"errors"`
		Prompt     int    `db:"prompt"`
		Completion int    `db:"completion"`
		Total      int    `db:"total"`
	}
	if err := m.q(`SELECT substr(created, 1, 7) AS month, model, COUNT(*) AS calls, COALESCE(SUM(status = 'error'), 0) AS errors,
			COALESCE(SUM(prompt_tokens), 0) AS prompt, COALESCE(SUM(completion_tokens), 0) AS completion, COALESCE(SUM(total_tokens), 0) AS total
		FROM ai_usage WHERE workspace = {:ws} AND created >= {:from} GROUP BY month, model ORDER BY month DESC, model`,
		map[string]any{"from": stamp(from)}).All(&rows); err != nil {
		return Metric{}, err
	}
	current := thisMonth.Format("2006-01")
	var tokens, calls int
	var cost float64
	unpriced := false
	out := []any{}
	for _, r := range rows {
		c, priced := EstimateCost(r.Model, r.Prompt, r.Completion)
		row := map[string]any{"month": r.Month, "model": r.Model, "calls": r.Calls, "errors": r.Errors,
			"prompt_tokens": r.Prompt, "completion_tokens": r.Completion, "total_tokens": r.Total, "priced": priced, "est_cost_usd": nil}
		if priced {
			row["est_cost_usd"] = round4(c)
		}
		if r.Month == current {
			tokens, calls = tokens+r.Total, calls+r.Calls
			cost += c
			unpriced = unpriced || !priced
		}
		out = append(out, row)
	}
	content := fmt.Sprintf("%s AI tokens this month in %s", num(tokens), plural(calls, "call", "calls"))
	switch {
	case calls == 0:
		content = "No AI calls this month."
	case cost > 0:
		if cost < 0.01 {
			content += ", under $0.01 at list prices (an estimate)"
		} else {
			content += fmt.Sprintf(", about $%.2f at list prices (an estimate)", cost)
		}
		if unpriced {
			content += "; local models not priced"
		}
		content += "."
	default:
		content += " (local models: no price)."
	}
	return Metric{Type: TypeAIUsage, Area: AreaAdmin, Value: float64(tokens), Content: content, Data: map[string]any{
		"month": current, "tokens_month": tokens, "calls_month": calls, "est_cost_usd_month": round4(cost),
		"rows": out, "prices": "OpenAI list prices per 1M tokens (2025), an estimate; other models unpriced",
	}}, nil
}
