package search

import (
	"fmt"

	"github.com/pocketbase/dbx"
)

// Selection is every contact a query selects, in the query's sort order,
// without pages: what an export reads (and, next, a campaign segment). It
// is planned by the same code as a page of Search (build, pickDriver,
// planFrom), so both return the same contacts in the same order.
type Selection struct {
	s    *Service
	b    *sqlBuilder
	sp   sortSpec
	p    plan
	walk bool
	none bool
	// Plan says how the rows are read, as Result.Plan does ("none" when a
	// probe found that nothing matches).
	Plan string
}

// Select plans q for reading all its matches (q.Page and q.PerPage are
// ignored). It parses the conditions and runs the probes, so an invalid
// query is an error here, before any row is read. The caller has checked
// that the requester may read q's workspace.
//
// Every match is read, so walking the sort order's index (which reads the
// whole workspace) pays only when no condition narrows the read: with an
// index- or id-set-backed condition the query starts from the most
// selective one and SQLite sorts its matches (O(m log m) for m matches,
// never worse than a walk by more than the log), unless that condition's
// own index already yields the order.
func (s *Service) Select(q Query) (*Selection, error) {
	b, sp, err := s.build(q)
	if err != nil {
		return nil, err
	}
	best, none, err := s.pickDriver(b)
	if err != nil {
		return nil, err
	}
	sel := &Selection{s: s, b: b, sp: sp, none: none}
	switch {
	case none:
		sel.Plan = "none"
	case sp.index != "" && best < 0:
		sel.walk = true
		sel.p = b.planFrom(-1, sp.index)
		sel.Plan = "walk " + sp.index
	default:
		sel.p = b.planFrom(best, "")
		switch {
		case best >= 0 && b.conds[best].index != "":
			sel.Plan = "index " + b.conds[best].index
		case best >= 0:
			sel.Plan = "ids " + b.conds[best].what
		default:
			sel.Plan = "scan"
		}
	}
	return sel, nil
}

// Rows streams the selected contacts in order: cols is a select list over
// the contacts table aliased c (written by the caller's code, never taken
// from input), and fn is called once per row to scan it. It stops at fn's
// first error and returns it.
func (sel *Selection) Rows(cols string, fn func(*dbx.Rows) error) error {
	if sel.none {
		return nil
	}
	run := func(where, order string) error { return sel.stream(cols, where, order, fn) }
	if !sel.walk || !sel.sp.nullsLast {
		return run(sel.p.where, sel.sp.order)
	}
	// walking a value index ascending with NULLS LAST (as pageIDs): the
	// values in index order, then the contacts without one
	sp := sel.sp
	if err := run(sel.p.where+"\n AND "+sp.expr+" IS NOT NULL", sp.expr+" COLLATE NOCASE ASC, c.rowid ASC"); err != nil {
		return err
	}
	return run(sel.p.where+"\n AND "+sp.expr+" IS NULL", sp.nullOrder)
}

// RowsByID is Rows in the order of the contacts' ids rather than the
// selection's own (one sort of the selected rows; see
// campaigns.RecipientsByID for why a campaign's ledger wants it).
func (sel *Selection) RowsByID(cols string, fn func(*dbx.Rows) error) error {
	if sel.none {
		return nil
	}
	return sel.stream(cols, sel.p.where, "c.id", fn)
}

// stream runs the selection's statement with where and order and calls fn
// per row.
func (sel *Selection) stream(cols, where, order string, fn func(*dbx.Rows) error) error {
	rows, err := sel.s.app.DB().NewQuery(`SELECT ` + cols + ` FROM ` + sel.p.from + ` WHERE ` + where + ` ORDER BY ` + order).
		Bind(sel.b.params).Rows()
	if err != nil {
		return fmt.Errorf("search rows: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// IDs returns the ids of every selected contact, in order.
func (sel *Selection) IDs() ([]string, error) {
	var ids []string
	err := sel.Rows("c.id", func(r *dbx.Rows) error {
		var id string
		if err := r.Scan(&id); err != nil {
			return err
		}
		ids = append(ids, id)
		return nil
	})
	return ids, err
}
