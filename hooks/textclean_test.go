package hooks_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/pi-crm/pi-crm/hooks"
	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/imports"
	"github.com/pocketbase/dbx"
)

// storedHasNUL reports whether any text column of table holds a NUL (or
// another C0 control character but tab, LF and CR) in the rows of where.
func storedControl(t *testing.T, env *testutil.Env, table, col string, where dbx.Expression) []string {
	t.Helper()
	var vals []string
	if err := env.App.DB().Select(col).From(table).Where(where).Column(&vals); err != nil {
		t.Fatal(err)
	}
	var bad []string
	for _, v := range vals {
		for i := 0; i < len(v); i++ {
			if b := v[i]; b < 0x20 && b != '\t' && b != '\n' && b != '\r' {
				bad = append(bad, v)
				break
			}
		}
	}
	return bad
}

// The outside probe: PATCH {"last_name":"a\u0000b"} answered 200 and
// stored the NUL. Every text field of every pi-crm collection is cleaned
// by one rule (services/textclean: NUL and the other C0 controls but tab,
// LF and CR are stripped), through REST and the model layer alike.
func TestNULStrippedFromRecords(t *testing.T) {
	f := newCRM(t)
	c := mustStatus(t, f.post(t, "owner", map[string]any{"workspace": f.w.Id, "first_name": "Ad\u0000a", "company": "Acme\u0001 Ltd\tUK"}), 200, "")
	id := c["id"].(string)
	if c["first_name"] != "Ada" || c["company"] != "Acme Ltd\tUK" {
		t.Fatalf("create answered %q %q", c["first_name"], c["company"])
	}
	res := f.env.Do(http.MethodPatch, contactsURL+"/"+id, f.tok["owner"], map[string]any{"last_name": "a\u0000b"})
	got := mustStatus(t, res, 200, "")
	if got["last_name"] != "ab" {
		t.Fatalf("PATCH answered last_name %q", got["last_name"])
	}
	rec, _ := f.env.App.FindRecordById("contacts", id)
	if rec.GetString("last_name") != "ab" {
		t.Fatalf("stored last_name %q", rec.GetString("last_name"))
	}
	// another collection, and the model layer (no request)
	l := mustStatus(t, f.env.Do(http.MethodPost, "/api/collections/contact_lists/records", f.tok["owner"],
		map[string]any{"workspace": f.w.Id, "name": "VIP\u0000s"}), 200, "")
	if l["name"] != "VIPs" {
		t.Fatalf("list name %q", l["name"])
	}
	tl := f.env.Create("communication_logs", map[string]any{"workspace": f.w.Id, "contact": id, "type": "note",
		"direction": "internal", "content": "line one\nline\u0000 two"})
	if tl.GetString("content") != "line one\nline two" {
		t.Fatalf("note content %q", tl.GetString("content"))
	}
	for table, col := range map[string]string{"contacts": "last_name", "contact_lists": "name", "communication_logs": "content"} {
		if bad := storedControl(t, f.env, table, col, dbx.NewExp("1=1")); len(bad) > 0 {
			t.Errorf("%s.%s stored %q", table, col, bad)
		}
	}
}

// Custom values follow the same rule, through the custom route and
// through the contact's custom object.
func TestNULStrippedFromCustomValues(t *testing.T) {
	f := newCRM(t)
	f.env.Create("custom_field_definitions", map[string]any{"user": f.owner.Id, "workspace": f.w.Id, "field_name": "note", "label": "Note", "field_type": "text"})
	f.env.Create("custom_field_definitions", map[string]any{"user": f.owner.Id, "workspace": f.w.Id, "field_name": "tags", "label": "Tags",
		"field_type": "multiselect", "options": []string{"a", "b"}})
	c := mustStatus(t, f.post(t, "owner", map[string]any{"workspace": f.w.Id, "first_name": "Ada",
		"custom": map[string]any{"note": "x\u0000y", "tags": []any{"a\u0000"}}}), 200, "")
	id := c["id"].(string)
	if cu, _ := c["custom"].(map[string]any); cu["note"] != "xy" {
		t.Fatalf("create custom %v", c["custom"])
	}
	res := f.env.Do(http.MethodPost, "/api/crm/contacts/"+id+"/custom", f.tok["owner"], map[string]any{"custom": map[string]any{"note": "n\u0000o\u0002"}})
	mustStatus(t, res, 200, "")
	var v string
	_ = f.env.App.DB().Select("field_value").From("custom_fields").Where(dbx.HashExp{"contact": id, "field_name": "note"}).Row(&v)
	if v != "no" {
		t.Fatalf("stored custom value %q", v)
	}
	if bad := storedControl(t, f.env, "custom_fields", "field_value", dbx.HashExp{"contact": id}); len(bad) > 0 {
		t.Fatalf("custom values stored %q", bad)
	}
	if bad := storedControl(t, f.env, "contacts", "custom", dbx.HashExp{"id": id}); len(bad) > 0 {
		t.Fatalf("read copy stored %q", bad)
	}
	if rec, _ := f.env.App.FindRecordById("contacts", id); strings.Contains(rec.GetString("custom"), `\u0000`) {
		t.Fatalf("read copy %s", rec.GetString("custom"))
	}
}

// A CSV whose cells hold NUL bytes is imported without them (the bulk
// raw-SQL path included), and the export never writes one, not even for a
// value stored before this rule.
func TestNULStrippedFromImportAndExport(t *testing.T) {
	runner := imports.NewRunner(1)
	env := testutil.NewWithConfig(t, hooks.Config{ImportRunner: runner})
	owner, token := env.User("owner@example.com")
	ws := env.Workspace("NUL", owner, nil)
	csv := "first_name,last_name,primary_email,notes\nAd\x00a,Love\x00lace\x01,ada@example.com,n\x00ote\n"
	status, out := upload(t, env, ws.Id, token, nil, csv, `{"mapping":{"notes":"new:text:Notes"}}`)
	if status != http.StatusAccepted {
		t.Fatalf("%d %v", status, out)
	}
	runner.Wait()
	job, _ := env.App.FindRecordById("import_jobs", out["id"].(string))
	if job.GetString("status") != imports.StatusCompleted {
		t.Fatalf("job %s %q", job.GetString("status"), job.GetString("error"))
	}
	var r struct {
		F string `db:"first_name"`
		L string `db:"last_name"`
		X string `db:"custom"`
	}
	if err := env.App.DB().Select("first_name", "last_name", "custom").From("contacts").Where(dbx.HashExp{"workspace": ws.Id}).One(&r); err != nil {
		t.Fatal(err)
	}
	if r.F != "Ada" || r.L != "Lovelace" || r.X != `{"notes":"note"}` {
		t.Fatalf("imported %q %q %s", r.F, r.L, r.X)
	}
	var v string
	_ = env.App.DB().Select("field_value").From("custom_fields").Where(dbx.HashExp{"field_name": "notes"}).Row(&v)
	if v != "note" {
		t.Fatalf("imported custom value %q", v)
	}
	// a value stored with a NUL before the rule (raw SQL: no hook)
	if _, err := env.App.DB().NewQuery("UPDATE contacts SET company = 'Ac' || char(0) || 'me' WHERE workspace = {:ws}").
		Bind(dbx.Params{"ws": ws.Id}).Execute(); err != nil {
		t.Fatal(err)
	}
	res := env.Do("GET", "/api/crm/workspaces/"+ws.Id+"/export", token, nil)
	if res.Status != 200 || !bytes.Contains(res.Body, []byte("Acme")) {
		t.Fatalf("export %d %q", res.Status, res.Body)
	}
	if i := bytes.IndexByte(res.Body, 0); i >= 0 {
		t.Fatalf("export holds a NUL at %d: %q", i, res.Body)
	}
}
