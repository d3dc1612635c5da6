package backups_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/services/backups"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"
)

// A server (OnServe) holds the data directory's lock until it terminates;
// the lock file stays out of the archives.
func TestServeHoldsTheLock(t *testing.T) {
	// PocketBase alone (our hooks' OnServe wants a router)
	app, err := tests.NewTestApp(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer app.Cleanup()
	backups.Register(app, backups.Config{Location: time.UTC})
	se := &core.ServeEvent{App: app, Server: &http.Server{}}
	if err := app.OnServe().Trigger(se, func(e *core.ServeEvent) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := backups.Acquire(app.DataDir()); err != backups.ErrDataDirInUse {
		t.Fatalf("while serving: %v", err)
	}
	// a second server on the same directory refuses to start
	if err := app.OnServe().Trigger(&core.ServeEvent{App: app, Server: &http.Server{}}, func(e *core.ServeEvent) error { return nil }); err != backups.ErrDataDirInUse {
		t.Fatalf("a second serve: %v", err)
	}
	b, err := backups.Create(t.Context(), app, "")
	if err != nil {
		t.Fatal(err)
	}
	if b.Size == 0 || b.Name == "" {
		t.Fatalf("backup %+v", b)
	}
	if err := app.OnTerminate().Trigger(&core.TerminateEvent{App: app}, func(e *core.TerminateEvent) error { return nil }); err != nil {
		t.Fatal(err)
	}
	l, err := backups.Acquire(app.DataDir())
	if err != nil {
		t.Fatalf("after terminate: %v", err)
	}
	_ = l.Release()
}
