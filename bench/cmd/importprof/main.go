// importprof runs the import service in-process on a copy of a data set,
// with a CPU profile, and prints the time, counts and memory figures; or,
// with "export" in place of the file, three exports of the workspace. It is
// how the per-step import figures in docs/BENCHMARKS.md were taken:
//
//	cp -r $BENCH_DIR/data-…/pb_data /dev/shm/copy
//	PROF=/tmp/import.prof go run ./bench/cmd/importprof /dev/shm/copy IMPORT_WS contacts.csv
//	go tool pprof -top -cum /tmp/import.prof
//
// IMPORT_BATCH=n writes n rows per transaction instead of the service's size.
//
// It changes the data directory it is given: run it on a copy.
package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/pi-crm/pi-crm/hooks"
	"github.com/pi-crm/pi-crm/internal/dbconfig"
	_ "github.com/pi-crm/pi-crm/migrations"
	"github.com/pi-crm/pi-crm/services/contacts"
	"github.com/pi-crm/pi-crm/services/customfields"
	"github.com/pi-crm/pi-crm/services/export"
	"github.com/pi-crm/pi-crm/services/imports"
	"github.com/pi-crm/pi-crm/services/search"
	"github.com/pocketbase/pocketbase"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: importprof DATA_DIR WORKSPACE_ID (FILE.csv | export)")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2], os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(dir, ws, file string) error {
	cfg := pocketbase.Config{DefaultDataDir: dir}
	dbconfig.Apply(&cfg)
	app := pocketbase.NewWithConfig(cfg)
	hooks.Register(app, hooks.Config{})
	if err := app.Bootstrap(); err != nil {
		return err
	}
	if err := app.RunAllMigrations(); err != nil {
		return err
	}
	cs := contacts.NewService(app)
	svc := imports.NewService(app, cs, customfields.NewService(app, cs), imports.NewRunner(1), time.Now)
	if b, err := strconv.Atoi(os.Getenv("IMPORT_BATCH")); err == nil && b > 0 {
		svc.BatchSize = b // rows per transaction, to measure other sizes than the service's
	}

	prof, err := os.Create(cmp.Or(os.Getenv("PROF"), os.DevNull))
	if err != nil {
		return err
	}
	defer prof.Close()
	if err := pprof.StartCPUProfile(prof); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()

	if file == "export" {
		for i := 0; i < 3; i++ {
			t := time.Now()
			n, err := export.NewService(app, customfields.NewService(app, cs), time.Now).Export(io.Discard, export.Query{Query: search.Query{Workspace: ws}})
			if err != nil {
				return err
			}
			fmt.Printf("export: %d rows in %v, %.0f rows/s\n", n, time.Since(t), float64(n)/time.Since(t).Seconds())
		}
		return nil
	}
	src, err := os.Open(file)
	if err != nil {
		return err
	}
	defer src.Close()
	t := time.Now()
	_, n, err := svc.RunLocal(imports.Input{Workspace: ws, FileName: file, Options: imports.Options{Mode: imports.ModeCreate}}, src, nil)
	if err != nil {
		return err
	}
	fmt.Printf("import: %v, %+v\n", time.Since(t), n)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	status, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(status), "\n") {
		for _, k := range []string{"VmHWM", "VmRSS", "RssAnon", "RssFile"} {
			if strings.HasPrefix(l, k+":") {
				fmt.Println(l)
			}
		}
	}
	fmt.Printf("go heap sys %d MB, in use %d MB\n", ms.HeapSys>>20, ms.HeapInuse>>20)
	return nil
}
