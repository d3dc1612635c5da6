package imports_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/imports"
)

// BenchmarkImport: contacts/s for a file of BENCH_N rows, 6 base + 10
// custom columns, mode create, into an empty workspace (11 row writes per
// contact in the EAV layout, plus its read copy, default-list assignment
// and timeline entry). peak_MB is the process's VmHWM (test app included).
//
//	go test ./services/imports -run '^$' -bench Import -benchtime 1x [BENCH_N=100000]
func BenchmarkImport(b *testing.B) {
	n := testutil.BenchN()
	path := testutil.BenchCSV(b, n)
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
		c0 := testutil.CPUTime()
		b.StartTimer()
		_, c, err := f.svc.RunLocal(imports.Input{Workspace: ws.Id, FileName: "bench.csv", Options: imports.Options{Mode: imports.ModeCreate},
			Actor: audit.Actor{UserID: f.owner.Id}}, src, nil)
		b.StopTimer()
		cpu += testutil.CPUTime() - c0
		src.Close()
		if err != nil || c.Created != n {
			b.Fatalf("%+v %v", c, err)
		}
		total += c.Created
		b.StartTimer()
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "contacts/s")
	b.ReportMetric(float64(total)/cpu.Seconds(), "contacts/cpu-s")
	b.ReportMetric(testutil.PeakRSSMB(), "peak_MB")
}
