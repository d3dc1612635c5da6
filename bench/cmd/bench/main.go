// Command bench measures DESIGN.md's performance targets against a real
// pi-crm server, with their baselines in the same run, and prints one
// markdown table. `make bench` runs it; docs/BENCHMARKS.md explains every
// figure.
//
//	go run ./bench/cmd/bench          generate (cached) + measure
//	go run ./bench/cmd/bench gen      only generate, print the data set's directory
//
// Environment: BENCH_N (contacts, default 100000), BENCH_SEED (1),
// BENCH_SECONDS (per load measurement, 10), BENCH_CONNS (32),
// BENCH_LAT_CONNS (connections for the latency rows, 1), BENCH_MERGES (20),
// BENCH_DIR (cache and run directory, $TMPDIR/pi-crm-bench), BENCH_BIN
// (bin/pi-crm), BENCH_SQLITE3 (sqlite3), BENCH_OUT (also write the report
// to this file), BENCH_KEEP=1 (keep the run's data directory), BENCH_SINK_BIN
// (bin/smtpsink), BENCH_ONLY=send (only the cold start, idle RSS and the
// send rows), BENCH_ONLY=backup (only the cold start, idle RSS, footprint and
// backup rows), BENCH_ONLY=list (only the cold start, idle RSS, the list
// rows, the JS SDK's getList among them, and the filter and search latency
// rows), BENCH_ONLY=import (only the cold
// start, idle RSS and the CLI import with its sqlite3 baseline),
// BENCH_IDLE_SECONDS (the idle disk-writes window, 60).
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/pi-crm/pi-crm/bench/gen"
)

type config struct {
	N, Conns, LatConns, Merges int
	Seed                       uint64
	Window                     time.Duration // per load measurement (BENCH_SECONDS)
	Dir, Bin, PlainBin         string
	SinkBin                    string // bench/cmd/smtpsink, the send benchmark's SMTP server
	SQLite3, Out               string
	Only                       string // "send", "backup", "list" or "import": only the cold start, idle RSS and those rows (BENCH_ONLY)
	Keep                       bool
}

func envInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			fmt.Fprintf(os.Stderr, "bench: %s=%q is not a whole number\n", name, v)
			os.Exit(2)
		}
		return n
	}
	return def
}

func envStr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func loadConfig() config {
	c := config{
		N:        envInt("BENCH_N", 100_000),
		Seed:     uint64(envInt("BENCH_SEED", 1)),
		Window:   time.Duration(envInt("BENCH_SECONDS", 10)) * time.Second,
		Conns:    envInt("BENCH_CONNS", 32),
		LatConns: envInt("BENCH_LAT_CONNS", 1),
		Merges:   envInt("BENCH_MERGES", 20),
		Dir:      envStr("BENCH_DIR", filepath.Join(os.TempDir(), "pi-crm-bench")),
		Bin:      envStr("BENCH_BIN", "bin/pi-crm"),
		PlainBin: envStr("BENCH_PLAIN_BIN", "bin/pocketbase-plain"),
		SinkBin:  envStr("BENCH_SINK_BIN", "bin/smtpsink"),
		Only:     os.Getenv("BENCH_ONLY"),
		SQLite3:  envStr("BENCH_SQLITE3", "sqlite3"),
		Out:      os.Getenv("BENCH_OUT"),
		Keep:     os.Getenv("BENCH_KEEP") == "1",
	}
	if !slices.Contains([]string{"", "send", "backup", "list", "import"}, c.Only) {
		fmt.Fprintf(os.Stderr, "bench: BENCH_ONLY=%q: the subsets are \"send\", \"backup\", \"list\" and \"import\"\n", c.Only)
		os.Exit(2)
	}
	if c.N < 1 || c.Conns < 1 || c.LatConns < 1 || c.Window <= 0 {
		fmt.Fprintln(os.Stderr, "bench: BENCH_N, BENCH_CONNS, BENCH_LAT_CONNS and BENCH_SECONDS must be at least 1")
		os.Exit(2)
	}
	return c
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05")+" "+format+"\n", args...)
}

func main() {
	cfg := loadConfig()
	dsDir, m, err := dataset(cfg)
	if err != nil {
		logf("bench: %v", err)
		os.Exit(1)
	}
	if len(os.Args) > 1 && os.Args[1] == "gen" {
		fmt.Println(dsDir)
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "engine" {
		if err := engineCompare(dsDir, m, cfg.Dir); err != nil {
			logf("bench: %v", err)
			os.Exit(1)
		}
		return
	}
	if err := run(cfg, dsDir, m); err != nil {
		logf("bench: %v", err)
		os.Exit(1)
	}
}

// dataset returns the cached data set for (N, seed, generator version),
// generating it when missing. A data set is written to a temporary
// directory and renamed into place, so an interrupted run never leaves a
// half-written cache entry.
func dataset(cfg config) (string, *gen.Manifest, error) {
	dir := filepath.Join(cfg.Dir, fmt.Sprintf("data-n%d-s%d-m%d-v%d-%s", cfg.N, cfg.Seed, cfg.Merges, gen.Version, gen.SchemaKey()))
	if m, err := readManifest(dir); err == nil {
		logf("bench: using cached data set %s", dir)
		return dir, m, nil
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return "", nil, err
	}
	tmp, err := os.MkdirTemp(cfg.Dir, "gen-")
	if err != nil {
		return "", nil, err
	}
	logf("bench: generating %d contacts (seed %d) in %s", cfg.N, cfg.Seed, tmp)
	m, err := gen.Generate(tmp, gen.Config{N: cfg.N, Seed: cfg.Seed, MergePairs: cfg.Merges, MergeLogs: 1000, Log: logf})
	if err != nil {
		os.RemoveAll(tmp)
		return "", nil, err
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return "", nil, err
	}
	logf("bench: generated %d rows in %.1fs", m.RowsWritten, m.GeneratedSeconds)
	return dir, m, nil
}
