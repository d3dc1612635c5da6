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

// campaigns reads the per-campaign counts of every campaign with deliveries
// (one pass over the workspace's ledger rows), newest campaign first.
func (m measure) campaignRows() ([]campaignRow, error) {
	var rows []campaignRow
	// the provider a send used is the snapshot's (the campaign's own field
	// may be empty: the workspace's default then)
	err := m.q(`SELECT c.id, c.name, c.type AS channel, c.status, c.created,
			COALESCE(NULLIF(json_extract(c.snapshot, '$.provider'), ''), NULLIF(c.provider, ''), 'default') AS provider,
			COUNT(*) AS total,
			COALESCE(SUM(d.status IN ('sent', 'delivered', 'bounced', 'complained')), 0) AS sent,
			COALESCE(SUM(d.status = 'failed'), 0) AS failed,
			COALESCE(SUM(d.status = 'bounced'), 0) AS bounced,
			COALESCE(SUM(d.status = 'complained'), 0) AS complained,
			COALESCE(SUM(d.reason = 'unsubscribed'), 0) AS unsubscribed,
			COALESCE(SUM(d.status IN ('skipped', 'suppressed')), 0) AS skipped,
			COALESCE(SUM(d.status IN ('queued', 'sending', 'unknown')), 0) AS pending
		FROM campaigns c JOIN campaign_deliveries d ON d.campaign = c.id
		WHERE c.workspace = {:ws} GROUP BY c.id ORDER BY c.created DESC, c.id`, nil).All(&rows)
	return rows, err
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
