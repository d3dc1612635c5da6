package search

import (
	"fmt"
	"sort"
	"strings"

	"github.com/pocketbase/dbx"
)

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

// The normalised keys, as SQL over the contacts row. Email and phone are
// normalised again (not only trusted as stored) so rows written before the
// normalisation existed, or by raw bulk SQL, are still caught. SQLite has no
// accent folding; doing it would mean reading every name into Go, so names
// fold case (ASCII, as lower() does) and whitespace only.
const (
	keyEmail  = `lower(trim(primary_email))`
	keyPhone  = `replace(replace(replace(replace(replace(trim(primary_phone), ' ', ''), '-', ''), '(', ''), ')', ''), '.', '')`
	keyFirst  = `lower(trim(first_name))`
	keyLast   = `lower(trim(last_name))`
	keyName   = keyFirst + ` || ' ' || ` + keyLast
	keyDomain = `lower(substr(trim(primary_email), instr(trim(primary_email), '@') + 1))`
)

// groupQueries find the exact-key groups. Each is one GROUP BY over the
// workspace's contacts: the workspace-led indexes give the rows in O(n), the
// grouping sorts the keys in O(n log n) in a temporary B-tree, and only keys
// held by two or more contacts come back, so the result is as small as the
// number of duplicates. ids are joined with ',' (PocketBase ids are
// [a-z0-9]) in id order, so a group is stable from page to page.
var groupQueries = []struct{ reason, sql string }{
	{ReasonEmail, `SELECT ` + keyEmail + ` AS k, group_concat(id, ',') AS ids FROM
		(SELECT id, primary_email FROM contacts WHERE workspace = {:ws} AND trim(primary_email) != '')
		GROUP BY k HAVING COUNT(*) > 1`},
	{ReasonPhone, `SELECT ` + keyPhone + ` AS k, group_concat(id, ',') AS ids FROM
		(SELECT id, primary_phone FROM contacts WHERE workspace = {:ws} AND trim(primary_phone) != '')
		GROUP BY k HAVING COUNT(*) > 1`},
	{ReasonNameCompany, `SELECT ` + keyName + ` || ' @ ' || lower(trim(company)) AS k, group_concat(id, ',') AS ids FROM
		(SELECT id, first_name, last_name, company FROM contacts WHERE workspace = {:ws}
		  AND trim(company) != '' AND (trim(first_name) != '' OR trim(last_name) != ''))
		GROUP BY k HAVING COUNT(*) > 1`},
	{ReasonNameDomain, `SELECT ` + keyName + ` || ' @ ' || ` + keyDomain + ` AS k, group_concat(id, ',') AS ids FROM
		(SELECT id, first_name, last_name, primary_email FROM contacts WHERE workspace = {:ws}
		  AND instr(primary_email, '@') > 0 AND (trim(first_name) != '' OR trim(last_name) != ''))
		GROUP BY k HAVING COUNT(*) > 1`},
}

// fuzzyQuery finds candidate buckets for similar names: same last name and
// same first initial, with at least two spellings of the first name (a
// bucket where everyone has the same first name is either caught above with
// more evidence, or is just a common name). Same cost as the queries above;
// the pairwise check runs in Go on the (small) buckets only.
const fuzzyQuery = `SELECT ` + keyLast + ` || ' ' || substr(` + keyFirst + `, 1, 1) AS k,
		group_concat(id || ':' || ` + keyFirst + `, char(31)) AS ids FROM
	(SELECT id, first_name, last_name FROM contacts WHERE workspace = {:ws}
	  AND trim(first_name) != '' AND trim(last_name) != '')
	GROUP BY k HAVING COUNT(*) > 1 AND COUNT(DISTINCT ` + keyFirst + `) > 1`

// Duplicates returns page page of the groups of likely duplicates in
// workspace ws, best score first.
//
// Cost: five GROUP BY passes over the workspace's contacts, O(n log n) each
// (about the cost of sorting n short strings), plus O(Σ k²) name comparisons
// over the fuzzy buckets (k ≤ maxFuzzyBucket, typically 2–5). The groups are
// computed for every page and paged in memory: their number is bounded by
// n/2 and in practice far smaller.
func (s *Service) Duplicates(ws string, page, perPage int) (*DuplicatesResult, error) {
	var groups []Group
	params := dbx.Params{"ws": ws}
	for _, q := range groupQueries {
		var rows []struct {
			Key string `db:"k"`
			IDs string `db:"ids"`
		}
		if err := s.app.DB().NewQuery(q.sql).Bind(params).All(&rows); err != nil {
			return nil, fmt.Errorf("duplicates %s: %w", q.reason, err)
		}
		for _, r := range rows {
			g := Group{Reason: q.reason, Score: scores[q.reason], Key: r.Key, Contacts: strings.Split(r.IDs, ",")}
			if q.reason == ReasonNameDomain && freeMail[r.Key[strings.LastIndex(r.Key, " @ ")+3:]] {
				g.Score = 0.65
			}
			groups = append(groups, g)
		}
	}
	var buckets []struct {
		Key string `db:"k"`
		IDs string `db:"ids"`
	}
	if err := s.app.DB().NewQuery(fuzzyQuery).Bind(params).All(&buckets); err != nil {
		return nil, fmt.Errorf("duplicates %s: %w", ReasonSimilarName, err)
	}
	for _, b := range buckets {
		groups = append(groups, similarNames(b.Key, strings.Split(b.IDs, "\x1f"))...)
	}
	groups = dedupeGroups(groups)
	sort.SliceStable(groups, func(i, j int) bool {
		if groups[i].Score != groups[j].Score {
			return groups[i].Score > groups[j].Score
		}
		if groups[i].Reason != groups[j].Reason {
			return groups[i].Reason < groups[j].Reason
		}
		return groups[i].Contacts[0] < groups[j].Contacts[0]
	})
	res := &DuplicatesResult{Page: page, PerPage: perPage, TotalItems: len(groups), Items: []Group{}}
	res.TotalPages = (len(groups) + perPage - 1) / perPage
	if from := (page - 1) * perPage; from < len(groups) {
		res.Items = groups[from:min(from+perPage, len(groups))]
	}
	return res, nil
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

// dedupeGroups keeps one group per set of contacts, the best-scored: two
// people sharing email and name are one finding, not two.
func dedupeGroups(groups []Group) []Group {
	best := map[string]int{}
	var out []Group
	for _, g := range groups {
		sort.Strings(g.Contacts)
		k := strings.Join(g.Contacts, ",")
		if i, ok := best[k]; ok {
			if g.Score > out[i].Score {
				out[i] = g
			}
			continue
		}
		best[k] = len(out)
		out = append(out, g)
	}
	return out
}
