// Package imports runs CSV imports as background jobs (import_jobs records):
// mapping, validation, batched raw-SQL writes, progress, an error report,
// an undo journal, and the undo itself; and streams CSV exports.
//
// Files of a job live in <data dir>/imports/<job id>/: upload.csv (the file
// as uploaded), errors.csv (the error report) and journal.jsonl (what undo
// needs: the ids each batch created and the values it overwrote).
package imports

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/contacts"
	"github.com/pi-crm/pi-crm/services/csvio"
	"github.com/pi-crm/pi-crm/services/customfields"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"
)

// Modes: what a row matching an existing contact (same normalised email or
// phone) does.
const (
	ModeCreate       = "create"        // only new contacts; a match is an error
	ModeUpdate       = "update"        // only existing contacts; no match is skipped
	ModeUpsert       = "upsert"        // update a match, create otherwise
	ModeSkipExisting = "skip_existing" // create new ones, leave matches alone
)

// Modes lists the modes.
var Modes = []string{ModeCreate, ModeUpdate, ModeUpsert, ModeSkipExisting}

// Job statuses (import_jobs.status).
const (
	StatusQueued    = "queued"
	StatusRunning   = "running"
	StatusCompleted = "completed"
	StatusFailed    = "failed"
	StatusUndone    = "undone"
)

// Stable error codes of the routes.
const (
	CodeInvalidOptions = "import_invalid_options"
	// CodeOptionUnknown: an option (a multipart field, or a key of the
	// options JSON) the import does not know; data.field names it.
	CodeOptionUnknown = "import_option_unknown"
	// CodeOptionConflict: an option given twice (in the options JSON and as
	// a field of its own, or as two fields) with different values.
	CodeOptionConflict = "import_option_conflict"
	CodeInvalidFile    = "import_invalid_file"
	CodeBusy           = "import_in_progress"
	CodeNotFound       = "import_not_found"
	CodeForbidden      = "import_forbidden"
	CodeNotUndoable    = "import_not_undoable"
	// CodeTooManyColumns: the file has more than MaxColumns columns.
	CodeTooManyColumns = "import_too_many_columns"
	// CodeTooManyNewFields: the mapping defines more than MaxNewFields fields.
	CodeTooManyNewFields = "import_too_many_new_fields"
)

// Audit actions of the one summary entry per job.
const (
	ActionImport = "import"
	ActionUndo   = "import.undo"
)

// Options of an import.
type Options struct {
	Mode string `json:"mode"`
	// Mapping: header → target (see csvio.ParseTarget). Columns not named
	// here are mapped by header name unless AutoMap is false.
	Mapping map[string]json.RawMessage `json:"mapping,omitempty"`
	AutoMap *bool                      `json:"auto_map,omitempty"`
	List    string                     `json:"list,omitempty"`
	DryRun  bool                       `json:"dry_run,omitempty"`
}

// Counts are a job's progress.
type Counts struct {
	Read      int `json:"read"`
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	Skipped   int `json:"skipped"`
	Failed    int `json:"failed"`
	// Warnings: values left out of rows that were imported all the same
	// (phone_dropped lines of the report)
	Warnings int `json:"warnings"`
	// Committed is the number of rows whose batch is committed (a restart
	// loses nothing below it and nothing above it is half-written).
	Committed int `json:"committed"`
}

// Service runs imports and exports.
type Service struct {
	app      core.App
	contacts *contacts.Service
	custom   *customfields.Service
	runner   *Runner
	now      func() time.Time
	// BatchSize is the number of rows written per transaction.
	BatchSize int
	// ProgressEvery is the least time between two progress saves (realtime events).
	ProgressEvery time.Duration
	// crashAt, in tests, makes the job stop dead inside the transaction of
	// batch n (1-based) before it commits, as a killed process would.
	crashAt int
	// panicInParse, in tests, makes the parser goroutine panic.
	panicInParse bool
}

// NewService returns the import service.
func NewService(app core.App, cs *contacts.Service, cf *customfields.Service, runner *Runner, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	if runner == nil {
		runner = NewRunner(2)
	}
	return &Service{app: app, contacts: cs, custom: cf, runner: runner, now: now, BatchSize: 1000, ProgressEvery: 500 * time.Millisecond}
}

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.now() }

// Runner is the service's job runner.
func (s *Service) Runner() *Runner { return s.runner }

// Dir is where the files of job id live.
func (s *Service) Dir(id string) string { return filepath.Join(s.app.DataDir(), "imports", id) }

// ErrorReportPath is the CSV error report of job id.
func (s *Service) ErrorReportPath(id string) string { return filepath.Join(s.Dir(id), "errors.csv") }

func (s *Service) journalPath(id string) string { return filepath.Join(s.Dir(id), "journal.jsonl") }
func (s *Service) uploadPath(id string) string  { return filepath.Join(s.Dir(id), "upload.csv") }

// CanWrite reports whether role may import (and undo imports).
func CanWrite(role string) bool { return contacts.CanWrite(role) }

// Input starts an import.
type Input struct {
	Workspace string
	FileName  string
	Options   Options
	Actor     audit.Actor
}

// Stage streams an upload to a file of the data directory (never into
// memory) and returns its path, for Start.
func (s *Service) Stage(src io.Reader) (string, error) {
	dir := filepath.Join(s.app.DataDir(), "imports", ".staging")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, "upload-*.csv")
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), f.Close()
}

// Start creates the job for the upload staged at path (see Stage) and runs
// it in the background. It returns the queued job at once.
func (s *Service) Start(in Input, staged string) (*core.Record, error) {
	defer os.Remove(staged) // moved on success; removed otherwise
	if err := s.CheckStart(in); err != nil {
		return nil, err
	}
	job, err := s.create(in)
	if err != nil {
		return nil, err
	}
	if err := os.Rename(staged, s.uploadPath(job.Id)); err != nil {
		s.fail(job, fmt.Errorf("storing the upload: %w", err))
		return nil, err
	}
	// the goroutine works on its own copy: the caller serialises job meanwhile
	fallback := job.Fresh()
	started := s.runner.Start(in.Workspace, func() { s.runQueued(fallback, in.Actor) })
	if !started {
		_ = os.RemoveAll(s.Dir(job.Id))
		if err := s.app.Delete(skip(job)); err != nil {
			s.app.Logger().Error("import: cannot remove refused job", "job", job.Id, "error", err)
		}
		return nil, apperr.Conflict(CodeBusy, "Another import is running in this workspace: wait for it to finish (watch its import_jobs record), then start this one")
	}
	return job, nil
}

// runQueued runs a job Start queued. Whatever stops it before or while it
// runs (its record unreadable, its upload gone, the first save refused, a
// panic) marks it failed with a message: a job never stays queued or
// running without anything happening.
func (s *Service) runQueued(fallback *core.Record, actor audit.Actor) {
	id := fallback.Id
	job := fallback
	defer func() {
		if p := recover(); p != nil {
			s.app.Logger().Error("import job panicked", "job", id, "panic", p, "stack", string(debug.Stack()))
			s.failFresh(job, fmt.Errorf("the import stopped on an internal error (%v); nothing after the last committed batch was written", p))
		}
	}()
	bg, err := s.app.FindRecordById("import_jobs", id)
	if err != nil {
		s.app.Logger().Error("import: cannot read the queued job back", "job", id, "error", err)
		s.failFresh(job, fmt.Errorf("the import could not start: reading its job record: %w", err))
		return
	}
	job = bg
	f, err := os.Open(s.uploadPath(id))
	if err != nil {
		s.fail(job, fmt.Errorf("the import could not start: opening the uploaded file: %w", err))
		return
	}
	defer f.Close()
	if _, err := s.Run(job, f, actor, nil); err != nil {
		s.app.Logger().Warn("import job failed", "job", id, "error", err)
	}
}

// failFresh marks job failed unless its stored status is already final (a
// panic may come after the job completed or failed).
func (s *Service) failFresh(job *core.Record, err error) {
	if cur, ferr := s.app.FindRecordById("import_jobs", job.Id); ferr == nil {
		switch cur.GetString("status") {
		case StatusCompleted, StatusFailed, StatusUndone:
			return
		}
		job = cur
	}
	s.fail(job, err)
}

// CheckStart returns the error Start would return for a busy workspace or
// bad options, before the upload is read.
func (s *Service) CheckStart(in Input) error {
	if s.runner.Busy(in.Workspace) {
		return apperr.Conflict(CodeBusy, "Another import is running in this workspace: wait for it to finish (watch its import_jobs record), then start this one")
	}
	return s.checkList(in.Workspace, in.Options.List)
}

func (s *Service) checkList(ws, list string) error {
	if list == "" {
		return nil
	}
	var n int
	_ = s.app.DB().Select("count(*)").From("contact_lists").Where(dbx.HashExp{"id": list, "workspace": ws}).Row(&n)
	if n == 0 {
		return apperr.BadRequest(CodeInvalidOptions, "options.list: no such list in this workspace")
	}
	return nil
}

func skip(r *core.Record) *core.Record { audit.Skip(r); return r }

// create saves a queued job record. Job records are server bookkeeping: the
// audit log gets one summary entry per job when it ends, not one per save.
func (s *Service) create(in Input) (*core.Record, error) {
	if err := s.checkList(in.Workspace, in.Options.List); err != nil {
		return nil, err
	}
	col, err := s.app.FindCachedCollectionByNameOrId("import_jobs")
	if err != nil {
		return nil, err
	}
	job := core.NewRecord(col)
	job.Id = core.GenerateDefaultRandomId()
	job.Set("workspace", in.Workspace)
	job.Set("created_by", in.Actor.UserID)
	job.Set("status", StatusQueued)
	name := filepath.Base(in.FileName)
	if len(name) > 255 {
		name = name[:255]
	}
	job.Set("file_name", name)
	job.Set("options", in.Options)
	job.Set("counts", Counts{})
	if err := os.MkdirAll(s.Dir(job.Id), 0o700); err != nil {
		return nil, err
	}
	if err := s.app.Save(skip(job)); err != nil {
		return nil, err
	}
	return job, nil
}

// RunLocal runs an import synchronously on a file the caller opened (the
// CLI): the job record is created as for the API, the file is not copied.
func (s *Service) RunLocal(in Input, src io.Reader, progress func(Counts)) (*core.Record, Counts, error) {
	job, err := s.create(in)
	if err != nil {
		return nil, Counts{}, err
	}
	c, err := s.Run(job, src, in.Actor, progress)
	return job, c, err
}

// fail marks job failed with err. The job must end failed whatever its
// in-memory record holds (a value over a field's limit made every save of
// it fail and left jobs "running" forever): the record as it is,
// then the stored record with only status and error changed, and as the
// last resort an UPDATE of those two columns, which no field limit or hook
// can refuse.
func (s *Service) fail(job *core.Record, err error) {
	msg := err.Error()
	var ae *apperr.Error
	if errors.As(err, &ae) {
		msg = ae.Message
	}
	msg = truncate(msg, maxErrorChars)
	job.Set("status", StatusFailed)
	job.Set("error", msg)
	serr := s.saveRetrying(job)
	if serr != nil {
		s.app.Logger().Error("import: cannot mark job failed; retrying with its stored record", "job", job.Id, "error", serr)
		if cur, ferr := s.app.FindRecordById("import_jobs", job.Id); ferr == nil {
			cur.Set("status", StatusFailed)
			cur.Set("error", msg)
			var c Counts
			if job.UnmarshalJSONField("counts", &c) == nil {
				cur.Set("counts", c)
			}
			serr = s.saveRetrying(cur)
			if serr == nil {
				job.Load(cur.FieldsData())
			}
		} else {
			serr = ferr
		}
	}
	if serr != nil {
		s.app.Logger().Error("import: cannot mark job failed; writing the status directly", "job", job.Id, "error", serr)
		short := truncate("The import failed and its record could not be saved ("+serr.Error()+"). Reason: "+msg, maxErrorChars)
		if _, xerr := s.app.NonconcurrentDB().Update("import_jobs", dbx.Params{"status": StatusFailed, "error": short,
			"updated": types.NowDateTime().String()}, dbx.HashExp{"id": job.Id}).Execute(); xerr != nil {
			s.app.Logger().Error("import: job left without a final status", "job", job.Id, "error", xerr)
		}
	}
	// a failed job is not resumed: its copy of the upload (contact data)
	// goes; the error report and undo journal stay for what was committed
	_ = os.Remove(s.uploadPath(job.Id))
}

// RemoveFiles deletes the files of job id (upload, error report, undo
// journal): for a job record that is gone.
func (s *Service) RemoveFiles(id string) error {
	if id == "" || strings.ContainsAny(id, `/\.`) {
		return fmt.Errorf("invalid job id %q", id)
	}
	return os.RemoveAll(s.Dir(id))
}

// saveRetrying saves a job record (audit-skipped), retrying for a while
// when the database is busy (another process, such as the CLI or a
// sqlite3 shell, holding the write lock past the busy timeout): the status
// of a job must not be lost to a transient lock.
func (s *Service) saveRetrying(job *core.Record) error {
	var err error
	for i, wait := 0, time.Second; i < 6; i, wait = i+1, wait*2 {
		if err = s.app.Save(skip(job)); err == nil || !isBusy(err) {
			return err
		}
		time.Sleep(wait)
	}
	return err
}

func isBusy(err error) bool {
	m := strings.ToLower(err.Error())
	return strings.Contains(m, "database is locked") || strings.Contains(m, "sqlite_busy")
}

// RecoverInterrupted marks the jobs a stopped process left queued or
// running as failed, keeping the counts of their committed batches. Those
// rows stay imported (each batch is one transaction: none is half-written)
// and can be undone; the error says how to import the rest. Call it once at
// server start, before any job runs.
//
// It answers how many jobs it marked and settle, which writes what those
// jobs never got to: the deferred match keys and the value indexes of their
// workspaces (contacts.BulkDone). The server runs settle in the background:
// it takes about a second per 25,000 contacts of a workspace (a minute at
// 1M), nothing is wrong meanwhile (every duplicates read settles the keys
// first; a search without a value index is slower, not different), and a
// start that waited for it kept the server from answering.
func (s *Service) RecoverInterrupted() (n int, settle func(), err error) {
	jobs, err := s.app.FindAllRecords("import_jobs", dbx.In("status", StatusQueued, StatusRunning))
	if err != nil {
		return 0, func() {}, err
	}
	var workspaces []string
	for _, job := range jobs {
		var c Counts
		_ = job.UnmarshalJSONField("counts", &c)
		// fail: a job record that cannot be saved as it is still ends failed
		//nolint:staticcheck // ST1005: the job's failure, shown to the user as a sentence
		s.fail(job, fmt.Errorf("The server stopped during this import. The first %d rows were imported completely "+
			"(%d contacts created, %d updated) and nothing after them was written; undo this job, or import the file again "+
			"with mode skip_existing or upsert to add the rest.", c.Committed, c.Created, c.Updated))
		if ws := job.GetString("workspace"); c.Committed > 0 && !slices.Contains(workspaces, ws) {
			workspaces = append(workspaces, ws)
		}
	}
	return len(jobs), func() {
		for _, ws := range workspaces {
			s.bulkDone(ws)
		}
	}, nil
}

// Job returns the job with id and its workspace, or a 404.
func (s *Service) Job(id string) (*core.Record, error) {
	job, err := s.app.FindRecordById("import_jobs", id)
	if err != nil {
		return nil, apperr.NotFound(CodeNotFound, "No import job with this id in your workspaces")
	}
	return job, nil
}

// OpenErrorReport opens job's error report (a header-only CSV when the job
// found no error or has not written one yet).
func (s *Service) OpenErrorReport(jobID string) (io.ReadCloser, error) {
	f, err := os.Open(s.ErrorReportPath(jobID))
	if err == nil {
		return f, nil
	}
	pr, pw := io.Pipe()
	go func() {
		w, _ := csvio.NewWriter(pw)
		_ = w.Write(reportHeader)
		pw.CloseWithError(w.Flush())
	}()
	return pr, nil
}
