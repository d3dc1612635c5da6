package imports_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/imports"
	"github.com/pocketbase/pocketbase/core"
)

// startQueued starts a job the way the route does (staged upload, Start,
// the runner's goroutine) and waits for the runner.
func (f *fixture) startQueued(csv string) *core.Record {
	f.t.Helper()
	staged, err := f.svc.Stage(strings.NewReader(csv))
	if err != nil {
		f.t.Fatal(err)
	}
	job, err := f.svc.Start(imports.Input{Workspace: f.ws.Id, FileName: "people.csv", Options: imports.Options{Mode: imports.ModeCreate},
		Actor: audit.Actor{UserID: f.owner.Id}}, staged)
	if err != nil {
		f.t.Fatal(err)
	}
	if job.GetString("status") != imports.StatusQueued {
		f.t.Fatalf("Start returned a %q job", job.GetString("status"))
	}
	f.svc.Runner().Wait()
	job, err = f.env.App.FindRecordById("import_jobs", job.Id)
	if err != nil {
		f.t.Fatal(err)
	}
	return job
}

// A job whose start fails (here: its first status save is refused) used to
// stay "queued" forever with 0 rows read, the error only in the server log.
// It must end failed, with the reason.
func TestStartFailureMarksJobFailed(t *testing.T) {
	f := newFixture(t)
	f.env.App.OnRecordUpdate("import_jobs").BindFunc(func(e *core.RecordEvent) error {
		if e.Record.GetString("status") == imports.StatusRunning {
			return errors.New("refused by the test")
		}
		return e.Next()
	})
	job := f.startQueued("first_name,primary_email\nAda,ada@example.com\n")
	if job.GetString("status") != imports.StatusFailed || !strings.Contains(job.GetString("error"), "could not start") {
		t.Fatalf("job %q, error %q; want failed with the reason", job.GetString("status"), job.GetString("error"))
	}
	if n := f.count("contacts"); n != 0 {
		t.Fatalf("%d contacts written by a job that never started", n)
	}
}

// A panic inside a running job (a bug) must not leave it "running" until the
// next restart, nor kill the server: the job ends failed with a message.
func TestPanicInJobMarksJobFailed(t *testing.T) {
	f := newFixture(t)
	f.env.App.OnRecordUpdate("import_jobs").BindFunc(func(e *core.RecordEvent) error {
		if e.Record.GetString("status") == imports.StatusRunning {
			panic("boom from the test")
		}
		return e.Next()
	})
	job := f.startQueued("first_name,primary_email\nAda,ada@example.com\n")
	if job.GetString("status") != imports.StatusFailed || !strings.Contains(job.GetString("error"), "internal error") {
		t.Fatalf("job %q, error %q; want failed with the reason", job.GetString("status"), job.GetString("error"))
	}
}

// The normal path through Start still completes.
func TestStartRunsJob(t *testing.T) {
	f := newFixture(t)
	job := f.startQueued("first_name,primary_email\nAda,ada@example.com\n")
	if job.GetString("status") != imports.StatusCompleted {
		t.Fatalf("job %q, error %q", job.GetString("status"), job.GetString("error"))
	}
}

// The duplicate lookup of every batch must probe the unique (workspace,
// email|phone) indexes, not read the whole workspace through some other
// (workspace, …) index: that made a 100k import quadratic.
func TestLookupUsesUniqueIndexes(t *testing.T) {
	f := newFixture(t)
	for col, idx := range map[string]string{"primary_email": "idx_contacts_ws_email", "primary_phone": "idx_contacts_ws_phone"} {
		plan, err := imports.LookupPlan(f.svc, f.ws.Id, col)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan, idx+" ("+"workspace=? AND "+col+"=?)") {
			t.Errorf("lookup on %s: plan %q does not probe %s", col, plan, idx)
		}
	}
}
