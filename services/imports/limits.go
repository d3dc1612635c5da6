package imports

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"unicode/utf8"

	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/csvio"
)

// Limits of one import, checked before anything is written: at the route
// when the upload's header is read (400), and again when the job plans its
// columns (the CLI, or a file the route could not read), so a job never
// starts writing what it cannot finish.
const (
	// MaxColumns is the most columns a file may have. A contact has five
	// base fields and a workspace a few dozen custom fields; more columns are
	// a wrong delimiter or a generated file, and every column costs memory
	// per row and room in the job record's resolved mapping.
	MaxColumns = 500
	// MaxNewFields is the most custom fields one import may define
	// (mapping targets "new:…"): definitions are schema, not data, and
	// each one is a value index candidate of the workspace.
	MaxNewFields = 100
	// MaxOptionsBytes bounds the options JSON of an import (the job record's
	// options field holds 64 KiB, with the resolved mapping added to it).
	MaxOptionsBytes = 48 << 10
)

// Sizes the job record's fields hold (migrations: import_jobs), and what
// the engine stores in them, below those with room to spare.
const (
	maxStoredOptions = 60 << 10 // options: 64 KiB
	maxErrorChars    = 2000     // error: 2000 characters
	maxSampleChars   = 500      // one message of error_report's sample (5 MiB in all)
	maxSample        = 20       // errors in error_report's sample, and as many warnings
)

// headerProbeBytes is how much of an upload the route reads to count its
// columns: a header longer than this has more than MaxColumns columns of
// any sensible width, and the job checks the whole header again.
const headerProbeBytes = 4 << 20

func tooManyColumns(n int) error {
	return apperr.BadRequest(CodeTooManyColumns, fmt.Sprintf("The file has %d columns; an import takes at most %d. "+
		"Check the delimiter (, ; or tab), or remove the columns you do not import", n, MaxColumns))
}

func tooManyNewFields(n int) error {
	return apperr.BadRequest(CodeTooManyNewFields, fmt.Sprintf("The mapping defines %d new custom fields; an import defines at most %d. "+
		"Create the fields in settings first, or map fewer columns to \"new:…\"", n, MaxNewFields))
}

// countNewFields counts the mapping's targets that define a custom field.
// Targets that do not parse are left to the job, which reports them.
func countNewFields(o Options) int {
	n := 0
	for h, raw := range o.Mapping {
		if t, err := csvio.ParseTarget(raw, h); err == nil && t.Kind == csvio.KindNew {
			n++
		}
	}
	return n
}

// CheckUpload reads the header of the staged upload at path and returns
// the 400 the job would end with for too many columns, before a job record
// exists. A file whose header cannot be read is left to the job, which
// reports why.
func (s *Service) CheckUpload(path string, o Options) error {
	if n := countNewFields(o); n > MaxNewFields {
		return tooManyNewFields(n)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	r, err := csvio.NewReader(io.LimitReader(f, headerProbeBytes))
	if err != nil {
		return nil
	}
	if len(r.Header) > MaxColumns {
		return tooManyColumns(len(r.Header))
	}
	return nil
}

// truncate cuts s to at most n characters, on a character boundary.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// fitResolved returns opts with as much of the resolved mapping as fits the
// job record's options field; the rest is counted in
// resolved_mapping_omitted (the mapping still applies in full: this is the
// record the UI and the CLI show).
func fitResolved(opts map[string]any, resolved []map[string]any) map[string]any {
	opts["resolved_mapping"] = resolved
	if b, err := json.Marshal(opts); err == nil && len(b) <= maxStoredOptions {
		return opts
	}
	delete(opts, "resolved_mapping")
	base, _ := json.Marshal(opts)
	size := len(base) + len(`,"resolved_mapping":[],"resolved_mapping_omitted":000000`)
	kept := 0
	for _, r := range resolved {
		b, _ := json.Marshal(r)
		if size+len(b)+1 > maxStoredOptions {
			break
		}
		size += len(b) + 1
		kept++
	}
	opts["resolved_mapping"] = resolved[:kept]
	opts["resolved_mapping_omitted"] = len(resolved) - kept
	return opts
}
