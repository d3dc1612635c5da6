package insights

import (
	"fmt"
	"time"

	"github.com/pi-crm/pi-crm/services/duplicates"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// The contacts metrics. Each is one or two indexed queries over the
// workspace's rows (contacts by (workspace, created), assignments by contact,
// timeline by (contact, timestamp)): the cost grows with the workspace's
// contacts, never with the whole database.

// measure is the input every metric reads: the workspace, the moment of the
// run (windows end there) and the reader (the app or a transaction).
type measure struct {
	db  core.App
	ws  string
	now time.Time
}

func (m measure) q(sql string, p dbx.Params) *dbx.Query {
	if p == nil {
		p = dbx.Params{}
	}
	p["ws"] = m.ws
	return m.db.DB().NewQuery(sql).Bind(p)
}

func (m measure) ago(days int) string { return stamp(m.now.AddDate(0, 0, -days)) }

// contactTotals: the contacts and those without an email or phone (one scan
// of the workspace's rows).
type contactTotals struct {
	Total   int `db:"total"`
	NoEmail int `db:"no_email"`
	NoPhone int `db:"no_phone"`
}

func (m measure) totals() (contactTotals, error) {
	var t contactTotals
	err := m.q(`SELECT COUNT(*) AS total, COALESCE(SUM(primary_email = ''), 0) AS no_email, COALESCE(SUM(primary_phone = ''), 0) AS no_phone
		FROM contacts WHERE workspace = {:ws}`, nil).One(&t)
	return t, err
}

// contactsAdded: added in the last 7 and 30 days against the periods before,
// and the series of the last 30 days (UTC days, oldest first: added that day
// and the contacts there were at its end).
func (m measure) contactsAdded(total int) (Metric, error) {
	// counts of ranges of the (workspace, created) index, each an index-only
	// range walk: no row is read and nothing is sorted (a GROUP BY of the
	// day would sort every contact of the last 60 days)
	count := func(from, to time.Time) (int, error) {
		var n int
		err := m.q(`SELECT COUNT(*) FROM contacts WHERE workspace = {:ws} AND created >= {:from} AND created < {:to}`,
			dbx.Params{"from": stamp(from), "to": stamp(to)}).Row(&n)
		return n, err
	}
	var c struct{ Last7, Prev7, Last30, Prev30 int }
	end := m.now.AddDate(100, 0, 0) // open-ended: a clock ahead of ours still counts
	for _, w := range []struct {
		n        *int
		from, to time.Time
	}{{&c.Last7, m.now.AddDate(0, 0, -7), end}, {&c.Prev7, m.now.AddDate(0, 0, -14), m.now.AddDate(0, 0, -7)},
		{&c.Last30, m.now.AddDate(0, 0, -30), end}, {&c.Prev30, m.now.AddDate(0, 0, -60), m.now.AddDate(0, 0, -30)}} {
		n, err := count(w.from, w.to)
		if err != nil {
			return Metric{}, err
		}
		*w.n = n
	}
	today := time.Date(m.now.UTC().Year(), m.now.UTC().Month(), m.now.UTC().Day(), 0, 0, 0, 0, time.UTC)
	first := today.AddDate(0, 0, -29)
	byDay := map[string]int{}
	after := 0 // added from the start of the series on
	for d := first; !d.After(today); d = d.AddDate(0, 0, 1) {
		n, err := count(d, d.AddDate(0, 0, 1))
		if err != nil {
			return Metric{}, err
		}
		byDay[d.Format("2006-01-02")] = n
		after += n
	}
	series := make([]map[string]any, 0, 30)
	running := total - after // contacts there were before the series starts
	for d := first; !d.After(today); d = d.AddDate(0, 0, 1) {
		day := d.Format("2006-01-02")
		running += byDay[day]
		series = append(series, map[string]any{"day": day, "added": byDay[day], "total": running})
	}
	dir, pct := trend(c.Last7, c.Prev7)
	content := fmt.Sprintf("%s added in the last 7 days (%s the 7 days before%s); %s in the last 30 days, %s in all.",
		plural(c.Last7, "contact", "contacts"), num(c.Prev7), trendWords(dir, pct), num(c.Last30), num(total))
	return Metric{Type: TypeContactsAdded, Area: AreaContacts, Value: float64(c.Last7), Content: content, Data: map[string]any{
		"total": total, "last7": c.Last7, "prev7": c.Prev7, "last30": c.Last30, "prev30": c.Prev30,
		"trend": dir, "change_pct": pct, "daily": series,
	}}, nil
}

// lists: every list of the workspace with its size (assignments), largest first.
func (m measure) listSizes() (Metric, error) {
	var rows []struct {
		ID        string `db:"id" json:"id"`
		Name      string `db:"name" json:"name"`
		IsPrimary bool   `db:"is_primary" json:"is_primary"`
		Size      int    `db:"size" json:"size"`
	}
	err := m.q(`SELECT l.id, l.name, l.is_primary, (SELECT COUNT(*) FROM contact_list_assignments a WHERE a.list = l.id) AS size
		FROM contact_lists l WHERE l.workspace = {:ws} ORDER BY size DESC, l.name`, nil).All(&rows)
	if err != nil {
		return Metric{}, err
	}
	content := "No lists yet: lists sort contacts for campaigns."
	if len(rows) > 0 {
		content = fmt.Sprintf("%s; the largest, %s, holds %s.", plural(len(rows), "list", "lists"), rows[0].Name, plural(rows[0].Size, "contact", "contacts"))
	}
	lists := make([]any, len(rows))
	for i, r := range rows {
		lists[i] = r
	}
	return Metric{Type: TypeListSizes, Area: AreaContacts, Value: float64(len(rows)), Content: content, Data: map[string]any{"lists": lists}}, nil
}

// share is a count of total as a metric.
func share(typ, what string, n, total int) Metric {
	pct := 0.0
	if total > 0 {
		pct = round1(100 * float64(n) / float64(total))
	}
	return Metric{Type: typ, Area: AreaContacts, Value: float64(n),
		Content: fmt.Sprintf("%s of %s %s (%s%%).", num(n), num(total), what, fmt1(pct)),
		Data:    map[string]any{"count": n, "total": total, "pct": pct}}
}

func (m measure) withoutPrimaryList(total int) (Metric, error) {
	var n int
	err := m.q(`SELECT COUNT(*) FROM contacts c WHERE c.workspace = {:ws}
		AND NOT EXISTS (SELECT 1 FROM contact_list_assignments a WHERE a.contact = c.id AND a.is_primary = TRUE)`, nil).Row(&n)
	return share(TypeNoPrimaryList, "contacts have no primary list", n, total), err
}

// notContacted: contacts without an email, SMS, call or meeting on their
// timeline in the last 90 days (notes and system entries are not contact).
func (m measure) notContacted(total int) (Metric, error) {
	var n int
	err := m.q(`SELECT COUNT(*) FROM contacts c WHERE c.workspace = {:ws}
		AND NOT EXISTS (SELECT 1 FROM communication_logs l WHERE l.contact = c.id AND l.timestamp >= {:since}
			AND l.type IN ('email', 'sms', 'call', 'meeting'))`, dbx.Params{"since": m.ago(notContactedDays)}).Row(&n)
	mt := share(TypeNotContacted, "contacts were not contacted in the last 90 days", n, total)
	mt.Data["days"] = notContactedDays
	return mt, err
}

// duplicates: the duplicate finder's groups (brought up to date first, as
// its page does) by reason.
func (m measure) duplicates() (Metric, error) {
	res, err := duplicates.NewService(m.db).Duplicates(m.ws, 1, 1)
	if err != nil {
		return Metric{}, err
	}
	// the finder's own table of found groups (services/duplicates, kept by
	// its refresh above): counted by reason, keys never read
	var rows []struct {
		Reason string `db:"reason"`
		N      int    `db:"n"`
	}
	if err := m.q(`SELECT reason, COUNT(*) AS n FROM crm_match_found WHERE workspace = {:ws} GROUP BY reason`, nil).All(&rows); err != nil {
		return Metric{}, err
	}
	by := map[string]any{}
	for _, r := range rows {
		by[r.Reason] = r.N
	}
	content := "No likely duplicates."
	if res.TotalItems > 0 {
		content = fmt.Sprintf("%s of likely duplicates: review them in Merge.", plural(res.TotalItems, "group", "groups"))
	}
	return Metric{Type: TypeDuplicates, Area: AreaContacts, Value: float64(res.TotalItems), Content: content,
		Data: map[string]any{"groups": res.TotalItems, "by_reason": by}}, nil
}

// suppressions: added in the last 7 and 30 days, by reason, and in all.
func (m measure) suppressions() (Metric, error) {
	var rows []struct {
		Reason string `db:"reason"`
		All    int    `db:"n_all"`
		Last30 int    `db:"n30"`
		Last7  int    `db:"n7"`
	}
	if err := m.q(`SELECT reason, COUNT(*) AS n_all, COALESCE(SUM(created >= {:d30}), 0) AS n30, COALESCE(SUM(created >= {:d7}), 0) AS n7
		FROM suppressions WHERE workspace = {:ws} GROUP BY reason ORDER BY reason`, dbx.Params{"d30": m.ago(30), "d7": m.ago(7)}).All(&rows); err != nil {
		return Metric{}, err
	}
	var all, last30, last7 int
	by := map[string]any{}
	for _, r := range rows {
		all, last30, last7 = all+r.All, last30+r.Last30, last7+r.Last7
		if r.Last30 > 0 {
			by[r.Reason] = r.Last30
		}
	}
	return Metric{Type: TypeSuppressions, Area: AreaContacts, Value: float64(last30),
		Content: fmt.Sprintf("%s added in the last 30 days (%s in the last 7); %s in all.", plural(last30, "suppression", "suppressions"), num(last7), num(all)),
		Data:    map[string]any{"last7": last7, "last30": last30, "total": all, "by_reason_30d": by}}, nil
}

// importErrors: the import jobs of the last 30 days, their failed rows and
// the jobs that failed as a whole.
func (m measure) importErrors() (Metric, error) {
	var rows []struct {
		ID      string `db:"id"`
		Status  string `db:"status"`
		Failed  int    `db:"failed"`
		Created string `db:"created"`
	}
	if err := m.q(`SELECT id, status, CAST(COALESCE(json_extract(counts, '$.failed'), 0) AS INTEGER) AS failed, created
		FROM import_jobs WHERE workspace = {:ws} AND created >= {:d30} ORDER BY created DESC`, dbx.Params{"d30": m.ago(30)}).All(&rows); err != nil {
		return Metric{}, err
	}
	var failedRows, failedJobs int
	recent := []any{}
	for _, r := range rows {
		failedRows += r.Failed
		if r.Status == "failed" {
			failedJobs++
		}
		if (r.Failed > 0 || r.Status == "failed") && len(recent) < 10 {
			recent = append(recent, map[string]any{"id": r.ID, "status": r.Status, "failed": r.Failed, "created": r.Created})
		}
	}
	content := fmt.Sprintf("%s in the last 30 days", plural(len(rows), "import", "imports"))
	switch {
	case failedRows > 0 || failedJobs > 0:
		content += fmt.Sprintf(": %s refused, %s failed as a whole.", plural(failedRows, "row", "rows"), plural(failedJobs, "job", "jobs"))
	default:
		content += ", without errors."
	}
	return Metric{Type: TypeImportErrors, Area: AreaContacts, Value: float64(failedRows), Content: content,
		Data: map[string]any{"jobs": len(rows), "failed_rows": failedRows, "failed_jobs": failedJobs, "with_errors": recent}}, nil
}
