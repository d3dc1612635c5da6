// The import engine: one job, from the uploaded file to its final counts.
// A job streams its file in batches and takes each batch through the stages,
// one file each:
//
//	plan.go     mapping: header -> columns, new field definitions
//	prepare.go  validation: row -> prepared contact or error-report lines
//	match.go    matching: by normalised email and phone
//	decide.go   decisions: create, update (which fields), unchanged or skip
//	journal.go  the undo journal
//	commit.go   the batch's writes in one transaction
//
// This file holds the job's state and its run: start, batches, progress,
// the end (completed or failed, never left running).
package imports

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/contacts"
	"github.com/pi-crm/pi-crm/services/csvio"
	"github.com/pi-crm/pi-crm/services/customfields"
	"github.com/pocketbase/pocketbase/core"
)

// Row error codes (the error report's "code" column).
const (
	RowInvalidEmail  = contacts.CodeInvalidEmail
	RowInvalidPhone  = contacts.CodeInvalidPhone
	RowDuplicate     = contacts.CodeDuplicate
	RowTooLong       = "value_too_long"
	RowCustomInvalid = customfields.CodeInvalid
	RowRequired      = "custom_field_required"
	RowDupInFile     = "duplicate_in_file"
	RowNoMatch       = "no_match"
	RowAmbiguous     = "match_ambiguous"
	RowEmpty         = "empty_row"
	RowExtraCells    = "row_extra_cells"
)

// RowPhoneDropped is the one warning code: a phone number that cannot be
// read was left out and the row imported without it (a phone never costs
// a contact; issue 18). Warnings are lines of the report too, counted as
// counts.warnings, never as errors.
const RowPhoneDropped = "phone_dropped"

// reportHeader: "value" holds the value a warning left out (an error's
// message quotes its value already).
var reportHeader = []string{"row", "column", "code", "message", "value"}

// RowError is one line of the report: an error, or a warning (Warning,
// with the Value it left out).
type RowError struct {
	Row     int    `json:"row"`
	Column  string `json:"column"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Value   string `json:"value,omitempty"`
	Warning bool   `json:"warning,omitempty"`
}

// maxLen of the base text fields (the collection's limits, in characters).
var maxLen = [5]int{100, 100, 0, 0, 200}

const (
	iFirst = iota
	iLast
	iEmail
	iPhone
	iCompany
)

type engine struct {
	s        *Service
	job      *core.Record
	ws       string
	opts     Options
	country  string
	cols     []column
	defs     map[string]customfields.Definition
	defaults []customValue // applied to created contacts
	required []string
	listID   string
	defList  string
	fileName string
	counts   Counts
	// seen: email/phone keys → row, of the rows of the batch (or of the
	// whole file in a dry run, where earlier rows are not in the database)
	seen map[string]int32
	// batchTimes: the timestamps this job's batches wrote (created/updated):
	// a row matching a contact with one of them duplicates an earlier row of
	// the file. Memory: one per batch, not per row.
	batchTimes map[string]bool
	// contactIDs makes the ids of created contacts, with the row number in
	// them (idGen.forRow), so a later duplicate names that row
	contactIDs *idGen
	// tx is the batch's transaction while write runs one (nil in a dry run)
	tx       core.App
	report   *csvio.Writer
	reportF  *os.File
	reportB  *bufio.Writer
	nErrors  int
	sample   []RowError // the first errors and the first warnings, maxSample of each
	nSampleW int        // warnings in sample
	journal  *os.File
	lastSave time.Time
	progress func(Counts)
	batchNo  int
	newDefs  []string
	ids      *idGen
}

var errCrash = errors.New("simulated crash")

// Run executes job on src. It returns the final counts; the job record
// holds them too, with the status, and so does one audit entry.
//
// Whatever stops it (an error, a refused save, a panic) the job ends
// completed or failed with its reason, never left running; what failed
// batches committed is in the undo journal.
func (s *Service) Run(job *core.Record, src io.Reader, actor audit.Actor, progress func(Counts)) (counts Counts, err error) {
	e := &engine{s: s, job: job, ws: job.GetString("workspace"), seen: map[string]int32{}, batchTimes: map[string]bool{}, contactIDs: newIDGen(),
		ids: newIDGen(), progress: progress, fileName: job.GetString("file_name")}
	defer func() {
		if p := recover(); p != nil {
			s.app.Logger().Error("import job panicked", "job", job.Id, "panic", p, "stack", string(debug.Stack()))
			e.closeFiles()
			if e.counts.Committed > 0 && !e.opts.DryRun {
				s.bulkDone(e.ws)
			}
			err = fmt.Errorf("the import stopped on an internal error (%v); the rows of its committed batches (%d) were written and can be undone", p, e.counts.Committed)
			job.Set("counts", e.counts)
			s.fail(job, err)
			counts = e.counts
		}
	}()
	_ = job.UnmarshalJSONField("options", &e.opts)
	job.Set("status", StatusRunning)
	if err := s.saveRetrying(job); err != nil {
		// the job would otherwise stay queued with nothing happening
		err = fmt.Errorf("the import could not start: saving its status: %w", err)
		s.fail(job, err)
		return e.counts, err
	}
	err = e.run(src, actor)
	if errors.Is(err, errCrash) {
		return e.counts, err // the "process" died: leave the job as it is
	}
	e.closeFiles()
	if err == nil {
		if err = e.finish(actor); err != nil {
			err = fmt.Errorf("the import could not be recorded as completed: %w; its rows were written and can be undone", err)
		}
	}
	if err != nil {
		if e.counts.Committed > 0 && !e.opts.DryRun {
			s.bulkDone(e.ws) // the committed batches stand
		}
		job.Set("counts", e.counts)
		job.Set("error_report", e.errorReport())
		s.fail(job, err)
		return e.counts, err
	}
	return e.counts, nil
}

// bulkDone ends the raw-SQL writes of a job into workspace ws, before the job
// says it is over: the rows came past the contact hooks and triggers, so the
// match keys they deferred are written and the workspace's value indexes
// built here, once (one ordered pass per key reason, one sort per index:
// cheaper than keeping them row by row during the import). A failure is
// logged and the import stands: the keys stay recorded as deferred and the
// next duplicates read writes them; the value indexes come with later
// writes (contacts.ValueIndexesDue).
func (s *Service) bulkDone(ws string) {
	if err := contacts.BulkDone(s.app, ws); err != nil {
		s.app.Logger().Error("import: writing the deferred match keys and value indexes", "workspace", ws, "error", err)
	}
}

// errorReport is what the job record keeps of the error report: the number
// of errors and a sample, each message cut to fit.
func (e *engine) errorReport() map[string]any {
	return map[string]any{"errors": e.nErrors, "sample": e.sample}
}

func (e *engine) closeFiles() {
	if e.report != nil {
		_ = e.report.Flush()
		_ = e.reportB.Flush()
		_ = e.reportF.Close()
		e.report = nil
	}
	if e.journal != nil {
		_ = e.journal.Close()
		e.journal = nil
	}
}

func (e *engine) run(src io.Reader, actor audit.Actor) error {
	r, err := csvio.NewReader(src)
	if err != nil {
		return err
	}
	e.country = e.s.contacts.WorkspaceCountry(e.s.app, e.ws)
	if err := e.plan(r.Header, actor); err != nil {
		return err
	}
	if err := os.MkdirAll(e.s.Dir(e.job.Id), 0o700); err != nil {
		return err
	}
	if e.reportF, err = os.Create(e.s.ErrorReportPath(e.job.Id)); err != nil {
		return err
	}
	e.reportB = bufio.NewWriterSize(e.reportF, 32<<10)
	if e.report, err = csvio.NewWriter(e.reportB); err != nil {
		return err
	}
	if err := e.report.Write(reportHeader); err != nil {
		return err
	}
	if !e.opts.DryRun {
		if e.journal, err = os.OpenFile(e.s.journalPath(e.job.Id), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
			return err
		}
	}
	e.defList = contacts.DefaultList(e.s.app.DB(), e.ws)
	e.listID = e.opts.List

	// parsing and validation (normalisation, phone numbers) run on their own
	// goroutine, overlapping the writes of the previous batch
	batches := make(chan []prepared, 2)
	parseErr := make(chan error, 1)
	stop := make(chan struct{})
	go func() {
		defer close(batches)
		// a panic here would kill the server: it fails the job instead
		defer func() {
			if p := recover(); p != nil {
				e.s.app.Logger().Error("import parser panicked", "job", e.job.Id, "panic", p, "stack", string(debug.Stack()))
				parseErr <- fmt.Errorf("the import stopped on an internal error reading row %d (%v)", r.Row, p)
			}
		}()
		if e.s.panicInParse {
			panic("simulated parser panic")
		}
		batch := make([]prepared, 0, e.s.BatchSize)
		for {
			rec, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				parseErr <- fmt.Errorf("after row %d: %w", r.Row, err)
				return
			}
			batch = append(batch, e.prepare(r.Row, rec))
			if len(batch) == e.s.BatchSize {
				select {
				case batches <- batch:
				case <-stop:
					return
				}
				batch = make([]prepared, 0, e.s.BatchSize)
			}
		}
		if len(batch) > 0 {
			select {
			case batches <- batch:
			case <-stop:
			}
		}
		parseErr <- nil
	}()
	defer func() {
		close(stop)
		for range batches { // let the parser exit
		}
	}()
	for batch := range batches {
		if err := e.write(batch); err != nil {
			return err
		}
	}
	return <-parseErr
}

func (e *engine) maybeProgress(force bool) error {
	if e.progress != nil {
		e.progress(e.counts)
	}
	if !force && time.Since(e.lastSave) < e.s.ProgressEvery {
		return nil
	}
	e.lastSave = time.Now()
	e.job.Set("counts", e.counts)
	return e.s.app.Save(skip(e.job))
}

// finish marks the job completed and writes its one audit entry, together.
func (e *engine) finish(actor audit.Actor) error {
	if e.nErrors == 0 && e.counts.Warnings == 0 {
		_ = os.Remove(e.s.ErrorReportPath(e.job.Id))
	}
	if e.opts.DryRun {
		_ = os.Remove(e.s.journalPath(e.job.Id))
	}
	_ = os.Remove(e.s.uploadPath(e.job.Id)) // imported: the report and journal are what is kept
	if !e.opts.DryRun {
		e.s.bulkDone(e.ws)
	}
	e.job.Set("status", StatusCompleted)
	e.job.Set("counts", e.counts)
	e.job.Set("error_report", e.errorReport())
	if e.progress != nil {
		e.progress(e.counts)
	}
	return e.s.app.RunInTransaction(func(tx core.App) error {
		if err := tx.Save(skip(e.job)); err != nil {
			return err
		}
		return audit.Log(tx, audit.Entry{Actor: actor, Workspace: e.ws, Action: ActionImport, EntityType: "import_jobs", EntityID: e.job.Id,
			Details: map[string]any{"file_name": e.fileName, "mode": e.opts.Mode, "dry_run": e.opts.DryRun, "counts": e.counts,
				"errors": e.nErrors, "warnings": e.counts.Warnings, "new_custom_fields": e.newDefs}}, e.s.now())
	})
}
