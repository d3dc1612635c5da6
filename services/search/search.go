// Package search finds contacts of one workspace by a search term, list
// membership and custom field values, and finds likely duplicates.
//
// Every value a caller sends is bound as a dbx parameter; identifiers (column
// names, sort keys) come only from the whitelists below, never from input.
// The search term is matched with range comparisons and instr(), never with
// LIKE, so '%' and '_' in a term are plain characters.
package search

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/customfields"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// Stable error codes.
const (
	CodeInvalid      = "search_invalid"
	CodeUnknownField = "custom_field_unknown"
)

// Limits that keep one request bounded.
const (
	DefaultPerPage = 50
	MaxPerPage     = 200
	maxFilters     = 20
	maxTermLen     = 200
)

// maxRune ends the upper bound of a prefix range: every string that starts
// with p sorts before p+maxRune.
const maxRune = "\U0010FFFF"

// Service runs searches against app's database.
type Service struct {
	app   core.App
	stmts stmtCache // items.go
}

// NewService returns a search service.
func NewService(app core.App) *Service { return &Service{app: app} }

// Filter is one condition: field op value. Field is a base column or a custom
// field name.
type Filter struct {
	Field  string
	Custom bool // came as cf.<name>: must be a custom field
	Op     string
	Value  string
}

// Query is a parsed search request.
type Query struct {
	Workspace string
	Q         string
	Match     string // "prefix" (default, index-backed) or "contains"
	List      string
	// A campaign segment's lists: in any of ListsAny, in all of ListsAll,
	// in none of ExcludeLists (each list id once; empty: no condition).
	ListsAny     []string
	ListsAll     []string
	ExcludeLists []string
	Filters      []Filter
	Sort         string // field name, "-" prefix for descending; "" = last_name
	Page         int
	PerPage      int
}

// Ops a filter may use.
var ops = map[string]bool{"eq": true, "contains": true, "gt": true, "gte": true, "lt": true, "lte": true, "empty": true, "notempty": true}

// baseColumns are the contact columns a filter or sort may name, with
// whether they compare as text (case-insensitively).
var baseColumns = map[string]bool{
	"first_name": true, "last_name": true, "primary_email": true, "primary_phone": true, "company": true,
	"created": false, "updated": false,
}

func invalid(msg string) *apperr.Error { return apperr.BadRequest(CodeInvalid, msg) }

// ParseQuery reads a query from URL values:
//
//	workspace=ID  q=term  match=prefix|contains  list=LISTID
//	cf.<field>=<op>:<value>    (repeatable; custom fields)
//	filter=<field>:<op>:<value> (repeatable; base or custom fields)
//	sort=[-]<field>|[-]cf.<field>  page=N  perPage=N
//
// ops: eq, contains, gt, gte, lt, lte (numbers and dates; created/updated),
// empty, notempty (value ignored). A range is two filters: cf.age=gte:18&cf.age=lt:65.
func ParseQuery(v url.Values) (Query, error) {
	q := Query{
		Workspace: v.Get("workspace"),
		Q:         strings.TrimSpace(v.Get("q")),
		Match:     v.Get("match"),
		List:      v.Get("list"),
		Sort:      v.Get("sort"),
		Page:      1,
		PerPage:   DefaultPerPage,
	}
	if q.Workspace == "" {
		return q, invalid("workspace is required: ?workspace=ID")
	}
	if len(q.Q) > maxTermLen {
		return q, invalid(fmt.Sprintf("q is longer than %d characters", maxTermLen))
	}
	switch q.Match {
	case "":
		q.Match = "prefix"
	case "prefix", "contains":
	default:
		return q, invalid(`match must be "prefix" or "contains"`)
	}
	var err error
	if s := v.Get("page"); s != "" {
		if q.Page, err = strconv.Atoi(s); err != nil || q.Page < 1 || q.Page > 1_000_000 {
			return q, invalid("page must be a whole number from 1")
		}
	}
	if s := v.Get("perPage"); s != "" {
		if q.PerPage, err = strconv.Atoi(s); err != nil || q.PerPage < 1 || q.PerPage > MaxPerPage {
			return q, invalid(fmt.Sprintf("perPage must be a whole number from 1 to %d", MaxPerPage))
		}
	}
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys) // stable parameter names, stable error messages
	for _, k := range keys {
		name, ok := strings.CutPrefix(k, "cf.")
		if !ok {
			continue
		}
		for _, raw := range v[k] {
			op, val, _ := strings.Cut(raw, ":")
			q.Filters = append(q.Filters, Filter{Field: name, Custom: true, Op: op, Value: val})
		}
	}
	for _, raw := range v["filter"] {
		parts := strings.SplitN(raw, ":", 3)
		if len(parts) < 2 {
			return q, invalid(`filter must be written field:op:value, e.g. filter=tier:eq:gold`)
		}
		f := Filter{Field: parts[0], Op: parts[1]}
		if len(parts) == 3 {
			f.Value = parts[2]
		}
		if name, ok := strings.CutPrefix(f.Field, "cf."); ok {
			f.Field, f.Custom = name, true
		}
		q.Filters = append(q.Filters, f)
	}
	if len(q.Filters) > maxFilters {
		return q, invalid(fmt.Sprintf("at most %d filters", maxFilters))
	}
	for _, f := range q.Filters {
		if !ops[f.Op] {
			return q, invalid(fmt.Sprintf("filter on %q: unknown operator %q; use eq, contains, gt, gte, lt, lte, empty or notempty", f.Field, f.Op))
		}
		if len(f.Value) > maxTermLen*5 {
			return q, invalid(fmt.Sprintf("filter on %q: value too long", f.Field))
		}
	}
	return q, nil
}

// fieldDef is what a filter needs of a custom field definition.
type fieldDef struct {
	Type    string
	Options []string
}

// definitions returns the custom fields that apply in workspace ws: the
// workspace's own plus the user-wide ones of its owner, the workspace's
// winning on a name clash (the same rule as services/customfields).
func (s *Service) definitions(ws string) (map[string]fieldDef, error) {
	var rows []struct {
		Name      string `db:"field_name"`
		Type      string `db:"field_type"`
		Options   string `db:"options"`
		Workspace string `db:"workspace"`
	}
	err := s.app.DB().NewQuery(`
		SELECT d.field_name, d.field_type, COALESCE(d.options, '') AS options, d.workspace
		FROM custom_field_definitions d
		WHERE d.workspace = {:ws}
		   OR (d.workspace = '' AND d.user = (SELECT w.owner FROM workspaces w WHERE w.id = {:ws}))
		ORDER BY d.workspace = '' DESC`). // user-wide first, so the workspace's overwrite them
		Bind(dbx.Params{"ws": ws}).All(&rows)
	if err != nil {
		return nil, err
	}
	out := make(map[string]fieldDef, len(rows))
	for _, r := range rows {
		d := fieldDef{Type: r.Type}
		_ = json.Unmarshal([]byte(r.Options), &d.Options)
		out[r.Name] = d
	}
	return out, nil
}

// cond is one WHERE condition in the forms the planner (plan.go) chooses
// between. check is always set: SQL over the contact row c, evaluated per
// candidate. A condition that an index can serve also says how to start
// from its matches: index names a contacts index led by the workspace whose
// range check selects (the value indexes of services/customfields), or idset
// is a subquery of contact ids (the term's index scans, a list's members,
// EAV rows); probe counts its first {:cap} matches, to learn which condition
// is the most selective before choosing the plan.
type cond struct {
	check string
	index string
	idset string
	probe string
	// what names an idset for Result.Plan ("ids term", "ids list", …)
	what string
	// a value-index condition's range bounds, kept apart so that
	// mergeRanges can join the two ends of a range into one index range:
	// a bound that is not part of the range SQLite seeks is checked per row,
	// which reads the row (the JSON) instead of only the index
	lo, hi       []string
	defLo, defHi string // the bound used when no filter gives one
	// kept: the condition is one select value, which services/counts may
	// keep counted (counts.ValueCount)
	kept *keptValue
}

// keptValue names a select field's value whose count may be kept.
type keptValue struct{ field, value string }

// sqlBuilder collects WHERE conditions with their parameters; parameter
// names are generated, never taken from input.
type sqlBuilder struct {
	conds  []cond
	params dbx.Params
	// ws is the workspace id, and wsLit it as an SQL literal: the plan's
	// queries state the workspace as a literal so that SQLite can use the
	// workspace's partial value indexes (services/customfields)
	ws, wsLit string
	// valueIdx: custom field names with a value index (services/customfields)
	valueIdx map[string]bool
	// nonNull: custom fields a condition requires a value of, so a sort by
	// one of them needs no NULLS LAST
	nonNull map[string]bool
}

func (b *sqlBuilder) param(v any) string {
	name := "p" + strconv.Itoa(len(b.params))
	b.params[name] = v
	return "{:" + name + "}"
}

// asciiLower lower-cases ASCII letters only, as SQLite's lower() and NOCASE
// do, so a term folded here compares like a column folded there.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

// phoneDigits returns the digits of a term that looks like a phone number
// (digits, spaces, + - . ( )), else "".
func phoneDigits(s string) string {
	var d strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			d.WriteRune(r)
		case strings.ContainsRune("+-.() ", r):
		default:
			return ""
		}
	}
	return d.String()
}

// termCondition adds the search term.
//
// prefix: the candidate ids are the UNION of index range scans, one per
// column (first name, last name and company through the NOCASE indexes of
// migration 1764000200, email and phone through their unique indexes), each
// led by the workspace so it reads only matching index entries: O(k log n)
// for k hits. The same ranges are also written per row (check), for when
// another condition is more selective and the term only filters its
// matches. Further words of a multi-word term must then prefix the full
// name ("ann smi"), the reversed name, the company or the email.
//
// contains: instr() over the lower-cased columns, a scan of the workspace's
// contacts (O(n)); no index can serve an arbitrary substring.
func (b *sqlBuilder) termCondition(term, match string) {
	words := strings.Fields(term)
	if len(words) == 0 {
		return
	}
	if match == "contains" {
		t := b.param(asciiLower(term))
		check := `(instr(lower(c.first_name), ` + t + `) > 0 OR instr(lower(c.last_name), ` + t + `) > 0
			OR instr(lower(c.first_name || ' ' || c.last_name), ` + t + `) > 0
			OR instr(lower(c.company), ` + t + `) > 0 OR instr(c.primary_email, ` + t + `) > 0`
		if d := phoneDigits(term); d != "" {
			check += ` OR instr(c.primary_phone, ` + b.param(d) + `) > 0`
		}
		b.conds = append(b.conds, cond{check: check + `)`})
		return
	}
	first := asciiLower(words[0])
	lo, hi := b.param(first), b.param(first+maxRune)
	ws := "{:ws}"
	type column struct{ col, guard string }
	cols := []column{
		{`first_name COLLATE NOCASE`, ``}, {`last_name COLLATE NOCASE`, ``}, {`company COLLATE NOCASE`, ``},
		// stored lower-cased; the != '' matches the partial unique index
		{`primary_email`, `primary_email != '' AND `},
	}
	var union, checks []string
	add := func(c column, lo, hi string) {
		union = append(union, `SELECT id FROM contacts WHERE workspace = `+ws+` AND `+c.guard+c.col+` >= `+lo+` AND `+c.col+` < `+hi)
		checks = append(checks, `(`+strings.ReplaceAll(c.guard, "primary_", "c.primary_")+`c.`+c.col+` >= `+lo+` AND c.`+c.col+` < `+hi+`)`)
	}
	for _, c := range cols {
		add(c, lo, hi)
	}
	if d := phoneDigits(term); d != "" {
		add(column{`primary_phone`, `primary_phone != '' AND `}, b.param("+"+d), b.param("+"+d+maxRune))
	}
	b.conds = append(b.conds, cond{
		check: `(` + strings.Join(checks, " OR ") + `)`,
		idset: strings.Join(union, "\n UNION "),
		what:  "term",
		// UNION ALL streams (a UNION first collects every id to drop
		// duplicates): an estimate may count a contact twice
		probe: `SELECT count(*) FROM (` + strings.Join(union, "\n UNION ALL ") + ` LIMIT {:cap})`,
	})
	if len(words) > 1 && phoneDigits(term) == "" {
		full := strings.Join(words, " ")
		flo, fhi := b.param(full), b.param(full+maxRune)
		rng := func(expr string) string {
			return `(` + expr + ` COLLATE NOCASE >= ` + flo + ` AND ` + expr + ` COLLATE NOCASE < ` + fhi + `)`
		}
		c := cond{check: `(` + strings.Join([]string{
			rng(`(c.first_name || ' ' || c.last_name)`), rng(`(c.last_name || ' ' || c.first_name)`),
			rng(`c.company`), rng(`c.primary_email`),
		}, " OR ") + `)`}
		if len(words) == 2 {
			c.idset, c.probe = b.twoWordNames(words, full)
			c.what = "names"
		}
		b.conds = append(b.conds, c)
	}
}

// twoWordNames is the candidate id set of a two-word term ("ann smi",
// "smith ann"), read from index ranges instead of every contact whose name
// starts with the first word (a common first or last name: 1% of the
// workspace). "first last" starts with "w1 w2" exactly when the first name
// is w1 and the last name starts with w2, or the first name itself starts
// with "w1 w2" (words hold no spaces, so no other split fits); the same for
// "last first"; a company must start with the whole term; an email holds no
// space but is read the same way, as its check does. The (workspace,
// first_name, last_name) and (workspace, last_name, first_name) NOCASE
// indexes serve the name ranges.
func (b *sqlBuilder) twoWordNames(words []string, full string) (idset, probe string) {
	w1 := b.param(asciiLower(words[0]))
	w2lo, w2hi := b.param(asciiLower(words[1])), b.param(asciiLower(words[1])+maxRune)
	flo, fhi := b.param(asciiLower(full)), b.param(asciiLower(full)+maxRune)
	from := `SELECT id FROM contacts WHERE workspace = {:ws} AND `
	prefix := func(col, lo, hi string) string { return col + ` >= ` + lo + ` AND ` + col + ` < ` + hi }
	parts := []string{
		from + `first_name COLLATE NOCASE = ` + w1 + ` AND ` + prefix(`last_name COLLATE NOCASE`, w2lo, w2hi),
		from + `last_name COLLATE NOCASE = ` + w1 + ` AND ` + prefix(`first_name COLLATE NOCASE`, w2lo, w2hi),
		from + prefix(`first_name COLLATE NOCASE`, flo, fhi),
		from + prefix(`last_name COLLATE NOCASE`, flo, fhi),
		from + prefix(`company COLLATE NOCASE`, flo, fhi),
		from + `primary_email != '' AND ` + prefix(`primary_email`, flo, fhi),
	}
	return strings.Join(parts, "\n UNION "), `SELECT count(*) FROM (` + strings.Join(parts, "\n UNION ALL ") + ` LIMIT {:cap})`
}

// customValue checks and converts a filter value for a field of type typ,
// returning what is bound: float64 for numbers, the stored text form else.
func customValue(f Filter, d fieldDef) (any, error) {
	bad := func(why string) error {
		return invalid(fmt.Sprintf("filter on %q (%s): %s", f.Field, d.Type, why))
	}
	switch d.Type {
	case "number":
		n, err := strconv.ParseFloat(strings.TrimSpace(f.Value), 64)
		if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
			return nil, bad("the value must be a number, e.g. 42 or 3.5")
		}
		return n, nil
	case "date":
		return parseDate(f.Value, bad)
	case "boolean":
		switch strings.ToLower(strings.TrimSpace(f.Value)) {
		case "true", "1", "yes":
			return "true", nil
		case "false", "0", "no":
			return "false", nil
		}
		return nil, bad("the value must be true or false")
	case "select", "multiselect":
		if f.Op == "contains" {
			return f.Value, nil
		}
		for _, o := range d.Options {
			if strings.EqualFold(o, strings.TrimSpace(f.Value)) {
				return o, nil
			}
		}
		return nil, bad(fmt.Sprintf("%q is not one of its options", f.Value))
	}
	return f.Value, nil
}

func parseDate(s string, bad func(string) error) (any, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"2006-01-02", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Format("2006-01-02"), nil
		}
	}
	return nil, bad("the value must be a date written YYYY-MM-DD")
}

// customCondition adds one custom field filter.
//
// Per row it reads the contact's typed read copy (contacts.custom, kept in
// the transaction of every change to the EAV rows): numbers are JSON
// numbers, so ranges compare numerically; dates are YYYY-MM-DD text.
// When the field has a value index (services/customfields/indexes.go) the
// check is written exactly as that index's expression, so the condition is
// also a range of the index led by the workspace: it can be counted and
// walked in O(matches), and the planner may start from it. Without one (a
// multiselect field, past the index cap, or a workspace below the index
// threshold) it is a check of each of the workspace's contacts: the global
// EAV value indexes (field_name, field_value) that once gave candidate ids
// were dropped by migration 1764001800 (every workspace's values in one index
// cost every import a random insert per value; issue 18).
func (b *sqlBuilder) customCondition(f Filter, d fieldDef) error {
	x := customfields.ValueExpr("c", f.Field)
	xi := x + ` COLLATE NOCASE` // as the value index is declared
	indexed := b.valueIdx[f.Field] && d.Type != "multiselect"
	add := func(check string) {
		c := cond{check: check}
		if indexed {
			c.index = customfields.ValueIndexName(b.ws, f.Field)
		}
		b.conds = append(b.conds, c)
	}
	switch f.Op {
	case "empty":
		add(x + ` IS NULL`)
		return nil
	case "notempty":
		b.nonNull[f.Field] = true
		add(x + ` IS NOT NULL`)
		return nil
	}
	v, err := customValue(f, d)
	if err != nil {
		return err
	}
	b.nonNull[f.Field] = true
	cmp := map[string]string{"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[f.Op]
	switch {
	case f.Op == "contains":
		if d.Type == "number" || d.Type == "date" || d.Type == "boolean" {
			return invalid(fmt.Sprintf("filter on %q (%s): contains works on text fields; use eq or a range", f.Field, d.Type))
		}
		p := b.param(f.Value)
		// no index serves a substring: a per-row check only
		b.conds = append(b.conds, cond{check: `instr(lower(` + x + `), lower(` + p + `)) > 0`})
	case d.Type == "number" || d.Type == "date":
		p := b.param(v)
		add("")
		c := &b.conds[len(b.conds)-1]
		bound := xi + ` ` + cmp + ` ` + p
		switch f.Op {
		case "eq":
			c.check = bound
		case "gt", "gte":
			c.lo = []string{bound}
		default:
			c.hi = []string{bound}
		}
		// SQLite orders every number before every text: an upper bound of
		// '' keeps a stray text value out of a number range, a lower bound
		// of '' a stray number out of a date range, both within the index
		// range (mergeRanges adds them only where no filter bounds that end)
		if d.Type == "number" {
			c.defHi = xi + ` < ''`
		} else {
			c.defLo = xi + ` >= ''`
		}
		if f.Op != "eq" {
			c.check = "" // written by mergeRanges
		}
	case f.Op != "eq":
		return invalid(fmt.Sprintf("filter on %q (%s): gt/gte/lt/lte work on number and date fields", f.Field, d.Type))
	case d.Type == "multiselect":
		// stored as a JSON list in the definition's spelling: match the
		// quoted option so "gold" never matches "golden"
		p := b.param(v)
		add(`instr(` + x + `, json_quote(` + p + `)) > 0`)
	case d.Type == "boolean":
		bv := 0 // the copy holds JSON true/false, which json_extract reads as 1/0
		if v == "true" {
			bv = 1
		}
		add(xi + ` = ` + b.param(bv))
	case d.Type == "text":
		p := b.param(v)
		add(xi + ` = ` + p)
	default:
		// select, email, url, phone compare exactly. The NOCASE equality
		// finds them in the index; a second, exact test (which reads the
		// row) is needed only where case can tell two values apart: urls,
		// and select options that differ only in case. Emails are stored
		// lower-cased, phones in E.164.
		exact := d.Type == "url"
		if d.Type == "email" {
			v = asciiLower(strings.TrimSpace(f.Value))
		}
		if d.Type == "select" {
			for _, o := range d.Options {
				exact = exact || (o != v && strings.EqualFold(o, fmt.Sprint(v)))
			}
		}
		p := b.param(v)
		check := xi + ` = ` + p
		if exact {
			check += ` AND ` + x + ` = ` + p
		}
		add(check)
		if s, ok := v.(string); ok && d.Type == "select" && !exact && indexed {
			// the count of exactly what the check matches: text values
			// equal under NOCASE (counts/values.go)
			b.conds[len(b.conds)-1].kept = &keptValue{field: f.Field, value: s}
		}
	}
	return nil
}

// baseCondition adds a filter on a contact column (col from baseColumns).
func (b *sqlBuilder) baseCondition(f Filter, text bool) error {
	col := "c." + f.Field
	check := func(sql string) { b.conds = append(b.conds, cond{check: sql}) }
	switch f.Op {
	case "empty":
		check(`COALESCE(` + col + `, '') = ''`)
		return nil
	case "notempty":
		check(`COALESCE(` + col + `, '') != ''`)
		return nil
	case "contains":
		if !text {
			return invalid(fmt.Sprintf("filter on %q: contains works on text fields", f.Field))
		}
		check(`instr(lower(` + col + `), lower(` + b.param(f.Value) + `)) > 0`)
		return nil
	}
	cmp := map[string]string{"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[f.Op]
	if text {
		if f.Op != "eq" {
			return invalid(fmt.Sprintf("filter on %q: use eq, contains, empty or notempty", f.Field))
		}
		check(col + ` = ` + b.param(f.Value) + ` COLLATE NOCASE`)
		return nil
	}
	v, err := parseDate(f.Value, func(why string) error { return invalid(fmt.Sprintf("filter on %q: %s", f.Field, why)) })
	if err != nil {
		return err
	}
	// created/updated are "YYYY-MM-DD hh:mm:ss.sssZ": compare their date part
	check(`substr(` + col + `, 1, 10) ` + cmp + ` ` + b.param(v))
	return nil
}

// sortSpec is a parsed sort: the ORDER BY clause, and the contacts index
// that yields rows in that order ("" when none does).
type sortSpec struct {
	order string
	index string
	// nullsLast: an ascending sort by custom field expr, whose contacts
	// without a value come last; an index gives NULLs first, so a walk of
	// it reads the values (order) and then the rest (nullOrder)
	nullsLast bool
	expr      string
	nullOrder string
}

// sortBy parses sortKey. Ties are broken by rowid (creation order) so
// pages never overlap or skip: every contacts index holds the rowid, so an
// index walk yields that order itself, where a tie-break by id would sort
// each run of equal keys after reading their rows.
func (b *sqlBuilder) sortBy(sortKey string, defs func() (map[string]fieldDef, error)) (sortSpec, error) {
	desc := strings.HasPrefix(sortKey, "-")
	key := strings.TrimPrefix(sortKey, "-")
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	if key == "" {
		return sortSpec{order: "c.last_name COLLATE NOCASE" + dir + ", c.first_name COLLATE NOCASE" + dir + ", c.rowid" + dir,
			index: "idx_contacts_search_last"}, nil
	}
	if text, ok := baseColumns[key]; ok {
		expr := "c." + key
		if text {
			expr += " COLLATE NOCASE"
		}
		index := map[string]string{"first_name": "idx_contacts_search_first", "last_name": "idx_contacts_search_last",
			"company": "idx_contacts_search_company", "created": "idx_contacts_workspace"}[key]
		return sortSpec{order: expr + dir + ", c.rowid" + dir, index: index}, nil
	}
	name, ok := strings.CutPrefix(key, "cf.")
	if !ok {
		return sortSpec{}, invalid(fmt.Sprintf("cannot sort by %q: use a contact field (first_name, last_name, primary_email, primary_phone, company, created, updated) or cf.<custom field>", key))
	}
	all, err := defs()
	if err != nil {
		return sortSpec{}, err
	}
	d, ok := all[name]
	if !ok {
		return sortSpec{}, unknownField(name)
	}
	// the typed copy: numbers order numerically, dates as ISO text; NOCASE
	// as the value index is declared (it changes only text order)
	x := customfields.ValueExpr("c", name) + " COLLATE NOCASE"
	sp := sortSpec{expr: customfields.ValueExpr("c", name)}
	if b.valueIdx[name] && d.Type != "multiselect" {
		sp.index = customfields.ValueIndexName(b.ws, name)
	}
	switch {
	case desc || b.nonNull[name]:
		// DESC puts NULLs (contacts without a value) last by itself
		sp.order = x + dir + ", c.rowid" + dir
	default:
		sp.order = x + dir + " NULLS LAST, c.rowid" + dir
		sp.nullsLast = true
		sp.nullOrder = "c.rowid" + dir
	}
	return sp, nil
}

func unknownField(name string) *apperr.Error {
	return apperr.BadRequest(CodeUnknownField, fmt.Sprintf("Unknown custom field %q in this workspace: check its field_name", name)).
		With("fields", map[string]string{name: "no such custom field in this workspace"})
}

// Result is a page of contacts, shaped like a PocketBase list.
type Result struct {
	Page       int `json:"page"`
	PerPage    int `json:"perPage"`
	TotalItems int `json:"totalItems"`
	TotalPages int `json:"totalPages"`
	// Items is the page's contacts as a JSON array (items.go)
	Items json.RawMessage `json:"items"`
	// IDs are the page's contact ids in order (not sent)
	IDs []string `json:"-"`
	// Plan says how the page was read, for tests and debugging (not sent):
	// "walk <index>", "index <index>" (from a condition's index range),
	// "ids <what>" (from a condition's id set: term, names, list, cf.<field>)
	// or "scan".
	Plan string `json:"-"`
	// Count says where TotalItems came from (not sent): "workspace" (its
	// kept contact count), "value" (a select value's kept count), "index"
	// (a count of the driving condition's matches) or "probe" (a probe found
	// none).
	Count string `json:"-"`
}
