package insights

import (
	"fmt"
	"sort"
)

// The campaigns metrics: the ledger (campaign_deliveries) counted by status
// per campaign and per provider. Rates: sent and failed of the messages
// attempted (not skipped), bounced, complained and unsubscribed of the
// messages sent. Opens are not tracked by any sender yet: "opened" is null,
// never a made-up zero.

// results are one campaign's (or provider's) counts.
type results struct {
	Total        int `json:"total"`
	Attempted    int `json:"attempted"`
	Sent         int `json:"sent"`
	Failed       int `json:"failed"`
	Bounced      int `json:"bounced"`
	Complained   int `json:"complained"`
	Unsubscribed int `json:"unsubscribed"`
	Skipped      int `json:"skipped"`
	Pending      int `json:"pending"`
}

func (r *results) add(o results) {
	r.Total += o.Total
	r.Attempted += o.Attempted
	r.Sent += o.Sent
	r.Failed += o.Failed
	r.Bounced += o.Bounced
	r.Complained += o.Complained
	r.Unsubscribed += o.Unsubscribed
	r.Skipped += o.Skipped
	r.Pending += o.Pending
}

func rate(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return round1(100 * float64(n) / float64(of))
}

func (r results) view() map[string]any {
	return map[string]any{
		"total": r.Total, "attempted": r.Attempted, "sent": r.Sent, "failed": r.Failed, "bounced": r.Bounced,
		"complained": r.Complained, "unsubscribed": r.Unsubscribed, "skipped": r.Skipped, "pending": r.Pending,
		"opened": nil,
		"rates": map[string]any{
			"sent_pct": rate(r.Sent, r.Attempted), "failed_pct": rate(r.Failed, r.Attempted),
			"bounced_pct": rate(r.Bounced, r.Sent), "complained_pct": rate(r.Complained, r.Sent),
			"unsubscribed_pct": rate(r.Unsubscribed, r.Sent), "opened_pct": nil,
		},
	}
}

type campaignRow struct {
	ID           string `db:"id"`
	Name         string `db:"name"`
	Channel      string `db:"channel"`
	Provider     string `db:"provider"`
	Status       string `db:"status"`
	Created      string `db:"created"`
	Total        int    `db:"total"`
	Sent         int    `db:"sent"`
	Failed       int    `db:"failed"`
	Bounced      int    `db:"bounced"`
	Complained   int    `db:"complained"`
	Unsubscribed int    `db:"unsubscribed"`
	Skipped      int    `db:"skipped"`
	Pending      int    `db:"pending"`
}

// campaignRows reads the per-campaign counts of every campaign with
// deliveries, newest campaign first. The counts come from a ledger index
// led by (campaign, status) alone and the unsubscribed from the partial index
// of migration 1764001520: no ledger row is read, so 100,000 deliveries cost
// an index range, not 100,000 row reads.
func (m measure) campaignRows() ([]campaignRow, error) {
	var camps []campaignRow
	// the provider a send used is the snapshot's (the campaign's own field
	// may be empty: the workspace's default then)
	if err := m.q(`SELECT id, name, type AS channel, status, created,
			COALESCE(NULLIF(json_extract(snapshot, '$.provider'), ''), NULLIF(provider, ''), 'default') AS provider
		FROM campaigns WHERE workspace = {:ws} ORDER BY created DESC, id`, nil).All(&camps); err != nil {
		return nil, err
	}
	var counts []struct {
		Campaign string `db:"campaign"`
		Status   string `db:"status"`
		N        int    `db:"n"`
	}
	// in the order of an index led by (campaign, status): no sort
	if err := m.q(`SELECT campaign, status, COUNT(*) AS n FROM campaign_deliveries
		WHERE campaign IN (SELECT id FROM campaigns WHERE workspace = {:ws}) GROUP BY campaign, status`, nil).All(&counts); err != nil {
		return nil, err
	}
	var unsub []struct {
		Campaign string `db:"campaign"`
		N        int    `db:"n"`
	}
	if err := m.q(`SELECT d.campaign, COUNT(*) AS n FROM campaigns c
		JOIN campaign_deliveries d ON d.campaign = c.id AND d.reason = 'unsubscribed'
		WHERE c.workspace = {:ws} GROUP BY d.campaign`, nil).All(&unsub); err != nil {
		return nil, err
	}
	by := make(map[string]*campaignRow, len(camps))
	for i := range camps {
		by[camps[i].ID] = &camps[i]
	}
	for _, c := range counts {
		r := by[c.Campaign]
		if r == nil {
			continue
		}
		r.Total += c.N
		switch c.Status {
		case "sent", "delivered":
			r.Sent += c.N
		case "bounced":
			r.Sent, r.Bounced = r.Sent+c.N, r.Bounced+c.N
		case "complained":
			r.Sent, r.Complained = r.Sent+c.N, r.Complained+c.N
		case "failed":
			r.Failed += c.N
		case "skipped", "suppressed":
			r.Skipped += c.N
		default: // queued, sending, unknown
			r.Pending += c.N
		}
	}
	for _, u := range unsub {
		if r := by[u.Campaign]; r != nil {
			r.Unsubscribed = u.N
		}
	}
	out := camps[:0]
	for _, r := range camps {
		if r.Total > 0 {
			out = append(out, r)
		}
	}
	return out, nil
}

func (r campaignRow) results() results {
	return results{Total: r.Total, Attempted: r.Total - r.Skipped, Sent: r.Sent, Failed: r.Failed, Bounced: r.Bounced,
		Complained: r.Complained, Unsubscribed: r.Unsubscribed, Skipped: r.Skipped, Pending: r.Pending}
}

func resultWords(n int, what string, r results) string {
	if r.Attempted == 0 {
		return fmt.Sprintf("%s with deliveries, none attempted yet (%s skipped).", plural(n, what, what+"s"), num(r.Skipped))
	}
	return fmt.Sprintf("%s sent %s of %s attempted: %s%% failed, %s%% bounced, %s%% complained, %s%% unsubscribed.",
		plural(n, what, what+"s"), num(r.Sent), num(r.Attempted), fmt1(rate(r.Failed, r.Attempted)), fmt1(rate(r.Bounced, r.Sent)),
		fmt1(rate(r.Complained, r.Sent)), fmt1(rate(r.Unsubscribed, r.Sent)))
}

// campaignMetrics: the results per campaign (the newest 20 listed, all
// counted) and per provider.
func (m measure) campaignMetrics() (Metric, Metric, error) {
	rows, err := m.campaignRows()
	if err != nil {
		return Metric{}, Metric{}, err
	}
	var all results
	listed := []any{}
	byProvider := map[string]*results{}
	campaignsOf := map[string]int{}
	for i, r := range rows {
		res := r.results()
		all.add(res)
		p := byProvider[r.Provider]
		if p == nil {
			p = &results{}
			byProvider[r.Provider] = p
		}
		p.add(res)
		campaignsOf[r.Provider]++
		if i < maxCampaignsReported {
			v := res.view()
			v["id"], v["name"], v["channel"], v["provider"], v["status"], v["created"] = r.ID, r.Name, r.Channel, r.Provider, r.Status, r.Created
			listed = append(listed, v)
		}
	}
	content := "No campaign has sent anything yet."
	if len(rows) > 0 {
		content = resultWords(len(rows), "campaign", all)
	}
	totals := all.view()
	camp := Metric{Type: TypeCampaignResults, Area: AreaCampaigns, Value: float64(len(rows)), Content: content, Data: map[string]any{
		"campaigns": listed, "counted": len(rows), "totals": totals, "opens_tracked": false,
	}}

	names := make([]string, 0, len(byProvider))
	for n := range byProvider {
		names = append(names, n)
	}
	sort.Strings(names)
	providers := []any{}
	for _, n := range names {
		v := byProvider[n].view()
		v["provider"], v["campaigns"] = n, campaignsOf[n]
		providers = append(providers, v)
	}
	pContent := "No provider has sent anything yet."
	if len(names) == 1 {
		pContent = "Provider " + names[0] + ": " + resultWords(campaignsOf[names[0]], "campaign", *byProvider[names[0]])
	} else if len(names) > 1 {
		worst, worstRate := "", -1.0
		for _, n := range names {
			if r := rate(byProvider[n].Failed, byProvider[n].Attempted); r > worstRate {
				worst, worstRate = n, r
			}
		}
		pContent = fmt.Sprintf("%s used; the most failures at %s (%s%% of attempted).", plural(len(names), "provider", "providers"), worst, fmt1(worstRate))
	}
	prov := Metric{Type: TypeProviderResults, Area: AreaCampaigns, Value: float64(len(names)), Content: pContent,
		Data: map[string]any{"providers": providers, "opens_tracked": false}}
	return camp, prov, nil
}
