package hooks

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/ganigeorgiev/fexpr"
	"github.com/pi-crm/pi-crm/services/apikeys"
	"github.com/pi-crm/pi-crm/services/tenancy"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/router"
	"github.com/pocketbase/pocketbase/tools/search"
	"github.com/pocketbase/pocketbase/tools/subscriptions"
)

// queryGuard closes the side channel of client filters and sorts. The API
// rules decide which records come back, and PocketBase applies the rules of a
// joined collection to a filter's plain joins; but it does not apply them to
// the multi-match forms (!=, !~, :each, "all" comparisons over a
// back-relation) nor to @collection joins in some forms, so a filter could
// still walk to records the caller may never read and use them as a yes/no
// oracle (through the status, the length or the count of the answer):
//
//	GET /api/collections/users/records?filter=workspaces_via_owner.contacts_via_workspace.primary_email !~ "ada%"
//
// Records of a workspace relate only to records of the same workspace (the
// create rules check it). So a path is safe when it never leaves the
// records every member of that workspace reads: the guard parses each filter
// and sort with PocketBase's own parser (fexpr, search.ParseSortFromString)
// and walks every identifier over the schema, refusing
//   - @collection joins and @request.body paths,
//   - back-relations through an auth record (a user, a key: shared between
//     workspaces, the only bridges between them),
//   - back-relations into a collection not every member reads
//     (tenancy.MemberReadable), and after a back-relation any hop into one,
//   - for an API key, any hop into a collection its scopes do not grant.
//
// It runs on every method of the collection API (GET and HEAD alike), on the
// sub-requests of a batch and on realtime subscriptions, whose options it
// reads with PocketBase's own subscription client, exactly as the broker will.
type queryGuard struct {
	app core.App
}

var viaProp = regexp.MustCompile(`^(\w+)_via_(\w+)$`)

func newQueryGuard(app core.App) *queryGuard {
	return &queryGuard{app: app}
}

func (g *queryGuard) register() {
	g.app.OnRealtimeSubscribeRequest().BindFunc(func(e *core.RealtimeSubscribeRequestEvent) error {
		if e.HasSuperuserAuth() {
			return e.Next()
		}
		p := principalOf(e.RequestEvent)
		// the broker's own parser: what it will evaluate is what is checked
		parsed := subscriptions.NewDefaultClient()
		parsed.Subscribe(e.Subscriptions...)
		for sub, opts := range parsed.Subscriptions() {
			topic, _, _ := strings.Cut(sub, "?")
			name, _, _ := strings.Cut(topic, "/")
			if err := g.checkQuery(p, name, opts.Query["filter"], opts.Query["sort"]); err != nil {
				return err
			}
		}
		return e.Next()
	})
	g.app.OnBatchRequest().BindFunc(func(e *core.BatchRequestEvent) error {
		if e.HasSuperuserAuth() {
			return e.Next()
		}
		p := principalOf(e.RequestEvent)
		for _, r := range e.Batch {
			u, err := url.Parse(r.URL)
			if err != nil {
				return forbiddenQuery("a batch request has an invalid url")
			}
			if err := g.checkURL(p, u); err != nil {
				return err
			}
		}
		return e.Next()
	})
}

// middleware checks the filter and sort of every collection API request,
// whatever its method.
func (g *queryGuard) middleware(e *core.RequestEvent) error {
	if !strings.HasPrefix(e.Request.URL.Path, "/api/collections/") || e.HasSuperuserAuth() {
		return e.Next()
	}
	if err := g.checkURL(principalOf(e), e.Request.URL); err != nil {
		return err
	}
	return e.Next()
}

func (g *queryGuard) checkURL(p principal, u *url.URL) error {
	rest, ok := strings.CutPrefix(u.Path, "/api/collections/")
	if !ok {
		return nil
	}
	name, _, _ := strings.Cut(rest, "/")
	q := u.Query()
	// PocketBase reads the first value of a parameter; every value is checked
	for _, param := range []string{"filter", "sort"} {
		for _, v := range q[param] {
			f, s := v, ""
			if param == "sort" {
				f, s = "", v
			}
			if err := g.checkQuery(p, name, f, s); err != nil {
				return err
			}
		}
	}
	return nil
}

// principal is what the guard needs to know of the caller.
type principal struct {
	auth *core.Record
	key  *apikeys.Key
}

func principalOf(e *core.RequestEvent) principal {
	return principal{auth: e.Auth, key: apiKeyFromEvent(e)}
}

func (g *queryGuard) checkQuery(p principal, collection, filter, sort string) error {
	if filter == "" && sort == "" {
		return nil
	}
	base, err := g.app.FindCachedCollectionByNameOrId(collection)
	if err != nil {
		return nil // no such collection: PocketBase answers 404 and no record ever matches
	}
	if filter != "" {
		groups, err := fexpr.Parse(filter)
		if err != nil {
			return nil // PocketBase refuses it with its own 400
		}
		if err := g.walkGroups(p, base, groups); err != nil {
			return err
		}
	}
	for _, s := range search.ParseSortFromString(sort) {
		if err := g.checkIdentifier(p, base, s.Name); err != nil {
			return err
		}
	}
	return nil
}

func (g *queryGuard) walkGroups(p principal, base *core.Collection, groups []fexpr.ExprGroup) error {
	for _, grp := range groups {
		if err := g.walkItem(p, base, grp.Item); err != nil {
			return err
		}
	}
	return nil
}

func (g *queryGuard) walkItem(p principal, base *core.Collection, item any) error {
	switch v := item.(type) {
	case fexpr.Expr:
		for _, t := range []fexpr.Token{v.Left, v.Right} {
			if err := g.walkToken(p, base, t); err != nil {
				return err
			}
		}
	case fexpr.ExprGroup:
		return g.walkItem(p, base, v.Item)
	case []fexpr.ExprGroup:
		return g.walkGroups(p, base, v)
	}
	return nil
}

func (g *queryGuard) walkToken(p principal, base *core.Collection, t fexpr.Token) error {
	switch t.Type {
	case fexpr.TokenIdentifier:
		return g.checkIdentifier(p, base, t.Literal)
	case fexpr.TokenFunction:
		args, _ := t.Meta.([]fexpr.Token)
		for _, a := range args {
			if err := g.walkToken(p, base, a); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkIdentifier walks one field path the way PocketBase's record field
// resolver does and refuses the hops that could leave what the caller reads.
func (g *queryGuard) checkIdentifier(p principal, base *core.Collection, ident string) error {
	if ident == "" {
		return nil
	}
	lower := strings.ToLower(ident)
	switch {
	case strings.HasPrefix(lower, "@collection"):
		return forbiddenQuery("filters may not use @collection; filter on the fields of the listed records and their relations")
	case strings.HasPrefix(lower, "@request.body"):
		return forbiddenQuery("filters may not use @request.body")
	case strings.HasPrefix(lower, "@request.auth."):
		// the auth record is a user or a key: a path on from it starts there
		if p.auth == nil {
			return nil // resolves to NULL
		}
		return g.walkPath(p, p.auth.Collection(), strings.Split(ident, ".")[2:])
	case strings.HasPrefix(lower, "@"):
		return nil // @request.query/headers/method/context, @now and other macros: static values
	}
	return g.walkPath(p, base, strings.Split(ident, "."))
}

func (g *queryGuard) walkPath(p principal, from *core.Collection, props []string) error {
	current := from
	multi := false
	for i, prop := range props {
		if i == len(props)-1 {
			return nil // the compared field itself
		}
		name, _, _ := strings.Cut(prop, ":")
		field := current.Fields.GetByName(name)
		if field != nil {
			switch f := field.(type) {
			case *core.JSONField, *core.GeoPointField:
				return nil // the rest is a path inside the value
			case *core.RelationField:
				target, err := g.app.FindCachedCollectionByNameOrId(f.CollectionId)
				if err != nil {
					return nil
				}
				// a multiple relation is a multi-match join too (no rule applied)
				multi = multi || f.IsMultiple()
				if multi && (target.IsAuth() || !tenancy.MemberReadable(target.Name)) {
					return forbiddenQuery("filters may not follow " + strings.Join(props[:i+1], ".") + ": it leaves the records you can read")
				}
				if err := p.mayRead(target); err != nil {
					return err
				}
				current = target
				continue
			}
			return nil // not a relation: PocketBase refuses the path itself
		}
		parts := viaProp.FindStringSubmatch(name)
		if parts == nil {
			return nil // unknown field: PocketBase refuses it
		}
		// PocketBase finds the collection of a back-relation case-insensitively
		back, err := g.app.FindCachedCollectionByNameOrId(parts[1])
		if err != nil {
			return nil
		}
		rf, ok := back.Fields.GetByName(parts[2]).(*core.RelationField)
		if !ok || rf.CollectionId != current.Id {
			return nil // PocketBase resolves it to NULL or refuses it
		}
		if current.IsAuth() || !tenancy.MemberReadable(back.Name) {
			return forbiddenQuery("filters may not follow " + strings.Join(props[:i+1], ".") + ": it leaves the records you can read")
		}
		if err := p.mayRead(back); err != nil {
			return err
		}
		current, multi = back, true
	}
	return nil
}

// mayRead refuses a hop into a collection the caller's key does not grant.
func (p principal) mayRead(c *core.Collection) error {
	if p.key == nil {
		return nil
	}
	if scope := apikeys.RequiredScope(c.Name, false); !p.key.Allows(scope) {
		return forbiddenQuery("this API key lacks the scope " + scope + " that a filter on " + c.Name + " needs")
	}
	return nil
}

func forbiddenQuery(message string) error {
	return &router.ApiError{Status: http.StatusBadRequest, Message: message, Data: map[string]any{"code": "filter_forbidden"}}
}
