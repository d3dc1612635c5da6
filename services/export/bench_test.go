package export_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/services/export"
	"github.com/pi-crm/pi-crm/services/imports"
	"github.com/pi-crm/pi-crm/services/search"
)

// benchN is the number of rows (BENCH_N, default 10,000).
func benchN() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_N")); err == nil && n > 0 {
		return n
	}
	return 10_000
}

// benchFile writes n rows of 6 base columns (created is ignored by the
// import, as in an export from another CRM) and 10 custom columns.
func benchFile(b *testing.B, n int) string {
	path := b.TempDir() + "/bench.csv"
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString("first_name,last_name,primary_email,primary_phone,company,created")
	for i := 0; i < 10; i++ {
		fmt.Fprintf(w, ",c%d", i)
	}
	w.WriteString("\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(w, "First%d,Last%d,user%d@example.com,+44207%07d,Company %d,2024-01-01", i, i, i, i%10_000_000, i%1000)
		for c := 0; c < 10; c++ {
			if c%2 == 0 {
				fmt.Fprintf(w, ",value %d-%d", c, i%500)
			} else {
				fmt.Fprintf(w, ",%d", i*c)
			}
		}
		w.WriteString("\n")
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	return path
}

// cpuTime is the process's user+system CPU time. The benchmarks report
// work per CPU second beside work per wall second: the box is shared, and
// under load the wall-clock figure mostly measures the neighbours.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func vmHWM() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

// BenchmarkExport: rows/s exporting BENCH_N contacts with 10 custom values.
//
//	go test ./services/export -run '^$' -bench Export -benchtime 3x
func BenchmarkExport(b *testing.B) {
	n := benchN()
	path := benchFile(b, n)
	f := newBenchFixture(b)
	for i := 0; i < 10; i++ {
		f.env.Create("custom_field_definitions", map[string]any{"user": f.owner.Id, "field_name": fmt.Sprintf("c%d", i), "label": fmt.Sprintf("C%d", i), "field_type": "text"})
	}
	src, _ := os.Open(path)
	if _, _, err := f.svc.RunLocal(imports.Input{Workspace: f.ws.Id, FileName: "bench.csv", Options: imports.Options{Mode: imports.ModeCreate}}, src, nil); err != nil {
		b.Fatal(err)
	}
	src.Close()
	b.ResetTimer()
	rows := 0
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		k, err := f.exp.Export(io.Discard, export.Query{Query: search.Query{Workspace: f.ws.Id}})
		if err != nil || k != n {
			b.Fatalf("%d %v", k, err)
		}
		rows += k
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(rows)/(cpuTime()-c0).Seconds(), "rows/cpu-s")
	b.ReportMetric(vmHWM(), "peak_MB")
}
