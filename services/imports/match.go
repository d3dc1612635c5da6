// The matching stage: a batch's rows are looked up by normalised email and
// phone among the workspace's contacts (and the rows earlier batches wrote).

package imports

import (
	"fmt"

	"github.com/pocketbase/dbx"
)

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
		return nil, &RowError{Row: p.row, Code: RowAmbiguous, Message: fmt.Sprintf("the email matches contact %s but the phone matches contact %s: merge them first or fix the row", a.ID, b.ID)}
	}
	if a != nil {
		return a, nil
	}
	return b, nil
}
