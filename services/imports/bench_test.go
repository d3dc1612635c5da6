package imports_test

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/imports"
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

// BenchmarkImport: contacts/s for a file of BENCH_N rows, 6 base + 10
// custom columns, mode create, into an empty workspace (11 row writes per
// contact in the EAV layout, plus its read copy, default-list assignment
// and timeline entry). peak_MB is the process's VmHWM (test app included).
//
//	go test ./services/imports -run '^$' -bench Import -benchtime 1x [BENCH_N=100000]
func BenchmarkImport(b *testing.B) {
	n := benchN()
	path := benchFile(b, n)
	f := newBenchFixture(b)
	for i := 0; i < 10; i++ {
		typ := "text"
		if i%2 == 1 {
			typ = "number"
		}
		f.env.Create("custom_field_definitions", map[string]any{"user": f.owner.Id, "field_name": fmt.Sprintf("c%d", i), "label": fmt.Sprintf("C%d", i), "field_type": typ})
	}
	f.env.Create("contact_lists", map[string]any{"workspace": f.ws.Id, "name": "Default", "is_primary": true})
	b.ResetTimer()
	var total int
	var cpu time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ws := f.env.Workspace(fmt.Sprintf("Bench %d", i), f.owner, nil)
		src, _ := os.Open(path)
		c0 := cpuTime()
		b.StartTimer()
		_, c, err := f.svc.RunLocal(imports.Input{Workspace: ws.Id, FileName: "bench.csv", Options: imports.Options{Mode: imports.ModeCreate},
			Actor: audit.Actor{UserID: f.owner.Id}}, src, nil)
		b.StopTimer()
		cpu += cpuTime() - c0
		src.Close()
		if err != nil || c.Created != n {
			b.Fatalf("%+v %v", c, err)
		}
		total += c.Created
		b.StartTimer()
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "contacts/s")
	b.ReportMetric(float64(total)/cpu.Seconds(), "contacts/cpu-s")
	b.ReportMetric(vmHWM(), "peak_MB")
}
