package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pi-crm/pi-crm/bench/gen"
	"github.com/pi-crm/pi-crm/bench/load"
)

// Each measurement below adds its own rows; one whose feature is not built
// yet adds "n/a (not built)" rows and starts working once the route or
// command exists.

// plainResult holds stock PocketBase's figures on the same data.
type plainResult struct {
	ok              bool
	cold            time.Duration
	idle, peak      int
	withTotal, skip load.Result
}

// plainServer serves the run's data directory with stock PocketBase
// (bench/cmd/plainpb) and lists the plain collection the same way as the
// contacts below.
func (b *bench) plainServer() plainResult {
	var r plainResult
	if _, err := os.Stat(b.cfg.PlainBin); err != nil {
		b.notef("stock PocketBase baseline skipped: %s not built (go build -o %s ./bench/cmd/plainpb)", b.cfg.PlainBin, b.cfg.PlainBin)
		return r
	}
	logf("bench: stock PocketBase baseline")
	srv, cold, err := startServer(b.cfg.PlainBin, b.dataDir, filepath.Join(b.runDir, "plain-server.log"))
	if err != nil {
		b.notef("stock PocketBase baseline failed: %v", err)
		return r
	}
	defer srv.stop()
	time.Sleep(3 * time.Second)
	r.cold = cold
	r.idle, _ = procStatus(srv.pid(), "VmRSS")
	_ = resetPeak(srv.pid())
	r.withTotal = b.loadRunOn(srv, b.cfg.Conns, listPath(b.m.PlainCollection, b.m.Workspace, false))
	r.skip = b.loadRunOn(srv, b.cfg.Conns, listPath(b.m.PlainCollection, b.m.Workspace, true))
	r.peak, _ = procStatus(srv.pid(), "VmHWM")
	r.ok = true
	return r
}

func listPath(coll, ws string, skipTotal bool) func(w, n int) string {
	p := "/api/collections/" + coll + "/records?perPage=50&sort=-created&filter=" + q(`workspace="`+ws+`"`)
	if skipTotal {
		p += "&skipTotal=1"
	}
	return func(int, int) string { return p }
}

const listTarget = "≥ 1,000 req/s at 32 conns, p99 ≤ 100 ms"

// list: a page of 50 contacts (with their custom values: the read copy in
// contacts.custom) through the collection API, with and without the total
// count, against the plain collection listed the same way.
func (b *bench) list() {
	logf("bench: list, %s per run at %d connections", b.cfg.Window, b.cfg.Conns)
	ws := b.m.Workspace
	path := func(coll string, skipTotal bool) func(w, n int) string { return listPath(coll, ws, skipTotal) }
	pid := b.srv.pid()

	// the search route first: its peak RSS then starts from the idle
	// server, not from what the collection lists below leave resident
	route := b.routeList()

	_ = resetPeak(pid)
	withTotal := b.loadRun(b.cfg.Conns, path("contacts", false))
	skip := b.loadRun(b.cfg.Conns, path("contacts", true))
	peak, _ := procStatus(pid, "VmHWM")

	_ = resetPeak(pid)
	plainTotal := b.loadRun(b.cfg.Conns, path(b.m.PlainCollection, false))
	plainSkip := b.loadRun(b.cfg.Conns, path(b.m.PlainCollection, true))
	plainPeak, _ := procStatus(pid, "VmHWM")

	stock := func(r load.Result) string {
		if !b.plain.ok {
			return ""
		}
		return "; stock PocketBase, same collection: " + throughput(r)
	}
	b.add(row{"list 50 contacts + custom values, with total", throughput(withTotal), listTarget,
		"plain collection, same server: " + throughput(plainTotal) + stock(b.plain.withTotal), ratio(withTotal.RPS() / plainTotal.RPS()),
		verdict(withTotal.RPS() >= 1000 && withTotal.P99 <= 100*time.Millisecond && withTotal.Errors == 0)})
	b.add(row{"list 50 contacts + custom values, skipTotal", throughput(skip), "— (DESIGN.md's target is with the total)",
		"plain collection, same server: " + throughput(plainSkip) + stock(b.plain.skip), ratio(skip.RPS() / plainSkip.RPS()), "—"})
	bl, rat := "same server listing the plain collection: "+mb(plainPeak), ratio(float64(plainPeak)/float64(peak))
	if b.plain.ok {
		bl, rat = "stock PocketBase under its plain list load: "+mb(b.plain.peak)+"; "+bl, ratio(float64(b.plain.peak)/float64(peak))
	}
	b.add(row{"server RSS under the list load (peak)", mb(peak), "≤ 120 MB", bl, rat, verdict(peak > 0 && peak <= 120*1024)})
	route.rows(b, withTotal)
	b.sdkList()
}

// sdkList: the JS SDK's own pb.collection('contacts').getList(1, 50) — the
// request it sends (page and perPage, no filter or sort; the total
// included) — against the same request on the rule-less plain collection.
func (b *bench) sdkList() {
	p := func(coll string) func(int, int) string {
		path := "/api/collections/" + coll + "/records?page=1&perPage=50"
		return func(int, int) string { return path }
	}
	sdk := b.loadRun(b.cfg.Conns, p("contacts"))
	plain := b.loadRun(b.cfg.Conns, p(b.m.PlainCollection))
	r := sdk.RPS() / plain.RPS()
	b.add(row{"JS SDK `getList(1, 50)` on contacts (with total, no filter or sort)", throughput(sdk),
		"≥ the rule-less collection, same server", "plain collection, same request: " + throughput(plain), ratio(r),
		verdict(r >= 1 && sdk.Errors == 0)})
}

// routeResult is the search route's list run.
type routeResult struct {
	built bool
	res   load.Result
	peak  int
}

// routeList: the same page (50 contacts with their custom values and the
// total, no term or filter, the route's default sort by name) through
// /api/crm/contacts/search, and the server's peak RSS under that load.
func (b *bench) routeList() routeResult {
	if !b.routeExists(http.MethodGet, "/api/crm/contacts/search", nil) {
		return routeResult{}
	}
	pid := b.srv.pid()
	_ = resetPeak(pid)
	p := "/api/crm/contacts/search?perPage=50&workspace=" + b.m.Workspace
	r := routeResult{built: true, res: b.loadRun(b.cfg.Conns, func(int, int) string { return p })}
	r.peak, _ = procStatus(pid, "VmHWM")
	return r
}

// rows adds the route's rows, against the collection API's list with its
// total in the same run.
func (r routeResult) rows(b *bench, collection load.Result) {
	const name = "list 50 contacts + custom values, with total, /api/crm/contacts/search"
	if !r.built {
		b.add(row{name, notBuilt, listTarget, "", "", notBuilt})
		return
	}
	b.add(row{name, throughput(r.res), listTarget, "collection API with total, same run: " + throughput(collection),
		ratio(r.res.RPS() / collection.RPS()), verdict(r.res.RPS() >= 1000 && r.res.P99 <= 100*time.Millisecond && r.res.Errors == 0)})
	b.add(row{"server RSS under the search-route list load (peak)", mb(r.peak), "≤ 120 MB", "", "", verdict(r.peak > 0 && r.peak <= 120*1024)})
}

const latTarget = "p50 ≤ 10 ms"

// filter: contacts whose select field "tier" has one value (20% of them),
// sorted by creation, first page of 50 with the total.
func (b *bench) filter() {
	logf("bench: filter by a custom field")
	ws := b.m.Workspace
	tiers := b.m.Fields[0].Options
	pb := b.loadRun(b.cfg.LatConns, func(w, n int) string {
		return "/api/collections/contacts/records?perPage=50&sort=-created&filter=" +
			q(fmt.Sprintf(`workspace="%s" && custom.tier="%s"`, ws, tiers[(w+n)%len(tiers)]))
	})
	b.add(row{"filter custom field (tier = x, 20%) + sort, PocketBase filter on contacts.custom", latency(pb), latTarget,
		"", "", verdict(pb.P50 <= 10*time.Millisecond && pb.Errors == 0)})
	if !b.routeExists(http.MethodGet, "/api/crm/contacts/search", nil) {
		b.add(row{"filter custom field + sort, /api/crm/contacts/search", notBuilt, latTarget, "", "", notBuilt})
		return
	}
	route := b.loadRun(b.cfg.LatConns, func(w, n int) string {
		return "/api/crm/contacts/search?perPage=50&sort=-created&workspace=" + ws + "&cf.tier=eq:" + tiers[(w+n)%len(tiers)]
	})
	b.add(row{"filter custom field (tier = x, 20%) + sort, /api/crm/contacts/search", latency(route), latTarget,
		"PocketBase filter: p50 " + ms(pb.P50), speedup(pb.P50, route.P50), verdict(route.P50 <= 10*time.Millisecond && route.Errors == 0)})
}

// search: a selective email prefix ("first.last", ~10 matches at 100k).
func (b *bench) search() {
	logf("bench: prefix search")
	ws := b.m.Workspace
	terms := b.m.EmailPrefixes
	pbFilter := func(coll string) func(w, n int) string {
		return func(w, n int) string {
			return "/api/collections/" + coll + "/records?perPage=50&sort=-created&filter=" +
				q(fmt.Sprintf(`workspace="%s" && primary_email ~ "%s%%"`, ws, terms[(w*7+n)%len(terms)]))
		}
	}
	plain := b.loadRun(b.cfg.LatConns, pbFilter(b.m.PlainCollection))
	contacts := b.loadRun(b.cfg.LatConns, pbFilter("contacts"))
	base := "PocketBase `~` on the plain collection: p50 " + ms(plain.P50)
	b.add(row{"search email prefix, PocketBase `primary_email ~ \"x%\"` on contacts", latency(contacts), latTarget,
		base, speedup(plain.P50, contacts.P50), verdict(contacts.P50 <= 10*time.Millisecond && contacts.Errors == 0)})
	if !b.routeExists(http.MethodGet, "/api/crm/contacts/search", nil) {
		b.add(row{"search name/email prefix, /api/crm/contacts/search", notBuilt, latTarget, base, "", notBuilt})
		return
	}
	route := b.loadRun(b.cfg.LatConns, func(w, n int) string {
		return "/api/crm/contacts/search?perPage=50&workspace=" + ws + "&q=" + q(terms[(w*7+n)%len(terms)])
	})
	b.add(row{"search email prefix, /api/crm/contacts/search?q=", latency(route), latTarget,
		base, speedup(plain.P50, route.P50), verdict(route.P50 <= 10*time.Millisecond && route.Errors == 0)})
	names := b.loadRun(b.cfg.LatConns, func(w, n int) string {
		t := terms[(w*7+n)%len(terms)] // "first.last" → "last first"
		first, last, _ := strings.Cut(t, ".")
		return "/api/crm/contacts/search?perPage=50&workspace=" + ws + "&q=" + q(last+" "+first)
	})
	b.add(row{"search name prefix (\"last first\"), /api/crm/contacts/search?q=", latency(names), latTarget,
		base, speedup(plain.P50, names.P50), verdict(names.P50 <= 10*time.Millisecond && names.Errors == 0)})
}

// merge: pairs of the merge workspace, 50 custom values each, 1,000
// timeline entries on the source; one merge per pair, one at a time.
func (b *bench) merge() {
	const name, target = "merge (50 custom fields, 1,000 timeline entries)", "p50 ≤ 20 ms"
	logf("bench: merge")
	if !b.routeExists(http.MethodPost, "/api/crm/contacts/merge", map[string]any{}) {
		b.add(row{name, notBuilt, target, "", "", notBuilt})
		return
	}
	if len(b.m.MergePairs) < 2 {
		b.add(row{name, "n/a (BENCH_MERGES < 2)", target, "", "", "—"})
		return
	}
	resolution := map[string]any{}
	var times []time.Duration
	for i, pair := range b.m.MergePairs {
		body := map[string]any{"source": pair[0], "target": pair[1], "resolution": resolution}
		start := time.Now()
		status, data, err := b.doJSON(http.MethodPost, "/api/crm/contacts/merge", body)
		d := time.Since(start)
		if err == nil && status == http.StatusConflict && i == 0 {
			// the pairs differ in email and 5 custom values on purpose:
			// resolve every conflict the server lists to the target
			for _, f := range conflictFields(data) {
				resolution[f] = "target"
			}
			b.notef("merge: resolved conflicts %v to the target", sortedNames(resolution))
			start = time.Now()
			status, data, err = b.doJSON(http.MethodPost, "/api/crm/contacts/merge", body)
			d = time.Since(start)
		}
		if err != nil || status != http.StatusOK {
			b.fail(name, target, fmt.Errorf("merge %d: HTTP %d %s %v", i, status, data, err))
			return
		}
		if i > 0 { // the first merge warms caches and learns the conflicts
			times = append(times, d)
		}
	}
	p50 := load.Percentile(times, 50)
	b.add(row{name, fmt.Sprintf("p50 %s (max %s, %d merges)", ms(p50), ms(slices.Max(times)), len(times)), target, "", "",
		verdict(p50 <= 20*time.Millisecond)})
}

// conflictFields finds the field names a 409 merge answer lists: any
// "field" string inside data, or the keys of data.conflicts when it is an
// object.
func conflictFields(body []byte) []string {
	var v any
	_ = json.Unmarshal(body, &v)
	seen := map[string]bool{}
	var walk func(x any, key string)
	walk = func(x any, key string) {
		switch t := x.(type) {
		case map[string]any:
			for k, c := range t {
				if s, ok := c.(string); ok && (k == "field" || k == "name") {
					seen[s] = true
				}
				if key == "conflicts" {
					seen[k] = true
				}
				walk(c, k)
			}
		case []any:
			for _, c := range t {
				walk(c, "")
			}
		}
	}
	walk(v, "")
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sortedNames(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

const importTarget = "≥ 10,400 rows/s (1.5× listmonk, DESIGN.md)"

// importCLI runs `pi-crm import` on the data directory (server stopped)
// and the sqlite3 baseline on the same CSV.
func (b *bench) importCLI() {
	logf("bench: import baseline (sqlite3) and `pi-crm import`")
	base, baseRSS, baseErr := b.sqliteImport()
	baseline := ""
	if baseErr != nil {
		baseline = "sqlite3: " + oneLine(baseErr.Error())
	} else {
		baseline = fmt.Sprintf("sqlite3 CLI: %s (%s)", rate(float64(b.m.CSVRows)/base.Seconds()), ms(base))
	}
	name := "CSV import, 16 columns, `pi-crm import` (rows read/s)"
	b.importBaseline, b.importBaselineD, b.importBaselineRSS = baseline, base, baseRSS
	b.importFloorCLI, b.importFloor, b.importFloorErr = engineTimes(b.dsDir, b.m, b.runDir)
	if !b.cliHas("import") {
		b.importPending = true // try the route once the server runs
		return
	}
	csvPath := filepath.Join(b.dsDir, b.m.CSV)
	cmd := exec.Command(b.cfg.Bin, "import", "--dir", b.dataDir, "--workspace", b.m.ImportWorkspace, csvPath)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	d, peak, err := runTimed(cmd)
	if err != nil {
		// a CLI that wants other arguments must not hide the route's figure
		b.notef("`pi-crm import` failed (%v: %s); measuring the import route instead", err, lastLines(out.String(), 3))
		b.importPending = true
		return
	}
	b.notef("`pi-crm import` said: %s", lastLines(out.String(), 2))
	b.importRows(name, d, peak, baseline, base, baseRSS)
}

func (b *bench) importRows(name string, d time.Duration, peakKB int, baseline string, base time.Duration, baseRSS int) {
	r := float64(b.m.CSVRows) / d.Seconds()
	rat := 0.0
	if base > 0 {
		rat = base.Seconds() / d.Seconds()
	}
	b.add(row{name, fmt.Sprintf("%s (%s)", rate(r), ms(d)), importTarget, baseline, ratio(rat),
		verdict(r >= 10400)})
	rssTarget := "≤ 100 MB (flat; DESIGN.md's figure is for 1M rows)"
	bl := ""
	if baseRSS > 0 {
		bl = "sqlite3 CLI: " + mb(baseRSS)
	}
	b.add(row{"CSV import peak RSS", mb(peakKB), rssTarget, bl, "", verdict(peakKB > 0 && peakKB <= 100*1024)})
	b.imported = true
	b.floorRow(r)
}

// floorRow: the baseline's bare inserts through PocketBase's own SQLite
// (engineTimes), against the import's rate r: how far the import is from
// what its engine can write at all.
func (b *bench) floorRow(r float64) {
	const name = "the same bare contact and EAV inserts through modernc.org/sqlite (PocketBase's SQLite), in-process, CSV staged"
	if b.importFloorErr != nil {
		b.add(row{name, "failed: " + oneLine(b.importFloorErr.Error()), "— (the floor of any import through the app's engine)", "", "", "—"})
		return
	}
	f := float64(b.m.CSVRows) / b.importFloor.Seconds()
	bl := fmt.Sprintf("sqlite3 CLI, same statements: %s (%s)", rate(float64(b.m.CSVRows)/b.importFloorCLI.Seconds()), ms(b.importFloorCLI))
	b.add(row{name, fmt.Sprintf("%s (%s)", rate(f), ms(b.importFloor)), "— (the floor of any import through the app's engine)",
		bl, "import / floor: " + ratio(r/f), "—"})
}

// importRoute uses the HTTP route when there is no CLI command.
func (b *bench) importRoute() {
	if !b.importPending {
		return
	}
	name := "CSV import, 16 columns, POST /api/crm/workspaces/{id}/import (rows read/s)"
	logf("bench: import through the route")
	path := "/api/crm/workspaces/" + b.m.ImportWorkspace + "/import"
	if !b.routeExists(http.MethodPost, "/api/crm/workspaces/bench-no-such/import", map[string]any{}) {
		b.add(row{"CSV import (CLI `pi-crm import` or the import route)", notBuilt, importTarget, b.importBaseline, "", notBuilt})
		return
	}
	f, err := os.Open(filepath.Join(b.dsDir, b.m.CSV))
	if err != nil {
		b.fail(name, importTarget, err)
		return
	}
	defer f.Close()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		part, err := mw.CreateFormFile("file", "contacts.csv")
		if err == nil {
			_, err = io.Copy(part, f)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	pid := b.srv.pid()
	_ = resetPeak(pid)
	start := time.Now()
	status, data, err := b.do(http.MethodPost, path, pr, mw.FormDataContentType())
	if err != nil || status >= 300 {
		b.fail(name, importTarget, fmt.Errorf("HTTP %d %s %v", status, data, err))
		return
	}
	job := findID(data)
	if job == "" {
		b.fail(name, importTarget, fmt.Errorf("no job id in %s", data))
		return
	}
	for {
		status, data, err = b.do(http.MethodGet, "/api/collections/import_jobs/records/"+job, nil, "")
		if err != nil || status != http.StatusOK {
			b.fail(name, importTarget, fmt.Errorf("job %s: HTTP %d %s %v", job, status, data, err))
			return
		}
		var j struct {
			Status string          `json:"status"`
			Error  string          `json:"error"`
			Counts json.RawMessage `json:"counts"`
		}
		_ = json.Unmarshal(data, &j)
		if j.Status == "failed" || j.Status == "cancelled" {
			b.fail(name, importTarget, fmt.Errorf("job %s %s: %s", job, j.Status, j.Error))
			return
		}
		if j.Status == "completed" {
			break
		}
		// 500 rows/s, 1/20 of the target, is as long as the run waits
		if limit := max(time.Minute, time.Duration(b.m.CSVRows/500)*time.Second); time.Since(start) > limit {
			b.fail(name, importTarget, fmt.Errorf("job %s still %q after %s (counts %s)", job, j.Status, limit, j.Counts))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	d := time.Since(start)
	peak, _ := procStatus(pid, "VmHWM")
	b.notef("import via the route: server peak RSS is the whole server's during the job")
	b.importRows(name, d, peak, b.importBaseline, b.importBaselineD, b.importBaselineRSS)
}

func findID(data []byte) string {
	var v map[string]any
	_ = json.Unmarshal(data, &v)
	for _, k := range []string{"id", "job", "jobId", "job_id"} {
		switch t := v[k].(type) {
		case string:
			return t
		case map[string]any:
			if s, ok := t["id"].(string); ok {
				return s
			}
		}
	}
	return ""
}

// checkImported counts what the import wrote, so a fast import that
// dropped rows does not pass unnoticed.
func (b *bench) checkImported() {
	if !b.imported {
		return
	}
	status, data, err := b.do(http.MethodGet, "/api/collections/contacts/records?perPage=1&filter="+
		q(`workspace="`+b.m.ImportWorkspace+`"`), nil, "")
	var r struct {
		TotalItems int `json:"totalItems"`
	}
	if err == nil && status == http.StatusOK && json.Unmarshal(data, &r) == nil {
		b.notef("import wrote %d contacts from %d CSV rows (%d dirty rows, %d of them invalid by design)",
			r.TotalItems, b.m.CSVRows, b.m.CSVDirtyRows, b.m.CSVInvalidRows)
	}
}

// export: the whole main workspace as CSV through the route (or the CLI).
func (b *bench) export() {
	const target = "≥ 100,000 rows/s"
	logf("bench: export")
	base, baseErr := b.sqliteExport()
	baseline := ""
	if baseErr != nil {
		baseline = "sqlite3: " + oneLine(baseErr.Error())
	} else {
		baseline = fmt.Sprintf("sqlite3 CLI `.mode csv`: %s", rate(float64(b.m.N)/base.Seconds()))
	}
	if b.routeExists(http.MethodGet, "/api/crm/workspaces/bench-no-such/export", nil) {
		name := "CSV export, GET /api/crm/workspaces/{id}/export"
		req, _ := http.NewRequest(http.MethodGet, b.srv.base+"/api/crm/workspaces/"+b.m.Workspace+"/export", nil)
		req.Header.Set("Authorization", b.token)
		start := time.Now()
		resp, err := b.client.Do(req)
		if err != nil {
			b.fail(name, target, err)
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			msg, _ := io.ReadAll(resp.Body)
			b.fail(name, target, fmt.Errorf("HTTP %d %s", resp.StatusCode, msg))
			return
		}
		rows, err := countCSV(resp.Body)
		d := time.Since(start)
		if err != nil {
			b.fail(name, target, err)
			return
		}
		b.exportRow(name, rows, d, target, baseline, base)
		return
	}
	if b.cliHas("export") {
		name := "CSV export, `pi-crm export`"
		out := filepath.Join(b.runDir, "export.csv")
		cmd := exec.Command(b.cfg.Bin, "export", "--dir", b.dataDir, "--workspace", b.m.Workspace, "--out", out)
		var log bytes.Buffer
		cmd.Stdout, cmd.Stderr = &log, &log
		d, _, err := runTimed(cmd)
		if err != nil {
			b.fail(name, target, fmt.Errorf("%v: %s", err, lastLines(log.String(), 3)))
			return
		}
		f, err := os.Open(out)
		if err != nil {
			b.fail(name, target, err)
			return
		}
		defer f.Close()
		rows, err := countCSV(f)
		if err != nil {
			b.fail(name, target, err)
			return
		}
		b.exportRow(name, rows, d, target, baseline, base)
		return
	}
	b.add(row{"CSV export (route or `pi-crm export`)", notBuilt, target, baseline, "", notBuilt})
}

func (b *bench) exportRow(name string, rows int, d time.Duration, target, baseline string, base time.Duration) {
	r := float64(rows) / d.Seconds()
	rat := 0.0
	if base > 0 {
		rat = base.Seconds() / d.Seconds()
	}
	if rows != b.m.N {
		b.notef("export returned %d data rows for %d contacts", rows, b.m.N)
	}
	b.add(row{name, fmt.Sprintf("%s (%d rows, %s)", rate(r), rows, ms(d)), target, baseline, ratio(rat),
		verdict(r >= 100000 && rows == b.m.N)})
}

// countCSV counts the data rows of a CSV stream (quoted newlines included).
func countCSV(r io.Reader) (int, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	n := 0
	for {
		_, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return max(0, n-1), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return oneLine(strings.Join(lines, " / "))
}

var _ = gen.Version
