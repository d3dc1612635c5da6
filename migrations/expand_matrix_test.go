package migrations_test

// The expand matrix: expand must obey the reader's workspaces
// and, for API keys, the key's scopes and workspace, at every depth. The
// paths are generated from the live schema, so a new relation is covered
// without a new test.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/services/apikeys"
	"github.com/pi-crm/pi-crm/services/tenancy"
	"github.com/pocketbase/pocketbase/core"
)

// ---------------------------------------------------------------------------
// the relation graph of the live schema

type expandEdge struct {
	name string // relation field, or <collection>_via_<field>
	to   string // target collection name
	back bool
}

type schemaGraph struct {
	collections []string // every non-system collection, plus users
	edges       map[string][]expandEdge
	byName      map[string]*core.Collection
}

func loadGraph(t *testing.T, app core.App) *schemaGraph {
	all, err := app.FindAllCollections()
	if err != nil {
		t.Fatal(err)
	}
	g := &schemaGraph{edges: map[string][]expandEdge{}, byName: map[string]*core.Collection{}}
	byID := map[string]*core.Collection{}
	for _, c := range all {
		if c.System && c.Name != "users" {
			continue
		}
		if c.IsView() {
			continue
		}
		g.collections = append(g.collections, c.Name)
		g.byName[c.Name] = c
		byID[c.Id] = c
	}
	sort.Strings(g.collections)
	for _, name := range g.collections {
		c := g.byName[name]
		for _, fld := range c.Fields {
			rf, ok := fld.(*core.RelationField)
			if !ok {
				continue
			}
			target, ok := byID[rf.CollectionId]
			if !ok {
				continue
			}
			// direct: c.field -> target; back: target.<c>_via_<field> -> c
			g.edges[c.Name] = append(g.edges[c.Name], expandEdge{name: rf.Name, to: target.Name})
			g.edges[target.Name] = append(g.edges[target.Name], expandEdge{name: c.Name + "_via_" + rf.Name, to: c.Name, back: true})
		}
	}
	for _, es := range g.edges {
		sort.Slice(es, func(i, j int) bool { return es[i].name < es[j].name })
	}
	return g
}

// paths returns every expand path of depth 1..maxDepth from collection
// (all), and the ones to request (maximal): PocketBase expands every prefix of
// a path, so requesting the paths no other one extends covers all. Paths
// that step back along the back-relation just taken (users ->
// ai_insights_via_user -> user) reach only records the shorter path already
// returned, so they are counted but not requested.
func (g *schemaGraph) paths(from string, maxDepth int) (all, maximal []string, bounces int) {
	var walk func(col, prefix string, depth int, prev *expandEdge)
	walk = func(col, prefix string, depth int, prev *expandEdge) {
		extended := false
		if depth < maxDepth {
			for _, e := range g.edges[col] {
				p := e.name
				if prefix != "" {
					p = prefix + "." + e.name
				}
				all = append(all, p)
				if prev != nil && prev.back && !e.back && prev.name == col+"_via_"+e.name {
					bounces += countPaths(g, e.to, maxDepth-depth-1) + 1
					all = append(all, extendAll(g, e.to, p, maxDepth-depth-1)...)
					continue
				}
				extended = true
				walk(e.to, p, depth+1, &e)
			}
		}
		if !extended && prefix != "" {
			maximal = append(maximal, prefix)
		}
	}
	walk(from, "", 0, nil)
	return all, maximal, bounces
}

func countPaths(g *schemaGraph, col string, depth int) int {
	return len(extendAll(g, col, "", depth))
}

// extendAll lists every path of 1..depth steps from col, under prefix.
func extendAll(g *schemaGraph, col, prefix string, depth int) []string {
	if depth == 0 {
		return nil
	}
	var out []string
	for _, e := range g.edges[col] {
		p := e.name
		if prefix != "" {
			p = prefix + "." + e.name
		}
		out = append(out, p)
		out = append(out, extendAll(g, e.to, p, depth-1)...)
	}
	return out
}

// ---------------------------------------------------------------------------
// the world: W (the fixture's), Y (the outsider's, where the viewer is an
// editor and the editor an admin) and X (the outsider's alone), each holding a
// record of every collection.

type world struct {
	f     *fixture
	graph *schemaGraph
	y     *core.Record
	ws    map[string]*core.Record // "W", "Y", "X"
	// seeded records per workspace label and collection
	recs map[string]map[string][]*core.Record
	// the emails of the contacts, per workspace label
	emails map[string][]string

	members map[string]map[string]string // user id -> workspace id -> role
	wsOwner map[string]string            // workspace id -> owner user id

	principals []*principal

	clientIPs atomic.Int64

	cacheMu sync.Mutex
	cache   map[string]*core.Record // collection/id -> record (nil: not found)
}

// principal is who sends a request: a session user or an API key.
type principal struct {
	name     string
	user     *core.Record
	token    string            // session token (sessions)
	headers  map[string]string // X-Api-Key (keys)
	key      bool
	scopes   []string
	restrict string // workspace id a key is restricted to ("" = none)
}

func (p *principal) do(w *world, method, path string) (int, []byte, http.Header) {
	req, err := http.NewRequest(method, w.f.env.Server.URL+path, nil)
	if err != nil {
		panic(err)
	}
	if p.token != "" {
		req.Header.Set("Authorization", p.token)
	}
	for k, v := range p.headers {
		req.Header.Set(k, v)
	}
	// a client address of its own per request: PocketBase sleeps up to 500 ms
	// on a filtered list that finds nothing when one address sends more than 3
	// of those per collection in 3 s, which only slows the probes down (it
	// changes no status, length or body)
	n := w.clientIPs.Add(1)
	req.Header.Set(testClientIPHeader, fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255))
	res, err := w.f.env.Server.Client().Do(req)
	if err != nil {
		return 0, []byte(err.Error()), nil
	}
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return res.StatusCode, []byte(b.String()), res.Header
}

const testClientIPHeader = "X-Test-Client-Ip"

func newWorld(t *testing.T) *world {
	f := newFixture(t)
	settings := f.env.App.Settings()
	settings.TrustedProxy.Headers = []string{testClientIPHeader}
	if err := f.env.App.Save(settings); err != nil {
		t.Fatal(err)
	}
	y, err := f.env.App.FindFirstRecordByData("workspaces", "name", "Y")
	if err != nil {
		t.Fatal(err)
	}
	w := &world{f: f, y: y, graph: loadGraph(t, f.env.App),
		ws:     map[string]*core.Record{"W": f.w, "Y": y, "X": f.x},
		recs:   map[string]map[string][]*core.Record{},
		emails: map[string][]string{},
		cache:  map[string]*core.Record{},
	}
	owner, editor, viewer, outsider := f.users[pOwner], f.users[pEditor], f.users[pViewer], f.users[pOutsider]
	// who acts in each workspace: the editor belongs to W and Y, so records of
	// Y naming it are the bridges a W-restricted key of the editor must not cross
	actors := map[string][2]*core.Record{"W": {owner, editor}, "Y": {editor, outsider}, "X": {outsider, outsider}}
	env := f.env
	for _, label := range []string{"W", "Y", "X"} {
		ws := w.ws[label]
		a, b := actors[label][0], actors[label][1]
		r := map[string][]*core.Record{}
		add := func(c string, fields map[string]any) *core.Record {
			rec := env.Create(c, fields)
			r[c] = append(r[c], rec)
			return rec
		}
		lw := strings.ToLower(label)
		var contacts []*core.Record
		for i, local := range []string{"ada.ok", "bob"} {
			email := fmt.Sprintf("%s.%s%d@%s.example.org", local, lw, i, lw)
			w.emails[label] = append(w.emails[label], email)
			contacts = append(contacts, add("contacts", map[string]any{"workspace": ws.Id, "first_name": "Secret" + label,
				"last_name": "Probe" + label, "company": "Co" + label, "primary_email": email}))
		}
		def := add("custom_field_definitions", map[string]any{"user": ws.GetString("owner"), "workspace": ws.Id,
			"field_name": "f_" + lw, "label": "F " + label, "field_type": "text"})
		add("custom_fields", map[string]any{"contact": contacts[0].Id, "field_name": def.GetString("field_name"),
			"field_value": "val-" + lw, "field_type": "text"})
		list := add("contact_lists", map[string]any{"workspace": ws.Id, "name": "List " + label})
		add("contact_list_assignments", map[string]any{"contact": contacts[0].Id, "list": list.Id, "is_primary": true})
		tpl := add("templates", map[string]any{"workspace": ws.Id, "name": "Tpl " + label, "channel": "email", "subject": "S" + label, "body_text": "B" + label})
		camp := add("campaigns", map[string]any{"workspace": ws.Id, "name": "Camp " + label, "type": "email", "status": "sent",
			"template": tpl.Id, "created_by": a.Id})
		add("campaign_approvals", map[string]any{"campaign": camp.Id, "status": "approved", "requested_by": a.Id, "reviewer": b.Id})
		delivery := add("campaign_deliveries", map[string]any{"campaign": camp.Id, "contact": contacts[0].Id, "channel": "email",
			"address": contacts[0].GetString("primary_email"), "status": "sent"})
		add("outbox_messages", map[string]any{"workspace": ws.Id, "campaign": camp.Id, "delivery": delivery.Id, "contact": contacts[0].Id,
			"to": contacts[0].GetString("primary_email"), "subject": "Out " + label, "text": "secret text " + label})
		add("provider_daily_counts", map[string]any{"workspace": ws.Id, "provider": "outbox", "day": "2026-12-01", "count": 7})
		add("webhook_tokens", map[string]any{"workspace": ws.Id, "provider": "mailgun", "token": "tok-" + lw, "expires_at": "2026-12-01 12:00:00.000Z"})
		add("suppressions", map[string]any{"workspace": ws.Id, "channel": "email", "address": "supp." + lw + "@example.org", "reason": "unsubscribe"})
		add("communication_logs", map[string]any{"workspace": ws.Id, "contact": contacts[0].Id, "type": "note", "content": "note " + label})
		add("ai_insights", map[string]any{"user": a.Id, "workspace": ws.Id, "type": "summary", "content": "insight " + label, "confidence": 0.5})
		// a run with an insight of each area (migration 1764001520)
		run := add("ai_insight_runs", map[string]any{"workspace": ws.Id, "user": a.Id, "trigger": "manual", "status": "done", "metrics": 4})
		for _, area := range []string{"contacts", "campaigns", "admin", "summary"} {
			add("ai_insights", map[string]any{"workspace": ws.Id, "run": run.Id, "type": "m_" + area, "area": area,
				"content": "insight " + area + " " + label, "value": 1, "data": map[string]any{"of": label}, "confidence": 1})
		}
		add("system_settings", map[string]any{"scope": "workspace", "scope_id": ws.Id, "setting_key": "k." + lw, "setting_value": map[string]any{"v": label}})
		add("import_jobs", map[string]any{"workspace": ws.Id, "status": "completed", "created_by": a.Id, "file_name": label + ".csv"})
		add("ai_usage", map[string]any{"workspace": ws.Id, "user": a.Id, "purpose": "template_generate", "model": "m-" + lw,
			"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, "latency_ms": 3, "status": "ok"})
		add("contact_merges", map[string]any{"workspace": ws.Id, "source_id": "src" + lw, "target": contacts[0].Id,
			"snapshot": map[string]any{}, "moved": map[string]any{}, "merged_by": a.Id, "undone_by": b.Id})
		// an invitation of each workspace; Y's is addressed to the viewer of W,
		// who may read it (and nothing else of Y through it)
		invitee := "invitee." + lw + "@example.org"
		if label == "Y" {
			invitee = f.users[pViewer].Email()
		}
		add("workspace_invitations", map[string]any{"workspace": ws.Id, "email": invitee, "role": "viewer",
			"invited_by": a.Id, "status": "pending", "expires_at": time.Now().Add(24 * time.Hour)})
		w.recs[label] = r
	}
	// a user-wide definition of the outsider (applies to X and Y)
	env.Create("custom_field_definitions", map[string]any{"user": outsider.Id, "field_name": "outsider_wide", "label": "O", "field_type": "text"})
	// the viewer's own user setting
	env.Create("system_settings", map[string]any{"scope": "user", "scope_id": viewer.Id, "setting_key": "ui.theme", "setting_value": map[string]any{"v": 1}})

	// keys of Y and X, through the route (real keys)
	w.mustKey(t, f.tokens[pEditor], []string{"admin"}, y.Id, "editor-Y")
	w.mustKey(t, f.tokens[pOutsider], []string{"admin"}, "", "outsider-all")
	w.mustKey(t, f.tokens[pOutsider], []string{"contacts:read"}, f.x.Id, "outsider-X")

	// principals
	for _, p := range []string{pOwner, pAdmin, pEditor, pViewer, pOutsider} {
		w.principals = append(w.principals, &principal{name: "session:" + p, user: f.users[p], token: f.tokens[p]})
	}
	for _, s := range apikeys.AllScopes {
		// the owner of W is no member of Y or X
		w.principals = append(w.principals,
			w.keyPrincipal(t, pOwner, s, f.w.Id),
			w.keyPrincipal(t, pOwner, s, ""),
			// the editor is a member of W and (as admin) of Y
			w.keyPrincipal(t, pEditor, s, f.w.Id),
		)
	}
	// unrestricted keys of the editor: Y is theirs to read, the scopes still hold
	for _, s := range []string{apikeys.ScopeContactsRead, apikeys.ScopeTemplatesRead} {
		w.principals = append(w.principals, w.keyPrincipal(t, pEditor, s, ""))
	}

	// memberships, as stored
	w.members = map[string]map[string]string{}
	w.wsOwner = map[string]string{}
	ms, err := env.App.FindAllRecords("workspace_members")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		u := m.GetString("user")
		if w.members[u] == nil {
			w.members[u] = map[string]string{}
		}
		w.members[u][m.GetString("workspace")] = m.GetString("role")
	}
	wss, _ := env.App.FindAllRecords("workspaces")
	for _, x := range wss {
		w.wsOwner[x.Id] = x.GetString("owner")
	}
	// every collection of the schema must have a record in W and in a workspace
	// the restricted keys may not read, or the matrix would prove nothing there
	for _, c := range w.graph.collections {
		switch c {
		case "users", "workspaces", "workspace_members", "audit_logs", "api_keys":
			continue // exist by construction (users, memberships, audit, keys through the route)
		}
		if len(w.recs["W"][c]) == 0 || len(w.recs["Y"][c]) == 0 {
			t.Errorf("collection %s has no seeded records: add it to newWorld", c)
		}
	}
	return w
}

func (w *world) mustKey(t *testing.T, token string, scopes []string, ws, desc string) (string, map[string]any) {
	body := map[string]any{"description": desc, "scopes": scopes}
	if ws != "" {
		body["workspace"] = ws
	}
	res := w.f.env.Do("POST", "/api/crm/api-keys", token, body)
	if res.Status != http.StatusOK {
		t.Fatalf("create key %s: %d %s", desc, res.Status, res.Body)
	}
	k, _ := res.JSON()["key"].(string)
	if k == "" {
		t.Fatalf("create key %s: no key in %s", desc, res.Body)
	}
	rec, _ := res.JSON()["record"].(map[string]any)
	return k, rec
}

func (w *world) keyPrincipal(t *testing.T, role, scope, restrict string) *principal {
	label := "all"
	if restrict != "" {
		label = "W"
	}
	name := fmt.Sprintf("key:%s/%s/%s", role, scope, label)
	k, _ := w.mustKey(t, w.f.tokens[role], []string{scope}, restrict, name)
	return &principal{name: name, user: w.f.users[role], headers: map[string]string{"X-Api-Key": k}, key: true,
		scopes: []string{scope}, restrict: restrict}
}

// record loads (and caches) a record by collection and id.
func (w *world) record(col, id string) *core.Record {
	k := col + "/" + id
	w.cacheMu.Lock()
	rec, ok := w.cache[k]
	w.cacheMu.Unlock()
	if ok {
		return rec
	}
	rec, err := w.f.env.App.FindRecordById(col, id)
	if err != nil {
		rec = nil
	}
	w.cacheMu.Lock()
	w.cache[k] = rec
	w.cacheMu.Unlock()
	return rec
}

func (w *world) wsLabel(id string) string {
	for l, r := range w.ws {
		if r.Id == id {
			return l
		}
	}
	if id == "" {
		return "-"
	}
	return id
}

// mayReadWorkspace: p's user holds one of roles (any role when nil) in ws and
// p is not a key restricted to another workspace.
func (w *world) mayReadWorkspace(p *principal, ws string, roles ...string) bool {
	if ws == "" {
		return false
	}
	if p.restrict != "" && p.restrict != ws {
		return false
	}
	role, ok := w.members[p.user.Id][ws]
	if !ok {
		return false
	}
	return len(roles) == 0 || slices.Contains(roles, role)
}

// readable is the expected answer, computed from stored data alone (the
// README's security model and API-key table), never from the API rules: may p
// read rec? The reason says why not.
func (w *world) readable(p *principal, rec *core.Record) (bool, string) {
	col := rec.Collection().Name
	uid := p.user.Id
	if p.key && !apikeys.Allows(p.scopes, apikeys.RequiredScope(col, false)) {
		return false, "scope " + apikeys.RequiredScope(col, false) + " missing"
	}
	ws := tenancy.WorkspaceOf(w.f.env.App, rec)
	inWs := func(roles ...string) (bool, string) {
		if w.mayReadWorkspace(p, ws, roles...) {
			return true, ""
		}
		return false, "workspace " + w.wsLabel(ws) + " not readable"
	}
	switch col {
	case "users":
		if rec.Id == uid {
			return true, ""
		}
		for other := range w.members[rec.Id] {
			if w.mayReadWorkspace(p, other) {
				return true, ""
			}
		}
		return false, "user shares no readable workspace"
	case "audit_logs", "ai_usage":
		return inWs("owner", "admin")
	case "system_settings":
		switch rec.GetString("scope") {
		case "user":
			if rec.GetString("scope_id") == uid && p.restrict == "" {
				return true, ""
			}
			return false, "another user's (or, for a restricted key, a user-wide) setting"
		case "workspace":
			return inWs("owner", "admin")
		}
		return false, "system setting"
	case "workspace_invitations":
		// the workspace's owners and admins, and the invitee (a session only)
		if !p.key && strings.EqualFold(rec.GetString("email"), p.user.Email()) {
			return true, ""
		}
		return inWs("owner", "admin")
	case "api_keys":
		if rec.GetString("user") != uid {
			return false, "another user's key"
		}
		if p.restrict != "" && ws != "" && ws != p.restrict {
			return false, "a key of workspace " + w.wsLabel(ws)
		}
		return true, ""
	case "ai_insights":
		// a user-wide one: its user's; a workspace's: by area, what the same
		// facts need elsewhere (campaign results campaigns:read, AI usage
		// owners and admins with admin, the summary both reads)
		if ws == "" {
			if rec.GetString("user") == uid && p.restrict == "" {
				return true, ""
			}
			return false, "another user's insight"
		}
		need := map[string][]string{"campaigns": {apikeys.ScopeCampaignsRead}, "admin": {apikeys.ScopeAdmin},
			"summary": {apikeys.ScopeCampaignsRead}}[rec.GetString("area")]
		for _, sc := range need {
			if p.key && !apikeys.Allows(p.scopes, sc) {
				return false, "scope " + sc + " missing for area " + rec.GetString("area")
			}
		}
		if rec.GetString("area") == "admin" {
			return inWs("owner", "admin")
		}
		return inWs()
	case "custom_field_definitions":
		if ws != "" {
			return inWs()
		}
		// user-wide: applies to the workspaces its user owns
		defUser := rec.GetString("user")
		if defUser == uid {
			return true, ""
		}
		for wsID, owner := range w.wsOwner {
			if owner == defUser && w.mayReadWorkspace(p, wsID) {
				return true, ""
			}
		}
		return false, "user-wide definition of a user owning no readable workspace"
	}
	return inWs()
}

// ---------------------------------------------------------------------------
// walking answers

// visitRecords calls fn for every record object in v (anything carrying
// collectionName and id), with its location in the JSON.
func visitRecords(v any, loc string, fn func(col, id, loc string)) {
	switch x := v.(type) {
	case map[string]any:
		col, _ := x["collectionName"].(string)
		id, _ := x["id"].(string)
		if col != "" && id != "" {
			fn(col, id, loc)
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			visitRecords(x[k], loc+"."+k, fn)
		}
	case []any:
		for i, e := range x {
			visitRecords(e, fmt.Sprintf("%s[%d]", loc, i), fn)
		}
	}
}

type leak struct {
	principal, request, loc, col, id, why string
}

func (l leak) String() string {
	return fmt.Sprintf("%s GET %s -> %s/%s at %s (%s)", l.principal, l.request, l.col, l.id, l.loc, l.why)
}

// check walks body and returns the records p may not read.
func (w *world) check(p *principal, request string, body []byte) (leaks []leak, seen int) {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return nil, 0
	}
	visitRecords(v, "$", func(col, id, loc string) {
		seen++
		rec := w.record(col, id)
		if rec == nil {
			leaks = append(leaks, leak{p.name, request, loc, col, id, "record not found in the store"})
			return
		}
		if ok, why := w.readable(p, rec); !ok {
			leaks = append(leaks, leak{p.name, request, loc, col, id, why + ", workspace " + w.wsLabel(tenancy.WorkspaceOf(w.f.env.App, rec))})
		}
	})
	return leaks, seen
}

// shortLoc drops array indexes and the "expand" steps of a JSON location:
// $.items[3].expand.workspace.expand.contacts_via_workspace[0] -> items.workspace.contacts_via_workspace
func shortLoc(loc string) string {
	var parts []string
	for _, p := range strings.Split(loc, ".") {
		if i := strings.IndexByte(p, '['); i >= 0 {
			p = p[:i]
		}
		if p == "$" || p == "expand" || p == "" {
			continue
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ".")
}

// requestName is a request without its (long) expand parameter.
func requestName(request string) string {
	path, q, _ := strings.Cut(request, "?")
	kind := "list"
	if strings.Count(path, "/") > 4 {
		kind = "view"
	}
	col := strings.Split(strings.TrimPrefix(path, "/api/collections/"), "/")[0]
	if vals, err := url.ParseQuery(q); err == nil && vals.Get("expand") == "" && vals.Get("filter") != "" {
		return path + "?filter=" + vals.Get("filter")
	}
	return col + " " + kind
}

// reportLeaks prints up to max lines, one per principal and leaked
// collection (with the shortest expand path it was seen at), then a count per
// principal.
func reportLeaks(t *testing.T, leaks []leak, max int) {
	t.Helper()
	type groupKey struct{ principal, col string }
	type group struct {
		n         int
		shortest  leak
		locs      map[string]bool
		startedAt map[string]bool
	}
	groups := map[groupKey]*group{}
	var order []groupKey
	for _, l := range leaks {
		k := groupKey{l.principal, l.col}
		g := groups[k]
		if g == nil {
			g = &group{shortest: l, locs: map[string]bool{}, startedAt: map[string]bool{}}
			groups[k] = g
			order = append(order, k)
		}
		g.n++
		sl := shortLoc(l.loc)
		g.locs[sl] = true
		g.startedAt[requestName(l.request)] = true
		if len(sl) < len(shortLoc(g.shortest.loc)) {
			g.shortest = l
		}
	}
	sort.Slice(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if a.principal != b.principal {
			return a.principal < b.principal
		}
		return a.col < b.col
	})
	for i, k := range order {
		if i == max {
			t.Errorf("... and %d more (principal, collection) pairs leak", len(order)-max)
			break
		}
		g := groups[k]
		t.Errorf("LEAK %s gets %s/%s (%s): %d times over %d paths from %d requests kinds; shortest: %s -> %s",
			k.principal, k.col, g.shortest.id, g.shortest.why, g.n, len(g.locs), len(g.startedAt),
			requestName(g.shortest.request), shortLoc(g.shortest.loc))
	}
	if len(leaks) > 0 {
		byPrincipal := map[string]int{}
		for _, l := range leaks {
			byPrincipal[l.principal]++
		}
		var ps []string
		for p, n := range byPrincipal {
			ps = append(ps, fmt.Sprintf("%s=%d", p, n))
		}
		sort.Strings(ps)
		t.Errorf("%d leaked records, %d (principal, collection) pairs; per principal: %s", len(leaks), len(order), strings.Join(ps, " "))
	}
}

// ---------------------------------------------------------------------------

// TestExpandMatrix: for every collection, every expand path of depth <= 3,
// every role of W, the outsider and keys of every scope (restricted to W and
// not), list and view answers carry no record the caller may not read.
func TestExpandMatrix(t *testing.T) {
	start := time.Now()
	w := newWorld(t)
	seeded := time.Since(start)

	type job struct {
		p    *principal
		path string // request path
	}
	var jobs []job
	totalPaths, maximalPaths, bouncePaths := 0, 0, 0
	const chunk = 40 // maximal paths per request
	for _, c := range w.graph.collections {
		all, maximal, bounces := w.graph.paths(c, 3)
		totalPaths += len(all)
		maximalPaths += len(maximal)
		bouncePaths += bounces
		// the record to view: the W one (users: the editor, member of W and Y)
		viewID := ""
		switch c {
		case "users":
			viewID = w.f.users[pEditor].Id
		case "workspaces":
			viewID = w.f.w.Id
		default:
			if rs := w.recs["W"][c]; len(rs) > 0 {
				viewID = rs[0].Id
			} else if rec, err := w.f.env.App.FindFirstRecordByFilter(c, tenancy.FilterPath(c)+" = {:w}", map[string]any{"w": w.f.w.Id}); err == nil {
				viewID = rec.Id
			}
		}
		for i := 0; i < len(maximal); i += chunk {
			part := maximal[i:min(i+chunk, len(maximal))]
			exp := url.QueryEscape(strings.Join(part, ","))
			for _, p := range w.principals {
				jobs = append(jobs, job{p, "/api/collections/" + c + "/records?perPage=200&expand=" + exp})
				if viewID != "" {
					jobs = append(jobs, job{p, "/api/collections/" + c + "/records/" + viewID + "?expand=" + exp})
				}
			}
		}
	}
	t.Logf("expand matrix: %d collections, %d expand paths of depth <= 3 (%d step straight back and add nothing; %d maximal others requested, %d per request), %d principals, %d requests",
		len(w.graph.collections), totalPaths, bouncePaths, maximalPaths, chunk, len(w.principals), len(jobs))

	var (
		mu       sync.Mutex
		leaks    []leak
		seen     int
		statuses = map[int]int{}
		wg       sync.WaitGroup
		next     = make(chan job)
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				status, body, _ := j.p.do(w, "GET", j.path)
				ls, n := w.check(j.p, j.path, body)
				mu.Lock()
				statuses[status]++
				leaks = append(leaks, ls...)
				seen += n
				mu.Unlock()
			}
		}()
	}
	for _, j := range jobs {
		next <- j
	}
	close(next)
	wg.Wait()

	t.Logf("expand matrix: %d records checked, statuses %v, seeding %s, requests %s", seen, statuses, seeded.Round(time.Millisecond), (time.Since(start) - seeded).Round(time.Millisecond))
	if statuses[0] > 0 || statuses[500] > 0 || statuses[429] > 0 {
		t.Errorf("%d requests failed outright, %d answered 500, %d were rate limited", statuses[0], statuses[500], statuses[429])
	}
	reportLeaks(t, leaks, 30)

	// the matrix is not vacuous: the owner's session does expand W's contacts
	// out of its user record
	owner := w.principals[0]
	_, body, _ := owner.do(w, "GET", "/api/collections/users/records/"+w.f.users[pOwner].Id+"?expand=workspaces_via_owner.contacts_via_workspace")
	if !strings.Contains(string(body), w.recs["W"]["contacts"][0].Id) {
		t.Errorf("the owner's session does not expand W's contacts: %s", body)
	}
}
