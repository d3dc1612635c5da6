package imports

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/contacts"
	"github.com/pi-crm/pi-crm/services/csvio"
	"github.com/pi-crm/pi-crm/services/customfields"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"
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

var reportHeader = []string{"row", "column", "code", "message"}

// RowError is one line of the error report.
type RowError struct {
	Row     int    `json:"row"`
	Column  string `json:"column"`
	Code    string `json:"code"`
	Message string `json:"message"`
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

type column struct {
	header string
	target csvio.Target
	base   int // index in the base array for KindBase
}

type customValue struct{ name, value, typ string }

// prepared is a parsed and validated row.
type prepared struct {
	row    int
	base   [5]string
	custom []customValue
	errs   []RowError
	empty  bool
}

type existing struct {
	ID      string `db:"id"`
	First   string `db:"first_name"`
	Last    string `db:"last_name"`
	Email   string `db:"primary_email"`
	Phone   string `db:"primary_phone"`
	Company string `db:"company"`
	Custom  string `db:"custom"`
	Updated string `db:"updated"`
}

func (e *existing) base() [5]string { return [5]string{e.First, e.Last, e.Email, e.Phone, e.Company} }

// journalEntry is one line of the undo journal: one batch.
type journalEntry struct {
	Created []string       `json:"created,omitempty"`
	Updated []updatedEntry `json:"updated,omitempty"`
	// Assigned are list assignments the batch added to existing contacts.
	Assigned []string `json:"assigned,omitempty"`
	// Definitions are the custom field definitions the job created (the
	// journal's first line, written before they are): undo deletes those
	// no value uses any more.
	Definitions []string `json:"definitions,omitempty"`
}

type updatedEntry struct {
	ID   string            `json:"id"`
	Base map[string]string `json:"base,omitempty"`
	// Custom: field → [value, type] before the import, or null when unset.
	Custom map[string]*[2]string `json:"custom,omitempty"`
}

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
	sample   []RowError
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
		job.Set("counts", e.counts)
		job.Set("error_report", e.errorReport())
		s.fail(job, err)
		return e.counts, err
	}
	return e.counts, nil
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

// plan resolves the mapping of each column and creates the custom fields
// the mapping defines (not in a dry run). Everything is checked first (the
// limits, every column's target, every new definition); the definitions
// are then created in one transaction, so a plan that fails writes nothing.
func (e *engine) plan(header []string, actor audit.Actor) error {
	if len(header) > MaxColumns {
		return tooManyColumns(len(header))
	}
	defs, err := e.s.custom.ForWorkspace(e.s.app, e.ws)
	if err != nil {
		return err
	}
	e.defs = defs
	var known []csvio.CustomField
	for _, d := range defs {
		known = append(known, csvio.CustomField{Name: d.Name, Label: d.Label})
	}
	sort.Slice(known, func(i, j int) bool { return known[i].Name < known[j].Name })
	auto := e.opts.AutoMap == nil || *e.opts.AutoMap
	used := map[string]bool{}
	for h := range e.opts.Mapping {
		if !slices.Contains(header, h) {
			return fmt.Errorf("options.mapping names column %q, which the file does not have (its columns: %s)", h,
				truncate(strings.Join(header, ", "), 1000))
		}
	}
	// the definitions to create, checked, in column order
	var pending []*core.Record
	planned := map[string]customfields.Definition{}
	var resolved []map[string]any
	for _, h := range header {
		t := csvio.Target{Kind: csvio.KindIgnore}
		if raw, ok := e.opts.Mapping[h]; ok {
			if t, err = csvio.ParseTarget(raw, h); err != nil {
				return err
			}
		} else if auto {
			t = csvio.AutoTarget(h, known)
		}
		c := column{header: h, target: t, base: -1}
		switch t.Kind {
		case csvio.KindBase:
			c.base = slices.Index(csvio.BaseFields, t.Field)
			if c.base < 0 {
				return fmt.Errorf("column %q: %q is not a contact field", h, t.Field)
			}
		case csvio.KindCustom:
			if _, ok := defs[t.Field]; !ok {
				return fmt.Errorf("column %q: there is no custom field %q in this workspace (map it to \"new:TYPE\" to create one)", h, t.Field)
			}
			if used["cf:"+t.Field] {
				return fmt.Errorf("column %q: custom field %q is already mapped from another column", h, t.Field)
			}
			used["cf:"+t.Field] = true
		case csvio.KindNew:
			rec, err := e.newDefinition(&t, planned, actor)
			if err != nil {
				return fmt.Errorf("column %q: %w", h, err)
			}
			if rec != nil {
				pending = append(pending, rec)
				if len(pending) > MaxNewFields {
					return tooManyNewFields(countNewFields(e.opts))
				}
			}
			c.target = csvio.Target{Kind: csvio.KindCustom, Field: t.Field}
		case csvio.KindFullName, csvio.KindIgnore:
		default:
			return fmt.Errorf("column %q: unknown mapping kind %q", h, t.Kind)
		}
		e.cols = append(e.cols, c)
		resolved = append(resolved, map[string]any{"column": h, "kind": c.target.Kind, "field": c.target.Field})
	}
	if err := e.createDefinitions(pending, planned); err != nil {
		return err
	}
	for _, d := range defs {
		if d.Default != "" {
			if v, err := d.Canonical(d.Default, e.country); err == nil && v != "" {
				e.defaults = append(e.defaults, customValue{d.Name, v, d.Type})
			}
		}
		if d.Required {
			e.required = append(e.required, d.Name)
		}
	}
	sort.Strings(e.required)
	// the mapping the job actually used, for the UI and the CLI summary, as
	// much of it as the job record holds
	opts := map[string]any{}
	_ = e.job.UnmarshalJSONField("options", &opts)
	e.job.Set("options", fitResolved(opts, resolved))
	return nil
}

// newDefinition checks the new workspace custom field t defines and returns
// its record to create, or nil when the workspace (or an earlier column)
// already has it with the same type.
func (e *engine) newDefinition(t *csvio.Target, planned map[string]customfields.Definition, actor audit.Actor) (*core.Record, error) {
	for _, have := range []map[string]customfields.Definition{e.defs, planned} {
		if d, ok := have[t.Field]; ok {
			if d.Type != t.Type {
				return nil, fmt.Errorf("custom field %q already exists with type %s", t.Field, d.Type)
			}
			return nil, nil
		}
	}
	col, err := e.s.app.FindCachedCollectionByNameOrId("custom_field_definitions")
	if err != nil {
		return nil, err
	}
	user := actor.UserID
	if user == "" {
		_ = e.s.app.DB().Select("owner").From("workspaces").Where(dbx.HashExp{"id": e.ws}).Limit(1).Row(&user)
	}
	rec := core.NewRecord(col)
	rec.Set("user", user)
	rec.Set("workspace", e.ws)
	rec.Set("field_name", t.Field)
	rec.Set("label", t.Label)
	rec.Set("field_type", t.Type)
	rec.Set("options", t.Options)
	d := customfields.FromRecord(rec)
	d.Options = t.Options
	if errs := customfields.ValidateDefinition(d); len(errs) > 0 {
		return nil, fmt.Errorf("new custom field %q: %v", t.Field, errs)
	}
	audit.Attach(rec, actor)
	planned[t.Field] = d
	return rec, nil
}

// appendJournal writes entry as one line of the undo journal, on disk
// before it returns.
func (e *engine) appendJournal(entry journalEntry) error {
	if err := os.MkdirAll(e.s.Dir(e.job.Id), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(e.s.journalPath(e.job.Id), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(entry)
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// createDefinitions saves the new definitions in one transaction (in a dry
// run: none, they are only checked) and adds them to the job's definitions.
func (e *engine) createDefinitions(pending []*core.Record, planned map[string]customfields.Definition) error {
	if !e.opts.DryRun && len(pending) > 0 {
		// journaled before they are written, as the batches are: a job that
		// fails later can still be undone, definitions included
		entry := journalEntry{}
		for _, rec := range pending {
			rec.Id = core.GenerateDefaultRandomId()
			entry.Definitions = append(entry.Definitions, rec.Id)
		}
		if err := e.appendJournal(entry); err != nil {
			return err
		}
		err := e.s.app.RunInTransaction(func(tx core.App) error {
			for _, rec := range pending {
				if err := tx.Save(rec); err != nil {
					return fmt.Errorf("new custom field %q: %w", rec.GetString("field_name"), err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, rec := range pending {
			d := customfields.FromRecord(rec)
			planned[d.Name] = d
			e.newDefs = append(e.newDefs, d.Name)
		}
	}
	for name, d := range planned {
		e.defs[name] = d
	}
	return nil
}

// prepare reads one row: mapping, normalisation, validation. It runs on the
// parser goroutine and touches no shared state.
func (e *engine) prepare(row int, rec []string) prepared {
	p := prepared{row: row, empty: true}
	fail := func(col, code, msg string) {
		p.errs = append(p.errs, RowError{Row: row, Column: col, Code: code, Message: msg})
	}
	for i := len(e.cols); i < len(rec); i++ {
		if strings.TrimSpace(rec[i]) != "" {
			fail("", RowExtraCells, fmt.Sprintf("the row has %d cells but the header only %d: a value may contain an unquoted delimiter", len(rec), len(e.cols)))
			break
		}
	}
	var full string
	for i, c := range e.cols {
		if i >= len(rec) {
			break // a short (ragged) row: the missing cells are empty
		}
		v := strings.TrimSpace(csvio.Restore(rec[i]))
		if v == "" || c.target.Kind == csvio.KindIgnore {
			continue
		}
		p.empty = false
		switch c.target.Kind {
		case csvio.KindFullName:
			full = v
		case csvio.KindBase:
			if p.base[c.base] != "" {
				continue // several columns for one field (Phone 1, Phone 2): the first filled one wins
			}
			switch c.base {
			case iEmail:
				n, err := contacts.NormalizeEmail(v)
				if err != nil {
					fail(c.header, RowInvalidEmail, fmt.Sprintf("%q is not a valid email address", v))
					continue
				}
				v = n
			case iPhone:
				n, err := contacts.NormalizePhone(v, e.country)
				if err != nil {
					fail(c.header, RowInvalidPhone, fmt.Sprintf("%q is not a valid phone number in %s: write it with its country code", v, e.country))
					continue
				}
				v = n
			default:
				if n := utf8.RuneCountInString(v); n > maxLen[c.base] {
					fail(c.header, RowTooLong, fmt.Sprintf("%s is %d characters long; at most %d fit", c.target.Field, n, maxLen[c.base]))
					continue
				}
			}
			p.base[c.base] = v
		case csvio.KindCustom:
			d := e.defs[c.target.Field]
			cv, err := d.Canonical(v, e.country)
			if err != nil {
				fail(c.header, RowCustomInvalid, d.Name+" "+err.Error())
				continue
			}
			p.custom = append(p.custom, customValue{d.Name, cv, d.Type})
		}
	}
	if full != "" && p.base[iFirst] == "" && p.base[iLast] == "" {
		first, last := full, ""
		if i := strings.LastIndexByte(full, ' '); i > 0 {
			first, last = strings.TrimSpace(full[:i]), full[i+1:]
		}
		if utf8.RuneCountInString(first) > 100 || utf8.RuneCountInString(last) > 100 {
			fail("", RowTooLong, "the name is longer than 100 characters")
		}
		p.base[iFirst], p.base[iLast] = first, last
	}
	return p
}

func (e *engine) reportRow(errs ...RowError) error {
	for _, re := range errs {
		e.nErrors++
		if len(e.sample) < 20 {
			e.sample = append(e.sample, RowError{Row: re.Row, Column: truncate(re.Column, maxSampleChars),
				Code: re.Code, Message: truncate(re.Message, maxSampleChars)})
		}
		if err := e.report.Write([]string{fmt.Sprint(re.Row), re.Column, re.Code, re.Message}); err != nil {
			return err
		}
	}
	return nil
}

// action is what the batch does with one row.
type action struct {
	p       *prepared
	create  bool
	id      string
	base    [5]string      // new base values
	custom  map[string]any // new read copy
	set     []customValue  // custom rows to write
	before  *updatedEntry  // update: the values overwritten
	changed []string       // update: changed field names
	// update: the changed base fields and custom names, for the timeline
	changedBase, changedCustom []string
	assign                     []assignment // list assignments to add
}

type assignment struct {
	id, list string
	primary  bool
}

// write decides what each row of the batch does and writes the batch in one
// transaction.
func (e *engine) write(batch []prepared) error {
	e.batchNo++
	// 1. rows that fail on their own, empty rows, duplicates within the file
	var live []*prepared
	for i := range batch {
		p := &batch[i]
		e.counts.Read++
		switch {
		case len(p.errs) > 0:
			e.counts.Failed++
			if err := e.reportRow(p.errs...); err != nil {
				return err
			}
			continue
		case p.empty:
			e.counts.Skipped++
			if err := e.reportRow(RowError{p.row, "", RowEmpty, "the row has no value in any imported column"}); err != nil {
				return err
			}
			continue
		}
		var keys []string
		if v := p.base[iEmail]; v != "" {
			keys = append(keys, "e"+v)
		}
		if v := p.base[iPhone]; v != "" {
			keys = append(keys, "p"+v)
		}
		dup := int32(0)
		for _, k := range keys {
			if r, ok := e.seen[k]; ok {
				dup = r
			}
		}
		if dup != 0 {
			e.counts.Skipped++
			if err := e.reportRow(RowError{p.row, "", RowDupInFile, fmt.Sprintf("the same email or phone as row %d, which was imported instead", dup)}); err != nil {
				return err
			}
			continue
		}
		for _, k := range keys {
			e.seen[k] = int32(p.row)
		}
		live = append(live, p)
	}

	if e.opts.DryRun {
		next, err := e.decide(live)
		if err != nil {
			return err
		}
		e.counts = next
		return e.maybeProgress(false)
	}
	// earlier batches are in the database now: lookup finds them
	clear(e.seen)
	// The lookups, the decisions and the writes in one transaction: no
	// other write (a contact created meanwhile with one of the batch's
	// emails) can fall between what the batch read and what it writes,
	// which would fail the whole batch on the unique index. Other writers
	// wait for the batch (busy timeout), as for any transaction.
	var next Counts
	err := e.s.app.RunInTransaction(func(tx core.App) error {
		e.tx = tx
		defer func() { e.tx = nil }()
		var err error
		next, err = e.decide(live)
		return err
	})
	if err != nil {
		return err
	}
	e.counts = next
	return e.maybeProgress(false)
}

// wroteEarlier tells whether contact m was created or updated by an earlier
// batch of this job: its updated time is one of the job's batch times and
// its id is one the job made, or (in the modes that update) it was updated
// then. Another writer's contact matches a batch time only if it was saved
// in the same millisecond, before the batch's transaction began; it would
// then be reported as a duplicate, never silently changed.
func (e *engine) wroteEarlier(m *existing) bool {
	if !e.batchTimes[m.Updated] {
		return false
	}
	if _, ours := e.contactIDs.rowOf(m.ID); ours {
		return true
	}
	return e.opts.Mode == ModeUpdate || e.opts.Mode == ModeUpsert
}

// decide matches the batch's live rows against the workspace (2), decides
// what each does, writes the undo journal and, unless a dry run, the batch
// (commit). It returns the counts after the batch.
func (e *engine) decide(live []*prepared) (Counts, error) {
	// 2. existing contacts with the batch's emails and phones (those of
	// earlier batches of this job included)
	byEmail, byPhone, err := e.lookup(live)
	if err != nil {
		return Counts{}, err
	}
	now := types.NowDateTime().String()
	e.batchTimes[now] = true
	var acts []*action
	var matchedIDs []string
	for _, p := range live {
		m, errRow := e.match(p, byEmail, byPhone)
		if errRow != nil {
			e.counts.Failed++
			if err := e.reportRow(*errRow); err != nil {
				return Counts{}, err
			}
			continue
		}
		if m != nil && e.wroteEarlier(m) {
			// written by an earlier batch of this job: a duplicate within
			// the file, as the seen keys report within a batch
			msg := "the same email or phone as an earlier row, which was imported instead (contact " + m.ID + ")"
			if row, ok := e.contactIDs.rowOf(m.ID); ok {
				msg = fmt.Sprintf("the same email or phone as row %d, which was imported instead", row)
			}
			e.counts.Skipped++
			if err := e.reportRow(RowError{p.row, "", RowDupInFile, msg}); err != nil {
				return Counts{}, err
			}
			continue
		}
		switch {
		case m == nil && e.opts.Mode == ModeUpdate:
			e.counts.Skipped++
			if err := e.reportRow(RowError{p.row, "", RowNoMatch, "no contact has this email or phone (mode update only changes existing contacts)"}); err != nil {
				return Counts{}, err
			}
		case m != nil && e.opts.Mode == ModeCreate:
			e.counts.Failed++
			field := "primary_email"
			if p.base[iEmail] == "" || p.base[iEmail] != m.Email {
				field = "primary_phone"
			}
			if err := e.reportRow(RowError{p.row, field, RowDuplicate, "a contact with this " + strings.ReplaceAll(strings.TrimPrefix(field, "primary_"), "_", " ") +
				" already exists (" + m.ID + "): use mode upsert or skip_existing"}); err != nil {
				return Counts{}, err
			}
		case m != nil && e.opts.Mode == ModeSkipExisting:
			e.counts.Skipped++
		case m != nil:
			acts = append(acts, &action{p: p, id: m.ID})
			matchedIDs = append(matchedIDs, m.ID)
		default:
			a, errRow := e.newContact(p)
			if errRow != nil {
				e.counts.Failed++
				if err := e.reportRow(*errRow); err != nil {
					return Counts{}, err
				}
				continue
			}
			acts = append(acts, a)
		}
	}
	if err := e.planUpdates(acts, matchedIDs, byEmail, byPhone); err != nil {
		return Counts{}, err
	}
	var creates, updates int
	entry := journalEntry{}
	for _, a := range acts {
		switch {
		case a.create:
			creates++
			entry.Created = append(entry.Created, a.id)
		case a.before != nil:
			updates++
			entry.Updated = append(entry.Updated, *a.before)
			for _, as := range a.assign {
				entry.Assigned = append(entry.Assigned, as.id)
			}
		case len(a.assign) > 0:
			for _, as := range a.assign {
				entry.Assigned = append(entry.Assigned, as.id)
			}
		}
	}
	unchanged := len(acts) - creates - updates

	if !e.opts.DryRun && len(acts) > 0 {
		// the journal is on disk before the batch commits: after a crash it
		// may name rows that never were (undo skips them), never miss one
		b, _ := json.Marshal(entry)
		if _, err := e.journal.Write(append(b, '\n')); err != nil {
			return Counts{}, err
		}
		if err := e.journal.Sync(); err != nil {
			return Counts{}, err
		}
	}
	next := e.counts
	next.Created += creates
	next.Updated += updates
	next.Unchanged += unchanged
	next.Committed = next.Read
	if !e.opts.DryRun {
		if err := e.commit(acts, next, now); err != nil {
			return Counts{}, err
		}
	}
	return next, nil
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

func chunks(vals []any, n int) [][]any {
	var out [][]any
	for len(vals) > n {
		out = append(out, vals[:n])
		vals = vals[n:]
	}
	if len(vals) > 0 {
		out = append(out, vals)
	}
	return out
}

// lookupDB is the connection for the batch's reads: the writer's. Its page
// cache already holds the index pages the batch's writes are about to touch,
// and the read pool's connections, taken in turn by database/sql, would each
// fill a cache of their own with the same pages (peak RSS of a 100k-row
// import: 128 MB through the read pool).
func (e *engine) lookupDB() dbx.Builder {
	if e.tx != nil {
		return e.tx.DB()
	}
	return e.s.app.NonconcurrentDB()
}

func (e *engine) lookup(live []*prepared) (map[string]*existing, map[string]*existing, error) {
	var emails, phones []any
	for _, p := range live {
		if p.base[iEmail] != "" {
			emails = append(emails, p.base[iEmail])
		}
		if p.base[iPhone] != "" {
			phones = append(phones, p.base[iPhone])
		}
	}
	byEmail, byPhone := map[string]*existing{}, map[string]*existing{}
	find := func(col string, vals []any, into map[string]*existing, key func(*existing) string) error {
		for _, part := range chunks(vals, 500) {
			var rows []*existing
			err := lookupQuery(e.lookupDB(), e.ws, col, part).All(&rows)
			if err != nil {
				return err
			}
			for _, r := range rows {
				into[key(r)] = r
			}
		}
		return nil
	}
	if err := find("primary_email", emails, byEmail, func(x *existing) string { return x.Email }); err != nil {
		return nil, nil, err
	}
	if err := find("primary_phone", phones, byPhone, func(x *existing) string { return x.Phone }); err != nil {
		return nil, nil, err
	}
	return byEmail, byPhone, nil
}

// lookupQuery selects the contacts of workspace ws whose col (primary_email
// or primary_phone) is one of vals.
func lookupQuery(db dbx.Builder, ws, col string, vals []any) *dbx.SelectQuery {
	return db.Select("id", "first_name", "last_name", "primary_email", "primary_phone", "company", "custom", "updated").
		From("contacts").Where(dbx.HashExp{"workspace": ws}).AndWhere(dbx.In(col, vals...)).
		// the unique (workspace, email|phone) indexes are partial (WHERE col
		// != ''): SQLite only uses them when the query repeats the
		// condition; without it the planner picks another (workspace, …)
		// index and reads the whole workspace per lookup, O(n²) over an import
		AndWhere(dbx.NewExp(col + " != ''"))
}

func (e *engine) match(p *prepared, byEmail, byPhone map[string]*existing) (*existing, *RowError) {
	var a, b *existing
	if v := p.base[iEmail]; v != "" {
		a = byEmail[v]
	}
	if v := p.base[iPhone]; v != "" {
		b = byPhone[v]
	}
	if a != nil && b != nil && a.ID != b.ID {
		return nil, &RowError{p.row, "", RowAmbiguous, fmt.Sprintf("the email matches contact %s but the phone matches contact %s: merge them first or fix the row", a.ID, b.ID)}
	}
	if a != nil {
		return a, nil
	}
	return b, nil
}

func (e *engine) newContact(p *prepared) (*action, *RowError) {
	a := &action{p: p, create: true, id: e.contactIDs.forRow(p.row), base: p.base, custom: map[string]any{}}
	have := map[string]bool{}
	for _, cv := range p.custom {
		have[cv.name] = true
		a.set = append(a.set, cv)
	}
	for _, cv := range e.defaults {
		if !have[cv.name] {
			have[cv.name] = true
			a.set = append(a.set, cv)
		}
	}
	for _, name := range e.required {
		if !have[name] {
			return nil, &RowError{p.row, name, RowRequired, "custom field " + name + " is required for new contacts"}
		}
	}
	for _, cv := range a.set {
		a.custom[cv.name] = customfields.Decode(cv.typ, cv.value)
	}
	// the default list's assignment is a rule of the create (contacts.BulkCreate)
	if e.listID != "" && e.listID != e.defList {
		a.assign = append(a.assign, assignment{e.ids.next(), e.listID, e.defList == ""})
	}
	return a, nil
}

// planUpdates computes, for the rows matching existing contacts, the values
// they change and the values those had (the undo journal).
func (e *engine) planUpdates(acts []*action, ids []string, byEmail, byPhone map[string]*existing) error {
	if len(ids) == 0 {
		return nil
	}
	current := map[string]*existing{}
	for _, m := range byEmail {
		current[m.ID] = m
	}
	for _, m := range byPhone {
		current[m.ID] = m
	}
	type cfRow struct {
		Contact string `db:"contact"`
		Name    string `db:"field_name"`
		Value   string `db:"field_value"`
		Type    string `db:"field_type"`
	}
	rows := map[string]map[string]cfRow{}
	inList, hasPrimary := map[string]bool{}, map[string]bool{}
	anyIDs := make([]any, len(ids))
	for i, id := range ids {
		anyIDs[i] = id
	}
	for _, part := range chunks(anyIDs, 500) {
		var rs []cfRow
		if err := e.lookupDB().Select("contact", "field_name", "field_value", "field_type").From("custom_fields").
			Where(dbx.In("contact", part...)).All(&rs); err != nil {
			return err
		}
		for _, r := range rs {
			if rows[r.Contact] == nil {
				rows[r.Contact] = map[string]cfRow{}
			}
			rows[r.Contact][r.Name] = r
		}
		if e.listID != "" {
			var as []struct {
				Contact string `db:"contact"`
				List    string `db:"list"`
				Primary bool   `db:"is_primary"`
			}
			if err := e.lookupDB().Select("contact", "list", "is_primary").From("contact_list_assignments").
				Where(dbx.In("contact", part...)).All(&as); err != nil {
				return err
			}
			for _, x := range as {
				if x.List == e.listID {
					inList[x.Contact] = true
				}
				if x.Primary {
					hasPrimary[x.Contact] = true
				}
			}
		}
	}
	for _, a := range acts {
		if a.create {
			continue
		}
		m := current[a.id]
		old := m.base()
		a.base = old
		before := &updatedEntry{ID: a.id, Base: map[string]string{}, Custom: map[string]*[2]string{}}
		for i, v := range a.p.base {
			if v != "" && v != old[i] { // an empty cell leaves the field as it is
				a.base[i] = v
				before.Base[csvio.BaseFields[i]] = old[i]
				a.changed = append(a.changed, csvio.BaseFields[i])
				a.changedBase = append(a.changedBase, csvio.BaseFields[i])
			}
		}
		a.custom = map[string]any{}
		if m.Custom != "" {
			_ = json.Unmarshal([]byte(m.Custom), &a.custom)
		}
		for _, cv := range a.p.custom {
			r, ok := rows[a.id][cv.name]
			if ok && r.Value == cv.value && r.Type == cv.typ {
				continue
			}
			if ok {
				before.Custom[cv.name] = &[2]string{r.Value, r.Type}
			} else {
				before.Custom[cv.name] = nil
			}
			a.set = append(a.set, cv)
			a.custom[cv.name] = customfields.Decode(cv.typ, cv.value)
			a.changed = append(a.changed, "custom."+cv.name)
			a.changedCustom = append(a.changedCustom, cv.name)
		}
		if e.listID != "" && !inList[a.id] {
			a.assign = append(a.assign, assignment{e.ids.next(), e.listID, !hasPrimary[a.id]})
		}
		if len(a.changed) > 0 {
			a.before = before
		}
	}
	return nil
}

// commit writes the batch's actions in the batch's transaction (e.tx, opened
// by write): the new contacts with their read copy in one statement, the EAV
// rows, list assignments and timeline entries with multi-row INSERTs
// (bulk.go), updated contacts with a prepared UPDATE,
// and the job's committed counts. It does what the record hooks do
// (normalised values, duplicate checks, validated custom values, ids,
// timestamps), which were all settled before.
func (e *engine) commit(acts []*action, next Counts, now string) error {
	first, last := 0, 0
	if len(acts) > 0 {
		first, last = acts[0].p.row, acts[len(acts)-1].p.row
	}
	// in the batch's transaction (write): its lookups saw what this writes over
	err := func(tx core.App) error {
		db := tx.DB()
		insContact := newJSONInsert(db, "contacts", []string{"id", "workspace", "first_name", "last_name", "primary_email",
			"primary_phone", "company", "custom", "created", "updated"})
		updContact := db.NewQuery(`UPDATE contacts SET first_name = {:f}, last_name = {:l}, primary_email = {:e}, primary_phone = {:p},
			company = {:c}, custom = {:custom}, updated = {:now} WHERE id = {:id}`).Prepare()
		defer updContact.Close()
		cfCols := []string{"id", "contact", "field_name", "field_value", "field_type", "created", "updated"}
		newCF := newMultiInsert(db, "custom_fields", cfCols, "") // a new contact has no rows to conflict with
		defer newCF.close()
		setCF := newMultiInsert(db, "custom_fields", cfCols,
			` ON CONFLICT (contact, field_name) DO UPDATE SET field_value = excluded.field_value, field_type = excluded.field_type, updated = excluded.updated`)
		defer setCF.close()
		insAssign := newMultiInsert(db, "contact_list_assignments", []string{"id", "contact", "list", "is_primary", "assigned_at", "created", "updated"}, "")
		defer insAssign.close()
		insLog := newMultiInsert(db, "communication_logs", []string{"id", "workspace", "contact", "type", "direction", "content", "timestamp", "created", "updated"}, "")
		defer insLog.close()

		type newValue struct {
			contact string
			v       customValue
		}
		var newValues []newValue
		src := contacts.Source(e.fileName)
		for _, a := range acts {
			if !a.create && a.before == nil && len(a.assign) == 0 {
				continue
			}
			if a.create || a.before != nil {
				custom, _ := json.Marshal(a.custom)
				if a.create {
					if err := insContact.add(a.id, e.ws, a.base[iFirst], a.base[iLast], a.base[iEmail], a.base[iPhone], a.base[iCompany],
						string(custom), now, now); err != nil {
						return err
					}
				} else if _, err := updContact.Bind(dbx.Params{"id": a.id, "f": a.base[iFirst], "l": a.base[iLast], "e": a.base[iEmail],
					"p": a.base[iPhone], "c": a.base[iCompany], "custom": string(custom), "now": now}).Execute(); err != nil {
					return fmt.Errorf("row %d: %w", a.p.row, err)
				}
			}
			for _, cv := range a.set {
				if a.create {
					newValues = append(newValues, newValue{a.id, cv})
					continue
				}
				if err := setCF.add(e.ids.next(), a.id, cv.name, cv.value, cv.typ, now, now); err != nil {
					return err
				}
			}
			for _, as := range a.assign {
				if err := insAssign.add(as.id, a.id, as.list, as.primary, now, now, now); err != nil {
					return err
				}
			}
			if a.create {
				continue // its entries are rules of the create (contacts.BulkCreate)
			}
			content, ok := contacts.BulkUpdatedEntry(src, a.changedBase, a.changedCustom)
			if !ok {
				continue
			}
			if err := insLog.add(e.ids.next(), e.ws, a.id, "system", "internal", content, now, now, now); err != nil {
				return err
			}
		}
		// the contacts first (the other rows refer to them), with the rules
		// of a create (match keys, count, timeline, default list) applied set-based
		if err := contacts.BulkCreate(tx, contacts.Bulk{Workspace: e.ws, Source: src, Now: now, DefaultList: e.defList}, insContact.flush); err != nil {
			return err
		}
		// The new contacts' values in (field_name, field_value) order, ids
		// made in that order: the (field_name, field_value) index, which
		// holds every workspace's values, then takes the batch as one
		// ordered pass instead of random inserts all over it, and the table
		// and id index still only append.
		slices.SortFunc(newValues, func(x, y newValue) int {
			if c := strings.Compare(x.v.name, y.v.name); c != 0 {
				return c
			}
			return strings.Compare(x.v.value, y.v.value)
		})
		for _, nv := range newValues {
			if err := newCF.add(e.ids.next(), nv.contact, nv.v.name, nv.v.value, nv.v.typ, now, now); err != nil {
				return err
			}
		}
		for _, m := range []*multiInsert{newCF, setCF, insAssign, insLog} {
			if err := m.flush(); err != nil {
				return err
			}
		}
		counts, _ := json.Marshal(next)
		if _, err := db.Update("import_jobs", dbx.Params{"counts": string(counts)}, dbx.HashExp{"id": e.job.Id}).Execute(); err != nil {
			return err
		}
		if e.s.crashAt == e.batchNo {
			return errCrash
		}
		return nil
	}(e.tx)
	if err != nil && !errors.Is(err, errCrash) {
		return fmt.Errorf("writing rows %d to %d: %w", first, last, err)
	}
	return err
}

// finish marks the job completed and writes its one audit entry, together.
func (e *engine) finish(actor audit.Actor) error {
	if e.nErrors == 0 {
		_ = os.Remove(e.s.ErrorReportPath(e.job.Id))
	}
	if e.opts.DryRun {
		_ = os.Remove(e.s.journalPath(e.job.Id))
	}
	_ = os.Remove(e.s.uploadPath(e.job.Id)) // imported: the report and journal are what is kept
	if !e.opts.DryRun {
		// the rows came by raw SQL, past the contact hooks that build a
		// workspace's value indexes once it is large enough: built here,
		// before the job says it is done, with one sort per index (cheaper
		// than keeping them row by row during the import). An optimisation
		// only: a failure is logged, the import stands.
		if err := e.s.app.RunInTransaction(func(tx core.App) error { return contacts.BulkDone(tx, e.ws) }); err != nil {
			e.s.app.Logger().Error("import: building the workspace's value indexes", "workspace", e.ws, "error", err)
		}
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
				"errors": e.nErrors, "new_custom_fields": e.newDefs}}, e.s.now())
	})
}
