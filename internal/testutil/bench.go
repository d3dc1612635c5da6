package testutil

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Helpers of the import and export benchmarks: the same file and the same
// measures for both.

// BenchN is the number of rows (BENCH_N, default 10,000).
func BenchN() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_N")); err == nil && n > 0 {
		return n
	}
	return 10_000
}

// BenchCSV writes n rows of 6 base columns (created is ignored by the
// import, as in an export from another CRM) and 10 custom columns.
func BenchCSV(b testing.TB, n int) string {
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

// CPUTime is the process's user+system CPU time. The benchmarks report
// work per CPU second beside work per wall second: the box is shared, and
// under load the wall-clock figure mostly measures the neighbours.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// PeakRSSMB is the process's peak resident memory (VmHWM) in MB.
func PeakRSSMB() float64 {
	kb, _ := StatusKB("VmHWM")
	return float64(kb) / 1024
}

// StatusKB reads a field in kB of the process's /proc/self/status (VmHWM,
// VmRSS, RssAnon, RssFile).
func StatusKB(field string) (int, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		}
	}
	return 0, fmt.Errorf("%s not in /proc/self/status", field)
}
