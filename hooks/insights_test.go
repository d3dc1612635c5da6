package hooks_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/pi-crm/pi-crm/services/insights"
	"github.com/pocketbase/dbx"
)

// A run's own records are bookkeeping without entries (the manual run
// writes insights.run); written through REST (by a superuser) a run is
// audited like any record.
func init() {
	auditedRoutes["POST /api/crm/workspaces/{id}/insights/run"] = "TestInsightsSummaryThroughTheModel"
	auditCases["ai_insight_runs"] = auditCase{
		create: func(f *auditFixture) map[string]any {
			return map[string]any{"workspace": f.ws.Id, "trigger": "manual", "status": "done", "metrics": 1}
		},
		update: map[string]any{"status": "failed"},
	}
}

// the fake model's summary (mode "insights" of fakeAI)
var fakeFindings = map[string]any{
	"confidence": 0.8,
	"findings": []any{
		map[string]any{"finding": "1 group of likely duplicates", "action": "review them in Merge", "metric": "duplicates"},
		map[string]any{"finding": "2 contacts have no primary list", "action": "assign them a list in Contacts", "metric": "contacts_without_primary_list"},
		map[string]any{"finding": "1 message failed", "action": "check the provider settings", "metric": "campaign_results"},
		map[string]any{"finding": "", "action": "dropped: no finding", "metric": "x"},
	},
}

// insightsData gives W (of the AI fixture) a phone-only contact, a list and
// a campaign with results, and X data of its own with names that must not
// reach W's prompt.
func insightsData(f *aiFixture) {
	env := f.env
	c := env.Create("contacts", map[string]any{"workspace": f.ws.Id, "first_name": "Yorick", "last_name": "Phoneonly", "primary_phone": "+442079460123"})
	l := env.Create("contact_lists", map[string]any{"workspace": f.ws.Id, "name": "Regulars"})
	env.Create("contact_list_assignments", map[string]any{"contact": c.Id, "list": l.Id, "is_primary": true})
	camp := env.Create("campaigns", map[string]any{"workspace": f.ws.Id, "name": "W newsletter", "type": "email", "status": "sent", "provider": "smtp"})
	for _, st := range []string{"sent", "sent", "failed"} {
		env.Create("campaign_deliveries", map[string]any{"campaign": camp.Id, "channel": "email", "address": "someone@example.org", "status": st})
	}
	x := env.Create("contacts", map[string]any{"workspace": f.other.Id, "first_name": "Xavier", "last_name": "Otherws", "primary_email": "xavier@x.example"})
	xl := env.Create("contact_lists", map[string]any{"workspace": f.other.Id, "name": "X private list"})
	env.Create("contact_list_assignments", map[string]any{"contact": x.Id, "list": xl.Id, "is_primary": true})
	env.Create("campaigns", map[string]any{"workspace": f.other.Id, "name": "X secret campaign", "type": "email", "status": "draft"})
}

func insightTypes(res map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	items, _ := res["insights"].([]any)
	for _, it := range items {
		m, _ := it.(map[string]any)
		out[m["type"].(string)] = m
	}
	return out
}

// TestInsightsSummaryThroughTheModel: with an AI provider, a run asks the
// model (the fake OpenAI-compatible server, through the real go-openai
// client) once, with W's aggregates only — no email address, phone number or
// contact name, nothing of X, not the admins' AI usage — and stores its
// findings as the summary with the model's name, tokens and confidence; the
// call is an ai_usage row; the run is one audit entry.
func TestInsightsSummaryThroughTheModel(t *testing.T) {
	f := newAIFixture(t)
	insightsData(f)
	f.configure(t, nil)
	f.fake.setMode("insights")
	res := f.do(t, "POST", "/api/crm/workspaces/"+f.ws.Id+"/insights/run", f.admin, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("run: %d %s", res.Status, res.Body)
	}
	body := res.JSON()
	if body["ai_configured"] != true || body["can_run"] != true {
		t.Errorf("answer %v", body)
	}
	run, _ := body["run"].(map[string]any)
	if run["status"] != "done" || run["summary"] != insights.SummaryOK || run["trigger"] != "manual" {
		t.Fatalf("run %v", run)
	}
	types := insightTypes(body)
	sum := types[insights.TypeSummary]
	if sum == nil {
		t.Fatalf("no summary in %v", body)
	}
	if sum["model"] != "fake-model-served" || sum["tokens"] != 150.0 || sum["confidence"] != 0.8 || sum["value"] != 3.0 || sum["area"] != "summary" {
		t.Errorf("summary %v", sum)
	}
	if want := "• 1 group of likely duplicates → review them in Merge\n• 2 contacts have no primary list → assign them a list in Contacts\n• 1 message failed → check the provider settings"; sum["content"] != want {
		t.Errorf("summary content %q", sum["content"])
	}
	if types[insights.TypeAIUsage] == nil || types[insights.TypeCampaignResults] == nil {
		t.Errorf("an admin's answer lacks metrics: %v", types)
	}

	reqs := f.fake.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d model calls, want 1", len(reqs))
	}
	msgs, _ := reqs[0]["messages"].([]any)
	var prompt string
	for _, m := range msgs {
		mm, _ := m.(map[string]any)
		prompt += mm["content"].(string) + "\n"
	}
	// W's aggregates are there
	for _, want := range []string{`"W newsletter"`, `"Regulars"`, `"contacts_without_email"`, `"failed":1`} {
		if !strings.Contains(prompt, want) {
			t.Errorf("prompt lacks %s:\n%s", want, prompt)
		}
	}
	// and nothing personal, nothing of X, not the AI usage
	if m := regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.]+`).FindString(prompt); m != "" {
		t.Errorf("an email address in the prompt: %q", m)
	}
	if m := regexp.MustCompile(`\+\d{7,15}`).FindString(prompt); m != "" {
		t.Errorf("a phone number in the prompt: %q", m)
	}
	for _, leak := range []string{"zelda", "Zelda", "Secretperson", "Yorick", "Phoneonly", "2079460123", "Hushhush", "Xavier", "X private list",
		"X secret campaign", "ai_usage", f.other.Id} {
		if strings.Contains(prompt, leak) {
			t.Errorf("the prompt holds %q:\n%s", leak, prompt)
		}
	}

	u := f.usage(t)
	if len(u) != 1 || u[0].GetString("purpose") != "insights" || u[0].GetString("status") != "ok" || u[0].GetString("user") != run["user"] {
		t.Errorf("usage %v", u)
	}
	n, err := f.env.App.CountRecords("audit_logs", dbx.HashExp{"action": insights.ActionRun, "workspace": f.ws.Id, "entity_id": run["id"]})
	if err != nil || n != 1 {
		t.Errorf("audit entries of the run: %d %v", n, err)
	}

	// the latest set is what GET answers
	got := f.do(t, "GET", "/api/crm/workspaces/"+f.ws.Id+"/insights", f.viewer, nil)
	if got.Status != http.StatusOK {
		t.Fatalf("GET %d %s", got.Status, got.Body)
	}
	vr, _ := got.JSON()["run"].(map[string]any)
	if vr["id"] != run["id"] || insightTypes(got.JSON())[insights.TypeSummary] == nil {
		t.Errorf("viewer's latest %s", got.Body)
	}
	f.assertNoKeyAnywhere(t)
}

// TestInsightsWithoutAIOrWithAFailingModel: no provider: the run succeeds
// with the metrics alone and says the summary needs a model; a model that
// fails leaves the metrics stored and the run saying why.
func TestInsightsWithoutAIOrWithAFailingModel(t *testing.T) {
	f := newAIFixture(t)
	insightsData(f)
	res := f.do(t, "POST", "/api/crm/workspaces/"+f.ws.Id+"/insights/run", f.owner, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("run: %d %s", res.Status, res.Body)
	}
	run, _ := res.JSON()["run"].(map[string]any)
	if run["status"] != "done" || run["summary"] != insights.SummaryNotConfigured || res.JSON()["ai_configured"] != false {
		t.Fatalf("run %v", res.JSON())
	}
	types := insightTypes(res.JSON())
	if types[insights.TypeSummary] != nil || len(types) != len(insights.Types)-1 {
		t.Errorf("types %v", types)
	}
	if len(f.fake.requests()) != 0 || len(f.usage(t)) != 0 {
		t.Error("a model call without a provider")
	}

	f.configure(t, nil)
	f.fake.setMode("error500")
	res = f.do(t, "POST", "/api/crm/workspaces/"+f.ws.Id+"/insights/run", f.owner, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("run: %d %s", res.Status, res.Body)
	}
	run, _ = res.JSON()["run"].(map[string]any)
	if run["status"] != "done" || run["summary"] != insights.SummaryError || run["error_code"] != "ai_upstream_error" {
		t.Fatalf("run %v", run)
	}
	if len(insightTypes(res.JSON())) != len(insights.Types)-1 {
		t.Error("metrics missing after a failed summary")
	}
	if u := f.usage(t); len(u) != 1 || u[0].GetString("status") != "error" {
		t.Errorf("usage %v", u)
	}
}

// TestInsightsAccess: who runs and who reads, by role, key scope and
// workspace, through the route and the collection API alike.
func TestInsightsAccess(t *testing.T) {
	f := newAIFixture(t)
	insightsData(f)
	run := func(token string) int {
		return f.do(t, "POST", "/api/crm/workspaces/"+f.ws.Id+"/insights/run", token, nil).Status
	}
	for _, tok := range []string{f.editor, f.viewer} {
		wantCode(t, f.do(t, "POST", "/api/crm/workspaces/"+f.ws.Id+"/insights/run", tok, nil), http.StatusForbidden, "insights_run_forbidden")
	}
	wantCode(t, f.do(t, "POST", "/api/crm/workspaces/"+f.ws.Id+"/insights/run", f.outsider, nil), http.StatusNotFound, "workspace_not_found")
	if s := run(f.owner); s != http.StatusOK {
		t.Fatalf("owner run %d", s)
	}
	// X's own run, which nobody of W reads
	if res := f.do(t, "POST", "/api/crm/workspaces/"+f.other.Id+"/insights/run", f.outsider, nil); res.Status != http.StatusOK {
		t.Fatalf("X run %d %s", res.Status, res.Body)
	}
	all := len(insights.Types) - 1 // no summary: no AI here

	get := func(token string, headers map[string]string, ws string) (int, map[string]map[string]any, map[string]any) {
		res := f.env.DoWithHeaders("GET", "/api/crm/workspaces/"+ws+"/insights", token, headers, nil)
		return res.Status, insightTypes(res.JSON()), res.JSON()
	}
	list := func(token string, headers map[string]string, collection string) []map[string]any {
		res := f.env.DoWithHeaders("GET", "/api/collections/"+collection+"/records?perPage=500", token, headers, nil)
		if res.Status != http.StatusOK {
			t.Fatalf("list %s: %d %s", collection, res.Status, res.Body)
		}
		var out struct {
			Items []map[string]any `json:"items"`
		}
		_ = json.Unmarshal(res.Body, &out)
		return out.Items
	}
	areas := func(items []map[string]any) map[string]int {
		out := map[string]int{}
		for _, it := range items {
			if it["workspace"] != f.ws.Id {
				out["other workspace"]++
				continue
			}
			out[it["area"].(string)]++
		}
		return out
	}

	// roles: the AI usage for owners and admins only
	for name, c := range map[string]struct {
		tok     string
		n       int
		adminIn bool
		canRun  bool
	}{"owner": {f.owner, all, true, true}, "admin": {f.admin, all, true, true}, "editor": {f.editor, all - 1, false, false}, "viewer": {f.viewer, all - 1, false, false}} {
		st, types, body := get(c.tok, nil, f.ws.Id)
		if st != http.StatusOK || len(types) != c.n || (types[insights.TypeAIUsage] != nil) != c.adminIn || body["can_run"] != c.canRun {
			t.Errorf("%s GET: %d, %d insights, ai usage %v, can_run %v", name, st, len(types), types[insights.TypeAIUsage] != nil, body["can_run"])
		}
		a := areas(list(c.tok, nil, "ai_insights"))
		if a["other workspace"] != 0 || (a["admin"] > 0) != c.adminIn || a["contacts"] != 9 || a["campaigns"] != 2 {
			t.Errorf("%s lists ai_insights: %v", name, a)
		}
		if runs := list(c.tok, nil, "ai_insight_runs"); len(runs) != 1 || runs[0]["workspace"] != f.ws.Id {
			t.Errorf("%s lists %d runs", name, len(runs))
		}
	}
	// the outsider: X's only
	if st, _, _ := get(f.outsider, nil, f.ws.Id); st != http.StatusNotFound {
		t.Errorf("outsider GET W: %d", st)
	}
	if a := areas(list(f.outsider, nil, "ai_insights")); a["contacts"]+a["campaigns"]+a["admin"] != 0 || a["other workspace"] != all {
		t.Errorf("outsider lists %v", a)
	}
	if runs := list(f.outsider, nil, "ai_insight_runs"); len(runs) != 1 || runs[0]["workspace"] != f.other.Id {
		t.Errorf("outsider lists runs %v", runs)
	}
	// nobody writes through the collection API
	for _, tok := range []string{f.owner, f.admin} {
		res := f.do(t, "POST", "/api/collections/ai_insight_runs/records", tok, map[string]any{"workspace": f.ws.Id, "trigger": "manual", "status": "done"})
		if res.Status < 400 {
			t.Errorf("run created through the API: %d", res.Status)
		}
		res = f.do(t, "POST", "/api/collections/ai_insights/records", tok, map[string]any{"workspace": f.ws.Id, "type": "summary", "content": "forged", "area": "summary"})
		if res.Status < 400 {
			t.Errorf("insight created through the API: %d", res.Status)
		}
	}

	// keys of the owner: the scopes narrow what is read
	mk := func(ws string, scopes ...string) map[string]string {
		body := map[string]any{"scopes": scopes}
		if ws != "" {
			body["workspace"] = ws
		}
		res := f.do(t, "POST", "/api/crm/api-keys", f.owner, body)
		if res.Status != http.StatusOK {
			t.Fatalf("key: %d %s", res.Status, res.Body)
		}
		return map[string]string{"X-Api-Key": res.JSON()["key"].(string)}
	}
	contactsOnly := mk("", "contacts:read")
	st, types, body := get("", contactsOnly, f.ws.Id)
	if st != http.StatusOK || types[insights.TypeCampaignResults] != nil || types[insights.TypeProviderResults] != nil || types[insights.TypeAIUsage] != nil ||
		types[insights.TypeContactsAdded] == nil || body["can_run"] != false {
		t.Errorf("contacts:read key GET: %d %v", st, types)
	}
	if a := areas(list("", contactsOnly, "ai_insights")); a["campaigns"] != 0 || a["admin"] != 0 || a["contacts"] != 9 {
		t.Errorf("contacts:read key lists %v", a)
	}
	both := mk("", "contacts:read", "campaigns:read")
	if _, types, _ := get("", both, f.ws.Id); types[insights.TypeCampaignResults] == nil || types[insights.TypeAIUsage] != nil {
		t.Errorf("contacts+campaigns key GET: %v", types)
	}
	campaignsOnly := mk("", "campaigns:read")
	if res := f.env.DoWithHeaders("GET", "/api/crm/workspaces/"+f.ws.Id+"/insights", "", campaignsOnly, nil); res.Status != http.StatusForbidden || res.Code() != "api_key_scope_missing" {
		t.Errorf("campaigns:read key GET: %d %s", res.Status, res.Body)
	}
	wantCode(t, f.env.DoWithHeaders("POST", "/api/crm/workspaces/"+f.ws.Id+"/insights/run", "", both, nil), http.StatusForbidden, "api_key_scope_missing")
	admin := mk("", "admin")
	if _, types, body := get("", admin, f.ws.Id); len(types) != all || body["can_run"] != true {
		t.Errorf("admin key GET: %d, %v", len(types), body["can_run"])
	}
	if res := f.env.DoWithHeaders("POST", "/api/crm/workspaces/"+f.ws.Id+"/insights/run", "", admin, nil); res.Status != http.StatusOK {
		t.Errorf("admin key run: %d %s", res.Status, res.Body)
	}
	// a key restricted to another workspace of the owner's reaches none of W
	owner, err := f.env.App.FindRecordById("users", f.ownerID)
	if err != nil {
		t.Fatal(err)
	}
	w2 := f.env.Workspace("W2", owner, nil)
	elsewhere := mk(w2.Id, "admin")
	if st, _, _ := get("", elsewhere, f.ws.Id); st != http.StatusNotFound {
		t.Errorf("a key of W2 GETs W: %d", st)
	}
	wantCode(t, f.env.DoWithHeaders("POST", "/api/crm/workspaces/"+f.ws.Id+"/insights/run", "", elsewhere, nil), http.StatusNotFound, "workspace_not_found")
	if a := areas(list("", elsewhere, "ai_insights")); len(a) != 0 {
		t.Errorf("a key of W2 lists %v", a)
	}
	if runs := list("", elsewhere, "ai_insight_runs"); len(runs) != 0 {
		t.Errorf("a key of W2 lists %d runs", len(runs))
	}
}
