// Package export writes a workspace's contacts as CSV. Which contacts, and
// in which order, is a contact search (services/search): the same
// parameters as GET /api/crm/contacts/search, the same rows, all of them
// rather than a page, streamed.
package export

import (
	"fmt"
	"io"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/csvio"
	"github.com/pi-crm/pi-crm/services/customfields"
	"github.com/pi-crm/pi-crm/services/search"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// CodeInvalid is the 400 of a bad columns parameter (a bad search parameter
// answers search's own codes).
const CodeInvalid = "export_invalid_query"

// ActionExport is the audit action of the one entry per export (route and
// command line alike).
const ActionExport = "export"

// DefaultSort is the order of an export that names none: creation order
// (created, then rowid), which keeps a re-import in the original order. A
// search's default is by name; pass its sort to export what it shows.
const DefaultSort = "created"

// Query selects what an export writes.
type Query struct {
	// Search: workspace, q, match, list, filters and sort, as the search
	// route takes them (search.ParseQuery); Page and PerPage are ignored.
	// Sort "" is DefaultSort.
	search.Query
	// Columns to write, in order (none: the base fields, then every custom
	// field of the workspace by name). Names: id, created, updated, the base
	// fields, custom field names (or cf.<name>).
	Columns []string
}

// ParseQuery reads an export from URL values: the search route's
// parameters (workspace, q, match, list, cf.<field>=<op>:<value>,
// filter=<field>:<op>:<value>, sort) and columns=a,b. page and perPage are
// ignored: an export has no pages.
func ParseQuery(v url.Values) (Query, error) {
	v = cloneValues(v)
	v.Del("page")
	v.Del("perPage")
	sq, err := search.ParseQuery(v)
	if err != nil {
		return Query{}, err
	}
	q := Query{Query: sq}
	if c := v.Get("columns"); c != "" {
		q.Columns = strings.Split(c, ",")
	}
	return q, nil
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vals := range v {
		out[k] = slices.Clone(vals)
	}
	return out
}

// Service writes exports from app's database.
type Service struct {
	app    core.App
	custom *customfields.Service
	search *search.Service
	now    func() time.Time
}

// NewService returns an export service (now nil: time.Now).
func NewService(app core.App, cf *customfields.Service, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{app: app, custom: cf, search: search.NewService(app), now: now}
}

var exportBase = map[string]bool{"id": true, "created": true, "updated": true,
	"first_name": true, "last_name": true, "primary_email": true, "primary_phone": true, "company": true}

// Prepared is an export whose columns are checked and whose rows are
// planned: writing it can no longer fail on the query.
type Prepared struct {
	q    Query
	cols []string
	sel  *search.Selection
}

// Plan says how the rows are read (search.Selection.Plan).
func (p *Prepared) Plan() string { return p.sel.Plan }

// Prepare checks q and plans its rows (the search's probes run here), so
// the route can answer a bad query before the first byte of the file. The
// caller has checked that the requester may read q's workspace.
func (s *Service) Prepare(q Query) (*Prepared, error) {
	defs, err := s.custom.ForWorkspace(s.app, q.Workspace)
	if err != nil {
		return nil, err
	}
	cols := slices.Clone(q.Columns)
	if len(cols) == 0 {
		cols = append(cols, csvio.BaseFields...)
		var names []string
		for n := range defs {
			names = append(names, n)
		}
		sort.Strings(names)
		cols = append(cols, names...)
	}
	for i, c := range cols {
		c = strings.TrimPrefix(strings.TrimSpace(c), "cf.")
		cols[i] = c
		if _, ok := defs[c]; !ok && !exportBase[c] {
			return nil, apperr.BadRequest(CodeInvalid, fmt.Sprintf("columns: %q is neither a contact field nor a custom field of this workspace", c))
		}
	}
	sq := q.Query
	if sq.Sort == "" {
		sq.Sort = DefaultSort
	}
	if sq.Match == "" {
		sq.Match = "prefix"
	}
	sel, err := s.search.Select(sq)
	if err != nil {
		return nil, err
	}
	return &Prepared{q: q, cols: cols, sel: sel}, nil
}

// Check returns the error Export would return for q before writing.
func (s *Service) Check(q Query) error {
	_, err := s.Prepare(q)
	return err
}

// Export streams the contacts q selects as CSV to w, one row at a time
// (memory does not grow with the workspace). It returns the number of rows.
func (s *Service) Export(w io.Writer, q Query) (int, error) {
	p, err := s.Prepare(q)
	if err != nil {
		return 0, err
	}
	return s.Write(w, p)
}

// Write streams p as CSV to w and returns the number of rows written.
func (s *Service) Write(w io.Writer, p *Prepared) (int, error) {
	cols := p.cols
	cw, err := csvio.NewWriter(w)
	if err != nil {
		return 0, err
	}
	if err := cw.Write(cols); err != nil {
		return 0, err
	}
	base := map[string]*string{}
	var id, first, last, email, phone, company, custom, created, updated string
	for k, ptr := range map[string]*string{"id": &id, "first_name": &first, "last_name": &last, "primary_email": &email,
		"primary_phone": &phone, "company": &company, "created": &created, "updated": &updated} {
		base[k] = ptr
	}
	// the base cells by position, the custom ones by field name → position,
	// filled from the read copy
	type baseCell struct {
		at  int
		ptr *string
	}
	var bases []baseCell
	want := map[string]int{}
	for i, c := range cols {
		if ptr, ok := base[c]; ok {
			bases = append(bases, baseCell{i, ptr})
		} else {
			want[c] = i
		}
	}
	out := make([]string, len(cols))
	cells := newCopyReader(want, out)
	n := 0
	err = p.sel.Rows(`c.id, c.first_name, c.last_name, c.primary_email, c.primary_phone, c.company,
		COALESCE(c.custom, ''), c.created, c.updated`, func(rows *dbx.Rows) error {
		if err := rows.Scan(&id, &first, &last, &email, &phone, &company, &custom, &created, &updated); err != nil {
			return err
		}
		for _, b := range bases {
			out[b.at] = *b.ptr
		}
		cells.read(custom)
		if err := cw.Write(out); err != nil {
			return err
		}
		n++
		return nil
	})
	if err != nil {
		return n, err
	}
	return n, cw.Flush()
}

// Audit writes the one audit entry of an export of rows contacts by actor;
// extra details (the command line's "via") are added to the query's.
func (s *Service) Audit(actor audit.Actor, q Query, rows int, extra map[string]any) error {
	filters := make([]string, 0, len(q.Filters))
	for _, f := range q.Filters {
		name := f.Field
		if f.Custom {
			name = "cf." + name
		}
		filters = append(filters, name+":"+f.Op+":"+f.Value)
	}
	sortKey := q.Sort
	if sortKey == "" {
		sortKey = DefaultSort
	}
	details := map[string]any{"rows": rows, "list": q.List, "q": q.Q, "match": q.Match, "filters": filters,
		"sort": sortKey, "columns": q.Columns}
	for k, v := range extra {
		details[k] = v
	}
	return audit.Log(s.app, audit.Entry{Actor: actor, Workspace: q.Workspace, Action: ActionExport, EntityType: "contacts",
		Details: details}, s.now())
}
