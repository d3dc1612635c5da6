package hooks_test

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/pi-crm/pi-crm/hooks"
	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/counts"
	"github.com/pi-crm/pi-crm/services/duplicates"
	"github.com/pi-crm/pi-crm/services/imports"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// dupGroups reads every page of the duplicate finder (2 groups a page, so
// paging is exercised) and returns "reason:id,id" entries, sorted.
func dupGroups(t *testing.T, env *testutil.Env, ws, token string) []string {
	t.Helper()
	var out []string
	for page, pages := 1, 1; page <= pages; page++ {
		res := env.Do("GET", "/api/crm/workspaces/"+ws+"/duplicates?perPage=2&page="+strconv.Itoa(page), token, nil)
		if res.Status != http.StatusOK {
			t.Fatalf("duplicates: %d %s", res.Status, res.Body)
		}
		body := res.JSON()
		pages = int(body["totalPages"].(float64))
		items, _ := body["items"].([]any)
		for _, it := range items {
			m := it.(map[string]any)
			var ids []string
			for _, id := range m["contacts"].([]any) {
				ids = append(ids, id.(string))
			}
			sort.Strings(ids)
			out = append(out, m["reason"].(string)+":"+strings.Join(ids, ","))
		}
		if total := int(body["totalItems"].(float64)); page == pages && total != len(out) {
			t.Fatalf("totalItems %d, read %d: %v", total, len(out), out)
		}
	}
	sort.Strings(out)
	return out
}

func group(reason string, ids ...string) string {
	sort.Strings(ids)
	return reason + ":" + strings.Join(ids, ",")
}

func expectGroups(t *testing.T, env *testutil.Env, ws, token string, want ...string) {
	t.Helper()
	if err := duplicates.CheckMatchKeys(env.App); err != nil {
		t.Fatal(err)
	}
	sort.Strings(want)
	got := dupGroups(t, env, ws, token)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("groups\n got %v\nwant %v", got, want)
	}
}

// The match keys follow every kind of contact write: the record API
// (create, update, delete) and raw SQL (as the import fast path, merge and
// undo write), and a group that equals a better-scored one is reported once,
// also after the better one stops matching.
func TestDuplicateKeysFollowContactWrites(t *testing.T) {
	f := newSearchFixture(t)
	env, ws, tok := f.env, f.ws.Id, f.token
	expectGroups(t, env, ws, tok)

	eve1 := env.Create("contacts", map[string]any{"workspace": ws, "first_name": "Eve", "last_name": "Adams", "company": "Umbrella"})
	eve2 := env.Create("contacts", map[string]any{"workspace": ws, "first_name": " eve", "last_name": "ADAMS", "company": "umbrella "})
	expectGroups(t, env, ws, tok, group("same_name_company", eve1.Id, eve2.Id))

	if res := env.Do("PATCH", "/api/collections/contacts/records/"+eve2.Id, tok, map[string]any{"company": "Other"}); res.Status != 200 {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	expectGroups(t, env, ws, tok)
	if res := env.Do("PATCH", "/api/collections/contacts/records/"+eve2.Id, tok, map[string]any{"company": "Umbrella"}); res.Status != 200 {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	expectGroups(t, env, ws, tok, group("same_name_company", eve1.Id, eve2.Id))
	// an edit of a field no key is made of changes nothing
	if res := env.Do("PATCH", "/api/collections/contacts/records/"+eve2.Id, tok, map[string]any{"custom": map[string]any{"notes": "x"}}); res.Status != 200 {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	expectGroups(t, env, ws, tok, group("same_name_company", eve1.Id, eve2.Id))
	if res := env.Do("DELETE", "/api/collections/contacts/records/"+eve2.Id, tok, nil); res.Status != 204 {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	expectGroups(t, env, ws, tok)

	// raw SQL: two spellings of one address (and so one name at one domain)
	exec := func(q string, p dbx.Params) {
		t.Helper()
		if _, err := env.App.DB().NewQuery(q).Bind(p).Execute(); err != nil {
			t.Fatal(err)
		}
	}
	raw := func(id, first, last, email string) {
		exec(`INSERT INTO contacts (id, workspace, first_name, last_name, primary_email, created, updated)
			VALUES ({:id}, {:ws}, {:f}, {:l}, {:e}, '2025-01-01 00:00:00.000Z', '2025-01-01 00:00:00.000Z')`,
			dbx.Params{"id": id, "ws": ws, "f": first, "l": last, "e": email})
	}
	raw("rawdup00000001a", "Kim", "Park", "Kim@Park.io")
	raw("rawdup00000002a", "kim", "park", " kim@park.io")
	// same members under email and name+domain: one finding, the better one
	expectGroups(t, env, ws, tok, group("same_email", "rawdup00000001a", "rawdup00000002a"))
	// the emails part: now the name at one domain is the finding
	exec(`UPDATE contacts SET primary_email = 'k.park@park.io' WHERE id = 'rawdup00000002a'`, nil)
	expectGroups(t, env, ws, tok, group("same_name_email_domain", "rawdup00000001a", "rawdup00000002a"))
	// a third contact joins the email group: the email group no longer
	// equals the name group, so both are reported
	exec(`UPDATE contacts SET primary_email = 'KIM@park.io' WHERE id = 'rawdup00000002a'`, nil)
	expectGroups(t, env, ws, tok, group("same_email", "rawdup00000001a", "rawdup00000002a"))
	raw("rawdup00000003a", "Lee", "Other", "kim@PARK.io")
	expectGroups(t, env, ws, tok, group("same_email", "rawdup00000001a", "rawdup00000002a", "rawdup00000003a"),
		group("same_name_email_domain", "rawdup00000001a", "rawdup00000002a"))
	exec(`DELETE FROM contacts WHERE id = 'rawdup00000003a'`, nil)
	expectGroups(t, env, ws, tok, group("same_email", "rawdup00000001a", "rawdup00000002a"))
	// similar first names, and moving a contact to another workspace
	raw("rawdup00000004a", "Jon", "Snow", "")
	raw("rawdup00000005a", "John", "Snow", "")
	expectGroups(t, env, ws, tok, group("same_email", "rawdup00000001a", "rawdup00000002a"),
		group("similar_name", "rawdup00000004a", "rawdup00000005a"))
	exec(`UPDATE contacts SET workspace = {:o} WHERE id = 'rawdup00000005a'`, dbx.Params{"o": f.other.Id})
	expectGroups(t, env, ws, tok, group("same_email", "rawdup00000001a", "rawdup00000002a"))

	// a deleted workspace leaves no finder rows behind
	if err := env.App.Delete(f.ws); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"crm_match_keys", "crm_match_changes", "crm_match_found"} {
		var n int
		if err := env.App.DB().NewQuery(`SELECT COUNT(*) FROM ` + table + ` WHERE workspace = {:ws}`).Bind(dbx.Params{"ws": ws}).Row(&n); err != nil || n != 0 {
			t.Errorf("%s: %d rows of the deleted workspace (%v)", table, n, err)
		}
	}
	if err := duplicates.CheckMatchKeys(env.App); err != nil {
		t.Fatal(err)
	}
}

// A merge deletes the source (raw SQL in places) and its undo restores it:
// the group comes and goes with them.
func TestDuplicateKeysFollowMergeAndUndo(t *testing.T) {
	mf := newMergeFixture(t)
	a := mf.contact(t, map[string]any{"first_name": "Eve", "last_name": "Adams", "company": "Umbrella"})
	b := mf.contact(t, map[string]any{"first_name": "Eve", "last_name": "Adams", "company": "Umbrella"})
	tok := mf.tok["owner"]
	// same name and company (and name at the same domain: the same members,
	// reported once)
	expectGroups(t, mf.env, mf.w.Id, tok, group("same_name_company", a.Id, b.Id))
	res := mf.merge(t, "editor", map[string]any{"source": a.Id, "target": b.Id, "resolution": map[string]any{"primary_email": "target"}})
	body := mustStatus(t, res, 200, "")
	expectGroups(t, mf.env, mf.w.Id, tok)
	if res := mf.undo(t, "editor", body["merge_id"].(string)); res.Status != 200 {
		t.Fatalf("undo %d %s", res.Status, res.Body)
	}
	expectGroups(t, mf.env, mf.w.Id, tok, group("same_name_company", a.Id, b.Id))
}

// The import fast path writes contacts with raw SQL, and its undo deletes
// them: the keys follow both.
func TestDuplicateKeysFollowImportAndUndo(t *testing.T) {
	runner := imports.NewRunner(1)
	env := testutil.NewWithConfig(t, hooks.Config{ImportRunner: runner})
	owner, token := env.User("owner@example.com")
	ws := env.Workspace("Import dups", owner, nil)
	existing := env.Create("contacts", map[string]any{"workspace": ws.Id, "first_name": "Ada", "last_name": "Lovelace", "company": "Engines"})
	csv := "first_name,last_name,primary_email,company\nada,LOVELACE,ada@engines.com,Engines\nGrace,Hopper,grace@navy.mil,Navy\n"
	status, job := upload(t, env, ws.Id, token, nil, csv, `{"mode":"create"}`)
	if status != http.StatusAccepted {
		t.Fatalf("%d %v", status, job)
	}
	runner.Wait()
	id, _ := job["id"].(string)
	rec, _ := env.App.FindRecordById("import_jobs", id)
	if rec.GetString("status") != imports.StatusCompleted {
		t.Fatalf("job %s %s", rec.GetString("status"), rec.GetString("error"))
	}
	imported, err := env.App.FindFirstRecordByData("contacts", "primary_email", "ada@engines.com")
	if err != nil {
		t.Fatal(err)
	}
	expectGroups(t, env, ws.Id, token, group("same_name_company", existing.Id, imported.Id))
	// the import wrote keys and counts itself (search.BulkInsert): in sync,
	// and its trigger switch is off again
	if err := counts.CheckContactCounts(env.App); err != nil {
		t.Fatal(err)
	}
	var switches int
	_ = env.App.DB().NewQuery(`SELECT count(*) FROM crm_bulk_insert`).Row(&switches)
	if switches != 0 {
		t.Fatalf("%d bulk-insert switches left on", switches)
	}
	if res := env.Do("POST", "/api/crm/import-jobs/"+id+"/undo", token, nil); res.Status != 200 {
		t.Fatalf("undo %d %s", res.Status, res.Body)
	}
	expectGroups(t, env, ws.Id, token)
}

// The migration backfills the keys of contacts written before it.
func TestDuplicateKeysMigrationBackfills(t *testing.T) {
	f := newSearchFixture(t)
	var mig *core.Migration
	for _, m := range core.AppMigrations.Items() {
		if strings.HasSuffix(m.File, "_duplicate_keys.go") {
			mig = m
		}
	}
	if mig == nil {
		t.Fatal("migration not registered")
	}
	if err := mig.Down(f.env.App); err != nil {
		t.Fatal(err)
	}
	// written while the finder's tables and triggers do not exist
	for id, phone := range map[string]string{"premigration001": "+1 415 555 0000", "premigration002": "+1-415-555-0000"} {
		if _, err := f.env.App.DB().NewQuery(`INSERT INTO contacts (id, workspace, first_name, last_name, primary_phone, created, updated)
			VALUES ({:id}, {:ws}, 'Pre', 'Existing', {:p}, '2025-01-01 00:00:00.000Z', '2025-01-01 00:00:00.000Z')`).
			Bind(dbx.Params{"id": id, "ws": f.ws.Id, "p": phone}).Execute(); err != nil {
			t.Fatal(err)
		}
	}
	if err := mig.Up(f.env.App); err != nil {
		t.Fatal(err)
	}
	expectGroups(t, f.env, f.ws.Id, f.token, group("same_phone", "premigration001", "premigration002"))
}

// The one-pass rebuild (used after bulk writes) finds exactly what the
// group-by-group refresh found, equal-member groups included.
func TestDuplicateFullRebuildMatchesIncremental(t *testing.T) {
	f := newSearchFixture(t)
	env, ws := f.env, f.ws.Id
	raw := func(id, first, last, email, phone, company string) {
		if _, err := env.App.DB().NewQuery(`INSERT INTO contacts (id, workspace, first_name, last_name, primary_email, primary_phone, company, created, updated)
			VALUES ({:id}, {:ws}, {:f}, {:l}, {:e}, {:p}, {:c}, '2025-01-01 00:00:00.000Z', '2025-01-01 00:00:00.000Z')`).
			Bind(dbx.Params{"id": id, "ws": ws, "f": first, "l": last, "e": email, "p": phone, "c": company}).Execute(); err != nil {
			t.Fatal(err)
		}
	}
	raw("full00000000001", "Kim", "Park", "Kim@Park.io", "", "Park Co")
	raw("full00000000002", "kim", "park", "kim@park.io ", "", "park co")      // email = name+company = name+domain: one finding
	raw("full00000000003", "Kim", "Park", "k@park.io", "+1 415 555 0101", "") // joins name+domain only
	raw("full00000000004", "Quinn", "A", "", "+1-415-555-0101", "")
	raw("full00000000005", "Jon", "Snow", "jon@gmail.com", "", "")
	raw("full00000000006", "John", "Snow", "", "", "")
	raw("full00000000007", "J.", "Snow", "js@gmail.com", "", "")
	raw("full00000000008", "Jon", "Snow", "jon.snow@gmail.com", "", "")
	incremental := dupGroups(t, env, ws, f.token)
	if len(incremental) < 4 {
		t.Fatalf("too few groups to compare: %v", incremental)
	}
	if err := duplicates.RebuildDuplicates(env.App, ws); err != nil {
		t.Fatal(err)
	}
	full := dupGroups(t, env, ws, f.token)
	if strings.Join(full, " ") != strings.Join(incremental, " ") {
		t.Fatalf("full rebuild\n got %v\nwant %v", full, incremental)
	}
	t.Log(full)
}
