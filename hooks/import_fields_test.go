package hooks_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/pi-crm/pi-crm/services/imports"
	"github.com/pocketbase/dbx"
)

// part is one multipart field of an upload; the file part is "file".
type part struct{ name, value string }

// uploadParts posts parts in the order given; a part named "file" is the CSV.
func (ie *importEnv) uploadParts(t *testing.T, parts ...part) (int, map[string]any) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, p := range parts {
		if p.name == "file" {
			fw, _ := mw.CreateFormFile("file", "people.csv")
			_, _ = io.WriteString(fw, p.value)
			continue
		}
		_ = mw.WriteField(p.name, p.value)
	}
	_ = mw.Close()
	req, _ := http.NewRequest("POST", ie.env.Server.URL+"/api/crm/workspaces/"+ie.ws+"/import", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", ie.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	ie.runner.Wait()
	return res.StatusCode, out
}

func (ie *importEnv) company(t *testing.T, email string) string {
	t.Helper()
	var c string
	_ = ie.env.App.DB().Select("company").From("contacts").Where(dbx.HashExp{"workspace": ie.ws, "primary_email": email}).Row(&c)
	return c
}

// Issue 18: the options given as multipart fields of their own are applied
// exactly as in the options JSON (mode=upsert really upserts), not ignored.
func TestImportOptionFieldsApplied(t *testing.T) {
	ie := newImportEnv(t)
	list := ie.env.Create("contact_lists", map[string]any{"workspace": ie.ws, "name": "Fair 2026"})
	if st, out := ie.uploadParts(t, part{"file", "first_name,primary_email,company\nAda,ada@example.com,Old Co\n"}); st != 202 {
		t.Fatalf("seed: %d %v", st, out)
	}
	// mode=upsert as a field, the file before it, a list and a mapping too
	st, out := ie.uploadParts(t,
		part{"file", "first_name,primary_email,Org\nAda,ada@example.com,New Co\nBea,bea@example.com,Bea Ltd\n"},
		part{"mode", "upsert"}, part{"list", list.Id}, part{"mapping", `{"Org": "company"}`})
	if st != 202 {
		t.Fatalf("fields: %d %v", st, out)
	}
	job := ie.job(t, out["id"].(string))
	var c imports.Counts
	_ = job.UnmarshalJSONField("counts", &c)
	var opts imports.Options
	_ = job.UnmarshalJSONField("options", &opts)
	if job.GetString("status") != imports.StatusCompleted || c.Updated != 1 || c.Created != 1 || c.Failed != 0 || opts.Mode != imports.ModeUpsert || opts.List != list.Id {
		t.Fatalf("upsert by field: %s %+v options %+v (%s)", job.GetString("status"), c, opts, job.GetString("error"))
	}
	if got := ie.company(t, "ada@example.com"); got != "New Co" {
		t.Errorf("the matched contact's company %q: the mode or mapping field was not applied", got)
	}
	if n := ie.count(t, "contact_list_assignments", dbx.HashExp{"list": list.Id}); n != 2 {
		t.Errorf("%d contacts in the list field's list, want 2", n)
	}
	// dry_run as a field (and the same mode both ways: no conflict)
	st, out = ie.uploadParts(t, part{"options", `{"mode":"upsert"}`}, part{"mode", "upsert"}, part{"dry_run", "true"},
		part{"file", "first_name,primary_email,company\nAda,ada@example.com,Dry Co\nCy,cy@example.com,\n"})
	if st != 202 {
		t.Fatalf("dry run field: %d %v", st, out)
	}
	job = ie.job(t, out["id"].(string))
	_ = job.UnmarshalJSONField("counts", &c)
	_ = job.UnmarshalJSONField("options", &opts)
	if !opts.DryRun || c.Updated != 1 || c.Created != 1 || ie.company(t, "ada@example.com") != "New Co" ||
		ie.count(t, "contacts", dbx.HashExp{"primary_email": "cy@example.com"}) != 0 {
		t.Errorf("dry_run field: options %+v counts %+v company %q", opts, c, ie.company(t, "ada@example.com"))
	}
	// auto_map=false: only the mapped column is read
	st, out = ie.uploadParts(t, part{"auto_map", "false"}, part{"mapping", `{"mail":"primary_email"}`},
		part{"file", "first_name,mail\nDan,dan@example.com\n"})
	if st != 202 {
		t.Fatalf("auto_map field: %d %v", st, out)
	}
	var first string
	_ = ie.env.App.DB().Select("first_name").From("contacts").Where(dbx.HashExp{"primary_email": "dan@example.com"}).Row(&first)
	if first != "" {
		t.Errorf("auto_map=false ignored: first_name %q", first)
	}
}

// Any field the route does not know, an option given two ways with
// different values, or a field's value that the options JSON would refuse:
// a 400 with a stable code naming the field, before a job exists.
func TestImportOptionFieldsRefused(t *testing.T) {
	ie := newImportEnv(t)
	file := part{"file", "first_name,primary_email\nAda,ada@example.com\n"}
	for _, c := range []struct {
		what  string
		parts []part
		code  string
		field string
	}{
		{"a misspelt option", []part{{"mdoe", "upsert"}, file}, imports.CodeOptionUnknown, "mdoe"},
		{"an unknown field after the file", []part{file, {"notify", "yes"}}, imports.CodeOptionUnknown, "notify"},
		{"a form-style mapping", []part{file, {"mapping[Email]", "primary_email"}}, imports.CodeOptionUnknown, "mapping[Email]"},
		{"an unknown key of the options JSON", []part{{"options", `{"mod":"upsert"}`}, file}, imports.CodeOptionUnknown, "mod"},
		{"mode both ways, differently", []part{{"options", `{"mode":"create"}`}, {"mode", "upsert"}, file}, imports.CodeOptionConflict, "mode"},
		{"dry_run both ways, differently", []part{{"options", `{"dry_run":false}`}, {"dry_run", "1"}, file}, imports.CodeOptionConflict, "dry_run"},
		{"mapping both ways, differently", []part{{"options", `{"mapping":{"a":"company"}}`}, {"mapping", `{"a":"last_name"}`}, file}, imports.CodeOptionConflict, "mapping"},
		{"mode twice, differently", []part{{"mode", "upsert"}, {"mode", "update"}, file}, imports.CodeOptionConflict, "mode"},
		{"options twice, differently", []part{{"options", `{"mode":"upsert"}`}, {"options", `{"mode":"update"}`}, file}, imports.CodeOptionConflict, "options"},
		{"a mode that does not exist", []part{{"mode", "sometimes"}, file}, imports.CodeInvalidOptions, ""},
		{"dry_run that is no boolean", []part{{"dry_run", "yes please"}, file}, imports.CodeInvalidOptions, "dry_run"},
		{"a mapping that is no JSON object", []part{{"mapping", "Email=primary_email"}, file}, imports.CodeInvalidOptions, "mapping"},
		{"a list of no workspace", []part{{"list", "nosuchlist12345"}, file}, imports.CodeInvalidOptions, ""},
	} {
		st, out := ie.uploadParts(t, c.parts...)
		d, _ := out["data"].(map[string]any)
		if st != http.StatusBadRequest || dataCode(out) != c.code || (c.field != "" && d["field"] != c.field) {
			t.Errorf("%s: %d %v, want 400 %s naming %q", c.what, st, out, c.code, c.field)
			continue
		}
		if msg, _ := out["message"].(string); c.field != "" && !strings.Contains(msg, c.field) {
			t.Errorf("%s: the message %q does not name %q", c.what, msg, c.field)
		}
	}
	if st := ie.jobs(t); len(st) != 0 {
		t.Errorf("refused requests left jobs: %v", st)
	}
	if n := ie.count(t, "contacts", dbx.HashExp{"workspace": ie.ws}); n != 0 {
		t.Errorf("refused requests wrote %d contacts", n)
	}
}
