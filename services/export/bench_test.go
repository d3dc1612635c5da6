package export_test

import (
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/export"
	"github.com/pi-crm/pi-crm/services/imports"
	"github.com/pi-crm/pi-crm/services/search"
)

// BenchmarkExport: rows/s exporting BENCH_N contacts with 10 custom values.
//
//	go test ./services/export -run '^$' -bench Export -benchtime 3x
func BenchmarkExport(b *testing.B) {
	n := testutil.BenchN()
	path := testutil.BenchCSV(b, n)
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
	c0 := testutil.CPUTime()
	for i := 0; i < b.N; i++ {
		k, err := f.exp.Export(io.Discard, export.Query{Query: search.Query{Workspace: f.ws.Id}})
		if err != nil || k != n {
			b.Fatalf("%d %v", k, err)
		}
		rows += k
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(rows)/(testutil.CPUTime()-c0).Seconds(), "rows/cpu-s")
	b.ReportMetric(testutil.PeakRSSMB(), "peak_MB")
}
