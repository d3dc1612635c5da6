package migrations_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pocketbase/pocketbase/core"
)

// Writes that would tie a record of W to a record of another workspace fail,
// even for a user who may write in both workspaces (the editor is an admin of Y).
func TestCrossWorkspaceReferencesRefused(t *testing.T) {
	f := newFixture(t)
	tok := f.tokens[pEditor]
	y, err := f.env.App.FindFirstRecordByData("workspaces", "name", "Y")
	if err != nil {
		t.Fatal(err)
	}
	cW, cY := f.contact(f.w), f.contact(y)
	listY := f.list(y)
	tplY := f.env.Create("templates", map[string]any{"workspace": y.Id, "name": "TY", "channel": "email"})
	cfW := f.env.Create("custom_fields", map[string]any{"contact": cW.Id, "field_name": "tier", "field_value": "a"})

	attempts := []struct {
		name, method, path string
		body               map[string]any
	}{
		{"assignment to another workspace's list", "POST", "/api/collections/contact_list_assignments/records", map[string]any{"contact": cW.Id, "list": listY.Id}},
		{"log in W about a contact of Y", "POST", "/api/collections/communication_logs/records", map[string]any{"workspace": f.w.Id, "contact": cY.Id, "type": "note", "content": "x"}},
		{"campaign in W with a template of Y", "POST", "/api/collections/campaigns/records", map[string]any{"workspace": f.w.Id, "name": "c", "type": "email", "template": tplY.Id}},
		{"move a contact from W to Y", "PATCH", "/api/collections/contacts/records/" + cW.Id, map[string]any{"workspace": y.Id}},
		{"move a custom value to a contact of Y", "PATCH", "/api/collections/custom_fields/records/" + cfW.Id, map[string]any{"contact": cY.Id}},
		{"system log entry written by a user", "POST", "/api/collections/communication_logs/records", map[string]any{"workspace": f.w.Id, "contact": cW.Id, "type": "system", "content": "forged"}},
		{"campaign created as already approved", "POST", "/api/collections/campaigns/records", map[string]any{"workspace": f.w.Id, "name": "c2", "type": "email", "status": "approved"}},
	}
	for _, a := range attempts {
		res := f.env.Do(a.method, a.path, tok, a.body)
		if res.Status == http.StatusOK {
			t.Errorf("%s: allowed (%s)", a.name, res.Body)
		}
	}
	if fresh, _ := f.env.App.FindRecordById("contacts", cW.Id); fresh.GetString("workspace") != f.w.Id {
		t.Error("contact moved")
	}
}

// The owner's membership is made with the workspace and cannot be taken,
// changed or granted through the API.
func TestOwnershipProtected(t *testing.T) {
	f := newFixture(t)
	admin := f.tokens[pAdmin]

	res := f.env.Do("POST", "/api/collections/workspaces/records", f.tokens[pViewer], map[string]any{"name": "Mine", "owner": f.users[pViewer].Id})
	if res.Status != http.StatusOK {
		t.Fatalf("create own workspace: %d %s", res.Status, res.Body)
	}
	wsID, _ := res.JSON()["id"].(string)
	m, err := f.env.App.FindFirstRecordByFilter("workspace_members", "workspace = {:w} && user = {:u}", map[string]any{"w": wsID, "u": f.users[pViewer].Id})
	if err != nil || m.GetString("role") != "owner" {
		t.Fatalf("creator is not the owner member: %v %v", err, m)
	}

	if res := f.env.Do("POST", "/api/collections/workspaces/records", f.tokens[pViewer], map[string]any{"name": "Theirs", "owner": f.users[pOwner].Id}); res.Status == http.StatusOK {
		t.Error("created a workspace owned by someone else")
	}

	ownerM, err := f.env.App.FindFirstRecordByFilter("workspace_members", "workspace = {:w} && role = 'owner'", map[string]any{"w": f.w.Id})
	if err != nil {
		t.Fatal(err)
	}
	newbie, _ := f.env.User("newbie@example.com")
	checks := []struct {
		name         string
		method, path string
		body         map[string]any
	}{
		{"grant owner", "POST", "/api/collections/workspace_members/records", map[string]any{"workspace": f.w.Id, "user": newbie.Id, "role": "owner"}},
		{"demote the owner", "PATCH", "/api/collections/workspace_members/records/" + ownerM.Id, map[string]any{"role": "viewer"}},
		{"remove the owner", "DELETE", "/api/collections/workspace_members/records/" + ownerM.Id, nil},
		{"take the workspace", "PATCH", "/api/collections/workspaces/records/" + f.w.Id, map[string]any{"owner": f.users[pAdmin].Id}},
	}
	for _, c := range checks {
		if res := f.env.Do(c.method, c.path, admin, c.body); res.Status < 400 {
			t.Errorf("admin could %s: %d", c.name, res.Status)
		}
	}
	// the admin's own membership cannot be promoted either
	adminM, _ := f.env.App.FindFirstRecordByFilter("workspace_members", "workspace = {:w} && user = {:u}", map[string]any{"w": f.w.Id, "u": f.users[pAdmin].Id})
	if res := f.env.Do("PATCH", "/api/collections/workspace_members/records/"+adminM.Id, admin, map[string]any{"role": "owner"}); res.Status == http.StatusOK {
		t.Error("admin promoted itself to owner")
	}
	// a member may leave
	viewerM, _ := f.env.App.FindFirstRecordByFilter("workspace_members", "workspace = {:w} && user = {:u}", map[string]any{"w": f.w.Id, "u": f.users[pViewer].Id})
	if res := f.env.Do("DELETE", "/api/collections/workspace_members/records/"+viewerM.Id, f.tokens[pViewer], nil); res.Status != http.StatusNoContent {
		t.Errorf("viewer could not leave: %d", res.Status)
	}
}

// Client filters cannot reach records of other workspaces through @collection
// or through back-relations out of shared user records.
func TestFiltersCannotLeak(t *testing.T) {
	f := newFixture(t)
	secret := f.env.Create("contacts", map[string]any{"workspace": f.x.Id, "first_name": "Secret", "primary_email": "secret@x.org"})
	_ = secret
	tok := f.tokens[pViewer] // shares workspace Y with the outsider who owns X

	forbidden := []struct{ collection, filter string }{
		{"workspaces", `@collection.contacts.first_name ?= "Secret"`},
		{"contacts", `@collection.contacts.primary_email ?= "secret@x.org"`},
		{"users", `workspaces_via_owner.name ?= "X"`},
		{"users", `WORKSPACES_via_owner.name ?= "X"`},
		{"users", `workspace_members_via_user.workspace.name ?= "X"`},
		{"contacts", `workspace.owner.workspaces_via_owner.id ?= "` + f.x.Id + `"`},
	}
	for _, c := range forbidden {
		res := f.env.Do("GET", "/api/collections/"+c.collection+"/records?filter="+url.QueryEscape(c.filter), tok, nil)
		if res.Status != http.StatusBadRequest || res.Code() != "filter_forbidden" {
			t.Errorf("%s %q: %d %s", c.collection, c.filter, res.Status, res.Body)
		}
		res = f.env.Do("GET", "/api/collections/"+c.collection+"/records?sort="+url.QueryEscape(strings.Fields(c.filter)[0]), tok, nil)
		if res.Status != http.StatusBadRequest {
			t.Errorf("sort by %q: %d", c.filter, res.Status)
		}
	}

	// relation paths inside the caller's own workspace still work and show nothing else
	f.contact(f.w)
	res := f.env.Do("GET", "/api/collections/contacts/records?perPage=500&filter="+url.QueryEscape(`workspace.owner.email ~ "o" || workspace.name ~ "X"`), tok, nil)
	if res.Status != http.StatusOK || strings.Contains(string(res.Body), "secret@x.org") {
		t.Errorf("relation filter: %d %s", res.Status, res.Body)
	}
	var page struct {
		Items []map[string]any `json:"items"`
	}
	_ = json.Unmarshal(res.Body, &page)
	for _, it := range page.Items {
		if it["workspace"] == f.x.Id {
			t.Errorf("contact of X listed: %v", it)
		}
	}

	// superusers keep the full filter language
	su := superuserToken(t, f)
	if res := f.env.Do("GET", "/api/collections/workspaces/records?filter="+url.QueryEscape(`@collection.contacts.first_name ?= "Secret"`), su, nil); res.Status != http.StatusOK {
		t.Errorf("superuser filter: %d", res.Status)
	}
}

func superuserToken(t *testing.T, f *fixture) string {
	col, err := f.env.App.FindCollectionByNameOrId(core.CollectionNameSuperusers)
	if err != nil {
		t.Fatal(err)
	}
	su := core.NewRecord(col)
	su.SetEmail("root@example.com")
	su.SetPassword("password-123")
	if err := f.env.App.Save(su); err != nil {
		t.Fatal(err)
	}
	tok, err := su.NewAuthToken()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// The batch API applies the same rules and rolls back as a whole.
func TestBatchObeysRules(t *testing.T) {
	f := newFixture(t)
	batch := func(tok string, emails ...string) int {
		var reqs []map[string]any
		for _, e := range emails {
			reqs = append(reqs, map[string]any{"method": "POST", "url": "/api/collections/contacts/records",
				"body": map[string]any{"workspace": f.w.Id, "primary_email": e}})
		}
		return f.env.Do("POST", "/api/batch", tok, map[string]any{"requests": reqs}).Status
	}
	count := func() int {
		n, err := f.env.App.CountRecords("contacts", nil)
		if err != nil {
			t.Fatal(err)
		}
		return int(n)
	}
	before := count()
	for _, p := range []string{pOutsider, pViewer, pGuest} {
		if st := batch(f.tokens[p], "b1@example.org"); st == http.StatusOK {
			t.Errorf("%s created a contact in W through batch", p)
		}
	}
	if count() != before {
		t.Fatal("a refused batch wrote contacts")
	}
	if st := batch(f.tokens[pEditor], "b2@example.org", "b3@example.org"); st != http.StatusOK {
		t.Fatalf("editor batch: %d", st)
	}
	if count() != before+2 {
		t.Fatal("editor batch did not write both contacts")
	}
	// all or nothing: the second request is refused (duplicate email), the first is rolled back
	if st := batch(f.tokens[pEditor], "b4@example.org", "b2@example.org"); st == http.StatusOK {
		t.Fatal("batch with a duplicate passed")
	}
	if count() != before+2 {
		t.Fatal("a failed batch left a partial write")
	}
}

// A realtime subscriber receives the events of its own workspaces only.
func TestRealtimeIsolation(t *testing.T) {
	f := newFixture(t)
	events := testutil.Subscribe(t, f.env, f.tokens[pOutsider], nil, "contacts/*")

	inW := f.contact(f.w)
	inX := f.contact(f.x)

	got := testutil.CollectUntil(events, inX.Id, 3*time.Second)
	if !got[inX.Id] {
		t.Fatal("the outsider's own contact event never arrived")
	}
	if got[inW.Id] {
		t.Fatal("the outsider received an event of workspace W")
	}

	// a subscription with a forbidden filter is refused
	clientID := testutil.RealtimeClientID(t, f.env)
	opts := url.QueryEscape(`{"query":{"filter":"@collection.contacts.id != ''"}}`)
	res := f.env.Do("POST", "/api/realtime", f.tokens[pOutsider], map[string]any{"clientId": clientID, "subscriptions": []string{"workspaces/*?options=" + opts}})
	if res.Status != http.StatusBadRequest {
		t.Errorf("forbidden realtime filter: %d %s", res.Status, res.Body)
	}
}

// The sending collections over realtime: an outsider subscribed to every
// outbox message and ledger row receives its own workspace's, never W's
// (the messages hold contacts' addresses and what was sent to them).
func TestRealtimeIsolationSending(t *testing.T) {
	f := newFixture(t)
	outbox := testutil.Subscribe(t, f.env, f.tokens[pOutsider], nil, "outbox_messages/*")
	ledger := testutil.Subscribe(t, f.env, f.tokens[pOutsider], nil, "campaign_deliveries/*")
	rows := func(ws *core.Record) (*core.Record, *core.Record) {
		c := f.contact(ws)
		camp := f.campaign(ws, "sending")
		d := f.env.Create("campaign_deliveries", map[string]any{"campaign": camp.Id, "contact": c.Id, "channel": "email",
			"address": c.GetString("primary_email"), "status": "sent"})
		o := f.env.Create("outbox_messages", map[string]any{"workspace": ws.Id, "campaign": camp.Id, "delivery": d.Id,
			"contact": c.Id, "to": c.GetString("primary_email"), "subject": "S", "text": "T"})
		return d, o
	}
	dW, oW := rows(f.w)
	dX, oX := rows(f.x)
	for name, c := range map[string]struct {
		events   <-chan string
		own, foe string
	}{"outbox": {outbox, oX.Id, oW.Id}, "ledger": {ledger, dX.Id, dW.Id}} {
		got := testutil.CollectUntil(c.events, c.own, 3*time.Second)
		if !got[c.own] {
			t.Errorf("%s: the outsider's own event never arrived", name)
		}
		if got[c.foe] {
			t.Errorf("%s: the outsider received an event of workspace W", name)
		}
	}
}

// Insights over realtime: an outsider subscribed to every run and insight
// receives its own workspace's, never W's.
func TestRealtimeIsolationInsights(t *testing.T) {
	f := newFixture(t)
	runs := testutil.Subscribe(t, f.env, f.tokens[pOutsider], nil, "ai_insight_runs/*")
	ins := testutil.Subscribe(t, f.env, f.tokens[pOutsider], nil, "ai_insights/*")
	rows := func(ws *core.Record) (*core.Record, *core.Record) {
		r := f.env.Create("ai_insight_runs", map[string]any{"workspace": ws.Id, "trigger": "manual", "status": "running"})
		i := f.env.Create("ai_insights", map[string]any{"workspace": ws.Id, "run": r.Id, "type": "contacts_added", "area": "contacts", "content": "c", "value": 1})
		return r, i
	}
	rW, iW := rows(f.w)
	rX, iX := rows(f.x)
	for name, c := range map[string]struct {
		events   <-chan string
		own, foe string
	}{"runs": {runs, rX.Id, rW.Id}, "insights": {ins, iX.Id, iW.Id}} {
		got := testutil.CollectUntil(c.events, c.own, 3*time.Second)
		if !got[c.own] {
			t.Errorf("%s: the outsider's own event never arrived", name)
		}
		if got[c.foe] {
			t.Errorf("%s: the outsider received an event of workspace W", name)
		}
	}
}
