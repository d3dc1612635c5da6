// sendprof sends a campaign in-process with a CPU profile: on a data
// directory a send benchmark left (BENCH_ONLY=send BENCH_KEEP=1 make bench
// keeps $BENCH_DIR/run-…/pb_data, with the bench template, the smtp provider
// and the two campaigns sent), it copies the last campaign of the provider
// (its approved snapshot) into a new one in "sending" and runs the server's
// engine (hooks.SendingEngine) until it is sent, and prints the rate. It is
// how the "where the time goes" figures of docs/BENCHMARKS.md were taken:
//
//	bin/smtpsink -addr 127.0.0.1:PORT &      # for smtp: the port the provider names
//	PROF=/tmp/send.prof go run ./bench/cmd/sendprof RUN_DIR/pb_data outbox|smtp
//	go tool pprof -top -cum /tmp/send.prof
//
// MEMPROF=/tmp/send.mem writes the allocation profile too; TRACE=/tmp/send.trace
// an execution trace of seconds 5 to 10 of the send (go tool trace -pprof=sched
// /tmp/send.trace: where goroutines waited for a CPU; sync: for each other).
//
// It changes the data directory it is given.
package main

import (
	"runtime/metrics"

	"cmp"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"time"

	"github.com/pi-crm/pi-crm/hooks"
	"github.com/pi-crm/pi-crm/internal/dbconfig"
	"github.com/pi-crm/pi-crm/internal/testutil"
	_ "github.com/pi-crm/pi-crm/migrations"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase"
	"github.com/pocketbase/pocketbase/core"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: sendprof DATA_DIR (outbox | smtp)")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(dir, provider string) error {
	cfg := pocketbase.Config{DefaultDataDir: dir}
	dbconfig.Apply(&cfg)
	app := pocketbase.NewWithConfig(cfg)
	hooks.Register(app, hooks.Config{})
	if err := app.Bootstrap(); err != nil {
		return err
	}
	// the data directory may come from an older build (BENCH_KEEP=1): its
	// schema must be this build's, as serve would make it
	if err := app.RunAllMigrations(); err != nil {
		return err
	}
	eng := hooks.SendingEngine(app)
	if eng == nil {
		return fmt.Errorf("no sending engine in hooks.Register")
	}
	var src []*core.Record
	if err := app.RecordQuery("campaigns").AndWhere(dbx.HashExp{"provider": provider, "status": "sent"}).
		OrderBy("created DESC").Limit(1).All(&src); err != nil || len(src) == 0 {
		return fmt.Errorf("no sent %s campaign in %s (run the send benchmark with BENCH_KEEP=1): %v", provider, dir, err)
	}
	col, err := app.FindCollectionByNameOrId("campaigns")
	if err != nil {
		return err
	}
	c := core.NewRecord(col)
	for _, f := range []string{"workspace", "type", "template", "segment", "provider", "created_by", "snapshot", "snapshot_hash",
		"submitted_by", "submitted_at", "approved_by", "approved_at"} {
		c.Set(f, src[0].Get(f))
	}
	c.Set("name", "sendprof "+provider)
	c.Set("status", "sending")
	c.Set("started_at", time.Now().UTC())
	if err := app.Save(c); err != nil {
		return err
	}

	prof, err := os.Create(cmp.Or(os.Getenv("PROF"), os.DevNull))
	if err != nil {
		return err
	}
	defer prof.Close()
	if err := pprof.StartCPUProfile(prof); err != nil {
		return err
	}
	peaks := sampleMemory()
	start := time.Now()
	if path := os.Getenv("HEAPPROF"); path != "" { // the live heap 5 s into the send (go tool pprof -sample_index=inuse_space)
		time.AfterFunc(5*time.Second, func() {
			if f, err := os.Create(path); err == nil {
				_ = pprof.Lookup("heap").WriteTo(f, 0)
				_ = f.Close()
			}
		})
	}
	if path := os.Getenv("TRACE"); path != "" { // an execution trace of seconds 5–10 (go tool trace -pprof=sched|sync|net|syscall)
		time.AfterFunc(5*time.Second, func() {
			f, err := os.Create(path)
			if err != nil {
				return
			}
			if trace.Start(f) != nil {
				_ = f.Close()
				return
			}
			time.AfterFunc(5*time.Second, func() { trace.Stop(); _ = f.Close() })
		})
	}
	eng.Kick(c.Id)
	if err := eng.WaitIdle(context.Background()); err != nil {
		return err
	}
	d := time.Since(start)
	pprof.StopCPUProfile()
	fmt.Println(peaks())
	eng.Stop()

	var r struct {
		Status string `db:"status"`
		Sent   int    `db:"sent"`
	}
	if err := app.DB().NewQuery(`SELECT c.status, (SELECT count(*) FROM campaign_deliveries d WHERE d.campaign = c.id AND d.status = 'sent') AS sent
		FROM campaigns c WHERE c.id = {:id}`).Bind(dbx.Params{"id": c.Id}).One(&r); err != nil {
		return err
	}
	if path := os.Getenv("MEMPROF"); path != "" { // what was allocated during the send (go tool pprof -sample_index=alloc_space)
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			return err
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("%s: campaign %s %s, %d sent in %v: %.0f msg/s (heap in use at the end %d MB, total allocated %d MB)\n",
		provider, c.Id, r.Status, r.Sent, d.Round(time.Millisecond), float64(r.Sent)/d.Seconds(), ms.HeapInuse>>20, ms.TotalAlloc>>20)
	return nil
}

// sampleMemory polls, every 50 ms until the answer is asked for, the
// process's RssAnon and RssFile, the Go runtime's mapped memory (not
// returned to the OS) and its heap objects; it answers each one's peak.
// (What RssAnon holds beyond the Go runtime's is SQLite's: page caches,
// statements and sorts in modernc's allocator. sqlite3_memory_used would
// say how much, but modernc builds SQLite without memory statistics.)
func sampleMemory() func() string {
	stop := make(chan struct{})
	done := make(chan string)
	go func() {
		samples := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"},
			{Name: "/memory/classes/heap/objects:bytes"}}
		var anon, file, goMapped, goObjects int64
		first := ""
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(samples)
			goMapped = max(goMapped, int64(samples[0].Value.Uint64()-samples[1].Value.Uint64()))
			goObjects = max(goObjects, int64(samples[2].Value.Uint64()))
			if kb, err := testutil.StatusKB("RssAnon"); err == nil {
				anon = max(anon, int64(kb)<<10)
			}
			if kb, err := testutil.StatusKB("RssFile"); err == nil {
				file = max(file, int64(kb)<<10)
			}
			if first == "" {
				first = fmt.Sprintf("at the start: RssAnon %d MB, RssFile %d MB, Go mapped %d MB; ", anon>>20, file>>20, goMapped>>20)
			}
			select {
			case <-stop:
				done <- first + fmt.Sprintf("peaks: RssAnon %d MB, RssFile %d MB; Go mapped %d MB, heap objects %d MB",
					anon>>20, file>>20, goMapped>>20, goObjects>>20)
				return
			case <-tick.C:
			}
		}
	}()
	return func() string { close(stop); return <-done }
}
