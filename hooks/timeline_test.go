package hooks_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/internal/testutil"
)

const logsURL = "/api/collections/communication_logs/records"

// The timeline is read through PocketBase's collection API
// on communication_logs — filtered by contact, type and date, sorted and
// paged — with no custom route. This holds it to that, and to isolation.
func TestTimelinePagedAndFiltered(t *testing.T) {
	f := newCRM(t)
	a := mustStatus(t, f.post(t, "editor", map[string]any{"workspace": f.w.Id, "first_name": "A"}), 200, "")["id"].(string)
	b := mustStatus(t, f.post(t, "editor", map[string]any{"workspace": f.w.Id, "first_name": "B"}), 200, "")["id"].(string)
	day := func(d int) string {
		return time.Date(2026, 3, d, 12, 0, 0, 0, time.UTC).Format("2006-01-02 15:04:05.000Z")
	}
	entry := func(contact, typ string, d int) string {
		return mustStatus(t, f.env.Do(http.MethodPost, logsURL, f.tok["editor"], map[string]any{"workspace": f.w.Id, "contact": contact,
			"type": typ, "direction": "outbound", "content": typ, "timestamp": day(d)}), 200, "")["id"].(string)
	}
	e1 := entry(a, "email", 1)
	e2 := entry(a, "call", 2)
	e3 := entry(a, "email", 3)
	e4 := entry(a, "email", 5)
	entry(b, "email", 3)

	list := func(who, filter, sort string, page, perPage int) (ids []string, total int) {
		q := url.Values{"filter": {filter}, "sort": {sort}, "page": {itoa(page)}, "perPage": {itoa(perPage)}}
		res := mustStatus(t, f.env.Do(http.MethodGet, logsURL+"?"+q.Encode(), f.tok[who], nil), 200, "")
		for _, it := range res["items"].([]any) {
			ids = append(ids, it.(map[string]any)["id"].(string))
		}
		return ids, int(res["totalItems"].(float64))
	}
	byA := `contact = "` + a + `" && type = "email" && timestamp >= "2026-03-02 00:00:00" && timestamp < "2026-03-06 00:00:00"`
	ids, total := list("viewer", byA, "-timestamp", 1, 1)
	if total != 2 || len(ids) != 1 || ids[0] != e4 {
		t.Fatalf("page 1: %v of %d", ids, total)
	}
	if ids, _ = list("viewer", byA, "-timestamp", 2, 1); len(ids) != 1 || ids[0] != e3 {
		t.Fatalf("page 2: %v", ids)
	}
	// the contact's whole timeline, oldest first, includes its system entry
	ids, _ = list("viewer", `contact = "`+a+`" && type != "system"`, "timestamp", 1, 10)
	assertJSON(t, ids, []string{e1, e2, e3, e4})
	if _, n := list("viewer", `contact = "`+a+`" && type = "system"`, "", 1, 10); n != 1 {
		t.Fatalf("system entries of A: %d", n)
	}
	// nobody outside the workspace sees any of it
	if _, n := list("outsider", `contact = "`+a+`"`, "", 1, 10); n != 0 {
		t.Fatalf("outsider sees %d entries", n)
	}
}

// Realtime subscribers of a contact (the SDK's subscribe('*', cb, {filter:
// 'contact = "…"'})) get that contact's new entries — those written by users
// and the system entries written by hooks inside a contact's transaction —
// and not other contacts' or other workspaces' entries.
func TestTimelineRealtimePerContact(t *testing.T) {
	f := newCRM(t)
	a := mustStatus(t, f.post(t, "editor", map[string]any{"workspace": f.w.Id, "first_name": "A"}), 200, "")["id"].(string)
	b := mustStatus(t, f.post(t, "editor", map[string]any{"workspace": f.w.Id, "first_name": "B"}), 200, "")["id"].(string)

	opts, _ := json.Marshal(map[string]any{"query": map[string]string{"filter": `contact = "` + a + `"`}})
	topic := "communication_logs/*?options=" + url.QueryEscape(string(opts))
	viewerEvents := testutil.Subscribe(t, f.env, f.tok["viewer"], nil, topic)
	outsiderEvents := testutil.Subscribe(t, f.env, f.tok["outsider"], nil, "communication_logs/*")

	note := func(contact string) string {
		return mustStatus(t, f.env.Do(http.MethodPost, logsURL, f.tok["editor"], map[string]any{"workspace": f.w.Id, "contact": contact,
			"type": "note", "content": "hi"}), 200, "")["id"].(string)
	}
	onB := note(b)
	onA := note(a)
	// an edit writes a system entry in the contact's own transaction
	mustStatus(t, f.env.Do(http.MethodPatch, contactsURL+"/"+a, f.tok["editor"], map[string]any{"company": "Acme"}), 200, "")
	sys, err := f.env.App.FindFirstRecordByFilter("communication_logs", `contact = {:c} && content = "Contact updated: company"`, map[string]any{"c": a})
	if err != nil {
		t.Fatal(err)
	}
	last := note(a)

	got := testutil.CollectUntil(viewerEvents, last, 5*time.Second)
	for _, id := range []string{onA, sys.Id, last} {
		if !got[id] {
			t.Errorf("subscriber of A missed entry %s (got %v)", id, got)
		}
	}
	if got[onB] {
		t.Error("subscriber of A got B's entry")
	}
	if leaked := testutil.CollectUntil(outsiderEvents, "none", 500*time.Millisecond); len(leaked) > 0 {
		t.Errorf("outsider received %v", leaked)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
