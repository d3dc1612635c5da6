package hooks_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/hooks"
	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

const mergeURL = "/api/crm/contacts/merge"

// mergeFixture: newCRM's users and workspaces, a movable clock, custom field
// definitions (tier: text, score: number, vip: boolean) and three lists.
type mergeFixture struct {
	*crmFixture
	clock      atomic.Int64 // unix nanoseconds
	l1, l2, l3 *core.Record
	seq        int
}

func newMergeFixture(t *testing.T) *mergeFixture {
	mf := &mergeFixture{}
	mf.clock.Store(time.Now().UnixNano())
	env := testutil.NewWithConfig(t, hooks.Config{Now: func() time.Time { return time.Unix(0, mf.clock.Load()) }})
	f := newCRMOn(env)
	mf.crmFixture = f
	for _, d := range []struct{ name, typ string }{{"tier", "text"}, {"score", "number"}, {"vip", "boolean"}} {
		env.Create("custom_field_definitions", map[string]any{"user": f.owner.Id, "field_name": d.name, "label": d.name, "field_type": d.typ})
	}
	mf.l1 = env.Create("contact_lists", map[string]any{"workspace": f.w.Id, "name": "L1"})
	mf.l2 = env.Create("contact_lists", map[string]any{"workspace": f.w.Id, "name": "L2"})
	mf.l3 = env.Create("contact_lists", map[string]any{"workspace": f.w.Id, "name": "L3"})
	return mf
}

func (mf *mergeFixture) advance(d time.Duration) { mf.clock.Add(int64(d)) }

func (mf *mergeFixture) contact(t *testing.T, fields map[string]any) *core.Record {
	t.Helper()
	mf.seq++
	fields["workspace"] = mf.w.Id
	if _, ok := fields["primary_email"]; !ok {
		fields["primary_email"] = fmt.Sprintf("m%d@example.org", mf.seq)
	}
	return mf.env.Create("contacts", fields)
}

func (mf *mergeFixture) assign(t *testing.T, c, l *core.Record, primary bool) *core.Record {
	t.Helper()
	return mf.env.Create("contact_list_assignments", map[string]any{"contact": c.Id, "list": l.Id, "is_primary": primary})
}

func (mf *mergeFixture) note(t *testing.T, c *core.Record, text string) *core.Record {
	t.Helper()
	return mf.env.Create("communication_logs", map[string]any{"workspace": mf.w.Id, "contact": c.Id, "type": "note", "content": text,
		"timestamp": time.Now().UTC()})
}

func (mf *mergeFixture) merge(t *testing.T, who string, body map[string]any) testutil.Response {
	t.Helper()
	return mf.env.Do(http.MethodPost, mergeURL, mf.tok[who], body)
}

func (mf *mergeFixture) undo(t *testing.T, who, id string) testutil.Response {
	t.Helper()
	return mf.env.Do(http.MethodPost, mergeURL+"/"+id+"/undo", mf.tok[who], nil)
}

// contactState is everything a merge may touch about one contact.
type contactState struct {
	Row         map[string]any
	Custom      map[string]string // custom_fields id -> name=value
	Assignments map[string]string // assignment id -> list/primary
	Logs        map[string]bool   // communication_logs ids
}

func (mf *mergeFixture) state(t *testing.T, id string) contactState {
	t.Helper()
	st := contactState{Custom: map[string]string{}, Assignments: map[string]string{}, Logs: map[string]bool{}}
	rec, err := mf.env.App.FindRecordById("contacts", id)
	if err != nil {
		return st
	}
	st.Row = map[string]any{}
	for _, f := range []string{"workspace", "first_name", "last_name", "primary_email", "primary_phone", "company", "created", "updated"} {
		st.Row[f] = rec.GetString(f)
	}
	var copy map[string]any
	_ = rec.UnmarshalJSONField("custom", &copy)
	b, _ := json.Marshal(copy)
	st.Row["custom"] = string(b)
	cf, _ := mf.env.App.FindAllRecords("custom_fields", dbx.HashExp{"contact": id})
	for _, r := range cf {
		st.Custom[r.Id] = r.GetString("field_name") + "=" + r.GetString("field_value")
	}
	as, _ := mf.env.App.FindAllRecords("contact_list_assignments", dbx.HashExp{"contact": id})
	for _, r := range as {
		st.Assignments[r.Id] = fmt.Sprintf("%s/%v", r.GetString("list"), r.GetBool("is_primary"))
	}
	logs, _ := mf.env.App.FindAllRecords("communication_logs", dbx.HashExp{"contact": id})
	for _, r := range logs {
		st.Logs[r.Id] = true
	}
	return st
}

func (mf *mergeFixture) exists(id string) bool {
	_, err := mf.env.App.FindRecordById("contacts", id)
	return err == nil
}

func conflictsOf(t *testing.T, res testutil.Response) map[string][2]any {
	t.Helper()
	var body struct {
		Data struct {
			Conflicts []struct {
				Field          string
				Source, Target any
			}
		}
		Conflicts []struct {
			Field          string
			Source, Target any
		}
	}
	if err := json.Unmarshal(res.Body, &body); err != nil {
		t.Fatal(err)
	}
	out := map[string][2]any{}
	for _, c := range append(body.Data.Conflicts, body.Conflicts...) {
		out[c.Field] = [2]any{c.Source, c.Target}
	}
	return out
}

func TestMergeUnresolvedConflict(t *testing.T) {
	mf := newMergeFixture(t)
	a := mf.contact(t, map[string]any{"first_name": "Ada", "company": "Acme", "custom": map[string]any{"tier": "gold", "score": 5}})
	b := mf.contact(t, map[string]any{"first_name": "Adah", "company": "Acme", "custom": map[string]any{"tier": "silver"}})
	before := countRecords(t, mf.env.App, "audit_logs", nil)

	res := mf.merge(t, "editor", map[string]any{"source": a.Id, "target": b.Id})
	mustStatus(t, res, 409, "merge_conflict_unresolved")
	got := conflictsOf(t, res)
	want := map[string][2]any{
		"first_name":  {"Ada", "Adah"},
		"custom.tier": {"gold", "silver"},
		// primary_email differs too (every contact has its own)
		"primary_email": {a.GetString("primary_email"), b.GetString("primary_email")},
	}
	assertJSON(t, got, want)
	if !mf.exists(a.Id) || countRecords(t, mf.env.App, "audit_logs", nil) != before {
		t.Fatal("a refused merge changed something")
	}

	// resolving only some of them still lists the rest
	res = mf.merge(t, "editor", map[string]any{"source": a.Id, "target": b.Id, "resolution": map[string]any{"first_name": "source", "primary_email": "target"}})
	mustStatus(t, res, 409, "merge_conflict_unresolved")
	if got := conflictsOf(t, res); len(got) != 1 || got["custom.tier"] == [2]any{} {
		t.Fatalf("remaining conflicts: %v", got)
	}

	// bad resolutions are 400s, not 500s
	for _, r := range []any{
		map[string]any{"first_name": "both"},
		map[string]any{"first_name": map[string]any{"val": 1}},
		map[string]any{"nickname": "source"},
		map[string]any{"first_name": map[string]any{"value": 42}},
		map[string]any{"primary_list": map[string]any{"value": "x"}},
	} {
		res := mf.merge(t, "editor", map[string]any{"source": a.Id, "target": b.Id, "resolution": r})
		mustStatus(t, res, 400, "merge_invalid")
	}
}

func allCounts(t *testing.T, app core.App) map[string]int {
	out := map[string]int{}
	for _, c := range []string{"contacts", "custom_fields", "contact_list_assignments", "communication_logs", "audit_logs", "contact_merges", "campaign_deliveries"} {
		out[c] = countRecords(t, app, c, nil)
	}
	return out
}

func TestMergeDryRunWritesNothing(t *testing.T) {
	mf := newMergeFixture(t)
	a := mf.contact(t, map[string]any{"first_name": "Ada", "custom": map[string]any{"tier": "gold", "score": 5}})
	b := mf.contact(t, map[string]any{"first_name": "Adah", "last_name": "King", "custom": map[string]any{"tier": "silver"}})
	mf.assign(t, a, mf.l1, true)
	mf.note(t, a, "hello")
	sa, sb := mf.state(t, a.Id), mf.state(t, b.Id)
	counts := allCounts(t, mf.env.App)

	res := mf.merge(t, "editor", map[string]any{"source": a.Id, "target": b.Id, "dry_run": true})
	body := mustStatus(t, res, 200, "")
	if body["dry_run"] != true || body["merge_id"] != nil {
		t.Fatalf("dry run answer: %s", res.Body)
	}
	if got := conflictsOf(t, res); len(got) != 3 {
		t.Fatalf("dry run conflicts: %v", got)
	}
	contact := body["contact"].(map[string]any)
	// union: score comes from the source, last_name from the target; the
	// unresolved fields show the target's value
	assertJSON(t, contact["custom"], map[string]any{"tier": "silver", "score": 5})
	if contact["last_name"] != "King" || contact["first_name"] != "Adah" {
		t.Fatalf("merged contact: %v", contact)
	}

	res = mf.merge(t, "editor", map[string]any{"source": a.Id, "target": b.Id, "dry_run": true,
		"resolution": map[string]any{"first_name": "source", "primary_email": "source", "custom.tier": map[string]any{"value": "platinum"}}})
	body = mustStatus(t, res, 200, "")
	contact = body["contact"].(map[string]any)
	if contact["first_name"] != "Ada" || contact["primary_email"] != a.GetString("primary_email") || len(body["conflicts"].([]any)) != 0 {
		t.Fatalf("resolved dry run: %s", res.Body)
	}
	assertJSON(t, contact["custom"], map[string]any{"tier": "platinum", "score": 5})

	assertJSON(t, allCounts(t, mf.env.App), counts)
	assertJSON(t, mf.state(t, a.Id), sa)
	assertJSON(t, mf.state(t, b.Id), sb)

	// a dry run validates like the merge: an invalid value is a 400
	res = mf.merge(t, "editor", map[string]any{"source": a.Id, "target": b.Id, "dry_run": true,
		"resolution": map[string]any{"custom.score": map[string]any{"value": "many"}}})
	mustStatus(t, res, 400, "custom_field_invalid")
}

func TestMergeResolutionAndUnion(t *testing.T) {
	mf := newMergeFixture(t)
	a := mf.contact(t, map[string]any{"first_name": "Ada", "last_name": "Byron", "primary_phone": "+14155550100",
		"custom": map[string]any{"tier": "gold", "score": 5, "vip": true}})
	b := mf.contact(t, map[string]any{"first_name": "Adah", "last_name": "B.", "company": "Engines Ltd", "primary_email": "",
		"custom": map[string]any{"tier": "silver", "score": 7}})
	aEmail := a.GetString("primary_email")

	res := mf.merge(t, "editor", map[string]any{"source": a.Id, "target": b.Id, "resolution": map[string]any{
		"first_name":   "source",
		"last_name":    map[string]any{"value": "Lovelace"},
		"custom.tier":  "target",
		"custom.score": map[string]any{"value": 9},
	}})
	body := mustStatus(t, res, 200, "")
	if id, _ := body["merge_id"].(string); id == "" || body["undo_until"] == "" {
		t.Fatalf("no merge id: %s", res.Body)
	}
	if mf.exists(a.Id) {
		t.Fatal("the source still exists")
	}
	got, _ := mf.env.App.FindRecordById("contacts", b.Id)
	want := map[string]string{"first_name": "Ada", "last_name": "Lovelace", "company": "Engines Ltd",
		"primary_email": aEmail /* union: only the source had one */, "primary_phone": "+14155550100"}
	for f, v := range want {
		if got.GetString(f) != v {
			t.Errorf("%s = %q, want %q", f, got.GetString(f), v)
		}
	}
	var copy map[string]any
	_ = got.UnmarshalJSONField("custom", &copy)
	assertJSON(t, copy, map[string]any{"tier": "silver", "score": 9, "vip": true})
	// the EAV rows are the source of truth: they agree with the copy
	st := mf.state(t, b.Id)
	var rows []string
	for _, v := range st.Custom {
		rows = append(rows, v)
	}
	sort.Strings(rows)
	if strings.Join(rows, ",") != "score=9,tier=silver,vip=true" {
		t.Fatalf("custom rows: %v", rows)
	}
	if n := countRecords(t, mf.env.App, "custom_fields", dbx.HashExp{"contact": a.Id}); n != 0 {
		t.Fatalf("%d custom rows left on the source", n)
	}
	// the merge is on the target's timeline
	wantEntries(t, mf.timeline(t, b.Id), fmt.Sprintf("Merged contact %q (%s) into this contact: 1 timeline entries and 0 list memberships moved (merge %s)", // its "Contact created"
		"Ada Byron", a.Id, body["merge_id"]))
}

func TestMergeAccess(t *testing.T) {
	mf := newMergeFixture(t)
	a := mf.contact(t, map[string]any{"first_name": "A"})
	b := mf.contact(t, map[string]any{"first_name": "A"})
	// the owner of W is also an editor of X: a cross-workspace merge is then
	// a 400, not a 404
	mf.env.Create("workspace_members", map[string]any{"workspace": mf.x.Id, "user": mf.owner.Id, "role": "editor"})
	inX := mf.env.Create("contacts", map[string]any{"workspace": mf.x.Id, "first_name": "A"})
	pair := func(src, tgt *core.Record) map[string]any {
		return map[string]any{"source": src.Id, "target": tgt.Id, "resolution": map[string]any{"primary_email": "target"}}
	}

	mustStatus(t, mf.merge(t, "owner", pair(a, inX)), 400, "merge_cross_workspace")
	mustStatus(t, mf.merge(t, "viewer", pair(a, b)), 403, "forbidden")
	mustStatus(t, mf.merge(t, "outsider", pair(a, b)), 404, "contact_not_found")
	mustStatus(t, mf.merge(t, "editor", pair(a, inX)), 404, "contact_not_found") // not a member of X
	mustStatus(t, mf.merge(t, "editor", pair(a, a)), 400, "merge_same_contact")
	mustStatus(t, mf.merge(t, "editor", map[string]any{"source": a.Id}), 400, "merge_invalid")
	if res := mf.env.Do(http.MethodPost, mergeURL, "", pair(a, b)); res.Status != 401 {
		t.Fatalf("anonymous: %d", res.Status)
	}

	// API keys need contacts:write, and a key restricted to X sees no contact of W
	key := func(body map[string]any) string {
		res := mf.env.Do(http.MethodPost, "/api/crm/api-keys", mf.tok["owner"], body)
		k, _ := mustStatus(t, res, 200, "")["key"].(string)
		return k
	}
	readKey := key(map[string]any{"scopes": []string{"contacts:read"}})
	res := mf.env.DoWithHeaders(http.MethodPost, mergeURL, "", map[string]string{"X-Api-Key": readKey}, pair(a, b))
	mustStatus(t, res, 403, "api_key_scope_missing")
	xKey := key(map[string]any{"scopes": []string{"contacts:write"}, "workspace": mf.x.Id})
	res = mf.env.DoWithHeaders(http.MethodPost, mergeURL, "", map[string]string{"X-Api-Key": xKey}, pair(a, b))
	mustStatus(t, res, 404, "contact_not_found")
	if !mf.exists(a.Id) || !mf.exists(b.Id) {
		t.Fatal("a refused merge deleted a contact")
	}
	writeKey := key(map[string]any{"scopes": []string{"contacts:write"}})
	res = mf.env.DoWithHeaders(http.MethodPost, mergeURL, "", map[string]string{"X-Api-Key": writeKey}, pair(a, b))
	mustStatus(t, res, 200, "")
}

// The scenario users of other CRMs complain about: a merge that loses list
// memberships or history. Nothing is lost, and undo gives back exactly what
// was there.
func TestMergeKeepsListsAndTimelineAndUndoRestores(t *testing.T) {
	for _, prefer := range []string{"", "source"} {
		t.Run("primary_list="+prefer, func(t *testing.T) {
			mf := newMergeFixture(t)
			a := mf.contact(t, map[string]any{"first_name": "Ada", "custom": map[string]any{"tier": "gold", "score": 5}})
			b := mf.contact(t, map[string]any{"first_name": "Ada", "company": "Acme", "custom": map[string]any{"tier": "silver"}})
			mf.assign(t, a, mf.l1, true)
			mf.assign(t, a, mf.l2, false)
			mf.assign(t, b, mf.l2, true)
			mf.assign(t, b, mf.l3, false)
			for i := 0; i < 5; i++ {
				mf.note(t, a, fmt.Sprintf("a%d", i))
				mf.note(t, b, fmt.Sprintf("b%d", i))
			}
			// deliveries: one campaign only the source got (moves), one both
			// got (the ledger allows one row per contact: the source's stays
			// behind with its contact emptied, and comes back on undo)
			c1 := mf.env.Create("campaigns", map[string]any{"workspace": mf.w.Id, "name": "C1", "type": "email", "status": "sent"})
			c2 := mf.env.Create("campaigns", map[string]any{"workspace": mf.w.Id, "name": "C2", "type": "email", "status": "sent"})
			d1 := mf.env.Create("campaign_deliveries", map[string]any{"campaign": c1.Id, "contact": a.Id, "channel": "email", "address": "x@example.org", "status": "sent"})
			d2 := mf.env.Create("campaign_deliveries", map[string]any{"campaign": c2.Id, "contact": a.Id, "channel": "email", "address": "x@example.org", "status": "sent"})
			mf.env.Create("campaign_deliveries", map[string]any{"campaign": c2.Id, "contact": b.Id, "channel": "email", "address": "y@example.org", "status": "sent"})

			sa, sb := mf.state(t, a.Id), mf.state(t, b.Id)
			resolution := map[string]any{"primary_email": "target", "custom.tier": "source"}
			if prefer != "" {
				resolution["primary_list"] = prefer
			}
			res := mf.merge(t, "editor", map[string]any{"source": a.Id, "target": b.Id, "resolution": resolution})
			body := mustStatus(t, res, 200, "")
			mergeID := body["merge_id"].(string)
			assertJSON(t, body["moved"], map[string]any{"communication_logs": float64(len(sa.Logs)), "contact_list_assignments": 1, "campaign_deliveries": 1})

			merged := mf.state(t, b.Id)
			// every list: L1 (moved), L2 (both: the target's row), L3
			lists := map[string]bool{}
			for _, v := range merged.Assignments {
				lists[strings.Split(v, "/")[0]] = true
			}
			if len(lists) != 3 || !lists[mf.l1.Id] || !lists[mf.l2.Id] || !lists[mf.l3.Id] {
				t.Fatalf("memberships after merge: %v", merged.Assignments)
			}
			wantPrimary := mf.l2.Id
			if prefer == "source" {
				wantPrimary = mf.l1.Id
			}
			if p := mf.primaries(t, b.Id); len(p) != 1 || p[0] != wantPrimary {
				t.Fatalf("primary lists %v, want [%s]", p, wantPrimary)
			}
			// every timeline entry of both contacts is now on the target
			for id := range sa.Logs {
				if !merged.Logs[id] {
					t.Errorf("source entry %s lost", id)
				}
			}
			for id := range sb.Logs {
				if !merged.Logs[id] {
					t.Errorf("target entry %s lost", id)
				}
			}
			if d, _ := mf.env.App.FindRecordById("campaign_deliveries", d1.Id); d.GetString("contact") != b.Id {
				t.Errorf("delivery not moved: %v", d)
			}
			if d, _ := mf.env.App.FindRecordById("campaign_deliveries", d2.Id); d == nil || d.GetString("contact") != "" {
				t.Errorf("colliding delivery: %v", d)
			}
			var copy map[string]any
			fresh, _ := mf.env.App.FindRecordById("contacts", b.Id)
			_ = fresh.UnmarshalJSONField("custom", &copy)
			assertJSON(t, copy, map[string]any{"tier": "gold", "score": 5})

			// undo: the source comes back exactly; the target gets its values,
			// memberships and primary back; entries added by merge and undo
			// themselves are the only difference
			res = mf.undo(t, "editor", mergeID)
			mustStatus(t, res, 200, "")
			ra, rb := mf.state(t, a.Id), mf.state(t, b.Id)
			assertJSON(t, ra.Row, sa.Row)
			assertJSON(t, ra.Custom, sa.Custom)
			assertJSON(t, ra.Assignments, sa.Assignments)
			assertJSON(t, rb.Custom, sb.Custom)
			assertJSON(t, rb.Assignments, sb.Assignments)
			for _, f := range []string{"first_name", "last_name", "primary_email", "primary_phone", "company", "custom"} {
				if rb.Row[f] != sb.Row[f] {
					t.Errorf("target %s = %v, want %v", f, rb.Row[f], sb.Row[f])
				}
			}
			for id := range sa.Logs {
				if !ra.Logs[id] {
					t.Errorf("source entry %s not back", id)
				}
				if rb.Logs[id] {
					t.Errorf("source entry %s still on the target", id)
				}
			}
			for id := range sb.Logs {
				if !rb.Logs[id] {
					t.Errorf("target entry %s lost by undo", id)
				}
			}
			wantEntries(t, mf.timeline(t, a.Id), fmt.Sprintf("Restored: the merge into contact %q (%s) was undone (merge %s)", "Ada", b.Id, mergeID))
			for _, d := range []*core.Record{d1, d2} {
				if fresh, _ := mf.env.App.FindRecordById("campaign_deliveries", d.Id); fresh.GetString("contact") != a.Id {
					t.Errorf("delivery %s not back on the source: %q", d.Id, fresh.GetString("contact"))
				}
			}
			if m, _ := mf.env.App.FindRecordById("contact_merges", mergeID); m.GetDateTime("undone_at").IsZero() || m.GetString("undone_by") != mf.editor.Id {
				t.Fatal("merge not marked undone")
			}
		})
	}
}

func TestMergeUndoRefusals(t *testing.T) {
	mf := newMergeFixture(t)
	mergePair := func() (string, *core.Record, *core.Record) {
		a := mf.contact(t, map[string]any{"first_name": "Ada"})
		b := mf.contact(t, map[string]any{"first_name": "Ada"})
		body := mustStatus(t, mf.merge(t, "editor", map[string]any{"source": a.Id, "target": b.Id, "resolution": map[string]any{"primary_email": "target"}}), 200, "")
		return body["merge_id"].(string), a, b
	}

	// twice
	id, _, _ := mergePair()
	mustStatus(t, mf.undo(t, "viewer", id), 403, "forbidden")
	mustStatus(t, mf.undo(t, "outsider", id), 404, "merge_not_found")
	mustStatus(t, mf.undo(t, "editor", "nosuchmerge123"), 404, "merge_not_found")
	mustStatus(t, mf.undo(t, "editor", id), 200, "")
	mustStatus(t, mf.undo(t, "editor", id), 409, "merge_already_undone")

	// the target edited since
	id, _, b := mergePair()
	mustStatus(t, mf.env.Do(http.MethodPatch, contactsURL+"/"+b.Id, mf.tok["editor"], map[string]any{"company": "Later Ltd"}), 200, "")
	mustStatus(t, mf.undo(t, "editor", id), 409, "merge_target_changed")
	if got, _ := mf.env.App.FindRecordById("contacts", b.Id); got.GetString("company") != "Later Ltd" {
		t.Fatal("a refused undo changed the target")
	}

	// the target deleted since
	id, a, b := mergePair()
	mustStatus(t, mf.env.Do(http.MethodDelete, contactsURL+"/"+b.Id, mf.tok["editor"], nil), 204, "")
	mustStatus(t, mf.undo(t, "editor", id), 409, "merge_target_deleted")
	if mf.exists(a.Id) {
		t.Fatal("a refused undo restored the source")
	}

	// the window: open just before it ends, closed after
	id, a, _ = mergePair()
	mf.advance(30*24*time.Hour - time.Minute)
	id2, _, _ := mergePair()
	mf.advance(2 * time.Minute)
	mustStatus(t, mf.undo(t, "editor", id), 410, "merge_undo_expired")
	if mf.exists(a.Id) {
		t.Fatal("an expired undo restored the source")
	}
	mustStatus(t, mf.undo(t, "editor", id2), 200, "")
}

// Two people merge the same pair at the same moment, in both directions:
// one merge wins, the others find a contact gone; nothing is half-applied.
func TestConcurrentMergesOfTheSamePair(t *testing.T) {
	mf := newMergeFixture(t)
	a := mf.contact(t, map[string]any{"first_name": "Ada", "custom": map[string]any{"tier": "gold"}})
	b := mf.contact(t, map[string]any{"first_name": "Ada", "custom": map[string]any{"score": 1}})
	mf.assign(t, a, mf.l1, true)
	mf.assign(t, b, mf.l2, true)
	for i := 0; i < 20; i++ {
		mf.note(t, a, "a")
		mf.note(t, b, "b")
	}
	notes := countRecords(t, mf.env.App, "communication_logs", dbx.HashExp{"type": "note"})

	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for i := 0; i < 8; i++ {
		src, tgt := a, b
		if i%2 == 1 {
			src, tgt = b, a
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := mf.merge(t, "editor", map[string]any{"source": src.Id, "target": tgt.Id, "resolution": map[string]any{"primary_email": "target"}})
			mu.Lock()
			statuses[res.Status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[200] != 1 || statuses[404] != 7 {
		t.Fatalf("statuses %v, want one 200 and seven 404", statuses)
	}
	if mf.exists(a.Id) == mf.exists(b.Id) {
		t.Fatal("both or neither contact left")
	}
	winner := a
	if !mf.exists(a.Id) {
		winner = b
	}
	if n := countRecords(t, mf.env.App, "contact_merges", nil); n != 1 {
		t.Fatalf("%d merge rows", n)
	}
	if got := countRecords(t, mf.env.App, "communication_logs", dbx.HashExp{"type": "note", "contact": winner.Id}); got != notes {
		t.Fatalf("%d of %d notes on the survivor", got, notes)
	}
	if p := mf.primaries(t, winner.Id); len(p) != 1 {
		t.Fatalf("primaries %v", p)
	}
	if n := countRecords(t, mf.env.App, "contact_list_assignments", dbx.HashExp{"contact": winner.Id}); n != 2 {
		t.Fatalf("%d memberships", n)
	}
}

// The merge writes one contact.merge entry with a full snapshot of the source
// (custom values and list memberships included) besides the per-record
// entries of the records it saves or deletes; undo writes contact.merge_undo.
func TestMergeAudited(t *testing.T) {
	mf := newMergeFixture(t)
	a := mf.contact(t, map[string]any{"first_name": "Ada", "company": "Acme", "custom": map[string]any{"tier": "gold"}})
	b := mf.contact(t, map[string]any{"first_name": "Ada"})
	as := mf.assign(t, a, mf.l1, true)
	res := mf.merge(t, "editor", map[string]any{"source": a.Id, "target": b.Id, "resolution": map[string]any{"primary_email": "target"}})
	mergeID := mustStatus(t, res, 200, "")["merge_id"].(string)

	byAction := func(id string) map[string]*core.Record {
		out := map[string]*core.Record{}
		for _, e := range entriesFor(t, mf.env.App, "contacts", id) {
			out[e.GetString("action")] = e
		}
		return out
	}
	ea := byAction(a.Id)
	m, del := ea["contact.merge"], ea[audit.ActionDelete]
	if m == nil || del == nil {
		t.Fatalf("source entries: %v", ea)
	}
	for _, e := range []*core.Record{m, del} {
		if e.GetString("user") != mf.editor.Id || e.GetString("workspace") != mf.w.Id || e.GetString("ip_address") == "" {
			t.Errorf("%s entry: user %q ws %q", e.GetString("action"), e.GetString("user"), e.GetString("workspace"))
		}
	}
	var details struct {
		MergeID      string `json:"merge_id"`
		Target       string
		Source       map[string]any
		SourceCustom map[string]any   `json:"source_custom"`
		SourceLists  []map[string]any `json:"source_lists"`
	}
	if err := json.Unmarshal([]byte(m.GetString("details")), &details); err != nil {
		t.Fatal(err)
	}
	if details.MergeID != mergeID || details.Target != b.Id || details.Source["company"] != "Acme" ||
		details.SourceCustom["tier"] != "gold" || len(details.SourceLists) != 1 || details.SourceLists[0]["id"] != as.Id || details.SourceLists[0]["is_primary"] != true {
		t.Fatalf("merge entry details: %s", m.GetString("details"))
	}
	if !strings.Contains(del.GetString("details"), `"tier":"gold"`) {
		t.Errorf("delete snapshot lacks the custom values: %s", del.GetString("details"))
	}
	if e := byAction(b.Id)[audit.ActionUpdate]; e == nil || e.GetString("user") != mf.editor.Id {
		t.Errorf("target update entry: %v", e)
	}
	if e := entriesFor(t, mf.env.App, "contact_merges", mergeID); len(e) != 1 || e[0].GetString("user") != mf.editor.Id {
		t.Errorf("merge row entries: %v", e)
	}

	mustStatus(t, mf.undo(t, "owner", mergeID), 200, "")
	u := byAction(a.Id)["contact.merge_undo"]
	if u == nil || u.GetString("user") != mf.owner.Id || !strings.Contains(u.GetString("details"), mergeID) {
		t.Fatalf("undo entry: %v", u)
	}
	if e := entriesFor(t, mf.env.App, "contact_merges", mergeID); len(e) != 2 || e[1].GetString("action") != audit.ActionUpdate || e[1].GetString("user") != mf.owner.Id {
		t.Errorf("merge row entries after undo: %d", len(e))
	}
}
