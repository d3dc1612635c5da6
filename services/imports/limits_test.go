package imports_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/imports"
	"github.com/pocketbase/pocketbase/core"
)

// runLocal runs file as the CLI does and returns the stored job and the error.
func (f *fixture) runLocal(file string, opts imports.Options) (*core.Record, error) {
	f.t.Helper()
	path := f.t.TempDir() + "/in.csv"
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		f.t.Fatal(err)
	}
	src, err := os.Open(path)
	if err != nil {
		f.t.Fatal(err)
	}
	defer src.Close()
	if opts.Mode == "" {
		opts.Mode = imports.ModeCreate
	}
	job, _, runErr := f.svc.RunLocal(imports.Input{Workspace: f.ws.Id, FileName: "in.csv", Options: opts, Actor: audit.Actor{UserID: f.owner.Id}}, src, nil)
	if job == nil {
		f.t.Fatalf("no job: %v", runErr)
	}
	stored, err := f.env.App.FindRecordById("import_jobs", job.Id)
	if err != nil {
		f.t.Fatal(err)
	}
	return stored, runErr
}

func wide(n int, cell func(i int) string) string {
	var b strings.Builder
	for _, c := range []func(int) string{func(i int) string { return fmt.Sprintf("col%d", i) }, cell} {
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(c(i))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// The column limit holds in the job too (the CLI has no route): the job
// fails with the reason and writes nothing.
func TestJobRefusesTooManyColumns(t *testing.T) {
	f := newFixture(t)
	job, err := f.runLocal(wide(10000, func(i int) string { return fmt.Sprintf("v%d", i) }), imports.Options{})
	if err == nil || job.GetString("status") != imports.StatusFailed || !strings.Contains(job.GetString("error"), "at most 500") {
		t.Fatalf("job %s %q (%v); want failed, too many columns", job.GetString("status"), job.GetString("error"), err)
	}
	if n := f.count("contacts"); n != 0 {
		t.Fatalf("%d contacts", n)
	}
}

// Too many new fields: refused by ParseOptions (route and CLI) and by the
// job for options that did not come through it; no definition is written.
func TestJobRefusesTooManyNewFields(t *testing.T) {
	f := newFixture(t)
	mapping := map[string]json.RawMessage{}
	for i := 0; i < 300; i++ {
		mapping[fmt.Sprintf("col%d", i)] = json.RawMessage(fmt.Sprintf(`"new:text:Extra %d"`, i))
	}
	raw, _ := json.Marshal(map[string]any{"mapping": mapping})
	if _, err := imports.ParseOptions(raw); err == nil || !strings.Contains(err.Error(), "at most 100") {
		t.Fatalf("ParseOptions: %v", err)
	}
	before := f.count("custom_field_definitions")
	job, err := f.runLocal(wide(300, func(i int) string { return "x" }), imports.Options{Mapping: mapping})
	if err == nil || job.GetString("status") != imports.StatusFailed || !strings.Contains(job.GetString("error"), "at most 100") {
		t.Fatalf("job %s %q (%v); want failed, too many new fields", job.GetString("status"), job.GetString("error"), err)
	}
	if n := f.count("custom_field_definitions"); n != before {
		t.Fatalf("%d definitions written", n-before)
	}
	if n := f.count("contacts"); n != 0 {
		t.Fatalf("%d contacts", n)
	}
}

// A mapping error after a new field's column (here: a custom field that
// does not exist) fails the job before any definition is written.
func TestPlanFailureWritesNoDefinition(t *testing.T) {
	f := newFixture(t)
	before := f.count("custom_field_definitions")
	job, err := f.runLocal("notes,other\nx,y\n", imports.Options{Mapping: map[string]json.RawMessage{
		"notes": json.RawMessage(`"new:text:Notes"`), "other": json.RawMessage(`"custom:nope"`)}})
	if err == nil || job.GetString("status") != imports.StatusFailed {
		t.Fatalf("job %s %q (%v)", job.GetString("status"), job.GetString("error"), err)
	}
	if n := f.count("custom_field_definitions"); n != before {
		t.Fatalf("%d definitions written by a job that failed planning", n-before)
	}
}

// A panic on the parser goroutine used to kill the process (no recover
// there); the job now ends failed.
func TestParserPanicMarksJobFailed(t *testing.T) {
	f := newFixture(t)
	imports.SetPanicInParse(f.svc, true)
	job := f.startQueued("first_name,primary_email\nAda,ada@example.com\n")
	if job.GetString("status") != imports.StatusFailed || !strings.Contains(job.GetString("error"), "internal error") {
		t.Fatalf("job %q, error %q; want failed", job.GetString("status"), job.GetString("error"))
	}
}
