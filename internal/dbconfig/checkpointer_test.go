package dbconfig_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/internal/dbconfig"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase"
	"github.com/pocketbase/pocketbase/core"
)

// inFileAlone counts the rows of table ck in a copy of the database file
// without its WAL: what a checkpoint has copied into the file; -1 when the
// file has no such table yet.
func inFileAlone(t *testing.T, dir string) int {
	t.Helper()
	src, err := os.Open(filepath.Join(dir, "data.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	path := filepath.Join(t.TempDir(), "alone.db")
	dst, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	_ = dst.Close()
	db, err := dbx.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.NewQuery("SELECT count(*) FROM ck").Row(&n); err != nil {
		return -1
	}
	return n
}

func writeRows(t *testing.T, app core.App, n int) {
	t.Helper()
	if _, err := app.NonconcurrentDB().NewQuery("CREATE TABLE IF NOT EXISTS ck (v TEXT)").Execute(); err != nil {
		t.Fatal(err)
	}
	for range n {
		if _, err := app.NonconcurrentDB().NewQuery("INSERT INTO ck (v) VALUES ('x')").Execute(); err != nil {
			t.Fatal(err)
		}
	}
}

func newApp(t *testing.T, checkpointer bool) (core.App, string) {
	dir := t.TempDir()
	cfg := pocketbase.Config{DefaultDataDir: dir}
	dbconfig.Apply(&cfg)
	app := pocketbase.NewWithConfig(cfg)
	if checkpointer {
		dbconfig.RegisterCheckpointer(app)
	}
	if err := app.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = app.OnTerminate().Trigger(&core.TerminateEvent{App: app}, func(e *core.TerminateEvent) error { return e.Next() })
		_ = app.ClearBootstrap()
	})
	return app, dir
}

// Without the checkpointer a few small commits stay in the WAL (the writer
// checkpoints only at its bound), so the test below is not vacuous.
func TestWriterLeavesSmallCommitsInTheWAL(t *testing.T) {
	app, dir := newApp(t, false)
	writeRows(t, app, 20)
	time.Sleep(3 * dbconfig.CheckpointEvery)
	if n := inFileAlone(t, dir); n != -1 {
		t.Fatalf("the database file alone has %d rows: something checkpointed", n)
	}
}

// The checkpointer copies what the writer commits into the database file,
// after every bootstrap (a backup restore bootstraps again), and stops with
// the app.
func TestCheckpointerCopiesTheWAL(t *testing.T) {
	app, dir := newApp(t, true)
	want := 0
	for round := range 2 {
		if round > 0 {
			if err := app.ClearBootstrap(); err != nil {
				t.Fatal(err)
			}
			if err := app.Bootstrap(); err != nil {
				t.Fatal(err)
			}
		}
		writeRows(t, app, 20)
		want += 20
		deadline := time.Now().Add(5 * time.Second)
		for inFileAlone(t, dir) != want {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the database file alone has %d rows after 5 s, want %d", round, inFileAlone(t, dir), want)
			}
			time.Sleep(dbconfig.CheckpointEvery / 2)
		}
	}
}

// Stop waits for the goroutine and may be called twice.
func TestCheckpointerStops(t *testing.T) {
	app, _ := newApp(t, false)
	c := dbconfig.StartCheckpointer(app.ConcurrentDB(), time.Millisecond)
	time.Sleep(10 * time.Millisecond)
	done := make(chan struct{})
	go func() {
		c.Stop()
		c.Stop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return")
	}
}
