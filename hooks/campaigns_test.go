package hooks_test

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/hooks"
	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/campaigns"
	"github.com/pi-crm/pi-crm/services/senders/smtp/smtptest"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// The collections of campaign sending: written by the server (the engine,
// the outbox sender), and audited like any other when a superuser writes
// them through the API.
func init() {
	auditCases["outbox_messages"] = auditCase{
		create: func(f *auditFixture) map[string]any {
			return map[string]any{"workspace": f.ws.Id, "to": fmt.Sprintf("o%d@example.org", f.next()), "subject": "S", "text": "T"}
		},
		update: map[string]any{"subject": "S2"},
	}
	auditCases["provider_daily_counts"] = auditCase{
		create: func(f *auditFixture) map[string]any {
			return map[string]any{"workspace": f.ws.Id, "provider": "outbox", "day": fmt.Sprintf("2026-02-%02d", 1+f.next()%28), "count": 1}
		},
		update: map[string]any{"count": 2},
	}
}

func init() {
	for _, a := range []string{"submit", "approve", "reject", "schedule", "send", "pause", "resume", "cancel"} {
		auditedRoutes["POST /api/crm/campaigns/{id}/"+a] = "TestCampaignFourEyes"
	}
}

const campaignsURL = "/api/collections/campaigns/records"

// campaignWorld: W with an admin besides the owner, a template, a list, five
// contacts (one suppressed, one without email, two in the list).
type campaignWorld struct {
	templateWorld
	admin    *core.Record
	list     string
	tpl      string
	inList   []string
	suppress string
}

func newCampaignWorld(t *testing.T) campaignWorld {
	tw := newTemplateWorld(t)
	w := campaignWorld{templateWorld: tw}
	w.admin, w.tok["admin"] = w.env.User("admin@example.com")
	w.env.Create("workspace_members", map[string]any{"workspace": w.w.Id, "user": w.admin.Id, "role": "admin"})
	w.tpl = w.template(t, "editor", map[string]any{"name": "Spring", "channel": "email", "subject": "Hi {{first_name}}",
		"body_html": "<p>{{custom.tier | default \"friend\"}}</p>"})["id"].(string)
	w.list = mustStatus(t, w.env.Do(http.MethodPost, listsURL, w.tok["editor"], map[string]any{"workspace": w.w.Id, "name": "VIPs"}), 200, "")["id"].(string)
	for _, id := range []string{w.ada, w.bob} {
		mustStatus(t, w.env.Do(http.MethodPost, assignmentsURL, w.tok["editor"], map[string]any{"contact": id, "list": w.list}), 200, "")
	}
	w.inList = []string{w.ada, w.bob}
	w.post(t, "editor", map[string]any{"workspace": w.w.Id, "first_name": "Nomail", "primary_phone": "+14155550199"})
	w.suppress = "sup@example.com"
	w.post(t, "editor", map[string]any{"workspace": w.w.Id, "first_name": "Sup", "primary_email": w.suppress})
	w.env.Create("suppressions", map[string]any{"workspace": w.w.Id, "channel": "email", "address": w.suppress, "reason": "unsubscribe"})
	return w
}

func (w campaignWorld) campaign(t *testing.T, who string, fields map[string]any) string {
	t.Helper()
	body := map[string]any{"workspace": w.w.Id, "name": fmt.Sprintf("C%d", len(fields)), "type": "email", "template": w.tpl}
	for k, v := range fields {
		body[k] = v
	}
	return mustStatus(t, w.env.Do(http.MethodPost, campaignsURL, w.tok[who], body), 200, "")["id"].(string)
}

func (w campaignWorld) act(who, id, action string, body any) testutil.Response {
	return w.env.Do(http.MethodPost, "/api/crm/campaigns/"+id+"/"+action, w.tok[who], body)
}

func (w campaignWorld) status(t *testing.T, id string) *core.Record {
	t.Helper()
	rec, err := w.env.App.FindRecordById("campaigns", id)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// Every status × action: the table's moves are allowed, every other one is
// 409 campaign_invalid_transition naming the status and what it allows.
func TestCampaignTransitionTable(t *testing.T) {
	w := newCampaignWorld(t)
	// the moves themselves, without the engine finishing the send between
	// them (a stopped engine ignores kicks)
	hooks.SendingEngine(w.env.App).Stop()
	allowed := map[string]map[string]bool{
		"draft": {"submit": true}, "pending_approval": {"approve": true, "reject": true},
		"approved": {"schedule": true, "send": true, "cancel": true}, "scheduled": {"cancel": true},
		"sending": {"pause": true}, "paused": {"resume": true, "cancel": true},
	}
	for _, status := range []string{"draft", "pending_approval", "approved", "rejected", "scheduled", "sending", "paused", "sent", "failed", "cancelled"} {
		for _, action := range []string{"submit", "approve", "reject", "schedule", "send", "pause", "resume", "cancel"} {
			if allowed[status][action] {
				continue
			}
			c := w.env.Create("campaigns", map[string]any{"workspace": w.w.Id, "name": status + action, "type": "email", "status": status, "template": w.tpl})
			res := w.act("owner", c.Id, action, map[string]any{"at": "2099-01-01T10:00:00Z", "timezone": "Europe/London"})
			d := dataOf(mustStatus(t, res, 409, "campaign_invalid_transition"))
			if d["status"] != status {
				t.Errorf("%s/%s: data %v", status, action, d)
			}
		}
	}
	// the allowed ones, walked through below and in TestCampaignFourEyes
	id := w.campaign(t, "editor", nil)
	mustStatus(t, w.act("editor", id, "submit", nil), 200, "")
	mustStatus(t, w.act("owner", id, "approve", nil), 200, "")
	mustStatus(t, w.act("editor", id, "send", nil), 200, "")
	mustStatus(t, w.act("editor", id, "pause", nil), 200, "")
	mustStatus(t, w.act("editor", id, "resume", nil), 200, "")
	mustStatus(t, w.act("editor", id, "pause", nil), 200, "")
	if rec := mustStatus(t, w.act("editor", id, "cancel", nil), 200, ""); rec["status"] != "cancelled" || rec["finished_at"] == "" {
		t.Fatalf("cancelled: %v", rec)
	}
	mustStatus(t, w.act("editor", id, "resume", nil), 409, "campaign_invalid_transition")
}

func TestCampaignFourEyes(t *testing.T) {
	w := newCampaignWorld(t)
	id := w.campaign(t, "editor", map[string]any{"segment": map[string]any{"lists_any": []string{w.list}}})
	mustStatus(t, w.act("viewer", id, "submit", nil), 403, "campaign_forbidden")
	mustStatus(t, w.act("outsider", id, "submit", nil), 404, "campaign_not_found")
	sub := mustStatus(t, w.act("editor", id, "submit", nil), 200, "")
	if sub["status"] != "pending_approval" || sub["snapshot_hash"] == "" || sub["submitted_by"] != w.editor.Id {
		t.Fatalf("submitted: %v", sub)
	}
	// editors and viewers do not approve; an admin other than the submitter does
	mustStatus(t, w.act("editor", id, "approve", nil), 403, "approval_role")
	mustStatus(t, w.act("viewer", id, "approve", nil), 403, "approval_role")
	// the template changes after submission: the snapshot does not
	mustStatus(t, w.env.Do(http.MethodPatch, templatesURL+"/"+w.tpl, w.tok["editor"], map[string]any{"subject": "Changed {{first_name}}"}), 200, "")
	appr := mustStatus(t, w.act("admin", id, "approve", map[string]any{"notes": "fine"}), 200, "")
	if appr["status"] != "approved" || appr["approved_by"] != w.admin.Id {
		t.Fatalf("approved: %v", appr)
	}
	rec := w.status(t, id)
	snap, err := campaigns.LoadSnapshot(rec)
	if err != nil || snap.Template.Subject != "Hi {{first_name}}" || len(snap.Segment.ListsAny) != 1 || snap.Provider != "outbox" {
		t.Fatalf("snapshot %+v %v", snap, err)
	}
	decisions, _ := w.env.App.FindAllRecords("campaign_approvals", dbx.HashExp{"campaign": id})
	if len(decisions) != 1 || decisions[0].GetString("status") != "approved" || decisions[0].GetString("reviewer") != w.admin.Id ||
		decisions[0].GetString("notes") != "fine" || decisions[0].GetString("snapshot_hash") != rec.GetString("snapshot_hash") {
		t.Fatalf("decisions: %v", decisions)
	}
	// an edit after approval: back to draft, the approval voided
	mustStatus(t, w.env.Do(http.MethodPatch, campaignsURL+"/"+id, w.tok["editor"], map[string]any{"name": "Renamed"}), 200, "")
	rec = w.status(t, id)
	if rec.GetString("status") != "draft" || rec.GetString("snapshot_hash") != "" {
		t.Fatalf("after edit: %s %q", rec.GetString("status"), rec.GetString("snapshot_hash"))
	}
	if d, _ := w.env.App.FindRecordById("campaign_approvals", decisions[0].Id); d.GetString("status") != "voided" {
		t.Fatalf("approval %s", d.GetString("status"))
	}
	// server fields cannot be written through the API
	res := w.env.Do(http.MethodPatch, campaignsURL+"/"+id, w.tok["owner"], map[string]any{"snapshot_hash": "x", "approved_by": w.owner.Id})
	if res.Status == 200 {
		t.Fatalf("server fields written: %s", res.Body)
	}
	// an admin's own submission: not without the workspace's setting
	mustStatus(t, w.act("admin", id, "submit", nil), 200, "")
	mustStatus(t, w.act("admin", id, "approve", nil), 403, "approval_self")
	w.env.Create("system_settings", map[string]any{"scope": "workspace", "scope_id": w.w.Id, "setting_key": campaigns.SelfApprovalKey, "setting_value": true})
	mustStatus(t, w.act("admin", id, "approve", nil), 200, "")

	// every action wrote its audit entry, by its actor
	var actions []string
	for _, e := range entriesFor(t, w.env.App, "campaigns", id) {
		if a := e.GetString("action"); strings.HasPrefix(a, "campaign.") {
			actions = append(actions, a+":"+e.GetString("user"))
		}
	}
	want := []string{"campaign.submit:" + w.editor.Id, "campaign.approve:" + w.admin.Id, "campaign.submit:" + w.admin.Id, "campaign.approve:" + w.admin.Id}
	if strings.Join(actions, ",") != strings.Join(want, ",") {
		t.Fatalf("audit: %v, want %v", actions, want)
	}
	// a status-only edit through the API is an edit: back to draft with the
	// snapshot gone and the approval void (not a draft that keeps them)
	id3 := w.campaign(t, "editor", nil)
	mustStatus(t, w.act("editor", id3, "submit", nil), 200, "")
	first := w.status(t, id3).GetString("snapshot_hash")
	mustStatus(t, w.act("owner", id3, "approve", map[string]any{"snapshot_hash": first}), 200, "")
	mustStatus(t, w.env.Do(http.MethodPatch, campaignsURL+"/"+id3, w.tok["editor"], map[string]any{"status": "draft"}), 200, "")
	if rec := w.status(t, id3); rec.GetString("status") != "draft" || rec.GetString("snapshot_hash") != "" || rec.GetString("approved_by") != "" {
		t.Fatalf("status-only edit kept the approval: %s %q %q", rec.GetString("status"), rec.GetString("snapshot_hash"), rec.GetString("approved_by"))
	}
	if n := countRecords(t, w.env.App, "campaign_approvals", dbx.HashExp{"campaign": id3, "status": "approved"}); n != 0 {
		t.Fatalf("%d approvals outlived the edit", n)
	}
	// the reviewer decides on the snapshot it saw: a resubmission meanwhile
	// makes its decision stale; one pending request per campaign
	mustStatus(t, w.act("editor", id3, "submit", nil), 200, "")
	seen := w.status(t, id3).GetString("snapshot_hash")
	mustStatus(t, w.env.Do(http.MethodPatch, campaignsURL+"/"+id3, w.tok["editor"], map[string]any{"segment": map[string]any{"lists_any": []string{w.list}}}), 200, "")
	mustStatus(t, w.act("editor", id3, "submit", nil), 200, "")
	mustStatus(t, w.act("owner", id3, "approve", map[string]any{"snapshot_hash": seen}), 409, "approval_stale")
	if n := countRecords(t, w.env.App, "campaign_approvals", dbx.HashExp{"campaign": id3, "status": "pending"}); n != 1 {
		t.Fatalf("%d pending approvals", n)
	}
	mustStatus(t, w.act("owner", id3, "approve", map[string]any{"snapshot_hash": w.status(t, id3).GetString("snapshot_hash")}), 200, "")

	// reject records the decision
	id2 := w.campaign(t, "editor", nil)
	mustStatus(t, w.act("editor", id2, "submit", nil), 200, "")
	if r := mustStatus(t, w.act("owner", id2, "reject", map[string]any{"notes": "not now"}), 200, ""); r["status"] != "rejected" {
		t.Fatalf("rejected: %v", r)
	}
	// not ready: no template, another channel's template
	noTpl := w.campaign(t, "editor", map[string]any{"template": ""})
	mustStatus(t, w.act("editor", noTpl, "submit", nil), 400, "campaign_not_ready")
	smsTpl := w.template(t, "editor", map[string]any{"name": "S", "channel": "sms", "body_text": "hi"})["id"].(string)
	wrong := w.campaign(t, "editor", map[string]any{"template": smsTpl})
	mustStatus(t, w.act("editor", wrong, "submit", nil), 400, "campaign_not_ready")
}

func TestCampaignSchedule(t *testing.T) {
	w := newCampaignWorld(t)
	id := w.campaign(t, "editor", nil)
	mustStatus(t, w.act("editor", id, "submit", nil), 200, "")
	mustStatus(t, w.act("owner", id, "approve", nil), 200, "")
	mustStatus(t, w.act("editor", id, "schedule", map[string]any{"at": "2001-01-01T10:00:00Z", "timezone": "Europe/London"}), 400, "schedule_invalid")
	mustStatus(t, w.act("editor", id, "schedule", map[string]any{"at": "2099-01-01T10:00:00Z", "timezone": "Mars/Olympus"}), 400, "schedule_invalid")
	mustStatus(t, w.act("editor", id, "schedule", map[string]any{"at": "soon", "timezone": "Europe/London"}), 400, "schedule_invalid")
	// a local time read in the zone given
	rec := mustStatus(t, w.act("editor", id, "schedule", map[string]any{"at": "2099-07-01T09:30", "timezone": "Europe/Berlin"}), 200, "")
	if rec["status"] != "scheduled" || rec["scheduled_at"] != "2099-07-01 07:30:00.000Z" || rec["timezone"] != "Europe/Berlin" {
		t.Fatalf("scheduled: %v", rec)
	}
	svc := campaigns.NewService(w.env.App, time.Now, nil, nil)
	if started, err := svc.StartDue(time.Date(2099, 7, 1, 7, 29, 0, 0, time.UTC)); err != nil || len(started) != 0 {
		t.Fatalf("early: %v %v", started, err)
	}
	started, err := svc.StartDue(time.Date(2099, 7, 1, 7, 30, 0, 0, time.UTC))
	if err != nil || len(started) != 1 || started[0] != id || w.status(t, id).GetString("status") != "sending" {
		t.Fatalf("due: %v %v", started, err)
	}
}

// The audience is the search route's contacts for the same conditions, with
// suppressed and address-less contacts counted apart.
func TestCampaignAudience(t *testing.T) {
	w := newCampaignWorld(t)
	whole := w.campaign(t, "editor", nil)
	a := mustStatus(t, w.env.Do(http.MethodGet, "/api/crm/campaigns/"+whole+"/audience?sample=2", w.tok["viewer"], nil), 200, "")
	if a["count"] != float64(2) || a["suppressed"] != float64(1) || a["missing_address"] != float64(1) || len(a["sample"].([]any)) != 2 {
		t.Fatalf("whole workspace: %v", a)
	}
	gold := w.campaign(t, "editor", map[string]any{"segment": map[string]any{"lists_any": []string{w.list},
		"conditions": []map[string]any{{"field": "custom.tier", "op": "eq", "value": "gold"}}}})
	a = mustStatus(t, w.env.Do(http.MethodGet, "/api/crm/campaigns/"+gold+"/audience", w.tok["viewer"], nil), 200, "")
	search := mustStatus(t, w.env.Do(http.MethodGet, "/api/crm/contacts/search?workspace="+w.w.Id+"&list="+w.list+"&cf.tier=eq:gold", w.tok["viewer"], nil), 200, "")
	sample := a["sample"].([]any)
	items := search["items"].([]any)
	if a["count"] != float64(1) || len(sample) != 1 || len(items) != 1 || sample[0].(map[string]any)["id"] != w.ada || items[0].(map[string]any)["id"] != w.ada {
		t.Fatalf("gold: %v vs search %v", a, search)
	}
	excluded := w.campaign(t, "editor", map[string]any{"segment": map[string]any{"exclude_lists": []string{w.list}}})
	a = mustStatus(t, w.env.Do(http.MethodGet, "/api/crm/campaigns/"+excluded+"/audience", w.tok["viewer"], nil), 200, "")
	if a["count"] != float64(0) || a["suppressed"] != float64(1) || a["missing_address"] != float64(1) {
		t.Fatalf("excluded: %v", a)
	}
	// a segment with another workspace's list, or an unknown field, is refused at save
	xList := mustStatus(t, w.env.Do(http.MethodPost, listsURL, w.tok["outsider"], map[string]any{"workspace": w.x.Id, "name": "X"}), 200, "")["id"]
	res := w.env.Do(http.MethodPost, campaignsURL, w.tok["editor"], map[string]any{"workspace": w.w.Id, "name": "bad", "type": "email",
		"segment": map[string]any{"lists_any": []any{xList}}})
	mustStatus(t, res, 400, "segment_invalid")
	res = w.env.Do(http.MethodPost, campaignsURL, w.tok["editor"], map[string]any{"workspace": w.w.Id, "name": "bad2", "type": "email",
		"segment": map[string]any{"conditions": []map[string]any{{"field": "custom.nope", "op": "eq", "value": "x"}}}})
	mustStatus(t, res, 400, "segment_invalid")
	mustStatus(t, w.env.Do(http.MethodGet, "/api/crm/campaigns/"+whole+"/audience", w.tok["outsider"], nil), 404, "campaign_not_found")
}

// A campaign through the workspace's SMTP provider: the engine opens it
// through services/providers and a real SMTP server (in the test) receives
// one message per recipient, with the unsubscribe headers; skipped contacts
// get none.
func TestCampaignThroughSMTP(t *testing.T) {
	w := newCampaignWorld(t)
	srv := smtptest.Start(t, smtptest.Options{TLS: "none"})
	mustStatus(t, w.env.Do(http.MethodPut, "/api/crm/workspaces/"+w.w.Id+"/providers/smtp", w.tok["owner"],
		map[string]any{"host": srv.Host, "port": srv.Port, "tls": "none", "from": "shop@example.com"}), 200, "")
	id := w.campaign(t, "editor", map[string]any{"provider": "smtp"})
	mustStatus(t, w.act("editor", id, "submit", nil), 200, "")
	mustStatus(t, w.act("owner", id, "approve", nil), 200, "")
	mustStatus(t, w.act("editor", id, "send", nil), 200, "")
	waitEngine(t, w)
	rec := w.status(t, id)
	if rec.GetString("status") != "sent" {
		t.Fatalf("status %s (%s)", rec.GetString("status"), rec.GetString("status_reason"))
	}
	msgs := srv.Messages()
	var to []string
	for _, m := range msgs {
		to = append(to, strings.Join(m.To, ","))
		data := string(m.Data)
		if !strings.Contains(data, "List-Unsubscribe:") || !strings.Contains(data, "List-Unsubscribe-Post: List-Unsubscribe=One-Click") || m.From != "shop@example.com" {
			t.Errorf("message to %v lacks its headers or envelope: %.400s", m.To, data)
		}
	}
	sort.Strings(to)
	if strings.Join(to, " ") != "ada@example.com bob@example.com" {
		t.Fatalf("received for %v", to)
	}
	if n := w.n(t, "SELECT count(*) FROM campaign_deliveries WHERE campaign = {:id} AND status = 'skipped'", id); n != 2 {
		t.Fatalf("skipped %d", n)
	}
	// the List-Unsubscribe link is a signed link under the Application URL;
	// its one-click POST suppresses the recipient
	data := string(msgs[0].Data)
	start := strings.Index(data, "List-Unsubscribe: <")
	if start < 0 {
		t.Fatal("no List-Unsubscribe header")
	}
	link := data[start+len("List-Unsubscribe: <"):]
	link = link[:strings.Index(link, ">")]
	base := strings.TrimRight(w.env.App.Settings().Meta.AppURL, "/")
	if !strings.HasPrefix(link, base+"/u/") {
		t.Fatalf("link %q is not under %s/u/", link, base)
	}
	res := w.env.DoWithHeaders(http.MethodPost, strings.TrimPrefix(link, base), "", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, nil)
	if res.Status != 200 {
		t.Fatalf("one-click unsubscribe: %d %s", res.Status, res.Body)
	}
	to0 := msgs[0].To[0]
	if n := countRecords(t, w.env.App, "suppressions", dbx.HashExp{"workspace": w.w.Id, "channel": "email", "address": to0}); n != 1 {
		t.Fatalf("suppressions of %s: %d", to0, n)
	}
}

// A campaign the engine is working on (sending, paused, scheduled) cannot
// be deleted — it would take its ledger with it: a workspace admin gets the
// rule's 404, the superuser (the dashboard, which bypasses rules) a 409
// campaign_delete_active naming the status; nothing is deleted. A draft, a
// cancelled or a sent campaign is deleted as before.
func TestActiveCampaignCannotBeDeleted(t *testing.T) {
	w := newCampaignWorld(t)
	su := w.env.SuperuserToken()
	for _, st := range []string{"sending", "paused", "scheduled"} {
		rec := w.env.Create("campaigns", map[string]any{"workspace": w.w.Id, "name": "Active " + st, "type": "email", "status": st})
		mustStatus(t, w.env.Do(http.MethodDelete, campaignsURL+"/"+rec.Id, w.tok["admin"], nil), 404, "")
		res := w.env.Do(http.MethodDelete, campaignsURL+"/"+rec.Id, su, nil)
		mustStatus(t, res, 409, "campaign_delete_active")
		if !strings.Contains(string(res.Body), st) {
			t.Errorf("%s: the refusal does not name the status: %s", st, res.Body)
		}
		if _, err := w.env.App.FindRecordById("campaigns", rec.Id); err != nil {
			t.Errorf("%s campaign deleted: %v", st, err)
		}
	}
	for _, st := range []string{"draft", "cancelled", "sent"} {
		rec := w.env.Create("campaigns", map[string]any{"workspace": w.w.Id, "name": "Done " + st, "type": "email", "status": st})
		if res := w.env.Do(http.MethodDelete, campaignsURL+"/"+rec.Id, w.tok["admin"], nil); res.Status != 204 {
			t.Errorf("%s: admin delete %d %s", st, res.Status, res.Body)
		}
	}
}
