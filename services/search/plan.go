package search

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/pi-crm/pi-crm/services/counts"
	"github.com/pi-crm/pi-crm/services/customfields"
	"github.com/pocketbase/dbx"
)

// probeCap bounds the selectivity probes: each reads at most this many
// index entries. A condition with fewer matches is "selective": the query
// starts from its matches and sorts them (O(m log m) for m ≤ probeCap).
// With more, walking an index in the sort order and checking each row
// until the page is full reads about (offset+perPage)·n/m rows, which is
// fewer as long as the page is not deep (see walkPays).
const probeCap = 1000

// plan is how one search reads the contacts table.
type plan struct {
	from  string // "contacts c" with an INDEXED BY when the plan fixes the index
	where string
}

// Search runs q. The caller has checked that the requester may read q's
// workspace.
//
// Why the plan is chosen here and not left to SQLite: PocketBase never runs
// ANALYZE, and without statistics SQLite cannot tell a filter matching 20%
// of the workspace from one matching 0.1%, nor that walking the sort index
// beats sorting 20,000 matches. Running ANALYZE would not settle it either:
// sqlite_stat1 has no histogram of custom values. So each condition that an
// index serves is first probed (a count of its first probeCap matches, a
// few hundred microseconds), and then:
//
//   - the count comes from the most selective condition's index range, the
//     others checked per row (with one condition on a value index, a
//     covering count of that range);
//   - the page starts from that condition's matches when they are few,
//     else walks the sort order's index checking each row until the page is
//     full (LIMIT stops it).
//
// Queries per page: the value-index list and the definitions (only when a
// custom field is named), one probe per indexed condition, the count, the
// page ids (two for an ascending custom sort whose page reaches the
// contacts without a value), the page's records and their custom values.
func (s *Service) Search(q Query) (*Result, error) {
	b, sp, err := s.build(q)
	if err != nil {
		return nil, err
	}
	res := &Result{Page: q.Page, PerPage: q.PerPage, Items: json.RawMessage("[]")}
	best, none, err := s.pickDriver(b)
	if err != nil {
		return nil, err
	}
	if none {
		res.Count = "probe"
		return res, nil // nothing can match
	}

	switch {
	case len(b.conds) == 0:
		// the whole workspace: its kept count (counts.go), not an O(n)
		// count of an index
		n, err := counts.ContactCount(s.app.DB(), q.Workspace)
		if err != nil {
			return nil, fmt.Errorf("search count: %w", err)
		}
		res.TotalItems, res.Count = n, "workspace"
	case len(b.conds) == 1 && b.conds[0].kept != nil:
		// one select value: its kept count (counts/values.go), when the
		// field is counted in the workspace
		k := b.conds[0].kept
		n, ok, err := counts.ValueCount(s.app.DB(), q.Workspace, k.field, k.value)
		if err != nil {
			return nil, fmt.Errorf("search count: %w", err)
		}
		if ok {
			res.TotalItems, res.Count = n, "value"
		}
	}
	if res.Count == "" {
		res.Count = "index"
		count := b.planFrom(best, "")
		if err := s.app.DB().NewQuery(`SELECT COUNT(*) FROM ` + count.from + ` WHERE ` + count.where).Bind(b.params).Row(&res.TotalItems); err != nil {
			return nil, fmt.Errorf("search count: %w", err)
		}
	}
	res.TotalPages = (res.TotalItems + q.PerPage - 1) / q.PerPage
	offset := (q.Page - 1) * q.PerPage
	if offset >= res.TotalItems {
		return res, nil
	}

	walk := sp.index != "" && (best < 0 || (b.conds[best].index != sp.index && walkPays(res.TotalItems, offset+q.PerPage)))
	page := b.planFrom(best, "") // from the matches (or, when the filter's index is the sort's, in order)
	switch {
	case walk:
		page = b.planFrom(-1, sp.index)
		res.Plan = "walk " + sp.index
	case best >= 0 && b.conds[best].index != "":
		res.Plan = "index " + b.conds[best].index
	case best >= 0:
		res.Plan = "ids " + b.conds[best].what
	default:
		res.Plan = "scan"
	}
	if walk && !sp.nullsLast {
		// the walk emits rows in page order with no sort: it can write
		// the items itself (items.go), one query instead of two
		if done, err := s.walkItems(res, b, page, sp, offset, q.PerPage); done || err != nil {
			return res, err
		}
	}
	ids, err := s.pageIDs(b, page, sp, walk, offset, q.PerPage)
	if err != nil {
		return nil, err
	}
	res.IDs = ids
	res.Items, err = s.items(ids)
	return res, err
}

// build parses q's conditions and sort into SQL (the checks, id sets,
// probes and index ranges of each condition). It reads the definitions and
// value indexes only when q names a custom field.
func (s *Service) build(q Query) (*sqlBuilder, sortSpec, error) {
	lit, err := customfields.WorkspaceLiteral(q.Workspace)
	if err != nil {
		return nil, sortSpec{}, invalid("workspace: " + err.Error())
	}
	b := &sqlBuilder{params: dbx.Params{"ws": q.Workspace, "cap": probeCap}, nonNull: map[string]bool{}, ws: q.Workspace, wsLit: lit}
	var defs map[string]fieldDef
	loadDefs := func() (map[string]fieldDef, error) {
		if defs != nil {
			return defs, nil
		}
		var err error
		if defs, err = s.definitions(q.Workspace); err != nil {
			return nil, err
		}
		b.valueIdx, err = customfields.ValueIndexes(s.app, q.Workspace)
		return defs, err
	}
	b.termCondition(q.Q, q.Match)
	if q.List != "" {
		p := b.param(q.List)
		idset := `SELECT a.contact FROM contact_list_assignments a WHERE a.list = ` + p
		b.conds = append(b.conds, cond{
			check: `EXISTS (SELECT 1 FROM contact_list_assignments a WHERE a.contact = c.id AND a.list = ` + p + `)`,
			idset: idset,
			what:  "list",
			probe: `SELECT count(*) FROM (` + idset + ` LIMIT {:cap})`,
		})
	}
	b.listConditions(q)
	for _, f := range q.Filters {
		if text, ok := baseColumns[f.Field]; ok && !f.Custom {
			if err := b.baseCondition(f, text); err != nil {
				return nil, sortSpec{}, err
			}
			continue
		}
		all, err := loadDefs()
		if err != nil {
			return nil, sortSpec{}, err
		}
		d, ok := all[f.Field]
		if !ok {
			return nil, sortSpec{}, unknownField(f.Field)
		}
		if err := b.customCondition(f, d); err != nil {
			return nil, sortSpec{}, err
		}
	}
	sp, err := b.sortBy(q.Sort, loadDefs)
	if err != nil {
		return nil, sortSpec{}, err
	}
	b.mergeRanges()
	return b, sp, nil
}

// listConditions adds a segment's list conditions. Each "in list" is an id
// set the planner may drive from (its probe counts the list's members); "not
// in" lists are checks only.
func (b *sqlBuilder) listConditions(q Query) {
	in := func(ids []string) string {
		ps := make([]string, len(ids))
		for i, id := range ids {
			ps[i] = b.param(id)
		}
		return strings.Join(ps, ", ")
	}
	member := func(lists string, what string) {
		idset := `SELECT a.contact FROM contact_list_assignments a WHERE a.list IN (` + lists + `)`
		b.conds = append(b.conds, cond{
			check: `EXISTS (SELECT 1 FROM contact_list_assignments a WHERE a.contact = c.id AND a.list IN (` + lists + `))`,
			idset: idset,
			what:  what,
			probe: `SELECT count(*) FROM (` + idset + ` LIMIT {:cap})`,
		})
	}
	if len(q.ListsAny) > 0 {
		member(in(q.ListsAny), "lists_any")
	}
	for _, id := range q.ListsAll {
		member(in([]string{id}), "lists_all")
	}
	if len(q.ExcludeLists) > 0 {
		b.conds = append(b.conds, cond{
			check: `NOT EXISTS (SELECT 1 FROM contact_list_assignments a WHERE a.contact = c.id AND a.list IN (` + in(q.ExcludeLists) + `))`,
		})
	}
}

// pickDriver probes each condition an index or id set serves and returns
// the most selective one (-1 when none is probed), or none when a probe
// found no match at all (nothing can match).
func (s *Service) pickDriver(b *sqlBuilder) (best int, none bool, err error) {
	best, bestN := -1, math.MaxInt
	for i, c := range b.conds {
		if c.index == "" && c.probe == "" {
			continue
		}
		probe := c.probe
		if c.index != "" {
			probe = `SELECT count(*) FROM (SELECT 1 FROM contacts c INDEXED BY ` + c.index +
				` WHERE c.workspace = ` + b.wsLit + ` AND ` + c.check + ` LIMIT {:cap})`
		}
		var n int
		if err := s.app.DB().NewQuery(probe).Bind(b.params).Row(&n); err != nil {
			return -1, false, fmt.Errorf("search probe: %w", err)
		}
		if n < bestN {
			best, bestN = i, n
		}
		if n == 0 {
			return best, true, nil
		}
	}
	return best, false, nil
}

// walkPays says whether walking the sort index (reading about
// need·n/total rows for a page ending at row need) beats reading all total
// matches and sorting them. n is unknown (counting it costs a scan), so the
// rule is the cheaper test: many matches (≥ probeCap) and a page within the
// first eighth of them.
func walkPays(total, need int) bool {
	return total >= probeCap && need*8 <= total
}

// mergeRanges joins conditions on the same value index (the two ends of a
// range) into one, so the range is one index seek and one probe, and
// writes each one's check from its parts.
func (b *sqlBuilder) mergeRanges() {
	var out []cond
	at := map[string]int{}
	for _, c := range b.conds {
		if c.index != "" {
			if i, ok := at[c.index]; ok {
				m := &out[i]
				m.kept = nil // two conditions: no one value's count
				m.lo, m.hi = append(m.lo, c.lo...), append(m.hi, c.hi...)
				m.defLo, m.defHi = max(m.defLo, c.defLo), max(m.defHi, c.defHi)
				if c.check != "" {
					m.check = strings.TrimPrefix(m.check+" AND "+c.check, " AND ")
				}
				continue
			}
			at[c.index] = len(out)
		}
		out = append(out, c)
	}
	for i := range out {
		c := &out[i]
		if len(c.lo) == 0 && len(c.hi) == 0 {
			continue // not a range
		}
		parts := append(append([]string{}, c.lo...), c.hi...)
		if len(c.lo) == 0 && c.defLo != "" {
			parts = append(parts, c.defLo)
		}
		if len(c.hi) == 0 && c.defHi != "" {
			parts = append(parts, c.defHi)
		}
		if c.check != "" {
			parts = append(parts, c.check)
		}
		c.check = strings.Join(parts, " AND ")
	}
	b.conds = out
}

// planFrom builds the FROM and WHERE of a query driven by condition drive
// (-1 for none), or walking index walkIndex.
func (b *sqlBuilder) planFrom(drive int, walkIndex string) plan {
	ws := "c.workspace = " + b.wsLit
	var checks []string
	var from = "contacts c"
	switch {
	case walkIndex != "":
		from += " INDEXED BY " + walkIndex
	case drive >= 0 && b.conds[drive].index != "":
		from += " INDEXED BY " + b.conds[drive].index
	case drive >= 0:
		// an id set drives: look each id up by primary key. The unary +
		// takes the workspace out of index selection, which SQLite would
		// otherwise prefer without statistics, probing the id set for each
		// of the workspace's n contacts.
		ws = "+" + ws
		checks = append(checks, `c.id IN (`+b.conds[drive].idset+`)`)
	}
	for i, c := range b.conds {
		if i == drive && c.index == "" {
			continue // the IN above
		}
		checks = append(checks, c.check)
	}
	return plan{from: from, where: strings.Join(append([]string{ws}, checks...), "\n AND ")}
}

// pageIDs reads the ids of one page.
func (s *Service) pageIDs(b *sqlBuilder, p plan, sp sortSpec, walk bool, offset, limit int) ([]string, error) {
	run := func(where, order string, offset, limit int) ([]string, error) {
		params := dbx.Params{"limit": limit, "offset": offset}
		for k, v := range b.params {
			params[k] = v
		}
		var ids []string
		err := s.app.DB().NewQuery(`SELECT c.id FROM ` + p.from + ` WHERE ` + where + ` ORDER BY ` + order + ` LIMIT {:limit} OFFSET {:offset}`).
			Bind(params).Column(&ids)
		if err != nil {
			return nil, fmt.Errorf("search page: %w", err)
		}
		return ids, nil
	}
	if !walk || !sp.nullsLast {
		return run(p.where, sp.order, offset, limit)
	}
	// Walking a value index ascending with NULLS LAST: the index holds the
	// NULLs first, so read the values in index order, then (if the page
	// reaches them) the contacts without a value; ties by rowid, as sortBy
	// breaks them on every other path (ids are random: an id order would
	// differ from the plan without the index, and from the export).
	withValue := p.where + "\n AND " + sp.expr + " IS NOT NULL"
	ids, err := run(withValue, sp.expr+" COLLATE NOCASE ASC, c.rowid ASC", offset, limit)
	if err != nil || len(ids) == limit {
		return ids, err
	}
	var k int
	if err := s.app.DB().NewQuery(`SELECT COUNT(*) FROM ` + p.from + ` WHERE ` + withValue).Bind(b.params).Row(&k); err != nil {
		return nil, fmt.Errorf("search count: %w", err)
	}
	rest, err := run(p.where+"\n AND "+sp.expr+" IS NULL", sp.nullOrder, max(0, offset-k), limit-len(ids))
	return append(ids, rest...), err
}
