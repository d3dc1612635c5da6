package hooks_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/pi-crm/pi-crm/hooks"
	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/imports"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// importEnv is a server with its own import runner, a workspace and its owner.
type importEnv struct {
	env    *testutil.Env
	runner *imports.Runner
	ws     string
	token  string
}

func newImportEnv(t *testing.T) *importEnv {
	runner := imports.NewRunner(1)
	env := testutil.NewWithConfig(t, hooks.Config{ImportRunner: runner})
	owner, token := env.User("owner@example.com")
	ws := env.Workspace("Limits", owner, nil)
	return &importEnv{env: env, runner: runner, ws: ws.Id, token: token}
}

func dataCode(out map[string]any) string {
	d, _ := out["data"].(map[string]any)
	c, _ := d["code"].(string)
	return c
}

func (ie *importEnv) count(t *testing.T, table string, where dbx.Expression) int {
	t.Helper()
	var n int
	q := ie.env.App.DB().Select("count(*)").From(table)
	if where != nil {
		q = q.Where(where)
	}
	if err := q.Row(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// jobs returns the statuses of the workspace's import jobs.
func (ie *importEnv) jobs(t *testing.T) []string {
	t.Helper()
	var st []string
	_ = ie.env.App.DB().Select("status").From("import_jobs").Where(dbx.HashExp{"workspace": ie.ws}).Column(&st)
	return st
}

func (ie *importEnv) job(t *testing.T, id string) *core.Record {
	t.Helper()
	rec, err := ie.env.App.FindRecordById("import_jobs", id)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// The outside probe: one row of 10,000 columns, no options, left the job
// "running" forever (read 1, committed 1, no error): its resolved mapping
// did not fit the job's options field, so every later save of the job,
// failed included, was refused. Now the route refuses the file up front.
func TestImportTenThousandColumnsRefused(t *testing.T) {
	ie := newImportEnv(t)
	var csv strings.Builder
	for i := 0; i < 10000; i++ {
		if i > 0 {
			csv.WriteByte(',')
		}
		fmt.Fprintf(&csv, "col%d", i)
	}
	csv.WriteByte('\n')
	for i := 0; i < 10000; i++ {
		if i > 0 {
			csv.WriteByte(',')
		}
		fmt.Fprintf(&csv, "v%d", i)
	}
	csv.WriteByte('\n')
	status, out := upload(t, ie.env, ie.ws, ie.token, nil, csv.String(), "")
	ie.runner.Wait()
	code := dataCode(out)
	if status != http.StatusBadRequest || code != imports.CodeTooManyColumns {
		t.Fatalf("10,000 columns: %d %q %v (jobs %v); want 400 %s", status, code, out["message"], ie.jobs(t), imports.CodeTooManyColumns)
	}
	if st := ie.jobs(t); len(st) != 0 {
		t.Fatalf("jobs left: %v", st)
	}
	if n := ie.count(t, "contacts", dbx.HashExp{"workspace": ie.ws}); n != 0 {
		t.Fatalf("%d contacts written", n)
	}
}

// The outside probe: 300 columns mapped to new:text created 300 field
// definitions and a contact, then the job stayed "running" ("The maximum
// allowed JSON size is 65536 bytes") and could not be undone. Now it is
// refused before anything is written.
func TestImportTooManyNewFieldsRefused(t *testing.T) {
	ie := newImportEnv(t)
	var head, row []string
	mapping := map[string]string{}
	for i := 0; i < 300; i++ {
		h := fmt.Sprintf("Extra attribute number %03d with a long header", i)
		head = append(head, h)
		row = append(row, fmt.Sprintf("value %d", i))
		mapping[h] = fmt.Sprintf("new:text:Extra attribute %03d", i)
	}
	opts, _ := json.Marshal(map[string]any{"mapping": mapping})
	csv := strings.Join(head, ",") + "\n" + strings.Join(row, ",") + "\n"
	status, out := upload(t, ie.env, ie.ws, ie.token, nil, csv, string(opts))
	ie.runner.Wait()
	code := dataCode(out)
	if status != http.StatusBadRequest || code != imports.CodeTooManyNewFields {
		t.Fatalf("300 new fields: %d %q %v (jobs %v); want 400 %s", status, code, out["message"], ie.jobs(t), imports.CodeTooManyNewFields)
	}
	if n := ie.count(t, "custom_field_definitions", dbx.HashExp{"workspace": ie.ws}); n != 0 {
		t.Fatalf("%d field definitions written", n)
	}
	if n := ie.count(t, "contacts", dbx.HashExp{"workspace": ie.ws}); n != 0 {
		t.Fatalf("%d contacts written", n)
	}
	if st := ie.jobs(t); len(st) != 0 {
		t.Fatalf("jobs left: %v", st)
	}
}

// Within the limits, a job whose stored state would still exceed the job
// record's limits (400 long headers: the resolved mapping is larger than
// the options field's 64 KB) completes, with what it stores cut to fit.
func TestImportLargeResolvedMappingCompletes(t *testing.T) {
	ie := newImportEnv(t)
	head := []string{"first_name", "primary_email"}
	row := []string{"Ada", "ada@example.com"}
	for i := 0; i < 400; i++ {
		head = append(head, fmt.Sprintf("unmapped column %03d %s", i, strings.Repeat("x", 150)))
		row = append(row, "")
	}
	csv := strings.Join(head, ",") + "\n" + strings.Join(row, ",") + "\n"
	status, out := upload(t, ie.env, ie.ws, ie.token, nil, csv, "")
	if status != http.StatusAccepted {
		t.Fatalf("%d %v", status, out)
	}
	ie.runner.Wait()
	job := ie.job(t, out["id"].(string))
	if job.GetString("status") != imports.StatusCompleted {
		t.Fatalf("job %s %q; want completed", job.GetString("status"), job.GetString("error"))
	}
	if n := ie.count(t, "contacts", dbx.HashExp{"workspace": ie.ws}); n != 1 {
		t.Fatalf("%d contacts", n)
	}
}

// A job whose final save is refused (here by a hook; in the field by a
// value over a field's limit) used to stay "running" with its rows
// written. It ends failed with its reason, and undo removes its rows.
func TestImportRefusedFinalSaveEndsFailedAndUndoable(t *testing.T) {
	ie := newImportEnv(t)
	ie.env.App.OnRecordUpdate("import_jobs").BindFunc(func(e *core.RecordEvent) error {
		if e.Record.GetString("status") == imports.StatusCompleted {
			return errors.New("completed refused by the test")
		}
		return e.Next()
	})
	status, out := upload(t, ie.env, ie.ws, ie.token, nil, peopleCSV, "")
	if status != http.StatusAccepted {
		t.Fatalf("%d %v", status, out)
	}
	ie.runner.Wait()
	id := out["id"].(string)
	job := ie.job(t, id)
	if job.GetString("status") != imports.StatusFailed || !strings.Contains(job.GetString("error"), "completed refused by the test") {
		t.Fatalf("job %s %q; want failed with the reason", job.GetString("status"), job.GetString("error"))
	}
	if n := ie.count(t, "contacts", dbx.HashExp{"workspace": ie.ws}); n != 1 {
		t.Fatalf("%d contacts before undo", n)
	}
	if res := ie.env.Do("POST", "/api/crm/import-jobs/"+id+"/undo", ie.token, nil); res.Status != 200 {
		t.Fatalf("undo of the failed job: %d %s", res.Status, res.Body)
	}
	if n := ie.count(t, "contacts", dbx.HashExp{"workspace": ie.ws}); n != 0 {
		t.Fatalf("%d contacts after undo", n)
	}
}

// Even when no save of the job's record is accepted any more (neither
// completed nor failed), the job does not stay running: the last resort
// marks it failed with a short reason.
func TestImportEveryFinalSaveRefusedStillEndsFailed(t *testing.T) {
	ie := newImportEnv(t)
	ie.env.App.OnRecordUpdate("import_jobs").BindFunc(func(e *core.RecordEvent) error {
		if s := e.Record.GetString("status"); s == imports.StatusCompleted || s == imports.StatusFailed {
			return errors.New("refused by the test")
		}
		return e.Next()
	})
	status, out := upload(t, ie.env, ie.ws, ie.token, nil, peopleCSV, "")
	if status != http.StatusAccepted {
		t.Fatalf("%d %v", status, out)
	}
	ie.runner.Wait()
	job := ie.job(t, out["id"].(string))
	if job.GetString("status") != imports.StatusFailed || job.GetString("error") == "" {
		t.Fatalf("job %s %q; want failed with a reason", job.GetString("status"), job.GetString("error"))
	}
}

// A panic while the job writes (here in the save of its progress) ends the
// job failed, and the server keeps serving.
func TestImportPanicEndsFailed(t *testing.T) {
	ie := newImportEnv(t)
	ie.env.App.OnRecordUpdate("import_jobs").BindFunc(func(e *core.RecordEvent) error {
		if e.Record.GetString("status") == imports.StatusCompleted {
			panic("boom from the test")
		}
		return e.Next()
	})
	status, out := upload(t, ie.env, ie.ws, ie.token, nil, peopleCSV, "")
	if status != http.StatusAccepted {
		t.Fatalf("%d %v", status, out)
	}
	ie.runner.Wait()
	job := ie.job(t, out["id"].(string))
	if job.GetString("status") != imports.StatusFailed || !strings.Contains(job.GetString("error"), "internal error") {
		t.Fatalf("job %s %q; want failed", job.GetString("status"), job.GetString("error"))
	}
	if res := ie.env.Do("GET", "/api/crm/me", ie.token, nil); res.Status != 200 {
		t.Fatalf("server after the panic: %d", res.Status)
	}
}

// The custom fields a failed job defined are part of what undo takes back
// (unless a value still uses one); before, they stayed behind.
func TestImportUndoOfFailedJobRemovesItsNewFields(t *testing.T) {
	ie := newImportEnv(t)
	ie.env.App.OnRecordUpdate("import_jobs").BindFunc(func(e *core.RecordEvent) error {
		if e.Record.GetString("status") == imports.StatusCompleted {
			return errors.New("completed refused by the test")
		}
		return e.Next()
	})
	csv := "first_name,primary_email,Notes,Source\nAda,ada@example.com,hello,web\n"
	status, out := upload(t, ie.env, ie.ws, ie.token, nil, csv, `{"mapping":{"Notes":"new:text:Notes","Source":"new:text:Source"}}`)
	if status != http.StatusAccepted {
		t.Fatalf("%d %v", status, out)
	}
	ie.runner.Wait()
	id := out["id"].(string)
	if job := ie.job(t, id); job.GetString("status") != imports.StatusFailed {
		t.Fatalf("job %s %q", job.GetString("status"), job.GetString("error"))
	}
	if n := ie.count(t, "custom_field_definitions", dbx.HashExp{"workspace": ie.ws}); n != 2 {
		t.Fatalf("%d definitions after the job", n)
	}
	// a contact created since uses "source": that definition stays
	if res := ie.env.Do("POST", "/api/collections/contacts/records", ie.token, map[string]any{"workspace": ie.ws, "first_name": "Bob",
		"custom": map[string]any{"source": "phone"}}); res.Status != 200 {
		t.Fatalf("contact: %d %s", res.Status, res.Body)
	}
	if res := ie.env.Do("POST", "/api/crm/import-jobs/"+id+"/undo", ie.token, nil); res.Status != 200 {
		t.Fatalf("undo: %d %s", res.Status, res.Body)
	}
	var names []string
	_ = ie.env.App.DB().Select("field_name").From("custom_field_definitions").Where(dbx.HashExp{"workspace": ie.ws}).Column(&names)
	if len(names) != 1 || names[0] != "source" {
		t.Fatalf("definitions after undo: %v; want [source]", names)
	}
	if n := ie.count(t, "contacts", dbx.HashExp{"workspace": ie.ws}); n != 1 {
		t.Fatalf("%d contacts after undo; want Bob only", n)
	}
}
