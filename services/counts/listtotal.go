package counts

import (
	"database/sql"
	"errors"
	"strings"
	"sync"

	"github.com/ganigeorgiev/fexpr"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/search"
)

// The total of the collection API's contact list (what the JS SDK's
// getList asks for) from the kept counts, decided by the list rule.
//
// PocketBase counts a list with COUNT(DISTINCT contacts._rowid_) over the
// same joins as its page. Every contacts rule joins the membership
// (workspace → workspace_members), so the count probes the joins for every
// contact and deduplicates 100k rowids in a temporary B-tree: 141 ms per
// request at 100k contacts where the rule-less collection's count is an
// index walk (SQLite drops the DISTINCT only for a single-table query, which
// no rule that reads another record gives). See ARCHITECTURE.md, "The
// collection API's list total".
//
// The rule is still what decides. When the contacts list rule reads nothing
// of a contact but its workspace (checked on the rule's text, below), every
// contact of a workspace passes it or none does; so the rule is evaluated by
// PocketBase — its own resolver and SQL, the caller's request info — on one
// contact of each workspace that has contacts, and the total is the sum of
// the kept counts of the workspaces it admits. That is PocketBase's count,
// found in a few small queries. Anything else (another filter, a rule that
// reads other fields, too many workspaces) keeps PocketBase's own count.

// maxListTotalWorkspaces bounds the workspaces the rule is evaluated on per
// request; beyond it PocketBase counts.
const maxListTotalWorkspaces = 64

// ListTotal computes the contact list's total for requests it can answer.
type ListTotal struct {
	app core.App

	mu    sync.Mutex
	rules map[string]bool // rule text → reads only the workspace
}

// NewListTotal returns a ListTotal on app.
func NewListTotal(app core.App) *ListTotal {
	return &ListTotal{app: app, rules: map[string]bool{}}
}

// Total returns the number of contacts the contacts list rule lets info's
// caller read that the client filter matches, and ok = false when it cannot
// tell without PocketBase's count: a filter other than none or
// `workspace = "<id>"`, a rule reading more of a contact than its workspace,
// no rule (superusers only) or more than maxListTotalWorkspaces workspaces
// with contacts. info must be the request's own (the one PocketBase's list
// uses for the rule).
func (l *ListTotal) Total(info *core.RequestInfo, filter string) (total int, ok bool, err error) {
	coll, err := l.app.FindCachedCollectionByNameOrId("contacts")
	if err != nil {
		return 0, false, err
	}
	if coll.ListRule == nil || info.HasSuperuserAuth() {
		return 0, false, nil
	}
	ws, ok := workspaceFilter(filter)
	if !ok || !l.readsOnlyWorkspace(*coll.ListRule) {
		return 0, false, nil
	}

	// one contact of each workspace that has any (its kept count > 0)
	type cand struct {
		Workspace string `db:"workspace"`
		N         int    `db:"n"`
		Contact   string `db:"contact"`
	}
	var cands []cand
	q := l.app.DB().Select("k.workspace", "k.n",
		"(SELECT c.id FROM contacts c WHERE c.workspace = k.workspace LIMIT 1) AS contact").
		From(countsTable + " k").Where(dbx.NewExp("k.n > 0")).Limit(maxListTotalWorkspaces + 1)
	if ws != "" {
		q.AndWhere(dbx.HashExp{"k.workspace": ws})
	}
	if err := q.All(&cands); err != nil {
		return 0, false, err
	}
	if len(cands) > maxListTotalWorkspaces {
		return 0, false, nil
	}
	if len(cands) == 0 {
		return 0, true, nil
	}
	ids := make([]any, 0, len(cands))
	for _, c := range cands {
		if c.Contact == "" { // the kept count disagrees with the rows
			return 0, false, nil
		}
		ids = append(ids, c.Contact)
	}

	admitted := map[string]bool{}
	if *coll.ListRule == "" {
		for _, c := range cands {
			admitted[c.Workspace] = true
		}
	} else {
		// exactly what recordsList does with the rule: PocketBase's resolver,
		// its expression, its joins
		rq := l.app.RecordQuery(coll).Select(coll.Name + ".workspace").Distinct(true).
			AndWhere(dbx.In(coll.Name+".id", ids...))
		resolver := core.NewRecordFieldResolver(l.app, coll, info, true)
		expr, err := search.FilterData(*coll.ListRule).BuildExpr(resolver)
		if err != nil {
			return 0, false, err
		}
		rq.AndWhere(expr)
		if err := resolver.UpdateQuery(rq); err != nil {
			return 0, false, err
		}
		var wss []string
		if err := rq.Column(&wss); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return 0, false, err
		}
		for _, w := range wss {
			admitted[w] = true
		}
	}
	for _, c := range cands {
		if admitted[c.Workspace] {
			total += c.N
		}
	}
	return total, true, nil
}

// workspaceFilter tells the filters whose count is a sum of kept counts:
// none (ws = "") or a single `workspace = "<id>"`.
func workspaceFilter(filter string) (ws string, ok bool) {
	if strings.TrimSpace(filter) == "" {
		return "", true
	}
	groups, err := fexpr.Parse(filter)
	if err != nil || len(groups) != 1 {
		return "", false
	}
	e, isExpr := groups[0].Item.(fexpr.Expr)
	if !isExpr || e.Op != fexpr.SignEq {
		return "", false
	}
	if e.Left.Type != fexpr.TokenIdentifier || e.Left.Literal != "workspace" ||
		e.Right.Type != fexpr.TokenText || e.Right.Literal == "" {
		return "", false
	}
	return e.Right.Literal, true
}

// readsOnlyWorkspace tells whether rule reads nothing of the contact it is
// evaluated on but its workspace field (and what it reaches from there):
// every bare identifier is `workspace`, `workspace.…` or `workspace:…`.
// Identifiers starting with @ (@request.…, @collection.…, date macros) and
// the literals true, false and null do not depend on the contact; @rowid does.
func (l *ListTotal) readsOnlyWorkspace(rule string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if v, ok := l.rules[rule]; ok {
		return v
	}
	v := ruleReadsOnlyWorkspace(rule)
	l.rules[rule] = v
	return v
}

func ruleReadsOnlyWorkspace(rule string) bool {
	if strings.TrimSpace(rule) == "" {
		return true
	}
	groups, err := fexpr.Parse(rule)
	if err != nil {
		return false
	}
	return groupsOnlyWorkspace(groups)
}

func groupsOnlyWorkspace(groups []fexpr.ExprGroup) bool {
	for _, g := range groups {
		if !itemOnlyWorkspace(g.Item) {
			return false
		}
	}
	return true
}

func itemOnlyWorkspace(item any) bool {
	switch v := item.(type) {
	case fexpr.Expr:
		return tokenOnlyWorkspace(v.Left) && tokenOnlyWorkspace(v.Right)
	case fexpr.ExprGroup:
		return itemOnlyWorkspace(v.Item)
	case []fexpr.ExprGroup:
		return groupsOnlyWorkspace(v)
	}
	return false // a form this check does not know
}

func tokenOnlyWorkspace(t fexpr.Token) bool {
	switch t.Type {
	case fexpr.TokenIdentifier:
		id := t.Literal
		if strings.HasPrefix(id, "@") {
			return !strings.HasPrefix(id, "@rowid")
		}
		switch strings.ToLower(id) { // PocketBase's literals
		case "true", "false", "null":
			return true
		}
		return id == "workspace" || strings.HasPrefix(id, "workspace.") || strings.HasPrefix(id, "workspace:")
	case fexpr.TokenFunction:
		args, _ := t.Meta.([]fexpr.Token)
		for _, a := range args {
			if !tokenOnlyWorkspace(a) {
				return false
			}
		}
		return true
	case fexpr.TokenText, fexpr.TokenNumber:
		return true
	}
	return false
}
