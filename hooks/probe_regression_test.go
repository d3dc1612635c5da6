package hooks_test

// Each probe of the outside review, replayed exactly
// through the real HTTP server (REST, HEAD and realtime).

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
)

// probeFixture: andy owns "Shared" (A) and "Private" (B), each with contacts.
type probeFixture struct {
	*keyFixture
	a, b                 *core.Record // = ws, other
	contactsA, contactsB []*core.Record
}

func newProbeFixture(t *testing.T) *probeFixture {
	kf := newKeyFixture(t)
	p := &probeFixture{keyFixture: kf, a: kf.ws, b: kf.other}
	p.contactsA = []*core.Record{kf.contactW, kf.env.Create("contacts", map[string]any{"workspace": p.a.Id, "primary_email": "shared2@example.org"})}
	p.contactsB = []*core.Record{kf.contactO, kf.env.Create("contacts", map[string]any{"workspace": p.b.Id, "primary_email": "ada.ok.private@example.org", "first_name": "Ada"})}
	return p
}

type rawResponse struct {
	status int
	length string // Content-Length header
	body   []byte
}

// send issues a request with a session token or an API key (key != "").
func probeSend(t *testing.T, f *keyFixture, method, path, token, key string) rawResponse {
	t.Helper()
	req, err := http.NewRequest(method, f.env.Server.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	if key != "" {
		req.Header.Set("X-Api-Key", key)
	}
	res, err := f.env.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return rawResponse{status: res.StatusCode, length: res.Header.Get("Content-Length"), body: b}
}

// recordsIn lists every record object (collectionName + id) anywhere in a JSON body.
func recordsIn(body []byte) [][2]string {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return nil
	}
	var out [][2]string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			col, _ := x["collectionName"].(string)
			id, _ := x["id"].(string)
			if col != "" && id != "" {
				out = append(out, [2]string{col, id})
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

// forbiddenIn returns the records of body that are in forbiddenCollections or
// have one of forbiddenIDs.
func forbiddenIn(body []byte, forbiddenCollections []string, forbiddenIDs ...string) []string {
	var bad []string
	for _, r := range recordsIn(body) {
		for _, c := range forbiddenCollections {
			if r[0] == c {
				bad = append(bad, r[0]+"/"+r[1])
			}
		}
		for _, id := range forbiddenIDs {
			if r[1] == id {
				bad = append(bad, r[0]+"/"+r[1])
			}
		}
	}
	// ids may also show up as plain relation values: a B contact id anywhere is a leak
	for _, id := range forbiddenIDs {
		if strings.Contains(string(body), id) && !containsStr(bad, id) {
			bad = append(bad, "(value) "+id)
		}
	}
	return bad
}

func containsStr(list []string, id string) bool {
	for _, s := range list {
		if strings.HasSuffix(s, "/"+id) {
			return true
		}
	}
	return false
}

func recordIDs(recs []*core.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Id
	}
	return out
}

// ---------------------------------------------------------------------------
// realtime over the real SSE endpoint, tolerant of a refused subscription

type probeSSE struct {
	clientID string
	msgs     chan sseMsg
}

type sseMsg struct {
	event string
	data  []byte
}

func openSSE(t *testing.T, f *keyFixture) *probeSSE {
	t.Helper()
	req, _ := http.NewRequest("GET", f.env.Server.URL+"/api/realtime", nil)
	res, err := f.env.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	s := &probeSSE{msgs: make(chan sseMsg, 1000)}
	r := bufio.NewReader(res.Body)
	connected := make(chan string, 1)
	go func() {
		var event string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			switch {
			case strings.HasPrefix(line, "event:"):
				event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			case strings.HasPrefix(line, "data:"):
				data := []byte(strings.TrimSpace(strings.TrimPrefix(line, "data:")))
				if event == "PB_CONNECT" {
					var d struct{ ClientId string }
					_ = json.Unmarshal(data, &d)
					connected <- d.ClientId
				} else {
					s.msgs <- sseMsg{event, data}
				}
			}
		}
	}()
	select {
	case s.clientID = <-connected:
	case <-time.After(5 * time.Second):
		t.Fatal("no PB_CONNECT")
	}
	return s
}

// subscribe answers the status of the subscription request.
func (s *probeSSE) subscribe(t *testing.T, f *keyFixture, token, key string, topics ...string) (int, string, []byte) {
	t.Helper()
	headers := map[string]string{}
	if key != "" {
		headers["X-Api-Key"] = key
	}
	res := f.env.DoWithHeaders("POST", "/api/realtime", token, headers, map[string]any{"clientId": s.clientID, "subscriptions": topics})
	return res.Status, res.Code(), res.Body
}

// until collects messages until one satisfies stop, or timeout.
func (s *probeSSE) until(timeout time.Duration, stop func(sseMsg) bool) (got []sseMsg, stopped bool) {
	deadline := time.After(timeout)
	for {
		select {
		case m := <-s.msgs:
			got = append(got, m)
			if stop(m) {
				// a short grace period for stragglers
				grace := time.After(300 * time.Millisecond)
				for {
					select {
					case m := <-s.msgs:
						got = append(got, m)
					case <-grace:
						return got, true
					}
				}
			}
		case <-deadline:
			return got, false
		}
	}
}

func optionsTopic(topic string, options string) string {
	return topic + "?options=" + url.QueryEscape(options)
}

// ---------------------------------------------------------------------------

// F1: a workspace-restricted key's list filter cannot be broken out of.
func TestProbeF1RestrictedFilterBreakout(t *testing.T) {
	f := newProbeFixture(t)
	key := f.key(t, map[string]any{"description": "f1", "scopes": []string{"contacts:read"}, "workspace": f.a.Id})

	for _, filter := range []string{
		`id != "") || (id != ""`,
		`id != '') || (id != ''`,
		`id != "" || id != ""`, // no breakout needed if the narrowing is not a conjunction
		`id != "") || true || (id != ""`,
	} {
		path := "/api/collections/contacts/records?perPage=200&fields=id,workspace&filter=" + url.QueryEscape(filter)
		get := probeSend(t, f.keyFixture, "GET", path, "", key)
		if get.status != http.StatusOK && get.status != http.StatusBadRequest {
			t.Errorf("GET %q: %d %s", filter, get.status, get.body)
		}
		if bad := forbiddenIn(get.body, nil, append(recordIDs(f.contactsB), f.b.Id)...); len(bad) > 0 {
			t.Errorf("GET filter %q (status %d) returns B's records: %v", filter, get.status, bad)
		}
		if get.status == http.StatusOK {
			var page struct {
				Items []map[string]any `json:"items"`
			}
			_ = json.Unmarshal(get.body, &page)
			for _, it := range page.Items {
				if it["workspace"] != f.a.Id {
					t.Errorf("GET filter %q: contact %v outside A", filter, it)
				}
			}
		}
		// HEAD answers as GET does: same status and the length of the same body
		head := probeSend(t, f.keyFixture, "HEAD", path, "", key)
		if head.status != get.status || (get.status == 200 && head.length != fmt.Sprint(len(get.body))) {
			t.Errorf("HEAD filter %q: %d length %s; GET: %d length %d", filter, head.status, head.length, get.status, len(get.body))
		}
	}

	// the same breakout in a realtime subscription delivers nothing of B
	s := openSSE(t, f.keyFixture)
	status, _, body := s.subscribe(t, f.keyFixture, "", key, optionsTopic("contacts/*", `{"query":{"filter":"id != \"\") || (id != \"\""}}`))
	if status >= 500 {
		t.Fatalf("subscribe: %d %s", status, body)
	}
	if status == http.StatusNoContent {
		outside := f.env.Create("contacts", map[string]any{"workspace": f.b.Id, "primary_email": "b-late@example.org"})
		inside := f.env.Create("contacts", map[string]any{"workspace": f.a.Id, "primary_email": "a-late@example.org"})
		got, _ := s.until(3*time.Second, func(m sseMsg) bool { return strings.Contains(string(m.data), inside.Id) })
		for _, m := range got {
			if strings.Contains(string(m.data), outside.Id) || strings.Contains(string(m.data), f.b.Id) {
				t.Errorf("realtime delivered a contact of B: %s", m.data)
			}
		}
	}
}

// F2: expand obeys a key's scopes and its workspace, over REST and realtime.
func TestProbeF2ExpandIgnoresKeyLimits(t *testing.T) {
	f := newProbeFixture(t)
	tplKey := f.key(t, map[string]any{"description": "f2 tpl", "scopes": []string{"templates:read"}, "workspace": f.a.Id})
	cKey := f.key(t, map[string]any{"description": "f2 contacts", "scopes": []string{"contacts:read"}, "workspace": f.a.Id})
	allContacts := append(recordIDs(f.contactsA), recordIDs(f.contactsB)...)

	for _, c := range []struct {
		name, key, path string
		collections     []string
		ids             []string
	}{
		{"templates key, users -> members -> workspace -> contacts", tplKey,
			"/api/collections/users/records?expand=" + url.QueryEscape("workspace_members_via_user.workspace.contacts_via_workspace"),
			[]string{"contacts"}, append(allContacts, f.b.Id)},
		{"templates key, workspaces -> contacts", tplKey,
			"/api/collections/workspaces/records?expand=contacts_via_workspace",
			[]string{"contacts"}, append(allContacts, f.b.Id)},
		{"templates key, view A -> contacts", tplKey,
			"/api/collections/workspaces/records/" + f.a.Id + "?expand=contacts_via_workspace",
			[]string{"contacts"}, allContacts},
		{"contacts key, view andy -> owned workspaces -> contacts", cKey,
			"/api/collections/users/records/" + f.user.Id + "?expand=" + url.QueryEscape("workspaces_via_owner.contacts_via_workspace"),
			nil, append(recordIDs(f.contactsB), f.b.Id)},
		{"contacts key, contact of A -> workspace -> owner -> owned workspaces -> contacts", cKey,
			"/api/collections/contacts/records/" + f.contactsA[0].Id + "?expand=" + url.QueryEscape("workspace.owner.workspaces_via_owner.contacts_via_workspace"),
			nil, append(recordIDs(f.contactsB), f.b.Id)},
		{"contacts key, users -> members -> workspace", cKey,
			"/api/collections/users/records?expand=" + url.QueryEscape("workspace_members_via_user.workspace.contacts_via_workspace"),
			nil, append(recordIDs(f.contactsB), f.b.Id)},
	} {
		res := probeSend(t, f.keyFixture, "GET", c.path, "", c.key)
		if bad := forbiddenIn(res.body, c.collections, c.ids...); len(bad) > 0 {
			t.Errorf("%s: %d, leaks %v", c.name, res.status, bad)
		}
	}

	// realtime: the templates key's workspace messages carry no contacts
	s := openSSE(t, f.keyFixture)
	status, _, body := s.subscribe(t, f.keyFixture, "", tplKey, optionsTopic("workspaces/*", `{"query":{"expand":"contacts_via_workspace"}}`))
	if status >= 500 {
		t.Fatalf("subscribe: %d %s", status, body)
	}
	if status == http.StatusNoContent {
		f.env.Create("contacts", map[string]any{"workspace": f.a.Id, "primary_email": "a-rt@example.org"})
		for _, ws := range []*core.Record{f.b, f.a} { // A last: its message ends the wait
			ws.Set("name", ws.GetString("name")+" renamed")
			if err := f.env.App.Save(ws); err != nil {
				t.Fatal(err)
			}
		}
		got, arrived := s.until(3*time.Second, func(m sseMsg) bool { return strings.Contains(string(m.data), f.a.Id) })
		if !arrived {
			t.Log("no message for A arrived (acceptable: nothing leaks)")
		}
		for _, m := range got {
			if bad := forbiddenIn(m.data, []string{"contacts"}); len(bad) > 0 {
				t.Errorf("realtime message %s carries contacts: %v", m.event, bad)
			}
		}
	}
}

// F3: a key never creates a key stronger than itself.
func TestProbeF3KeyMintsStrongerKey(t *testing.T) {
	f := newProbeFixture(t)
	parent := f.key(t, map[string]any{"description": "parent", "scopes": []string{"admin"}, "workspace": f.a.Id, "expires_in_days": 1})

	mint := func(body map[string]any) (int, string, map[string]any) {
		res := f.env.DoWithHeaders("POST", "/api/crm/api-keys", "", withKey(parent), body)
		k, _ := res.JSON()["key"].(string)
		rec, _ := res.JSON()["record"].(map[string]any)
		if res.Status == http.StatusOK && k == "" {
			t.Fatalf("200 without a key: %s", res.Body)
		}
		if res.Status != http.StatusOK && (res.Status < 400 || res.Status >= 500) {
			t.Errorf("mint %v: %d %s", body, res.Status, res.Body)
		}
		return res.Status, k, rec
	}

	type child struct{ name, key string }
	var children []child
	// exactly the probe: no workspace, no expiry
	if st, k, _ := mint(map[string]any{"description": "x", "scopes": []string{"admin"}}); st == http.StatusOK {
		children = append(children, child{"no workspace, no expiry", k})
	}
	// asking for more than the parent has must be refused
	if st, k, rec := mint(map[string]any{"description": "x", "scopes": []string{"admin"}, "workspace": f.b.Id}); st == http.StatusOK {
		children = append(children, child{"workspace B", k})
		if rec["workspace"] != f.a.Id {
			t.Errorf("a key restricted to A created a key for workspace %v", rec["workspace"])
		}
	}
	if st, k, _ := mint(map[string]any{"description": "x", "scopes": []string{"admin"}, "workspace": f.a.Id, "expires_in_days": 30}); st == http.StatusOK {
		children = append(children, child{"30 days", k})
	}
	// a key of the same limits is fine (or refused, if keys cannot create keys)
	if st, k, _ := mint(map[string]any{"description": "same", "scopes": []string{"contacts:read"}, "workspace": f.a.Id, "expires_in_days": 1}); st == http.StatusOK {
		children = append(children, child{"same limits", k})
	}

	// whatever was created reads nothing of B ...
	for _, c := range children {
		i, k := c.name, c.key
		res := probeSend(t, f.keyFixture, "GET", "/api/collections/contacts/records?perPage=200", "", k)
		if bad := forbiddenIn(res.body, nil, recordIDs(f.contactsB)...); len(bad) > 0 {
			t.Errorf("child key %q reads B: %v", i, bad)
		}
		if res := probeSend(t, f.keyFixture, "GET", "/api/collections/contacts/records/"+f.contactsB[0].Id, "", k); res.status == http.StatusOK {
			t.Errorf("child key %q views a contact of B", i)
		}
		res2 := f.env.DoWithHeaders("PATCH", "/api/collections/contacts/records/"+f.contactsB[0].Id, "", withKey(k), map[string]any{"company": "pwned"})
		if res2.Status == http.StatusOK {
			t.Errorf("child key %q writes a contact of B", i)
		}
	}
	if fresh, _ := f.env.App.FindRecordById("contacts", f.contactsB[0].Id); fresh.GetString("company") == "pwned" {
		t.Error("a contact of B was changed through a child key")
	}
	// ... and dies with the parent's expiry
	f.clockShift = 25 * time.Hour
	if res := probeSend(t, f.keyFixture, "GET", "/api/collections/contacts/records", "", parent); res.status != http.StatusUnauthorized {
		t.Fatalf("the parent still works after its expiry: %d", res.status)
	}
	for _, c := range children {
		i, k := c.name, c.key
		if res := probeSend(t, f.keyFixture, "GET", "/api/collections/workspaces/records", "", k); res.status != http.StatusUnauthorized {
			t.Errorf("child key %q outlives its parent: %d %s", i, res.status, res.body)
		}
	}
	f.clockShift = 0

	// scopes: a key without admin creates no key at all, certainly not a wider one
	reader := f.key(t, map[string]any{"description": "reader", "scopes": []string{"contacts:read"}})
	for _, scopes := range [][]string{{"templates:read"}, {"admin"}, {"contacts:write"}} {
		res := f.env.DoWithHeaders("POST", "/api/crm/api-keys", "", withKey(reader), map[string]any{"description": "y", "scopes": scopes})
		if res.Status == http.StatusOK {
			t.Errorf("a contacts:read key created a %v key", scopes)
		}
	}
}

// F4: HEAD and GET give no signal about a back-relation filter on another
// workspace's data.
func TestProbeF4HeadOracle(t *testing.T) {
	f := newProbeFixture(t)
	andy := f.user
	// the outsider's own workspace, which andy was added to (finding 6's way in)
	outsider, outsiderTok := f.env.User("eve@example.com")
	ow := f.env.Workspace("Eve's", outsider, nil)
	f.env.Create("workspace_members", map[string]any{"workspace": ow.Id, "user": andy.Id, "role": "viewer"})
	// a viewer of Shared (A), which andy owns
	viewer, viewerTok := f.env.User("vic@example.com")
	f.env.Create("workspace_members", map[string]any{"workspace": f.a.Id, "user": viewer.Id, "role": "viewer"})
	privateEmail := f.contactsB[1].GetString("primary_email") // ada.ok.private@example.org, in B

	type probe struct {
		who, token, key string
		filter          func(v string) string
		yes, no         string
	}
	outsiderKey := ""
	{
		res := f.env.Do("POST", "/api/crm/api-keys", outsiderTok, map[string]any{"description": "eve", "scopes": []string{"contacts:read"}})
		outsiderKey, _ = res.JSON()["key"].(string)
	}
	viewerKey := ""
	{
		res := f.env.Do("POST", "/api/crm/api-keys", viewerTok, map[string]any{"description": "vic", "scopes": []string{"admin"}, "workspace": f.a.Id})
		viewerKey, _ = res.JSON()["key"].(string)
	}
	viaMembers := func(op string) func(string) string {
		return func(v string) string {
			return `id="` + andy.Id + `" && (workspace_members_via_user.workspace.contacts_via_workspace.primary_email ` + op + ` "` + v + `")`
		}
	}
	viaOwner := func(op string) func(string) string {
		return func(v string) string {
			return `id="` + andy.Id + `" && workspaces_via_owner.contacts_via_workspace.primary_email ` + op + ` "` + v + `"`
		}
	}
	probes := []probe{
		{"outsider", outsiderTok, "", viaMembers("!~"), "ada.ok%", "zzz.none%"},
		{"outsider", outsiderTok, "", viaMembers("!="), privateEmail, "nobody@example.org"},
		{"outsider", outsiderTok, "", viaMembers("?="), privateEmail, "nobody@example.org"},
		{"outsider key", "", outsiderKey, viaMembers("!~"), "ada.ok%", "zzz.none%"},
		{"viewer of A", viewerTok, "", viaOwner("!="), privateEmail, "nobody@example.org"},
		{"viewer of A", viewerTok, "", viaOwner("!~"), "ada.ok%", "zzz.none%"},
		{"viewer of A", viewerTok, "", viaOwner("?~"), "ada.ok%", "zzz.none%"},
		{"viewer key of A", "", viewerKey, viaOwner("!="), privateEmail, "nobody@example.org"},
		{"viewer of A, :each", viewerTok, "", func(v string) string {
			return `id="` + andy.Id + `" && workspaces_via_owner.contacts_via_workspace.primary_email:each != "` + v + `"`
		}, privateEmail, "nobody@example.org"},
	}
	_ = viewer
	for _, p := range probes {
		for _, method := range []string{"HEAD", "GET"} {
			yes := probeSend(t, f.keyFixture, method, "/api/collections/users/records?filter="+url.QueryEscape(p.filter(p.yes)), p.token, p.key)
			no := probeSend(t, f.keyFixture, method, "/api/collections/users/records?filter="+url.QueryEscape(p.filter(p.no)), p.token, p.key)
			if yes.status != no.status || yes.length != no.length || (method == "GET" && string(yes.body) != string(no.body)) {
				t.Errorf("%s %s %s: existing value -> %d length %s, missing value -> %d length %s",
					p.who, method, p.filter(p.yes), yes.status, yes.length, no.status, no.length)
			}
		}
	}
}

// F5: realtime options are read as PocketBase reads them (json/v2,
// case-sensitive): a forbidden filter hidden behind a second key is refused.
func TestProbeF5RealtimeOptionsCase(t *testing.T) {
	f := newProbeFixture(t)
	outsider, tok := f.env.User("eve@example.com")
	ow := f.env.Workspace("Eve's", outsider, nil)
	f.env.Create("workspace_members", map[string]any{"workspace": ow.Id, "user": f.user.Id, "role": "viewer"})
	f.env.Create("contacts", map[string]any{"workspace": ow.Id, "primary_email": "eve-contact@example.org"})

	forbidden := `workspace.owner.workspaces_via_owner.id ?= \"` + f.b.Id + `\"`
	forbidden2 := `@collection.contacts.primary_email ?= \"ada.ok.private@example.org\"`
	for _, options := range []string{
		`{"query":{"filter":"` + forbidden + `"},"QUERY":{"filter":"id != \"\""}}`,
		`{"QUERY":{"filter":"id != \"\""},"query":{"filter":"` + forbidden + `"}}`,
		`{"query":{"filter":"` + forbidden2 + `"},"Query":{"filter":"id != \"\""}}`,
		`{"query":{"filter":"` + forbidden2 + `","FILTER":"id != \"\""}}`,
		`{"query":{"FILTER":"id != \"\"","filter":"` + forbidden2 + `"}}`,
	} {
		s := openSSE(t, f.keyFixture)
		status, code, body := s.subscribe(t, f.keyFixture, tok, "", optionsTopic("contacts/*", options))
		if status != http.StatusBadRequest || code != "filter_forbidden" {
			t.Errorf("options %s: %d %q %s, want 400 filter_forbidden", options, status, code, body)
		}
	}
	// a plain forbidden filter stays refused, a plain harmless one is accepted
	s := openSSE(t, f.keyFixture)
	if status, code, _ := s.subscribe(t, f.keyFixture, tok, "", optionsTopic("contacts/*", `{"query":{"filter":"`+forbidden+`"}}`)); status != http.StatusBadRequest || code != "filter_forbidden" {
		t.Errorf("plain forbidden filter: %d %q", status, code)
	}
	s = openSSE(t, f.keyFixture)
	if status, _, body := s.subscribe(t, f.keyFixture, tok, "", optionsTopic("contacts/*", `{"query":{"filter":"primary_email != \"\""}}`)); status != http.StatusNoContent {
		t.Errorf("harmless filter refused: %d %s", status, body)
	}
}
