package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/pi-crm/pi-crm/bench/gen"
	"github.com/pi-crm/pi-crm/bench/load"
)

// row is one line of the results table. Ratio is always "times better than
// the baseline" (> 1 is better): figure/baseline for throughput,
// baseline/figure for latency and memory.
type row struct {
	name, figure, target, baseline, ratio, result string
}

const notBuilt = "n/a (not built)"

type bench struct {
	cfg     config
	m       *gen.Manifest
	dsDir   string
	runDir  string
	dataDir string
	srv     *server
	client  *http.Client
	token   string
	rows    []row
	notes   []string
	started time.Time

	// import: the sqlite3 baseline is measured before the server starts;
	// when there is no CLI command the route is tried once it runs
	plain             plainResult
	importPending     bool
	importBaseline    string
	importBaselineD   time.Duration
	importFloorCLI    time.Duration // engineTimes
	importFloor       time.Duration
	importFloorErr    error
	importBaselineRSS int
	imported          bool
}

func (b *bench) add(r row) { b.rows = append(b.rows, r) }
func (b *bench) notef(format string, args ...any) {
	b.notes = append(b.notes, fmt.Sprintf(format, args...))
}
func (b *bench) fail(name, target string, err error) {
	b.add(row{name, "error", target, "", "", "error: " + oneLine(err.Error())})
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return strings.ReplaceAll(s, "|", "/")
}

func run(cfg config, dsDir string, m *gen.Manifest) error {
	b := &bench{cfg: cfg, m: m, dsDir: dsDir, started: time.Now(), client: load.Client(cfg.Conns)}
	if _, err := os.Stat(cfg.Bin); err != nil {
		return fmt.Errorf("binary %s: %w (run `make build` first)", cfg.Bin, err)
	}
	var err error
	if b.runDir, err = os.MkdirTemp(cfg.Dir, "run-"); err != nil {
		return err
	}
	if !cfg.Keep {
		defer os.RemoveAll(b.runDir)
	}
	// the binaries measured are copied first: bin/ may be rebuilt by
	// someone else while a long run is in progress
	for _, bin := range []*string{&b.cfg.Bin, &b.cfg.PlainBin, &b.cfg.SinkBin} {
		if _, err := os.Stat(*bin); err != nil {
			continue
		}
		snap := filepath.Join(b.runDir, filepath.Base(*bin))
		if err := copyFile(*bin, snap); err != nil {
			return err
		}
		*bin = snap
	}
	b.dataDir = filepath.Join(b.runDir, "pb_data")
	if err := copyDir(filepath.Join(dsDir, m.DataDir), b.dataDir); err != nil {
		return err
	}
	loadStart := loadAvg()

	// the CLI import writes the data directory directly: before the server
	// starts, so the two never compete for the writer
	only := cfg.Only != ""
	if !only || cfg.Only == "import" {
		b.importCLI()
	}
	if !only {
		// stock PocketBase on the same data directory, before ours: the
		// baselines of cold start, memory and the plain list
		b.plain = b.plainServer()
	}

	srv, cold, err := startServer(cfg.Bin, b.dataDir, filepath.Join(b.runDir, "server.log"))
	if err != nil {
		return err
	}
	b.srv = srv
	defer srv.stop()
	bl, rat := "", ""
	if b.plain.ok {
		bl, rat = "stock PocketBase: "+ms(b.plain.cold), speedup(b.plain.cold, cold)
	}
	b.add(row{"cold start to first 200 (`serve`, /api/health)", ms(cold), "≤ 1 s", bl, rat, verdict(cold <= time.Second)})

	if err := b.nightlyOff(); err != nil { // nightly.go: before any row is measured
		return err
	}
	time.Sleep(3 * time.Second) // let start-up garbage be collected
	idle, _ := procStatus(srv.pid(), "VmRSS")
	bl, rat = "DESIGN.md reference: plain PocketBase 24 MB", ""
	if b.plain.ok {
		bl, rat = "stock PocketBase: "+mb(b.plain.idle), ratio(float64(b.plain.idle)/float64(idle))
	}
	b.add(row{"server RSS idle", mb(idle), "≤ 40 MB", bl, rat, verdict(idle <= 40*1024)})
	footprint := cfg.Only == "" || cfg.Only == "backup"
	if footprint {
		b.binarySize()
		b.idleWrites() // footprint.go: still idle here
	}

	if b.token, err = b.auth(); err != nil {
		return err
	}
	if !only {
		b.importRoute()
		b.list()
		b.filter()
		b.search()
		b.merge()
		b.export()
		b.checkImported()
	}
	if cfg.Only == "list" {
		b.list()
		b.filter() // the read rows with a latency target: at 1M they are what this subset is run for
		b.search()
	}
	if footprint {
		b.backupUnderWrites() // backup.go: on the data set before the sends grow it
	}
	// last: the two campaigns write 2 × N ledger rows, N outbox messages
	// and 2 × N timeline entries into the Bench workspace
	if cfg.Only == "" || cfg.Only == "send" {
		b.send()
	}
	if footprint {
		b.sendWrites() // footprint.go: a ~N/10-message outbox send
	}

	b.print(loadStart, loadAvg())
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func ms(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000)
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

func mb(kb int) string { return fmt.Sprintf("%.0f MB", float64(kb)/1024) }

func ratio(x float64) string {
	if x <= 0 {
		return ""
	}
	return fmt.Sprintf("%.2f×", x)
}

func rate(x float64) string {
	if x >= 10000 {
		return fmt.Sprintf("%s/s", thousands(int(x+0.5)))
	}
	return fmt.Sprintf("%.0f/s", x)
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// --- HTTP helpers ---

func (b *bench) do(method, path string, body io.Reader, contentType string) (int, []byte, error) {
	req, err := http.NewRequest(method, b.srv.base+path, body)
	if err != nil {
		return 0, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if b.token != "" {
		req.Header.Set("Authorization", b.token)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

func (b *bench) doJSON(method, path string, v any) (int, []byte, error) {
	var body io.Reader
	if v != nil {
		j, _ := json.Marshal(v)
		body = bytes.NewReader(j)
	}
	return b.do(method, path, body, "application/json")
}

func (b *bench) auth() (string, error) {
	status, body, err := b.doJSON(http.MethodPost, "/api/collections/users/auth-with-password",
		map[string]string{"identity": b.m.UserEmail, "password": b.m.Password})
	if err != nil || status != http.StatusOK {
		return "", fmt.Errorf("auth: HTTP %d %s %v", status, body, err)
	}
	var r struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Token == "" {
		return "", fmt.Errorf("auth: no token in %s", body)
	}
	return r.Token, nil
}

// routeExists tells a registered custom route from a missing one: a
// missing /api/ path is PocketBase's generic 404 without an error code,
// while our routes answer bad input with a coded error (apperr).
func (b *bench) routeExists(method, path string, body any) bool {
	status, data, err := b.doJSON(method, path, body)
	if err != nil {
		return false
	}
	if status != http.StatusNotFound {
		return true
	}
	var e struct {
		Data map[string]any `json:"data"`
	}
	_ = json.Unmarshal(data, &e)
	_, coded := e.Data["code"]
	return coded
}

// cliHas tells whether the binary has a subcommand.
func (b *bench) cliHas(sub string) bool {
	return exec.Command(b.cfg.Bin, sub, "--help").Run() == nil
}

// requestOn returns a load.Request for GET paths chosen per request.
func (b *bench) requestOn(srv *server, path func(w, n int) string) load.Request {
	return func(w, n int) (*http.Request, error) {
		req, err := http.NewRequest(http.MethodGet, srv.base+path(w, n), nil)
		if err != nil {
			return nil, err
		}
		if b.token != "" {
			req.Header.Set("Authorization", b.token)
		}
		return req, nil
	}
}

func (b *bench) loadRun(conns int, path func(w, n int) string) load.Result {
	return b.loadRunOn(b.srv, conns, path)
}

func (b *bench) loadRunOn(srv *server, conns int, path func(w, n int) string) load.Result {
	res := load.Run(b.client, conns, b.cfg.Window, b.requestOn(srv, path))
	if res.Errors > 0 {
		b.notef("%d of %d requests failed (%s)", res.Errors, res.Requests, res.FirstErr)
	}
	return res
}

func q(s string) string { return url.QueryEscape(s) }

func throughput(r load.Result) string {
	return fmt.Sprintf("%s req/s, p50 %s, p99 %s", thousands(int(r.RPS()+0.5)), ms(r.P50), ms(r.P99))
}

func latency(r load.Result) string {
	return fmt.Sprintf("p50 %s, p99 %s", ms(r.P50), ms(r.P99))
}

func speedup(base, fig time.Duration) string {
	if fig <= 0 || base <= 0 {
		return ""
	}
	return ratio(float64(base) / float64(fig))
}

// print writes the report: the machine, the run's settings, the table and
// the notes, to stdout, to $BENCH_DIR/last-results.md and to $BENCH_OUT.
func (b *bench) print(loadStart, loadEnd string) {
	var w strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&w, "pi-crm benchmarks, %s\n\n", time.Now().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&w, "- machine: %s, %d cores (nproc), %s, host %s\n", cpuModel(), nproc(), goVersion(), host)
	fmt.Fprintf(&w, "- load average (1/5/15 min): %s at start, %s at end\n", loadStart, loadEnd)
	fmt.Fprintf(&w, "- data: %s contacts × 10 custom fields (seed %d), %d merge pairs; load: %s per measurement, %d connections for lists, %d for latency rows\n",
		thousands(b.m.N), b.m.Seed, len(b.m.MergePairs), b.cfg.Window, b.cfg.Conns, b.cfg.LatConns)
	fmt.Fprintf(&w, "- run time: %s\n\n", time.Since(b.started).Round(time.Second))
	fmt.Fprintln(&w, "| measurement | figure | target (DESIGN.md) | baseline (same run) | ratio | result |")
	fmt.Fprintln(&w, "| --- | --- | --- | --- | --- | --- |")
	for _, r := range b.rows {
		fmt.Fprintf(&w, "| %s | %s | %s | %s | %s | %s |\n", r.name, r.figure, r.target, r.baseline, r.ratio, r.result)
	}
	if len(b.notes) > 0 {
		fmt.Fprintln(&w, "\nNotes:")
		for _, n := range b.notes {
			fmt.Fprintf(&w, "- %s\n", n)
		}
	}
	fmt.Fprintln(&w, "\nratio: times better than the baseline (> 1 is better): figure/baseline for throughput, baseline/figure for latency and memory.")
	fmt.Print(w.String())
	_ = os.WriteFile(filepath.Join(b.cfg.Dir, "last-results.md"), []byte(w.String()), 0o644)
	if b.cfg.Out != "" {
		if err := os.WriteFile(b.cfg.Out, []byte(w.String()), 0o644); err != nil {
			logf("bench: writing %s: %v", b.cfg.Out, err)
		}
	}
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func nproc() int { return runtime.NumCPU() }

func goVersion() string { return runtime.Version() }
