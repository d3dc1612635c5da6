package hooks_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/router"
)

// crmFixture: workspace W owned by owner with an editor and a viewer, and an
// outsider who owns workspace X.
type crmFixture struct {
	env                             *testutil.Env
	owner, editor, viewer, outsider *core.Record
	tok                             map[string]string
	w, x                            *core.Record
}

func newCRM(t *testing.T) *crmFixture {
	return newCRMOn(testutil.New(t))
}

// newCRMOn builds the fixture's users and workspaces on env (tests that need
// their own clock or config start env themselves).
func newCRMOn(env *testutil.Env) *crmFixture {
	// these tests send more writes per second than the production limits allow
	env.App.Settings().RateLimits.Enabled = false
	f := &crmFixture{env: env, tok: map[string]string{}}
	f.owner, f.tok["owner"] = env.User("owner@example.com")
	f.editor, f.tok["editor"] = env.User("editor@example.com")
	f.viewer, f.tok["viewer"] = env.User("viewer@example.com")
	f.outsider, f.tok["outsider"] = env.User("outsider@example.com")
	f.w = env.Workspace("W", f.owner, map[*core.Record]string{f.editor: "editor", f.viewer: "viewer"})
	f.x = env.Workspace("X", f.outsider, nil)
	return f
}

const contactsURL = "/api/collections/contacts/records"

func (f *crmFixture) post(t *testing.T, who string, body map[string]any) testutil.Response {
	t.Helper()
	return f.env.Do(http.MethodPost, contactsURL, f.tok[who], body)
}

func mustStatus(t *testing.T, res testutil.Response, status int, code string) map[string]any {
	t.Helper()
	if res.Status != status || (code != "" && res.Code() != code) {
		t.Fatalf("want %d %s, got %d %s", status, code, res.Status, res.Body)
	}
	return res.JSON()
}

func dataOf(m map[string]any) map[string]any {
	d, _ := m["data"].(map[string]any)
	return d
}

func countRecords(t *testing.T, app core.App, collection string, exp dbx.Expression) int {
	t.Helper()
	n, err := app.CountRecords(collection, exp)
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

func TestEmailNormalisedAndDuplicates(t *testing.T) {
	f := newCRM(t)
	first := mustStatus(t, f.post(t, "editor", map[string]any{"workspace": f.w.Id, "primary_email": "  Ada.Lovelace@Example.COM "}), 200, "")
	if first["primary_email"] != "ada.lovelace@example.com" {
		t.Fatalf("email not normalised: %v", first["primary_email"])
	}

	// the same address written differently is a duplicate
	dup := mustStatus(t, f.post(t, "editor", map[string]any{"workspace": f.w.Id, "primary_email": "ADA.LOVELACE@example.com"}), 409, "contact_duplicate")
	if dataOf(dup)["existing_id"] != first["id"] {
		t.Fatalf("existing_id = %v, want %v", dataOf(dup)["existing_id"], first["id"])
	}

	// an update to someone else's address too
	other := mustStatus(t, f.post(t, "editor", map[string]any{"workspace": f.w.Id, "primary_email": "grace@example.com"}), 200, "")
	res := f.env.Do(http.MethodPatch, contactsURL+"/"+other["id"].(string), f.tok["editor"], map[string]any{"primary_email": " Ada.Lovelace@example.com"})
	if d := dataOf(mustStatus(t, res, 409, "contact_duplicate")); d["existing_id"] != first["id"] {
		t.Fatalf("update duplicate: %v", d)
	}
	// saving a contact with its own address is not a duplicate of itself
	res = f.env.Do(http.MethodPatch, contactsURL+"/"+first["id"].(string), f.tok["editor"], map[string]any{"primary_email": "ADA.lovelace@example.com", "company": "Analytical"})
	mustStatus(t, res, 200, "")

	// another workspace may hold the same person
	mustStatus(t, f.post(t, "outsider", map[string]any{"workspace": f.x.Id, "primary_email": "ada.lovelace@example.com"}), 200, "")

	bad := mustStatus(t, f.post(t, "editor", map[string]any{"workspace": f.w.Id, "primary_email": "not an email"}), 400, "contact_invalid_email")
	if fe, _ := dataOf(bad)["primary_email"].(map[string]any); fe["message"] == nil {
		t.Fatalf("no field-level message: %v", bad)
	}
	if n := countRecords(t, f.env.App, "contacts", dbx.HashExp{"workspace": f.w.Id}); n != 2 {
		t.Fatalf("%d contacts in W, want 2", n)
	}
}

func TestPhoneNormalisedWithWorkspaceCountryAndDuplicates(t *testing.T) {
	f := newCRM(t)
	// W reads local numbers as British
	mustStatus(t, f.env.Do(http.MethodPatch, "/api/collections/workspaces/records/"+f.w.Id, f.tok["owner"], map[string]any{"default_country": "GB"}), 200, "")
	c := mustStatus(t, f.post(t, "editor", map[string]any{"workspace": f.w.Id, "primary_phone": "020 7946 0958"}), 200, "")
	if c["primary_phone"] != "+442079460958" {
		t.Fatalf("phone = %v", c["primary_phone"])
	}
	dup := mustStatus(t, f.post(t, "editor", map[string]any{"workspace": f.w.Id, "primary_phone": "+44 (0)20 7946-0958"}), 409, "contact_duplicate")
	if dataOf(dup)["existing_id"] != c["id"] {
		t.Fatalf("existing_id: %v", dup)
	}
	// X has no country: US
	x := mustStatus(t, f.post(t, "outsider", map[string]any{"workspace": f.x.Id, "primary_phone": "(415) 555-0100"}), 200, "")
	if x["primary_phone"] != "+14155550100" {
		t.Fatalf("phone = %v", x["primary_phone"])
	}
	mustStatus(t, f.post(t, "outsider", map[string]any{"workspace": f.x.Id, "primary_phone": "415.555.0100"}), 409, "contact_duplicate")
	bad := mustStatus(t, f.post(t, "outsider", map[string]any{"workspace": f.x.Id, "primary_phone": "12345"}), 400, "contact_invalid_phone")
	if _, ok := dataOf(bad)["primary_phone"]; !ok {
		t.Fatalf("no field-level error: %v", bad)
	}
}

// Duplicates are refused on the batch API and on a plain Save from Go code
// too, and a batch containing one writes nothing.
func TestDuplicatesRefusedOnEveryPath(t *testing.T) {
	f := newCRM(t)
	first := mustStatus(t, f.post(t, "editor", map[string]any{"workspace": f.w.Id, "primary_email": "ada@example.com"}), 200, "")

	batch := func(emails ...string) testutil.Response {
		var reqs []map[string]any
		for _, e := range emails {
			reqs = append(reqs, map[string]any{"method": "POST", "url": contactsURL, "body": map[string]any{"workspace": f.w.Id, "primary_email": e}})
		}
		return f.env.Do(http.MethodPost, "/api/batch", f.tok["editor"], map[string]any{"requests": reqs})
	}
	res := batch("new1@example.com", "Ada@Example.com")
	if res.Status == 200 || !strings.Contains(string(res.Body), "contact_duplicate") {
		t.Fatalf("batch with a duplicate: %d %s", res.Status, res.Body)
	}
	// two new contacts with one address in the same batch
	res = batch("twin@example.com", "TWIN@example.com")
	if res.Status == 200 || !strings.Contains(string(res.Body), "contact_duplicate") {
		t.Fatalf("batch with twins: %d %s", res.Status, res.Body)
	}
	if n := countRecords(t, f.env.App, "contacts", dbx.HashExp{"workspace": f.w.Id}); n != 1 {
		t.Fatalf("a refused batch left %d contacts", n)
	}

	col, _ := f.env.App.FindCollectionByNameOrId("contacts")
	rec := core.NewRecord(col)
	rec.Set("workspace", f.w.Id)
	rec.Set("primary_email", "ADA@example.com ")
	err := f.env.App.Save(rec)
	var apiErr *router.ApiError
	if !asAPIError(err, &apiErr) || apiErr.Status != 409 || apiErr.Data["code"] != "contact_duplicate" || apiErr.Data["existing_id"] != first["id"] {
		t.Fatalf("Save of a duplicate: %v", err)
	}
}

// asAPIError finds the error PocketBase renders in err, as its own handlers
// do (errors.As: a coded apperr.Error turns into one).
func asAPIError(err error, target **router.ApiError) bool {
	return errors.As(err, target)
}

// defineFields creates definitions of every type: user-wide ones of the
// owner, and a W override of "tier".
func (f *crmFixture) defineFields(t *testing.T) {
	t.Helper()
	defs := []map[string]any{
		{"field_name": "notes", "field_type": "text"},
		{"field_name": "score", "field_type": "number", "default_value": "10"},
		{"field_name": "birthday", "field_type": "date"},
		{"field_name": "vip", "field_type": "boolean"},
		{"field_name": "tier", "field_type": "select", "options": []string{"Gold", "Silver"}},
		{"field_name": "channels", "field_type": "multiselect", "options": []string{"Email", "SMS", "Post"}},
		{"field_name": "billing_email", "field_type": "email"},
		{"field_name": "website", "field_type": "url"},
		{"field_name": "mobile", "field_type": "phone"},
		{"field_name": "source", "field_type": "text", "is_required": true},
	}
	for _, d := range defs {
		d["user"] = f.owner.Id
		d["label"] = d["field_name"]
		mustStatus(t, f.env.Do(http.MethodPost, "/api/collections/custom_field_definitions/records", f.tok["owner"], d), 200, "")
	}
	// W's own "tier" overrides the user-wide one
	mustStatus(t, f.env.Do(http.MethodPost, "/api/collections/custom_field_definitions/records", f.tok["owner"], map[string]any{
		"user": f.owner.Id, "workspace": f.w.Id, "field_name": "tier", "label": "Tier", "field_type": "select", "options": []string{"Bronze", "Platinum"}}), 200, "")
}

func TestCustomFieldsThroughTheContactAPI(t *testing.T) {
	f := newCRM(t)
	f.defineFields(t)

	c := mustStatus(t, f.post(t, "editor", map[string]any{"workspace": f.w.Id, "first_name": "Ada", "custom": map[string]any{
		"notes": "met at the fair", "birthday": "1815-12-10", "vip": "yes", "tier": "platinum",
		"channels": []any{"SMS", "Email", "SMS"}, "billing_email": " Billing@Example.com", "website": "https://ada.example.org",
		"mobile": "(415) 555-0199", "source": "walk-in",
	}}), 200, "")
	want := map[string]any{
		"notes": "met at the fair", "birthday": "1815-12-10", "vip": true, "tier": "Platinum", "score": float64(10),
		"channels": []any{"Email", "SMS"}, "billing_email": "billing@example.com", "website": "https://ada.example.org",
		"mobile": "+14155550199", "source": "walk-in",
	}
	assertJSON(t, c["custom"], want)

	// the EAV rows are the truth; the copy matches them
	rows, err := f.env.App.FindAllRecords("custom_fields", dbx.HashExp{"contact": c["id"]})
	if err != nil || len(rows) != len(want) {
		t.Fatalf("%d rows, want %d (%v)", len(rows), len(want), err)
	}
	byName := map[string]*core.Record{}
	for _, r := range rows {
		byName[r.GetString("field_name")] = r
	}
	if r := byName["channels"]; r.GetString("field_value") != `["Email","SMS"]` || r.GetString("field_type") != "multiselect" {
		t.Fatalf("channels row: %v", r)
	}
	if r := byName["score"]; r.GetString("field_value") != "10" || r.GetString("field_type") != "number" {
		t.Fatalf("default row: %v", r)
	}

	// view and list return the values
	view := mustStatus(t, f.env.Do(http.MethodGet, contactsURL+"/"+c["id"].(string), f.tok["viewer"], nil), 200, "")
	assertJSON(t, view["custom"], want)
	list := mustStatus(t, f.env.Do(http.MethodGet, contactsURL+"?filter="+urlQuery(`custom.tier = "Platinum"`), f.tok["viewer"], nil), 200, "")
	if items, _ := list["items"].([]any); len(items) != 1 {
		t.Fatalf("filter by custom value: %v", list)
	}

	// an update changes only what it names; null clears
	upd := mustStatus(t, f.env.Do(http.MethodPatch, contactsURL+"/"+c["id"].(string), f.tok["editor"], map[string]any{
		"custom": map[string]any{"score": "42.5", "notes": nil}}), 200, "")
	want["score"] = 42.5
	delete(want, "notes")
	assertJSON(t, upd["custom"], want)
	if n := countRecords(t, f.env.App, "custom_fields", dbx.HashExp{"contact": c["id"], "field_name": "notes"}); n != 0 {
		t.Fatal("cleared value still stored")
	}
	// a required value cannot be cleared
	mustStatus(t, f.env.Do(http.MethodPatch, contactsURL+"/"+c["id"].(string), f.tok["editor"], map[string]any{"custom": map[string]any{"source": ""}}), 400, "custom_field_invalid")

	// the user-wide "tier" still applies in the owner's other workspace
	other := f.env.Workspace("Other", f.owner, nil)
	mustStatus(t, f.post(t, "owner", map[string]any{"workspace": other.Id, "custom": map[string]any{"tier": "Platinum", "source": "x"}}), 400, "custom_field_invalid")
	mustStatus(t, f.post(t, "owner", map[string]any{"workspace": other.Id, "custom": map[string]any{"tier": "gold", "source": "x"}}), 200, "")
}

func TestCustomFieldValidationErrors(t *testing.T) {
	f := newCRM(t)
	f.defineFields(t)
	before := countRecords(t, f.env.App, "contacts", nil)

	invalid := map[string]any{
		"score": "lots", "birthday": "10/12/1815", "vip": "maybe", "tier": "Gold", // Gold is user-wide only; W overrides tier
		"channels": []any{"Email", "Fax"}, "billing_email": "nope", "website": "ftp://x", "mobile": "123",
	}
	res := mustStatus(t, f.post(t, "editor", map[string]any{"workspace": f.w.Id, "custom": invalid}), 400, "custom_field_invalid")
	fields, _ := dataOf(res)["fields"].(map[string]any)
	for name := range invalid {
		if _, ok := fields[name]; !ok {
			t.Errorf("no error for %s: %v", name, fields)
		}
	}
	if _, ok := fields["source"]; !ok {
		t.Errorf("required field missing not reported: %v", fields)
	}
	if _, ok := fields["notes"]; ok {
		t.Errorf("error for a field that was fine: %v", fields)
	}

	res = mustStatus(t, f.post(t, "editor", map[string]any{"workspace": f.w.Id, "custom": map[string]any{"source": "x", "shoe_size": 44}}), 400, "custom_field_unknown")
	if fields, _ := dataOf(res)["fields"].(map[string]any); fields["shoe_size"] == nil {
		t.Errorf("unknown field not named: %v", res)
	}
	mustStatus(t, f.post(t, "editor", map[string]any{"workspace": f.w.Id, "custom": "tier=gold"}), 400, "custom_field_invalid")

	// a direct write to custom_fields is held to the same definitions
	c := mustStatus(t, f.post(t, "editor", map[string]any{"workspace": f.w.Id, "custom": map[string]any{"source": "x"}}), 200, "")
	mustStatus(t, f.env.Do(http.MethodPost, "/api/collections/custom_fields/records", f.tok["editor"], map[string]any{"contact": c["id"], "field_name": "vip", "field_value": "maybe"}), 400, "custom_field_invalid")
	mustStatus(t, f.env.Do(http.MethodPost, "/api/collections/custom_fields/records", f.tok["editor"], map[string]any{"contact": c["id"], "field_name": "nope", "field_value": "1"}), 400, "custom_field_unknown")
	mustStatus(t, f.env.Do(http.MethodPost, "/api/collections/custom_fields/records", f.tok["editor"], map[string]any{"contact": c["id"], "field_name": "vip", "field_value": "TRUE"}), 200, "")
	fresh, _ := f.env.App.FindRecordById("contacts", c["id"].(string))
	var copyNow map[string]any
	_ = fresh.UnmarshalJSONField("custom", &copyNow)
	if copyNow["vip"] != true {
		t.Fatalf("direct write not in the copy: %v", copyNow)
	}

	if n := countRecords(t, f.env.App, "contacts", nil); n != before+1 {
		t.Fatalf("refused creates left contacts: %d, want %d", n, before+1)
	}
}

func TestCustomRoutes(t *testing.T) {
	f := newCRM(t)
	f.defineFields(t)
	c := mustStatus(t, f.post(t, "editor", map[string]any{"workspace": f.w.Id, "custom": map[string]any{"source": "fair"}}), 200, "")
	path := "/api/crm/contacts/" + c["id"].(string) + "/custom"

	got := mustStatus(t, f.env.Do(http.MethodGet, path, f.tok["viewer"], nil), 200, "")
	fields, _ := got["fields"].([]any)
	if len(fields) != 10 {
		t.Fatalf("%d definitions, want 10: %s", len(fields), got)
	}
	for _, fd := range fields {
		m := fd.(map[string]any)
		if m["field_name"] == "tier" && (m["scope"] != "workspace" || fmt.Sprint(m["options"]) != "[Bronze Platinum]") {
			t.Fatalf("tier is not W's override: %v", m)
		}
		if m["field_name"] == "source" && m["value"] != "fair" {
			t.Fatalf("source value: %v", m)
		}
	}

	mustStatus(t, f.env.Do(http.MethodPost, path, f.tok["viewer"], map[string]any{"custom": map[string]any{"vip": true}}), 403, "contact_forbidden")
	mustStatus(t, f.env.Do(http.MethodGet, path, f.tok["outsider"], nil), 404, "contact_not_found")
	mustStatus(t, f.env.Do(http.MethodPost, path, f.tok["outsider"], map[string]any{"custom": map[string]any{"vip": true}}), 404, "contact_not_found")
	mustStatus(t, f.env.Do(http.MethodGet, path, "", nil), 401, "")

	res := mustStatus(t, f.env.Do(http.MethodPost, path, f.tok["editor"], map[string]any{"custom": map[string]any{"vip": "maybe", "score": 3}}), 400, "custom_field_invalid")
	if fs, _ := dataOf(res)["fields"].(map[string]any); fs["vip"] == nil || fs["score"] != nil {
		t.Fatalf("per-field errors: %v", res)
	}
	set := mustStatus(t, f.env.Do(http.MethodPost, path, f.tok["editor"], map[string]any{"custom": map[string]any{"vip": true, "score": 3}}), 200, "")
	assertJSON(t, set["custom"], map[string]any{"source": "fair", "vip": true, "score": float64(3)})
}

// TestCustomRouteAudited: the POST route's change lands in the audit log
// with the caller as actor.
func TestCustomRouteAudited(t *testing.T) {
	f := newCRM(t)
	f.defineFields(t)
	c := mustStatus(t, f.post(t, "editor", map[string]any{"workspace": f.w.Id, "custom": map[string]any{"source": "fair"}}), 200, "")
	mustStatus(t, f.env.Do(http.MethodPost, "/api/crm/contacts/"+c["id"].(string)+"/custom", f.tok["editor"], map[string]any{"custom": map[string]any{"vip": true}}), 200, "")
	entries, err := f.env.App.FindAllRecords("audit_logs", dbx.HashExp{"entity_type": "contacts", "entity_id": c["id"], "action": "update"})
	if err != nil || len(entries) != 1 || entries[0].GetString("user") != f.editor.Id {
		t.Fatalf("audit entries: %v %v", entries, err)
	}
}

func TestDefinitionChangeAndDelete(t *testing.T) {
	f := newCRM(t)
	defURL := "/api/collections/custom_field_definitions/records"
	def := mustStatus(t, f.env.Do(http.MethodPost, defURL, f.tok["owner"], map[string]any{
		"user": f.owner.Id, "field_name": "size", "label": "Size", "field_type": "text"}), 200, "")
	a := mustStatus(t, f.post(t, "editor", map[string]any{"workspace": f.w.Id, "custom": map[string]any{"size": "42"}}), 200, "")
	b := mustStatus(t, f.post(t, "editor", map[string]any{"workspace": f.w.Id, "custom": map[string]any{"size": "large"}}), 200, "")

	// text -> number: "large" does not fit; refused, nothing changed
	res := mustStatus(t, f.env.Do(http.MethodPatch, defURL+"/"+def["id"].(string), f.tok["owner"], map[string]any{"field_type": "number"}), 409, "custom_field_in_use")
	if dataOf(res)["count"] != float64(1) {
		t.Fatalf("in use: %v", res)
	}
	if d, _ := f.env.App.FindRecordById("custom_field_definitions", def["id"].(string)); d.GetString("field_type") != "text" {
		t.Fatal("refused change was applied")
	}
	// renames are refused
	mustStatus(t, f.env.Do(http.MethodPatch, defURL+"/"+def["id"].(string), f.tok["owner"], map[string]any{"field_name": "shoe"}), 400, "custom_field_rename")

	// forced: the misfit is deleted, the rest converted
	mustStatus(t, f.env.Do(http.MethodPatch, defURL+"/"+def["id"].(string)+"?force=true", f.tok["owner"], map[string]any{"field_type": "number"}), 200, "")
	ga := mustStatus(t, f.env.Do(http.MethodGet, contactsURL+"/"+a["id"].(string), f.tok["viewer"], nil), 200, "")
	assertJSON(t, ga["custom"], map[string]any{"size": float64(42)})
	gb := mustStatus(t, f.env.Do(http.MethodGet, contactsURL+"/"+b["id"].(string), f.tok["viewer"], nil), 200, "")
	assertJSON(t, gb["custom"], map[string]any{})
	if n := countRecords(t, f.env.App, "custom_fields", dbx.HashExp{"field_name": "size", "field_type": "number"}); n != 1 {
		t.Fatalf("%d converted rows, want 1", n)
	}

	// deleting the definition deletes its values
	if del := f.env.Do(http.MethodDelete, defURL+"/"+def["id"].(string), f.tok["owner"], nil); del.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", del.Status, del.Body)
	}
	if n := countRecords(t, f.env.App, "custom_fields", dbx.HashExp{"field_name": "size"}); n != 0 {
		t.Fatalf("%d values left", n)
	}
	ga = mustStatus(t, f.env.Do(http.MethodGet, contactsURL+"/"+a["id"].(string), f.tok["viewer"], nil), 200, "")
	assertJSON(t, ga["custom"], map[string]any{})

	// a second workspace definition of one name is refused
	mustStatus(t, f.env.Do(http.MethodPost, defURL, f.tok["owner"], map[string]any{"user": f.owner.Id, "workspace": f.w.Id, "field_name": "plan", "label": "P", "field_type": "text"}), 200, "")
	admin, adminTok := f.env.User("admin@example.com")
	f.env.Create("workspace_members", map[string]any{"workspace": f.w.Id, "user": admin.Id, "role": "admin"})
	mustStatus(t, f.env.Do(http.MethodPost, defURL, adminTok, map[string]any{"user": admin.Id, "workspace": f.w.Id, "field_name": "plan", "label": "P", "field_type": "number"}), 409, "custom_field_exists")
	mustStatus(t, f.env.Do(http.MethodPost, defURL, f.tok["owner"], map[string]any{"user": f.owner.Id, "field_name": "kind", "label": "K", "field_type": "select"}), 400, "custom_field_definition_invalid")
}

// countQueries counts the SQL statements run while fn runs.
func countQueries(t *testing.T, app core.App, fn func()) int {
	t.Helper()
	var n atomic.Int64
	var dbs []*dbx.DB
	for _, b := range []dbx.Builder{app.ConcurrentDB(), app.NonconcurrentDB()} {
		db, ok := b.(*dbx.DB)
		if !ok {
			t.Fatalf("unexpected builder %T", b)
		}
		dbs = append(dbs, db)
	}
	saved := make([]func(context.Context, time.Duration, string, *sql.Rows, error), len(dbs))
	for i, db := range dbs {
		saved[i] = db.QueryLogFunc
		db.QueryLogFunc = func(context.Context, time.Duration, string, *sql.Rows, error) { n.Add(1) }
	}
	fn()
	for i, db := range dbs {
		db.QueryLogFunc = saved[i]
	}
	return int(n.Load())
}

// Reading a page of contacts with their custom values costs the same
// number of queries for 5 contacts as for 50.
func TestListQueriesBounded(t *testing.T) {
	f := newCRM(t)
	f.defineFields(t)
	for i := 0; i < 50; i++ {
		f.env.Create("contacts", map[string]any{"workspace": f.w.Id, "primary_email": fmt.Sprintf("c%d@example.com", i),
			"custom": map[string]any{"source": "x", "vip": i%2 == 0, "tier": "Bronze"}})
	}
	page := func(n int) (int, []any) {
		var items []any
		q := countQueries(t, f.env.App, func() {
			res := mustStatus(t, f.env.Do(http.MethodGet, fmt.Sprintf("%s?perPage=%d&sort=created", contactsURL, n), f.tok["viewer"], nil), 200, "")
			items, _ = res["items"].([]any)
		})
		return q, items
	}
	page(5) // warm caches (collections, auth record)
	q5, items5 := page(5)
	q50, items50 := page(50)
	if len(items5) != 5 || len(items50) != 50 {
		t.Fatalf("pages of %d and %d", len(items5), len(items50))
	}
	for _, it := range items50 {
		if c := it.(map[string]any)["custom"].(map[string]any); c["tier"] != "Bronze" || c["source"] != "x" {
			t.Fatalf("item without its custom values: %v", it)
		}
	}
	if q50 != q5 {
		t.Fatalf("a page of 50 took %d queries, a page of 5 took %d", q50, q5)
	}
	t.Logf("queries per page: %d", q5)
}

func assertJSON(t *testing.T, got, want any) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	var gm, wm any
	_ = json.Unmarshal(g, &gm)
	_ = json.Unmarshal(w, &wm)
	g, _ = json.Marshal(gm)
	w, _ = json.Marshal(wm)
	if string(g) != string(w) {
		t.Fatalf("got  %s\nwant %s", g, w)
	}
}

func urlQuery(s string) string {
	r := strings.NewReplacer(" ", "%20", `"`, "%22", "=", "%3D", "&", "%26")
	return r.Replace(s)
}

var _ = sync.WaitGroup{}
