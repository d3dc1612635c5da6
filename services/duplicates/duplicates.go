// Package duplicates is the duplicate finder: the match keys that SQLite
// triggers keep for every contact (matchkeys.go), and the groups of likely
// duplicates built from them and paged by GET /api/crm/workspaces/{id}/duplicates
// (duplicates.go).
package duplicates

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// Service reads the duplicate groups of a workspace.
type Service struct{ app core.App }

// NewService returns the duplicate finder on app.
func NewService(app core.App) *Service { return &Service{app: app} }

// Reasons a group of contacts is reported, with their scores (how likely the
// group is one person).
const (
	ReasonEmail       = "same_email"
	ReasonPhone       = "same_phone"
	ReasonNameCompany = "same_name_company"
	ReasonNameDomain  = "same_name_email_domain"
	ReasonSimilarName = "similar_name"
)

var scores = map[string]float64{
	ReasonEmail:       0.95,
	ReasonPhone:       0.9,
	ReasonNameCompany: 0.85,
	ReasonNameDomain:  0.75,
	ReasonSimilarName: 0.6,
}

// freeMail domains say little about who someone is: a shared name at one of
// them scores lower than at a company domain.
var freeMail = map[string]bool{
	"gmail.com": true, "googlemail.com": true, "yahoo.com": true, "hotmail.com": true, "outlook.com": true,
	"live.com": true, "icloud.com": true, "me.com": true, "aol.com": true, "gmx.com": true, "gmx.de": true,
	"web.de": true, "proton.me": true, "protonmail.com": true, "mail.com": true, "yandex.ru": true,
}

// maxFuzzyBucket bounds the pairwise comparison of first names inside one
// (last name, initial) bucket: a bucket larger than this (a very common name)
// is skipped rather than costing O(k²).
const maxFuzzyBucket = 200

// Group is a set of contacts that are likely one person.
type Group struct {
	Reason   string   `json:"reason"`
	Score    float64  `json:"score"`
	Key      string   `json:"key"`
	Contacts []string `json:"contacts"`
}

// DuplicatesResult is a page of groups, shaped like a PocketBase list.
type DuplicatesResult struct {
	Page       int     `json:"page"`
	PerPage    int     `json:"perPage"`
	TotalItems int     `json:"totalItems"`
	TotalPages int     `json:"totalPages"`
	Items      []Group `json:"items"`
}

// Duplicates returns page page of the groups of likely duplicates in
// workspace ws, best score first (then reason and key).
//
// Cost: the groups are precomputed (see matchkeys.go). A read first brings
// the groups whose members changed since the last read up to date (nothing,
// or a few groups, after ordinary edits: O(changed groups); after a bulk
// import or the backfill, once, all of them), then counts the workspace's
// found groups (an index-only count) and reads one page of them by the page
// index: O(found groups) for the count, O(offset + perPage) for the page,
// independent of the number of contacts.
func (s *Service) Duplicates(ws string, page, perPage int) (*DuplicatesResult, error) {
	var dirty []string
	// a change logged, or keys a bulk write deferred (pending.go)
	if err := s.app.DB().NewQuery(`SELECT workspace FROM ` + changesTable + ` WHERE workspace = {:ws}
		UNION ALL SELECT workspace FROM ` + pendingTable + ` WHERE workspace = {:ws} LIMIT 1`).
		Bind(dbx.Params{"ws": ws}).Column(&dirty); err != nil {
		return nil, fmt.Errorf("duplicates: %w", err)
	}
	if len(dirty) > 0 {
		if err := s.app.RunInTransaction(func(tx core.App) error { return RefreshDuplicates(tx, ws) }); err != nil {
			return nil, err
		}
	}
	res := &DuplicatesResult{Page: page, PerPage: perPage, Items: []Group{}}
	if err := s.app.DB().NewQuery(`SELECT COUNT(*) FROM ` + foundTable + ` WHERE workspace = {:ws}`).
		Bind(dbx.Params{"ws": ws}).Row(&res.TotalItems); err != nil {
		return nil, fmt.Errorf("duplicates: %w", err)
	}
	res.TotalPages = (res.TotalItems + perPage - 1) / perPage
	from := (page - 1) * perPage
	if from >= res.TotalItems {
		return res, nil
	}
	var rows []struct {
		Reason string  `db:"reason"`
		Key    string  `db:"key"`
		Score  float64 `db:"score"`
		IDs    string  `db:"ids"`
	}
	// the offset is walked in the page index alone (covering); only the
	// page's own rows are then read for their ids (CROSS JOIN: SQLite keeps
	// that order, page first)
	if err := s.app.DB().NewQuery(`SELECT f.reason, f.key, f.score, f.ids FROM
		(SELECT reason, key FROM ` + foundTable + ` WHERE workspace = {:ws} ORDER BY score DESC, reason, key LIMIT {:limit} OFFSET {:offset}) p
		CROSS JOIN ` + foundTable + ` f ON f.workspace = {:ws} AND f.reason = p.reason AND f.key = p.key
		ORDER BY f.score DESC, f.reason, f.key`).
		Bind(dbx.Params{"ws": ws, "limit": perPage, "offset": from}).All(&rows); err != nil {
		return nil, fmt.Errorf("duplicates: %w", err)
	}
	for _, r := range rows {
		key, _, _ := strings.Cut(r.Key, "\x1f") // similar_name: bucket \x1f first member
		res.Items = append(res.Items, Group{Reason: r.Reason, Score: r.Score, Key: key, Contacts: strings.Split(r.IDs, ",")})
	}
	return res, nil
}

// refreshBatch bounds the groups handled per statement.
const refreshBatch = 500

// RefreshDuplicates rebuilds the found groups of workspace ws whose members
// changed since the last refresh (the change log), after writing any keys a
// bulk write deferred (SettleKeys); app should be a transaction. Reasons are handled best score first: a group whose members
// change logs the lower-scored groups of its members as changed too, since
// whether those equal it (and are dropped as the same finding) may have
// changed.
//
// From fullRebuildAt logged changes on it calls RebuildDuplicates instead.
// An importer may call either right after a bulk import so the first page
// read does not pay for it; it is never required (Duplicates calls it).
func RefreshDuplicates(app core.App, ws string) error {
	if _, err := SettleKeys(app.DB(), ws, 0); err != nil {
		return fmt.Errorf("refresh duplicates: %w", err)
	}
	var pending int
	if err := app.DB().NewQuery(`SELECT COUNT(*) FROM (SELECT 1 FROM ` + changesTable + ` WHERE workspace = {:ws} LIMIT {:n})`).
		Bind(dbx.Params{"ws": ws, "n": fullRebuildAt}).Row(&pending); err != nil {
		return fmt.Errorf("refresh duplicates: %w", err)
	}
	if pending >= fullRebuildAt {
		if err := RebuildDuplicates(app, ws); err != nil {
			return fmt.Errorf("refresh duplicates: %w", err)
		}
		return nil
	}
	r := &refresher{app: app, ws: ws}
	for {
		rows, err := app.DB().NewQuery(`SELECT id, k0, k1, k2, k3, k4 FROM ` + changesTable + ` WHERE workspace = {:ws} ORDER BY id LIMIT 1000`).
			Bind(dbx.Params{"ws": ws}).Rows()
		if err != nil {
			return fmt.Errorf("refresh duplicates: %w", err)
		}
		changed := make([]map[string]bool, len(reasonOrder)) // per reason, the keys to rebuild
		for i := range changed {
			changed[i] = map[string]bool{}
		}
		var last int64
		n := 0
		for rows.Next() {
			var k [5]*string
			if err := rows.Scan(&last, &k[0], &k[1], &k[2], &k[3], &k[4]); err != nil {
				rows.Close()
				return fmt.Errorf("refresh duplicates: %w", err)
			}
			for i, v := range k {
				if v != nil {
					changed[i][*v] = true
				}
			}
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("refresh duplicates: %w", err)
		}
		if n == 0 {
			return nil
		}
		// best reason first: rebuilding a group adds the lower-scored
		// groups of its members to changed
		for i := range reasonOrder {
			keys := make([]string, 0, len(changed[i]))
			for k := range changed[i] {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for start := 0; start < len(keys); start += refreshBatch {
				if err := r.rebuild(i, keys[start:min(start+refreshBatch, len(keys))], changed); err != nil {
					return fmt.Errorf("refresh duplicates %s: %w", reasonOrder[i], err)
				}
			}
		}
		if _, err := app.DB().NewQuery(`DELETE FROM ` + changesTable + ` WHERE workspace = {:ws} AND id <= {:last}`).
			Bind(dbx.Params{"ws": ws, "last": last}).Execute(); err != nil {
			return fmt.Errorf("refresh duplicates: %w", err)
		}
	}
}

type refresher struct {
	app core.App
	ws  string
}

// bindList binds values as one JSON array parameter and returns the SQL
// list of them: one parameter, since the driver binds in O(params²).
func bindList(p dbx.Params, name string, values []string) string {
	b, _ := json.Marshal(values)
	p[name] = string(b)
	return `SELECT value FROM json_each({:` + name + `})`
}

// rebuild replaces the found rows of the given changed groups of reason
// reasonOrder[ri].
func (r *refresher) rebuild(ri int, keys []string, changed []map[string]bool) error {
	reason := reasonOrder[ri]
	db := r.app.DB()
	p := dbx.Params{"ws": r.ws, "r": reason}
	in := bindList(p, "k", keys)
	if reason == ReasonSimilarName {
		// found rows are keyed bucket \x1f first member: one range per bucket
		del := db.NewQuery(`DELETE FROM ` + foundTable + ` WHERE workspace = {:ws} AND reason = {:r} AND key >= {:lo} AND key < {:hi}`).Prepare()
		defer del.Close()
		for _, k := range keys {
			if _, err := del.Bind(dbx.Params{"ws": r.ws, "r": reason, "lo": k + "\x1f", "hi": k + "\x20"}).Execute(); err != nil {
				return err
			}
		}
	} else if _, err := db.NewQuery(`DELETE FROM ` + foundTable + ` WHERE workspace = {:ws} AND reason = {:r} AND key IN (` + in + `)`).Bind(p).Execute(); err != nil {
		return err
	}
	var members []struct {
		Key     string `db:"key"`
		Contact string `db:"contact"`
		Detail  string `db:"detail"`
	}
	if err := db.NewQuery(`SELECT key, contact, detail FROM ` + keysTable + ` WHERE workspace = {:ws} AND reason = {:r}
		AND key IN (` + in + `) ORDER BY key, contact`).Bind(p).All(&members); err != nil {
		return err
	}
	byKey := map[string][]int{}
	var order []string
	for i, m := range members {
		if _, ok := byKey[m.Key]; !ok {
			order = append(order, m.Key)
		}
		byKey[m.Key] = append(byKey[m.Key], i)
	}
	// every member of a group's keys for every reason, from its contacts
	// row (the same expressions as the triggers)
	var ids []string
	for _, k := range order {
		if len(byKey[k]) > 1 {
			for _, i := range byKey[k] {
				ids = append(ids, members[i].Contact)
			}
		}
	}
	if len(ids) == 0 {
		return nil
	}
	ck, err := r.contactKeys(ids)
	if err != nil {
		return err
	}
	ins := db.NewQuery(`INSERT OR REPLACE INTO ` + foundTable + ` (workspace, reason, key, score, ids) VALUES ({:ws}, {:r}, {:k}, {:s}, {:ids})`).Prepare()
	defer ins.Close()
	for _, k := range order {
		idx := byKey[k]
		if len(idx) < 2 {
			continue
		}
		var groups []Group
		if reason == ReasonSimilarName {
			entries := make([]string, len(idx))
			for j, i := range idx {
				entries[j] = members[i].Contact + ":" + members[i].Detail
			}
			for _, g := range similarNames(k, entries) {
				g.Key = k + "\x1f" + g.Contacts[0]
				groups = append(groups, g)
			}
		} else {
			g := Group{Reason: reason, Score: scores[reason], Key: k}
			for _, i := range idx {
				g.Contacts = append(g.Contacts, members[i].Contact)
			}
			if reason == ReasonNameDomain && freeMail[k[strings.LastIndex(k, " @ ")+3:]] {
				g.Score = 0.65
			}
			groups = append(groups, g)
		}
		for _, g := range groups {
			shadowed, err := r.shadowed(ri, g.Contacts, ck)
			if err != nil {
				return err
			}
			if shadowed {
				continue
			}
			if _, err := ins.Bind(dbx.Params{"ws": r.ws, "r": reason, "k": g.Key, "s": g.Score, "ids": strings.Join(g.Contacts, ",")}).Execute(); err != nil {
				return err
			}
		}
		// the lower-scored groups of these members may now equal (or no
		// longer equal) this one: have them looked at again
		for _, i := range idx {
			for lower := ri + 1; lower < len(reasonOrder); lower++ {
				if lk, ok := ck[members[i].Contact][reasonOrder[lower]]; ok {
					changed[lower][lk] = true
				}
			}
		}
	}
	return nil
}

// shadowed reports whether the contacts (sorted) are exactly the members of
// a group of a better reason than reasonOrder[ri]: two people sharing email
// and name are one finding, not two.
func (r *refresher) shadowed(ri int, ids []string, ck map[string]map[string]string) (bool, error) {
	for better := 0; better < ri && better < len(reasonOrder); better++ {
		reason := reasonOrder[better]
		if reason == ReasonSimilarName {
			continue
		}
		k, ok := ck[ids[0]][reason]
		if !ok {
			continue
		}
		same := true
		for _, id := range ids[1:] {
			if ck[id][reason] != k {
				same = false
				break
			}
		}
		if !same {
			continue
		}
		var n int
		if err := r.app.DB().NewQuery(`SELECT COUNT(*) FROM ` + keysTable + ` WHERE workspace = {:ws} AND reason = {:r} AND key = {:k}`).
			Bind(dbx.Params{"ws": r.ws, "r": reason, "k": k}).Row(&n); err != nil {
			return false, err
		}
		if n == len(ids) {
			return true, nil
		}
	}
	return false, nil
}

// contactKeys returns, per contact id, its key for every reason that applies.
func (r *refresher) contactKeys(ids []string) (map[string]map[string]string, error) {
	out := make(map[string]map[string]string, len(ids))
	mk := matchKeys("")
	cols := make([]string, 0, len(mk))
	for i, k := range mk {
		cols = append(cols, fmt.Sprintf("CASE WHEN %s THEN %s END AS k%d", k.cond, k.key, i))
	}
	for start := 0; start < len(ids); start += refreshBatch {
		chunk := ids[start:min(start+refreshBatch, len(ids))]
		p := dbx.Params{}
		rows, err := r.app.DB().NewQuery(`SELECT id, ` + strings.Join(cols, ", ") + ` FROM contacts WHERE id IN (` + bindList(p, "i", chunk) + `)`).Bind(p).Rows()
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id string
			vals := make([]*string, len(mk))
			dest := []any{&id}
			for i := range vals {
				dest = append(dest, &vals[i])
			}
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return nil, err
			}
			m := map[string]string{}
			for i, v := range vals {
				if v != nil {
					m[mk[i].reason] = *v
				}
			}
			out[id] = m
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// similarNames splits a bucket (entries "id:first name", same last name and
// initial) into groups of contacts whose first names are at edit distance
// ≤ 1 or where one is only the initial ("J", "J.") of the other.
func similarNames(key string, entries []string) []Group {
	if len(entries) > maxFuzzyBucket {
		return nil
	}
	ids := make([]string, len(entries))
	names := make([]string, len(entries))
	for i, e := range entries {
		ids[i], names[i], _ = strings.Cut(e, ":")
	}
	parent := make([]int, len(entries))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		if parent[i] != i {
			parent[i] = find(parent[i])
		}
		return parent[i]
	}
	for i := range names {
		for j := i + 1; j < len(names); j++ {
			if similarFirst(names[i], names[j]) {
				parent[find(i)] = find(j)
			}
		}
	}
	members := map[int][]int{}
	for i := range ids {
		members[find(i)] = append(members[find(i)], i)
	}
	var out []Group
	for _, m := range members {
		if len(m) < 2 {
			continue
		}
		spellings := map[string]bool{}
		g := Group{Reason: ReasonSimilarName, Score: scores[ReasonSimilarName], Key: key}
		for _, i := range m {
			spellings[names[i]] = true
			g.Contacts = append(g.Contacts, ids[i])
		}
		if len(spellings) < 2 {
			continue // one spelling only: a common name, not evidence
		}
		sort.Strings(g.Contacts)
		out = append(out, g)
	}
	return out
}

func similarFirst(a, b string) bool {
	ia, ib := strings.TrimSuffix(a, "."), strings.TrimSuffix(b, ".")
	if len([]rune(ia)) == 1 || len([]rune(ib)) == 1 {
		return true // same bucket, so same initial
	}
	return editDistanceAtMost1([]rune(a), []rune(b))
}

// editDistanceAtMost1 is the Levenshtein test for distance ≤ 1 in O(len).
func editDistanceAtMost1(a, b []rune) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	if len(b)-len(a) > 1 {
		return false
	}
	i := 0
	for i < len(a) && a[i] == b[i] {
		i++
	}
	if len(a) == len(b) {
		return string(a[i+min(1, len(a)-i):]) == string(b[i+min(1, len(b)-i):])
	}
	return string(a[i:]) == string(b[i+1:])
}

// fullRebuildAt is the number of logged contact writes from which a refresh
// rebuilds all of a workspace's groups in one ordered pass over its keys
// (after a bulk import or the backfill) instead of group by group.
const fullRebuildAt = 5_000

// RebuildDuplicates recomputes every found group of the workspace from one
// scan of its keys in primary-key order (no sort; groups arrive whole), keeping
// in memory only the groups of two or more, which is all the equal-members
// check needs.
func RebuildDuplicates(app core.App, ws string) error {
	type multi struct {
		reason, key string
		contacts    []string
		details     []string
	}
	var groups []*multi
	rows, err := app.DB().NewQuery(`SELECT reason, key, contact, detail FROM ` + keysTable + ` WHERE workspace = {:ws} ORDER BY reason, key, contact`).
		Bind(dbx.Params{"ws": ws}).Rows()
	if err != nil {
		return err
	}
	var cur multi
	flush := func() {
		if len(cur.contacts) > 1 {
			g := cur
			groups = append(groups, &g)
		}
	}
	for rows.Next() {
		var reason, key, contact, detail string
		if err := rows.Scan(&reason, &key, &contact, &detail); err != nil {
			rows.Close()
			return err
		}
		if reason != cur.reason || key != cur.key {
			flush()
			cur = multi{reason: reason, key: key}
		}
		cur.contacts = append(cur.contacts, contact)
		cur.details = append(cur.details, detail)
	}
	flush()
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	// contact -> reason -> its group of two or more, for the equal-members check
	of := map[string]map[string]*multi{}
	for _, g := range groups {
		for _, c := range g.contacts {
			if of[c] == nil {
				of[c] = map[string]*multi{}
			}
			of[c][g.reason] = g
		}
	}
	rank := map[string]int{}
	for i, r := range reasonOrder {
		rank[r] = i
	}
	shadowed := func(reason string, ids []string) bool {
		for better := 0; better < rank[reason]; better++ {
			bg := of[ids[0]][reasonOrder[better]]
			if bg == nil || len(bg.contacts) != len(ids) || reasonOrder[better] == ReasonSimilarName {
				continue
			}
			same := true
			for _, id := range ids[1:] {
				if of[id][reasonOrder[better]] != bg {
					same = false
					break
				}
			}
			if same {
				return true
			}
		}
		return false
	}
	for _, q := range []string{`DELETE FROM ` + foundTable + ` WHERE workspace = {:ws}`, `DELETE FROM ` + changesTable + ` WHERE workspace = {:ws}`} {
		if _, err := app.DB().NewQuery(q).Bind(dbx.Params{"ws": ws}).Execute(); err != nil {
			return err
		}
	}
	ins := app.DB().NewQuery(`INSERT OR REPLACE INTO ` + foundTable + ` (workspace, reason, key, score, ids) VALUES ({:ws}, {:r}, {:k}, {:s}, {:ids})`).Prepare()
	defer ins.Close()
	for _, m := range groups {
		var out []Group
		if m.reason == ReasonSimilarName {
			entries := make([]string, len(m.contacts))
			for i := range m.contacts {
				entries[i] = m.contacts[i] + ":" + m.details[i]
			}
			for _, g := range similarNames(m.key, entries) {
				g.Key = m.key + "\x1f" + g.Contacts[0]
				out = append(out, g)
			}
		} else {
			g := Group{Reason: m.reason, Score: scores[m.reason], Key: m.key, Contacts: m.contacts}
			if m.reason == ReasonNameDomain && freeMail[m.key[strings.LastIndex(m.key, " @ ")+3:]] {
				g.Score = 0.65
			}
			out = append(out, g)
		}
		for _, g := range out {
			if shadowed(g.Reason, g.Contacts) {
				continue
			}
			if _, err := ins.Bind(dbx.Params{"ws": ws, "r": g.Reason, "k": g.Key, "s": g.Score, "ids": strings.Join(g.Contacts, ",")}).Execute(); err != nil {
				return err
			}
		}
	}
	return nil
}
