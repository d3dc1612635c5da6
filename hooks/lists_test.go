package hooks_test

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/pocketbase/dbx"
)

const (
	listsURL       = "/api/collections/contact_lists/records"
	assignmentsURL = "/api/collections/contact_list_assignments/records"
)

func (f *crmFixture) timeline(t *testing.T, contactID string) []string {
	t.Helper()
	recs, err := f.env.App.FindAllRecords("communication_logs", dbx.HashExp{"contact": contactID, "type": "system"})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(recs))
	for i, r := range recs {
		if r.GetString("direction") != "internal" {
			t.Errorf("system entry with direction %q", r.GetString("direction"))
		}
		out[i] = r.GetString("content")
	}
	return out
}

func (f *crmFixture) primaries(t *testing.T, contactID string) []string {
	t.Helper()
	recs, err := f.env.App.FindAllRecords("contact_list_assignments", dbx.HashExp{"contact": contactID, "is_primary": true})
	if err != nil {
		t.Fatal(err)
	}
	var lists []string
	for _, r := range recs {
		lists = append(lists, r.GetString("list"))
	}
	return lists
}

func wantEntries(t *testing.T, got []string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("timeline lacks %q: %q", w, got)
		}
	}
}

func TestDefaultListAndNewContacts(t *testing.T) {
	f := newCRM(t)
	a := mustStatus(t, f.env.Do(http.MethodPost, listsURL, f.tok["editor"], map[string]any{"workspace": f.w.Id, "name": "A", "is_primary": true}), 200, "")
	b := mustStatus(t, f.env.Do(http.MethodPost, listsURL, f.tok["editor"], map[string]any{"workspace": f.w.Id, "name": "B", "is_primary": true}), 200, "")
	if old, _ := f.env.App.FindRecordById("contact_lists", a["id"].(string)); old.GetBool("is_primary") {
		t.Fatal("the old default list was not demoted")
	}
	// and back, by update
	mustStatus(t, f.env.Do(http.MethodPatch, listsURL+"/"+a["id"].(string), f.tok["editor"], map[string]any{"is_primary": true}), 200, "")
	if n := countRecords(t, f.env.App, "contact_lists", dbx.HashExp{"workspace": f.w.Id, "is_primary": true}); n != 1 {
		t.Fatalf("%d default lists", n)
	}

	c := mustStatus(t, f.post(t, "editor", map[string]any{"workspace": f.w.Id, "first_name": "Ada"}), 200, "")
	id := c["id"].(string)
	if p := f.primaries(t, id); len(p) != 1 || p[0] != a["id"] {
		t.Fatalf("new contact's primary lists: %v, want [%v]", p, a["id"])
	}
	wantEntries(t, f.timeline(t, id), "Contact created", `Added to list "A" as primary list`)

	// a contact of a workspace without a default list lands nowhere
	x := mustStatus(t, f.post(t, "outsider", map[string]any{"workspace": f.x.Id}), 200, "")
	if n := countRecords(t, f.env.App, "contact_list_assignments", dbx.HashExp{"contact": x["id"]}); n != 0 {
		t.Fatalf("%d assignments without a default list", n)
	}
	_ = b
}

func TestPrimaryAssignmentDemotesAndLogs(t *testing.T) {
	f := newCRM(t)
	def := mustStatus(t, f.env.Do(http.MethodPost, listsURL, f.tok["editor"], map[string]any{"workspace": f.w.Id, "name": "Customers", "is_primary": true}), 200, "")
	vip := mustStatus(t, f.env.Do(http.MethodPost, listsURL, f.tok["editor"], map[string]any{"workspace": f.w.Id, "name": "VIP"}), 200, "")
	c := mustStatus(t, f.post(t, "editor", map[string]any{"workspace": f.w.Id}), 200, "")
	id := c["id"].(string)

	av := mustStatus(t, f.env.Do(http.MethodPost, assignmentsURL, f.tok["editor"], map[string]any{"contact": id, "list": vip["id"], "is_primary": true}), 200, "")
	if p := f.primaries(t, id); len(p) != 1 || p[0] != vip["id"] {
		t.Fatalf("primaries after a new primary: %v", p)
	}
	ad, err := f.env.App.FindFirstRecordByFilter("contact_list_assignments", "contact = {:c} && list = {:l}", dbx.Params{"c": id, "l": def["id"]})
	if err != nil {
		t.Fatal(err)
	}
	mustStatus(t, f.env.Do(http.MethodPatch, assignmentsURL+"/"+ad.Id, f.tok["editor"], map[string]any{"is_primary": true}), 200, "")
	if p := f.primaries(t, id); len(p) != 1 || p[0] != def["id"] {
		t.Fatalf("primaries after an update: %v", p)
	}
	if res := f.env.Do(http.MethodDelete, assignmentsURL+"/"+av["id"].(string), f.tok["editor"], nil); res.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", res.Status, res.Body)
	}
	wantEntries(t, f.timeline(t, id),
		`Added to list "Customers" as primary list`,
		`Added to list "VIP" as primary list (was "Customers")`,
		`Primary list set to "Customers" (was "VIP")`,
		`Removed from list "VIP"`)

	// a viewer cannot touch assignments; nothing is logged for the attempt
	before := len(f.timeline(t, id))
	mustStatus(t, f.env.Do(http.MethodPost, assignmentsURL, f.tok["viewer"], map[string]any{"contact": id, "list": vip["id"], "is_primary": true}), 400, "")
	if len(f.timeline(t, id)) != before {
		t.Fatal("a refused assignment was logged")
	}
}

// Concurrent requests making different lists primary for one contact leave
// exactly one primary, and none of them fails.
func TestConcurrentPrimaryAssignments(t *testing.T) {
	f := newCRM(t)
	c := mustStatus(t, f.post(t, "editor", map[string]any{"workspace": f.w.Id}), 200, "")
	id := c["id"].(string)
	var assignments, spareLists []string
	for i := 0; i < 12; i++ {
		l := mustStatus(t, f.env.Do(http.MethodPost, listsURL, f.tok["editor"], map[string]any{"workspace": f.w.Id, "name": fmt.Sprintf("L%d", i)}), 200, "")
		if i < 6 {
			a := mustStatus(t, f.env.Do(http.MethodPost, assignmentsURL, f.tok["editor"], map[string]any{"contact": id, "list": l["id"]}), 200, "")
			assignments = append(assignments, a["id"].(string))
		} else {
			spareLists = append(spareLists, l["id"].(string))
		}
	}

	var wg sync.WaitGroup
	errs := make(chan string, 100)
	start := make(chan struct{})
	for round := 0; round < 4; round++ {
		for _, a := range assignments {
			wg.Add(1)
			go func(a string) {
				defer wg.Done()
				<-start
				res := f.env.Do(http.MethodPatch, assignmentsURL+"/"+a, f.tok["editor"], map[string]any{"is_primary": true})
				if res.Status != 200 {
					errs <- fmt.Sprintf("patch: %d %s", res.Status, res.Body)
				}
			}(a)
		}
	}
	for _, l := range spareLists {
		wg.Add(1)
		go func(l string) {
			defer wg.Done()
			<-start
			res := f.env.Do(http.MethodPost, assignmentsURL, f.tok["editor"], map[string]any{"contact": id, "list": l, "is_primary": true})
			if res.Status != 200 {
				errs <- fmt.Sprintf("create: %d %s", res.Status, res.Body)
			}
		}(l)
	}
	close(start)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if p := f.primaries(t, id); len(p) != 1 {
		t.Fatalf("%d primary lists after concurrent changes: %v", len(p), p)
	}
}

func TestTimelineForEdits(t *testing.T) {
	f := newCRM(t)
	mustStatus(t, f.env.Do(http.MethodPost, "/api/collections/custom_field_definitions/records", f.tok["owner"], map[string]any{
		"user": f.owner.Id, "field_name": "score", "label": "Score", "field_type": "number"}), 200, "")
	c := mustStatus(t, f.post(t, "editor", map[string]any{"workspace": f.w.Id, "first_name": "Ada", "custom": map[string]any{"score": 1}}), 200, "")
	id := c["id"].(string)
	url := contactsURL + "/" + id

	mustStatus(t, f.env.Do(http.MethodPatch, url, f.tok["editor"], map[string]any{"company": "Acme", "first_name": "Ada", "custom": map[string]any{"score": 2}}), 200, "")
	wantEntries(t, f.timeline(t, id), "Contact created", "Contact updated: company, custom.score")

	// nothing changed: nothing logged; a refused edit: nothing logged, nothing stored
	before := len(f.timeline(t, id))
	mustStatus(t, f.env.Do(http.MethodPatch, url, f.tok["editor"], map[string]any{"company": "Acme", "custom": map[string]any{"score": "2"}}), 200, "")
	mustStatus(t, f.env.Do(http.MethodPatch, url, f.tok["editor"], map[string]any{"company": "Other", "custom": map[string]any{"score": "two"}}), 400, "custom_field_invalid")
	if got := f.timeline(t, id); len(got) != before {
		t.Fatalf("entries after no-op and refused edits: %q", got)
	}
	fresh, _ := f.env.App.FindRecordById("contacts", id)
	if fresh.GetString("company") != "Acme" {
		t.Fatalf("a refused edit half-applied: company = %q", fresh.GetString("company"))
	}

	// a failed create leaves no timeline entry or assignment behind
	mustStatus(t, f.env.Do(http.MethodPost, listsURL, f.tok["editor"], map[string]any{"workspace": f.w.Id, "name": "Default", "is_primary": true}), 200, "")
	logs := countRecords(t, f.env.App, "communication_logs", nil)
	assigns := countRecords(t, f.env.App, "contact_list_assignments", nil)
	mustStatus(t, f.post(t, "editor", map[string]any{"workspace": f.w.Id, "custom": map[string]any{"score": "x"}}), 400, "custom_field_invalid")
	if countRecords(t, f.env.App, "communication_logs", nil) != logs || countRecords(t, f.env.App, "contact_list_assignments", nil) != assigns {
		t.Fatal("a refused create left records")
	}
}
