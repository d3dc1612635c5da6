package migrations_test

// The oracle test: a filter that probes a value of a record the
// caller may not read gets the same answer whether the value exists or not,
// over GET (status, length, body), HEAD (status, length) and realtime (the
// status of the subscription). The probes are generated from the schema:
// every collection is listed with filters reaching, by its own fields, by
// relation and back-relation paths of depth <= 2 and by @collection, every
// collection that has a text or email field.

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
)

type probeField struct {
	field, value string
}

// forbiddenValues picks, per collection, a text or email value that only
// records p may not read hold (so its existence is exactly what a probe would
// learn).
func (w *world) forbiddenValues(t *testing.T, p *principal) map[string]probeField {
	out := map[string]probeField{}
	for _, c := range w.graph.collections {
		col := w.graph.byName[c]
		var fields []string
		for _, fl := range col.Fields {
			if fl.GetHidden() || fl.GetName() == "id" {
				continue
			}
			switch fl.(type) {
			case *core.TextField, *core.EmailField:
				fields = append(fields, fl.GetName())
			}
		}
		if len(fields) == 0 {
			continue
		}
		recs, err := w.f.env.App.FindAllRecords(c)
		if err != nil {
			t.Fatal(err)
		}
		var readable, forbidden []*core.Record
		for _, r := range recs {
			if ok, _ := w.readable(p, r); ok {
				readable = append(readable, r)
			} else {
				forbidden = append(forbidden, r)
			}
		}
	pick:
		for _, fl := range fields {
			seen := map[string]bool{}
			for _, r := range readable {
				seen[r.GetString(fl)] = true
			}
			for _, r := range forbidden {
				v := r.GetString(fl)
				// a value of some length, seen in no readable record, and
				// not a part of one (the ~ probes match substrings)
				if len(v) < 4 || seen[v] {
					continue
				}
				for s := range seen {
					if strings.Contains(strings.ToLower(s), strings.ToLower(v)) {
						continue pick
					}
				}
				out[c] = probeField{fl, v}
				break pick
			}
		}
	}
	return out
}

type oracleProbe struct {
	p          *principal
	collection string // listed
	target     string // probed
	filter     func(v string) string
	value      string
	op         string
}

// filterPaths lists, from collection, the relation paths of depth 0..2 with
// their end collection, keeping one path per (first step, end) pair.
func (g *schemaGraph) filterPaths(from string) map[string]string {
	out := map[string]string{"": from} // path -> end collection
	seen := map[string]bool{}
	for _, e1 := range g.edges[from] {
		if !seen[e1.name+">"+e1.to] {
			seen[e1.name+">"+e1.to] = true
			out[e1.name] = e1.to
		}
		for _, e2 := range g.edges[e1.to] {
			if k := e1.name + ">" + e2.to; !seen[k] {
				seen[k] = true
				out[e1.name+"."+e2.name] = e2.to
			}
		}
	}
	return out
}

var oracleOps = []string{"?=", "!=", "!~", "=", "?~", "~", ":each !=", "?!=", "?!~"}

func probeExpr(path, field, op, v string) string {
	lhs := field
	if path != "" {
		lhs = path + "." + field
	}
	if strings.HasPrefix(op, ":each ") {
		return lhs + ":each " + strings.TrimPrefix(op, ":each ") + ` "` + v + `"`
	}
	return lhs + " " + op + ` "` + v + `"`
}

func TestOracleFilters(t *testing.T) {
	start := time.Now()
	w := newWorld(t)
	byName := map[string]*principal{}
	for _, p := range w.principals {
		byName[p.name] = p
	}
	probers := []*principal{
		byName["session:"+pViewer],   // X is foreign (Y is the viewer's too)
		byName["session:"+pOutsider], // W is foreign
		byName["key:editor/admin/W"], // Y is foreign to the key, not to its user
		byName["key:owner/templates:read/W"],
	}

	var probes []oracleProbe
	for _, p := range probers {
		values := w.forbiddenValues(t, p)
		i := 0
		for _, c := range w.graph.collections {
			if p.name == "key:owner/templates:read/W" && c != "users" && c != "workspaces" && c != "templates" {
				continue // the scope prober: from what any key (and this one) may list
			}
			paths := w.graph.filterPaths(c)
			keys := make([]string, 0, len(paths))
			for k := range paths {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, path := range keys {
				pf, ok := values[paths[path]]
				if !ok {
					continue
				}
				op := oracleOps[i%len(oracleOps)]
				i++
				path, pf := path, pf
				probes = append(probes, oracleProbe{p, c, paths[path], func(v string) string { return probeExpr(path, pf.field, op, v) }, pf.value, op})
			}
		}
		// @collection: every probed collection once, listed from the
		// collections in turn (the join does not depend on the listed one)
		targets := make([]string, 0, len(values))
		for tc := range values {
			targets = append(targets, tc)
		}
		sort.Strings(targets)
		for j, tc := range targets {
			c := w.graph.collections[j%len(w.graph.collections)]
			if p.name == "key:owner/templates:read/W" {
				c = "workspaces"
			}
			pf := values[tc]
			op := oracleOps[i%len(oracleOps)]
			i++
			probes = append(probes, oracleProbe{p, c, tc, func(v string) string { return probeExpr("@collection."+tc, pf.field, op, v) }, pf.value, op})
		}
	}

	type diff struct {
		probe             oracleProbe
		transport, detail string
	}
	var (
		mu      sync.Mutex
		diffs   []diff
		spent   [3]time.Duration // GET, HEAD, realtime
		limited int
		wg      sync.WaitGroup
		next    = make(chan oracleProbe)
	)
	// one realtime connection per prober (a client keeps the auth of its first subscription)
	clients := map[*principal]string{}
	for _, p := range probers {
		clients[p] = realtimeClient(t, w)
	}
	var rtMu sync.Map // per-client lock: subscriptions replace each other
	for _, p := range probers {
		rtMu.Store(p, &sync.Mutex{})
	}
	subscribe := func(p *principal, topic string) (int, string) {
		l, _ := rtMu.Load(p)
		l.(*sync.Mutex).Lock()
		defer l.(*sync.Mutex).Unlock()
		headers := map[string]string{}
		for k, v := range p.headers {
			headers[k] = v
		}
		n := w.clientIPs.Add(1)
		headers[testClientIPHeader] = fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255)
		res := w.f.env.DoWithHeaders("POST", "/api/realtime", p.token, headers, map[string]any{"clientId": clients[p], "subscriptions": []string{topic}})
		return res.Status, res.Code()
	}
	missing := func(v string) string { return "nx" + v + "q" }
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pr := range next {
				yesF, noF := pr.filter(pr.value), pr.filter(missing(pr.value))
				list := "/api/collections/" + pr.collection + "/records?filter="
				var found []diff
				t0 := time.Now()
				ys, yb, yh := pr.p.do(w, "GET", list+url.QueryEscape(yesF))
				ns, nb, nh := pr.p.do(w, "GET", list+url.QueryEscape(noF))
				if ys == http.StatusTooManyRequests || ns == http.StatusTooManyRequests {
					mu.Lock()
					limited++
					mu.Unlock()
				}
				if ys != ns || string(yb) != string(nb) || yh.Get("Content-Length") != nh.Get("Content-Length") {
					found = append(found, diff{pr, "GET", fmt.Sprintf("%d/%d bytes vs %d/%d bytes", ys, len(yb), ns, len(nb))})
				}
				t1 := time.Now()
				ys, _, yh = pr.p.do(w, "HEAD", list+url.QueryEscape(yesF))
				ns, _, nh = pr.p.do(w, "HEAD", list+url.QueryEscape(noF))
				if ys != ns || yh.Get("Content-Length") != nh.Get("Content-Length") {
					found = append(found, diff{pr, "HEAD", fmt.Sprintf("%d/length %s vs %d/length %s", ys, yh.Get("Content-Length"), ns, nh.Get("Content-Length"))})
				}
				topic := func(f string) string {
					b := `{"query":{"filter":` + jsonString(f) + `}}`
					return pr.collection + "/*?options=" + url.QueryEscape(b)
				}
				t2 := time.Now()
				yst, yc := subscribe(pr.p, topic(yesF))
				nst, nc := subscribe(pr.p, topic(noF))
				if yst != nst || yc != nc {
					found = append(found, diff{pr, "realtime", fmt.Sprintf("%d %s vs %d %s", yst, yc, nst, nc)})
				}
				t3 := time.Now()
				mu.Lock()
				spent[0] += t1.Sub(t0)
				spent[1] += t2.Sub(t1)
				spent[2] += t3.Sub(t2)
				mu.Unlock()
				if len(found) > 0 {
					mu.Lock()
					diffs = append(diffs, found...)
					mu.Unlock()
				}
			}
		}()
	}
	for _, pr := range probes {
		next <- pr
	}
	close(next)
	wg.Wait()

	perPrincipal := map[string]int{}
	for _, pr := range probes {
		perPrincipal[pr.p.name]++
	}
	t.Logf("oracle: %d probes (%v), each with an existing and a missing value over GET, HEAD and realtime: %d requests in %s (worker time GET %s, HEAD %s, realtime %s)",
		len(probes), perPrincipal, len(probes)*6, time.Since(start).Round(time.Millisecond),
		spent[0].Round(time.Millisecond), spent[1].Round(time.Millisecond), spent[2].Round(time.Millisecond))

	if limited > 0 {
		t.Errorf("%d probes were rate limited (429): the test, not the server, is wrong", limited)
	}
	// shortest filters first, at most a few per (principal, transport)
	sort.SliceStable(diffs, func(i, j int) bool {
		return len(diffs[i].probe.filter(diffs[i].probe.value)) < len(diffs[j].probe.filter(diffs[j].probe.value))
	})
	byKind := map[string][]diff{}
	var kinds []string
	for _, d := range diffs {
		k := d.probe.p.name + " " + d.transport
		if byKind[k] == nil {
			kinds = append(kinds, k)
		}
		byKind[k] = append(byKind[k], d)
	}
	sort.Strings(kinds)
	perKind := 3
	if len(kinds) > 0 && 30/len(kinds) > perKind {
		perKind = 30 / len(kinds)
	}
	var summary []string
	for _, k := range kinds {
		for i, d := range byKind[k] {
			if i == perKind {
				break
			}
			t.Errorf("ORACLE %s %s /api/collections/%s/records?filter=%s: %s", d.probe.p.name, d.transport, d.probe.collection, d.probe.filter(d.probe.value), d.detail)
		}
		summary = append(summary, fmt.Sprintf("%s=%d", k, len(byKind[k])))
	}
	if len(diffs) > 0 {
		t.Errorf("%d answers differ with the existence of a forbidden value: %s", len(diffs), strings.Join(summary, " "))
	}
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// realtimeClient opens an SSE connection and returns its client id.
func realtimeClient(t *testing.T, w *world) string {
	t.Helper()
	req, _ := http.NewRequest("GET", w.f.env.Server.URL+"/api/realtime", nil)
	res, err := w.f.env.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	buf := make([]byte, 4096)
	var got strings.Builder
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		n, err := res.Body.Read(buf)
		got.Write(buf[:n])
		s := got.String()
		if i := strings.Index(s, `"clientId":"`); i >= 0 {
			rest := s[i+len(`"clientId":"`):]
			if j := strings.IndexByte(rest, '"'); j >= 0 {
				id := rest[:j]
				// keep draining the stream so the server never blocks on it
				go func() {
					b := make([]byte, 4096)
					for {
						if _, err := res.Body.Read(b); err != nil {
							return
						}
					}
				}()
				return id
			}
		}
		if err != nil {
			break
		}
	}
	t.Fatalf("no PB_CONNECT: %q", got.String())
	return ""
}
