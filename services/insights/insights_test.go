package insights_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/insights"
	"github.com/pi-crm/pi-crm/services/settings"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// now is the run's moment in every test here.
var now = time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)

func at(days float64) string {
	return now.Add(-time.Duration(days * 24 * float64(time.Hour))).Format("2006-01-02 15:04:05.000Z")
}

type fixture struct {
	env   *testutil.Env
	w, x  *core.Record
	owner *core.Record
	c     []*core.Record // W's contacts c[0..9]
}

// set writes a column with raw SQL: created is an autodate field, which a
// save always sets to the saving time.
func (f *fixture) set(t *testing.T, table, id, col, value string) {
	t.Helper()
	if _, err := f.env.App.DB().NewQuery("UPDATE " + table + " SET " + col + " = {:v} WHERE id = {:id}").
		Bind(dbx.Params{"v": value, "id": id}).Execute(); err != nil {
		t.Fatal(err)
	}
}

// newFixture builds workspace W with data whose every metric is counted by
// hand in the comments, and workspace X with data of its own that W's
// metrics must not count.
func newFixture(t *testing.T) *fixture {
	env := testutil.New(t)
	owner, _ := env.User("owner@example.com")
	outsider, _ := env.User("outsider@example.com")
	f := &fixture{env: env, owner: owner}
	f.w = env.Workspace("W", owner, nil)
	f.x = env.Workspace("X", outsider, nil)

	// 10 contacts: c0..c7 with an email, c8 and c9 without; phones on c0,
	// c1, c8, c9. c2 and c3 are one person twice (same name and company).
	type spec struct{ first, last, email, phone, company string }
	specs := []spec{
		{"Ada", "Moss", "ada@example.org", "+442079460001", ""},
		{"Bo", "Nash", "bo@example.org", "+442079460002", ""},
		{"Ann", "Lee", "ann@acme.example", "", "Acme"},
		{"Ann", "Lee", "ann.lee@other.example", "", "Acme"},
		{"Cy", "Orr", "cy@example.org", "", ""},
		{"Di", "Pike", "di@example.org", "", ""},
		{"Ed", "Quinn", "ed@example.org", "", ""},
		{"Flo", "Rusk", "flo@example.org", "", ""},
		{"Gus", "Shaw", "", "+442079460009", ""},
		{"Hal", "Tate", "", "+442079460010", ""},
	}
	for _, s := range specs {
		f.c = append(f.c, env.Create("contacts", map[string]any{"workspace": f.w.Id, "first_name": s.first, "last_name": s.last,
			"primary_email": s.email, "primary_phone": s.phone, "company": s.company}))
	}
	// created: c0, c1 a day ago, c2 3 days, c3 8, c4 10, c5 20, c6 40, c7..c9 100
	for i, d := range []float64{1, 1, 3, 8, 10, 20, 40, 100, 100, 100} {
		f.set(t, "contacts", f.c[i].Id, "created", at(d))
	}
	// lists: Customers holds c0..c3 (primary) and c5; Newsletter c4
	// (primary), c5 and c6. Without a primary list: c5..c9 = 5.
	cust := env.Create("contact_lists", map[string]any{"workspace": f.w.Id, "name": "Customers"})
	news := env.Create("contact_lists", map[string]any{"workspace": f.w.Id, "name": "Newsletter"})
	assign := func(c *core.Record, l *core.Record, primary bool) {
		env.Create("contact_list_assignments", map[string]any{"contact": c.Id, "list": l.Id, "is_primary": primary})
	}
	for i := 0; i < 4; i++ {
		assign(f.c[i], cust, true)
	}
	assign(f.c[5], cust, false)
	assign(f.c[4], news, true)
	assign(f.c[5], news, false)
	assign(f.c[6], news, false)

	// timeline: c0 emailed 10 days ago (contacted), c1 called 100 days ago
	// (not within 90), c2 a note yesterday (a note is not contact)
	log := func(c *core.Record, typ string, days float64) {
		env.Create("communication_logs", map[string]any{"workspace": f.w.Id, "contact": c.Id, "type": typ, "content": "x", "timestamp": at(days)})
	}
	log(f.c[0], "email", 10)
	log(f.c[1], "call", 100)
	log(f.c[2], "note", 1)

	// suppressions: 2 two days ago (unsubscribe, hard_bounce), 1 45 days ago
	for _, s := range []struct {
		addr, reason string
		days         float64
	}{{"u1@example.org", "unsubscribe", 2}, {"u2@example.org", "hard_bounce", 2}, {"u3@example.org", "manual", 45}} {
		r := env.Create("suppressions", map[string]any{"workspace": f.w.Id, "channel": "email", "address": s.addr, "reason": s.reason})
		f.set(t, "suppressions", r.Id, "created", at(s.days))
	}

	// imports: 5 days ago 3 rows failed; 2 days ago a failed job; 40 days
	// ago (outside the window) 7 rows failed
	for _, j := range []struct {
		status string
		failed int
		days   float64
	}{{"completed", 3, 5}, {"failed", 0, 2}, {"completed", 7, 40}} {
		r := env.Create("import_jobs", map[string]any{"workspace": f.w.Id, "status": j.status, "counts": map[string]any{"read": 10, "failed": j.failed}})
		f.set(t, "import_jobs", r.Id, "created", at(j.days))
	}

	// campaigns: A over smtp (5 days ago), B over the outbox (its snapshot's
	// provider; the campaign's own field empty), a day ago
	a := env.Create("campaigns", map[string]any{"workspace": f.w.Id, "name": "Spring sale", "type": "email", "status": "sent", "provider": "smtp"})
	b := env.Create("campaigns", map[string]any{"workspace": f.w.Id, "name": "Welcome", "type": "email", "status": "sending",
		"snapshot": map[string]any{"channel": "email", "provider": "outbox"}})
	f.set(t, "campaigns", a.Id, "created", at(5))
	f.set(t, "campaigns", b.Id, "created", at(1))
	n := 0
	deliver := func(c *core.Record, status, reason string) {
		n++
		env.Create("campaign_deliveries", map[string]any{"campaign": c.Id, "channel": "email", "address": "d" + string(rune('a'+n)) + "@example.org",
			"status": status, "reason": reason})
	}
	// A: 6 sent (one of them unsubscribed), 1 delivered, 1 bounced, 1
	// complained, 2 failed, 1 skipped: total 12, attempted 11, sent 9
	for i := 0; i < 6; i++ {
		reason := ""
		if i == 0 {
			reason = "unsubscribed"
		}
		deliver(a, "sent", reason)
	}
	deliver(a, "delivered", "")
	deliver(a, "bounced", "")
	deliver(a, "complained", "")
	deliver(a, "failed", "")
	deliver(a, "failed", "")
	deliver(a, "skipped", "suppressed")
	// B: 4 sent, 1 unknown: total 5, attempted 5, sent 4, pending 1
	for i := 0; i < 4; i++ {
		deliver(b, "sent", "")
	}
	deliver(b, "unknown", "")

	// AI usage: this month gpt-4o-mini 10,000 + 5,000 tokens and a failed
	// local call of 200 + 100; last month 100 + 50
	for _, u := range []struct {
		model, status, created string
		p, c                   int
	}{{"gpt-4o-mini-2024-07-18", "ok", at(3), 10000, 5000}, {"llama3.2:3b", "error", at(1), 200, 100}, {"gpt-4o-mini", "ok", "2026-10-20 10:00:00.000Z", 100, 50}} {
		r := env.Create("ai_usage", map[string]any{"workspace": f.w.Id, "purpose": "template_generate", "model": u.model, "status": u.status,
			"prompt_tokens": u.p, "completion_tokens": u.c, "total_tokens": u.p + u.c})
		f.set(t, "ai_usage", r.Id, "created", u.created)
	}

	// X: the same kinds of rows, none of which W may count
	xc := env.Create("contacts", map[string]any{"workspace": f.x.Id, "first_name": "Ann", "last_name": "Lee", "company": "Acme", "primary_email": "ann@acme.example"})
	env.Create("contacts", map[string]any{"workspace": f.x.Id, "first_name": "Ann", "last_name": "Lee", "company": "Acme"})
	xl := env.Create("contact_lists", map[string]any{"workspace": f.x.Id, "name": "X list"})
	env.Create("contact_list_assignments", map[string]any{"contact": xc.Id, "list": xl.Id, "is_primary": true})
	env.Create("communication_logs", map[string]any{"workspace": f.x.Id, "contact": xc.Id, "type": "email", "content": "x", "timestamp": at(1)})
	env.Create("suppressions", map[string]any{"workspace": f.x.Id, "channel": "email", "address": "u1@example.org", "reason": "unsubscribe"})
	env.Create("import_jobs", map[string]any{"workspace": f.x.Id, "status": "failed", "counts": map[string]any{"failed": 50}})
	xcamp := env.Create("campaigns", map[string]any{"workspace": f.x.Id, "name": "X camp", "type": "email", "status": "sent", "provider": "smtp"})
	env.Create("campaign_deliveries", map[string]any{"campaign": xcamp.Id, "channel": "email", "address": "z@example.org", "status": "failed"})
	env.Create("ai_usage", map[string]any{"workspace": f.x.Id, "purpose": "template_generate", "model": "gpt-4o", "status": "ok", "total_tokens": 999, "prompt_tokens": 999})
	return f
}

func byType(ms []insights.Metric) map[string]insights.Metric {
	out := map[string]insights.Metric{}
	for _, m := range ms {
		out[m.Type] = m
	}
	return out
}

// asJSON compares through JSON: the data's numbers and lists as the API
// answers them.
func asJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func wantData(t *testing.T, m insights.Metric, key string, want any) {
	t.Helper()
	if got := asJSON(t, m.Data[key]); !reflect.DeepEqual(got, asJSON(t, want)) {
		t.Errorf("%s: data.%s = %v, want %v", m.Type, key, got, want)
	}
}

func wantValue(t *testing.T, m insights.Metric, want float64, sentence string) {
	t.Helper()
	if m.Value != want {
		t.Errorf("%s: value %v, want %v", m.Type, m.Value, want)
	}
	if m.Confidence != 1 {
		t.Errorf("%s: confidence %v, want 1 (a measured fact)", m.Type, m.Confidence)
	}
	if sentence != "" && m.Content != sentence {
		t.Errorf("%s: content %q, want %q", m.Type, m.Content, sentence)
	}
}

// TestMetricsByHand: every metric of W equals what the comments of
// newFixture count by hand, and nothing of X is counted.
func TestMetricsByHand(t *testing.T) {
	f := newFixture(t)
	ms, err := insights.Metrics(f.env.App, f.w.Id, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != len(insights.Types)-1 {
		t.Fatalf("%d metrics, want %d", len(ms), len(insights.Types)-1)
	}
	for i, m := range ms {
		if m.Type != insights.Types[i] {
			t.Errorf("metric %d is %s, want %s", i, m.Type, insights.Types[i])
		}
	}
	m := byType(ms)

	added := m[insights.TypeContactsAdded]
	// last 7: c0, c1, c2; the 7 before: c3, c4; last 30: c0..c5; 30..60: c6
	wantValue(t, added, 3, "3 contacts added in the last 7 days (2 the 7 days before: up 50%); 6 in the last 30 days, 10 in all.")
	for k, v := range map[string]any{"total": 10, "last7": 3, "prev7": 2, "last30": 6, "prev30": 1, "trend": "up", "change_pct": 50} {
		wantData(t, added, k, v)
	}
	daily, _ := asJSON(t, added.Data["daily"]).([]any)
	if len(daily) != 30 {
		t.Fatalf("daily: %d days, want 30", len(daily))
	}
	// the series ends today (no contact added today: 10 at its end, 0 added)
	// and starts 29 days ago with the 4 contacts older than that
	wantDay := func(i int, day string, added, total float64) {
		d, _ := daily[i].(map[string]any)
		if d["day"] != day || d["added"] != added || d["total"] != total {
			t.Errorf("daily[%d] = %v, want %s added %v total %v", i, d, day, added, total)
		}
	}
	wantDay(29, "2026-11-15", 0, 10)
	wantDay(28, "2026-11-14", 2, 10) // c0, c1
	wantDay(26, "2026-11-12", 1, 8)  // c2
	wantDay(9, "2026-10-26", 1, 5)   // c5, 20 days ago
	wantDay(0, "2026-10-17", 0, 4)

	lists := m[insights.TypeListSizes]
	wantValue(t, lists, 2, "2 lists; the largest, Customers, holds 5 contacts.")
	ls, _ := asJSON(t, lists.Data["lists"]).([]any)
	if len(ls) != 2 {
		t.Fatalf("lists %v", ls)
	}
	for i, want := range []struct {
		name string
		size float64
	}{{"Customers", 5}, {"Newsletter", 3}} {
		l, _ := ls[i].(map[string]any)
		if l["name"] != want.name || l["size"] != want.size {
			t.Errorf("list %d: %v, want %s with %v", i, l, want.name, want.size)
		}
	}

	wantValue(t, m[insights.TypeNoPrimaryList], 5, "5 of 10 contacts have no primary list (50%).")
	wantValue(t, m[insights.TypeNoEmail], 2, "2 of 10 contacts have no email address (20%).")
	wantValue(t, m[insights.TypeNoPhone], 6, "6 of 10 contacts have no phone number (60%).")
	// contacted within 90 days: c0 only
	wantValue(t, m[insights.TypeNotContacted], 9, "9 of 10 contacts were not contacted in the last 90 days (90%).")

	dups := m[insights.TypeDuplicates]
	// c2 and c3: same name and company (their similar-name group is the
	// same pair, reported once under the stronger reason)
	wantValue(t, dups, 1, "1 group of likely duplicates: review them in Merge.")
	wantData(t, dups, "by_reason", map[string]any{"same_name_company": 1})

	supp := m[insights.TypeSuppressions]
	wantValue(t, supp, 2, "2 suppressions added in the last 30 days (2 in the last 7); 3 in all.")
	wantData(t, supp, "by_reason_30d", map[string]any{"unsubscribe": 1, "hard_bounce": 1})

	imp := m[insights.TypeImportErrors]
	wantValue(t, imp, 3, "2 imports in the last 30 days: 3 rows refused, 1 job failed as a whole.")
	wantData(t, imp, "failed_jobs", 1)
	wantData(t, imp, "jobs", 2)

	camp := m[insights.TypeCampaignResults]
	// A and B together: attempted 16, sent 13, failed 2 (12.5%), bounced,
	// complained, unsubscribed 1 each of 13 sent (7.7%)
	wantValue(t, camp, 2, "2 campaigns sent 13 of 16 attempted: 12.5% failed, 7.7% bounced, 7.7% complained, 7.7% unsubscribed.")
	cs, _ := asJSON(t, camp.Data["campaigns"]).([]any)
	if len(cs) != 2 {
		t.Fatalf("campaigns %v", cs)
	}
	b, _ := cs[0].(map[string]any) // newest first: B
	a, _ := cs[1].(map[string]any)
	wantCamp := func(got map[string]any, want map[string]any) {
		t.Helper()
		for k, v := range want {
			if !reflect.DeepEqual(got[k], asJSON(t, v)) {
				t.Errorf("campaign %v: %s = %v, want %v", got["name"], k, got[k], v)
			}
		}
	}
	wantCamp(a, map[string]any{"name": "Spring sale", "provider": "smtp", "total": 12, "attempted": 11, "sent": 9, "failed": 2, "bounced": 1,
		"complained": 1, "unsubscribed": 1, "skipped": 1, "pending": 0, "opened": nil,
		"rates": map[string]any{"sent_pct": 81.8, "failed_pct": 18.2, "bounced_pct": 11.1, "complained_pct": 11.1, "unsubscribed_pct": 11.1, "opened_pct": nil}})
	wantCamp(b, map[string]any{"name": "Welcome", "provider": "outbox", "total": 5, "attempted": 5, "sent": 4, "failed": 0, "pending": 1,
		"rates": map[string]any{"sent_pct": 80, "failed_pct": 0, "bounced_pct": 0, "complained_pct": 0, "unsubscribed_pct": 0, "opened_pct": nil}})

	prov := m[insights.TypeProviderResults]
	wantValue(t, prov, 2, "2 providers used; the most failures at smtp (18.2% of attempted).")
	ps, _ := asJSON(t, prov.Data["providers"]).([]any)
	if len(ps) != 2 {
		t.Fatalf("providers %v", ps)
	}
	wantCamp(ps[0].(map[string]any), map[string]any{"provider": "outbox", "campaigns": 1, "sent": 4, "attempted": 5})
	wantCamp(ps[1].(map[string]any), map[string]any{"provider": "smtp", "campaigns": 1, "sent": 9, "failed": 2, "attempted": 11})

	use := m[insights.TypeAIUsage]
	// this month: 15,000 + 300 tokens in 2 calls; cost (10,000 × 0.15 +
	// 5,000 × 0.60) / 1e6 = $0.0045, the local model unpriced
	wantValue(t, use, 15300, "15,300 AI tokens this month in 2 calls, under $0.01 at list prices (an estimate); local models not priced.")
	wantData(t, use, "est_cost_usd_month", 0.0045)
	wantData(t, use, "calls_month", 2)
	rows, _ := asJSON(t, use.Data["rows"]).([]any)
	if len(rows) != 3 {
		t.Fatalf("usage rows %v", rows)
	}
	last, _ := rows[2].(map[string]any)
	if last["month"] != "2026-10" || last["total_tokens"] != 150.0 {
		t.Errorf("last month's row %v", last)
	}
	if use.Area != insights.AreaAdmin {
		t.Errorf("ai usage area %s", use.Area)
	}
}

// TestRunWithoutAI: a workspace without an AI provider gets its metrics
// stored as one run, no summary, and the run says why.
func TestRunWithoutAI(t *testing.T) {
	f := newFixture(t)
	svc := insights.New(f.env.App, settings.New(f.env.App), nil, func() time.Time { return now })
	res, err := svc.Run(context.Background(), f.w.Id, insights.TriggerManual, insights.Who{UserID: f.owner.Id})
	if err != nil {
		t.Fatal(err)
	}
	run := res.Run
	if run.GetString("status") != "done" || run.GetString("summary") != insights.SummaryNotConfigured || run.GetInt("metrics") != len(insights.Types)-1 {
		t.Fatalf("run %v", run.FieldsData())
	}
	stored, err := f.env.App.FindRecordsByFilter(insights.Collection, "run = {:r}", "", 0, 0, dbx.Params{"r": run.Id})
	if err != nil || len(stored) != len(insights.Types)-1 {
		t.Fatalf("%d insights stored, %v", len(stored), err)
	}
	for _, r := range stored {
		if r.GetString("workspace") != f.w.Id || r.GetFloat("confidence") != 1 || r.GetString("type") == insights.TypeSummary {
			t.Errorf("insight %v", r.FieldsData())
		}
	}
	latest, err := svc.Latest(f.w.Id, func(string) bool { return true })
	if err != nil || latest.Run.Id != run.Id || len(latest.Insights) != len(stored) || latest.Running != nil {
		t.Fatalf("latest %+v %v", latest, err)
	}
	// the manual run's one audit entry
	n, err := f.env.App.CountRecords("audit_logs", dbx.HashExp{"action": insights.ActionRun, "entity_id": run.Id, "user": f.owner.Id})
	if err != nil || n != 1 {
		t.Fatalf("audit entries %d %v", n, err)
	}
	// X has no run
	other, err := svc.Latest(f.x.Id, func(string) bool { return true })
	if err != nil || other.Run != nil || len(other.Insights) != 0 {
		t.Fatalf("X latest %+v %v", other, err)
	}
}

// TestNightlyDueAndPrune: the nightly run is due once the setting's time has
// passed and no nightly run started since; Tick runs every workspace; the
// prune keeps each workspace's newest run and what is within the retention.
func TestNightlyDueAndPrune(t *testing.T) {
	f := newFixture(t)
	clock := time.Date(2026, 11, 15, 1, 0, 0, 0, time.UTC)
	svc := insights.New(f.env.App, settings.New(f.env.App), nil, func() time.Time { return clock })
	f.env.Create("system_settings", map[string]any{"scope": "system", "setting_key": insights.NightlyAtKey, "setting_value": "03:15"})
	f.env.Create("system_settings", map[string]any{"scope": "system", "setting_key": insights.RetentionKey, "setting_value": 10})

	due := func() bool {
		d, err := svc.NightlyDue(clock)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if due() {
		t.Fatal("due before 03:15")
	}
	clock = time.Date(2026, 11, 15, 3, 16, 0, 0, time.UTC)
	if !due() {
		t.Fatal("not due after 03:15")
	}
	svc.Tick(context.Background())
	runs := func(ws string) []*core.Record {
		recs, err := f.env.App.FindRecordsByFilter(insights.RunsCollection, "workspace = {:ws}", "started_at", 0, 0, dbx.Params{"ws": ws})
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	for _, ws := range []string{f.w.Id, f.x.Id} {
		if r := runs(ws); len(r) != 1 || r[0].GetString("trigger") != insights.TriggerNightly || r[0].GetString("status") != "done" {
			t.Fatalf("nightly runs of %s: %d", ws, len(r))
		}
	}
	if due() {
		t.Fatal("due again after tonight's run")
	}
	svc.Tick(context.Background()) // not due: no second run
	if len(runs(f.w.Id)) != 1 {
		t.Fatal("a second nightly run the same night")
	}

	// 12 days later (retention 10): a manual run, then the prune removes
	// the old nightly run of W (W has a newer one) but keeps X's only run
	clock = clock.AddDate(0, 0, 12)
	if _, err := svc.Run(context.Background(), f.w.Id, insights.TriggerManual, insights.Who{}); err != nil {
		t.Fatal(err)
	}
	old := runs(f.w.Id)[0]
	n, err := svc.Prune(clock)
	if err != nil || n != 1 {
		t.Fatalf("pruned %d %v", n, err)
	}
	if r := runs(f.w.Id); len(r) != 1 || r[0].GetString("trigger") != insights.TriggerManual {
		t.Fatalf("W's runs after the prune: %d", len(r))
	}
	if len(runs(f.x.Id)) != 1 {
		t.Fatal("X's only run was pruned")
	}
	left, err := f.env.App.CountRecords(insights.Collection, dbx.HashExp{"run": old.Id})
	if err != nil || left != 0 {
		t.Fatalf("insights of the pruned run left: %d %v", left, err)
	}

	// "off" turns the nightly run off
	rec, err := f.env.App.FindFirstRecordByFilter("system_settings", "setting_key = {:k}", dbx.Params{"k": insights.NightlyAtKey})
	if err != nil {
		t.Fatal(err)
	}
	rec.Set("setting_value", "off")
	if err := f.env.App.Save(rec); err != nil {
		t.Fatal(err)
	}
	clock = clock.AddDate(0, 0, 1)
	if due() {
		t.Fatal("due while off")
	}
}

// TestPromptHoldsAggregatesOnly: the summary's prompt has W's numbers and
// no contact's email, phone or name, no record id and nothing of the admin
// area.
func TestPromptHoldsAggregatesOnly(t *testing.T) {
	f := newFixture(t)
	ms, err := insights.Metrics(f.env.App, f.w.Id, now)
	if err != nil {
		t.Fatal(err)
	}
	p, err := insights.Prompt(ms)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"contacts_added"`, `"Spring sale"`, `"Customers"`, `"same_name_company":1`} {
		if !strings.Contains(p, want) {
			t.Errorf("prompt without %s:\n%s", want, p)
		}
	}
	AssertNoPersonalData(t, p, f.env.App)
	for _, c := range f.c {
		if strings.Contains(p, c.Id) {
			t.Errorf("prompt holds contact id %s", c.Id)
		}
	}
	if strings.Contains(p, "ai_usage") || strings.Contains(p, "gpt-4o") {
		t.Errorf("prompt holds the admin area's AI usage:\n%s", p)
	}
}

// TestNightlyFailureIsLoggedNotFatal: a measurement that fails (here: a
// table gone from under it) marks each run failed with the error, Tick
// returns and logs it, and the route's error is the run's.
func TestNightlyFailureIsLoggedNotFatal(t *testing.T) {
	f := newFixture(t)
	clock := time.Date(2026, 11, 15, 3, 0, 0, 0, time.UTC)
	svc := insights.New(f.env.App, settings.New(f.env.App), nil, func() time.Time { return clock })
	if _, err := f.env.App.DB().NewQuery("DROP TABLE ai_usage").Execute(); err != nil {
		t.Fatal(err)
	}
	svc.Tick(context.Background()) // must not panic or stop
	for _, ws := range []string{f.w.Id, f.x.Id} {
		runs, err := f.env.App.FindRecordsByFilter(insights.RunsCollection, "workspace = {:ws}", "", 0, 0, dbx.Params{"ws": ws})
		if err != nil || len(runs) != 1 {
			t.Fatalf("runs of %s: %d %v", ws, len(runs), err)
		}
		r := runs[0]
		if r.GetString("status") != "failed" || r.GetString("error_code") != "insights_failed" || !strings.Contains(r.GetString("error"), "ai_usage") {
			t.Errorf("run %v", r.FieldsData())
		}
	}
	if _, err := svc.Run(context.Background(), f.w.Id, insights.TriggerManual, insights.Who{}); err == nil || !strings.Contains(err.Error(), "ai_usage") {
		t.Errorf("manual run: %v", err)
	}
	// no finished run: the latest set is empty, not the failed one
	latest, err := svc.Latest(f.w.Id, func(string) bool { return true })
	if err != nil || latest.Run != nil {
		t.Fatalf("latest %+v %v", latest, err)
	}
}

// A seed run (the demo's measurement of every workspace) stands for the
// night it was made in; a manual run of one workspace does not.
func TestSeedRunCountsAsTheNight(t *testing.T) {
	f := newFixture(t)
	clock := time.Date(2026, 11, 15, 9, 0, 0, 0, time.UTC)
	svc := insights.New(f.env.App, settings.New(f.env.App), nil, func() time.Time { return clock })
	f.env.Create("system_settings", map[string]any{"scope": "system", "setting_key": insights.NightlyAtKey, "setting_value": "03:15"})
	due := func() bool {
		d, err := svc.NightlyDue(clock)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if _, err := svc.Run(context.Background(), f.w.Id, insights.TriggerManual, insights.Who{}); err != nil {
		t.Fatal(err)
	}
	if !due() {
		t.Fatal("a manual run of one workspace stood for the night")
	}
	if _, err := svc.Run(context.Background(), f.x.Id, insights.TriggerSeed, insights.Who{}); err != nil {
		t.Fatal(err)
	}
	if due() {
		t.Fatal("due after the seed's run of the same day")
	}
	clock = clock.AddDate(0, 0, 1)
	if !due() {
		t.Fatal("not due the next day")
	}
}

// A run a stopped server left "running" is marked failed when the next one
// starts, and is then pruned like any other old run.
func TestInterruptedRunIsMarkedFailed(t *testing.T) {
	f := newFixture(t)
	clock := time.Date(2026, 11, 15, 1, 0, 0, 0, time.UTC)
	svc := insights.New(f.env.App, settings.New(f.env.App), nil, func() time.Time { return clock })
	f.env.Create("system_settings", map[string]any{"scope": "system", "setting_key": insights.RetentionKey, "setting_value": 10})
	if _, err := svc.Run(context.Background(), f.w.Id, insights.TriggerManual, insights.Who{}); err != nil {
		t.Fatal(err)
	}
	cut := f.env.Create(insights.RunsCollection, map[string]any{"workspace": f.w.Id, "trigger": insights.TriggerNightly, "status": "running",
		"phase": "metrics", "started_at": clock.Add(-20 * 24 * time.Hour)})
	if n, err := svc.Prune(clock); err != nil || n != 0 {
		t.Fatalf("pruned %d %v: a running run is never pruned", n, err)
	}

	n, err := svc.RecoverInterrupted()
	if err != nil || n != 1 {
		t.Fatalf("recovered %d %v", n, err)
	}
	run, err := f.env.App.FindRecordById(insights.RunsCollection, cut.Id)
	if err != nil {
		t.Fatal(err)
	}
	if run.GetString("status") != "failed" || run.GetString("error_code") != "insights_interrupted" || run.GetDateTime("finished_at").IsZero() {
		t.Fatalf("interrupted run: %s %s %v", run.GetString("status"), run.GetString("error_code"), run.GetDateTime("finished_at"))
	}
	if n, err := svc.RecoverInterrupted(); err != nil || n != 0 {
		t.Fatalf("recovered again %d %v", n, err)
	}
	if n, err := svc.Prune(clock); err != nil || n != 1 {
		t.Fatalf("pruned %d %v, want the interrupted run", n, err)
	}
}
