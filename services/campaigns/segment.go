// Package campaigns is a campaign's life before and around sending: its
// segment and audience, the one transition table, the four-eyes approval of
// an immutable snapshot, and the schedule. Sending itself is
// services/sending's; it reads only the approved snapshot.
package campaigns

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/search"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// CodeSegmentInvalid is a segment that cannot be planned.
const CodeSegmentInvalid = "segment_invalid"

// maxSegmentLists bounds each list condition of a segment.
const maxSegmentLists = 50

// Segment says who a campaign goes to: contacts in any of ListsAny, in all
// of ListsAll, in none of ExcludeLists, matching every condition. An empty
// segment is the whole workspace.
type Segment struct {
	ListsAny     []string    `json:"lists_any"`
	ListsAll     []string    `json:"lists_all"`
	ExcludeLists []string    `json:"exclude_lists"`
	Conditions   []Condition `json:"conditions"`
}

// Condition is one field condition with the search route's operators (eq,
// contains, gt, gte, lt, lte, empty, notempty); field is a base field
// (first_name, last_name, primary_email, primary_phone, company, created,
// updated) or custom.<name>.
type Condition struct {
	Field string `json:"field"`
	Op    string `json:"op"`
	Value string `json:"value"`
}

// ParseSegment reads campaigns.segment (null or empty: the whole workspace).
func ParseSegment(raw string) (Segment, error) {
	var s Segment
	raw = strings.TrimSpace(raw)
	if raw == "" || raw == "null" || raw == "{}" {
		return s, nil
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, apperr.BadRequest(CodeSegmentInvalid, `segment: `+err.Error()+`; send {"lists_any": [ids], "lists_all": [ids], "exclude_lists": [ids], "conditions": [{"field", "op", "value"}]}`)
	}
	return s, nil
}

// Query is the segment as a search of workspace ws: the one planner every
// contact selection goes through. The order is creation order, so a
// segment's recipients come out the same way every time.
func (s Segment) Query(ws string) search.Query {
	q := search.Query{Workspace: ws, ListsAny: s.ListsAny, ListsAll: s.ListsAll, ExcludeLists: s.ExcludeLists, Sort: "created"}
	for _, c := range s.Conditions {
		f := search.Filter{Field: c.Field, Op: c.Op, Value: c.Value}
		if name, ok := strings.CutPrefix(c.Field, "custom."); ok {
			f.Field, f.Custom = name, true
		}
		q.Filters = append(q.Filters, f)
	}
	return q
}

// Validate checks the segment against workspace ws: its lists exist there,
// its conditions plan (fields and operators the search knows).
func (s Segment) Validate(app core.App, ws string) error {
	for name, lists := range map[string][]string{"lists_any": s.ListsAny, "lists_all": s.ListsAll, "exclude_lists": s.ExcludeLists} {
		if len(lists) > maxSegmentLists {
			return apperr.BadRequest(CodeSegmentInvalid, fmt.Sprintf("segment.%s: at most %d lists", name, maxSegmentLists))
		}
		if len(lists) == 0 {
			continue
		}
		ids := make([]any, len(lists))
		for i, id := range lists {
			ids[i] = id
		}
		var n int
		err := app.DB().Select("count(*)").From("contact_lists").
			Where(dbx.HashExp{"workspace": ws}).AndWhere(dbx.In("id", ids...)).Row(&n)
		if err != nil {
			return err
		}
		if n != len(uniq(lists)) {
			return apperr.BadRequest(CodeSegmentInvalid, "segment."+name+": a list that is not in this campaign's workspace")
		}
	}
	if _, err := search.NewService(app).Select(s.Query(ws)); err != nil {
		return segmentError(err)
	}
	return nil
}

func uniq(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// segmentError names a search error as the segment's.
func segmentError(err error) error {
	var e *apperr.Error
	if ok := asApp(err, &e); ok && e.Status == 400 {
		return apperr.BadRequest(CodeSegmentInvalid, "segment: "+e.Message)
	}
	return err
}
