package crashtest

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/services/duplicates"
	"github.com/pocketbase/pocketbase/core"
)

// importState is an import job's status and the contacts it committed, read
// from another process's data directory.
func importState(dir string) (status string, contacts int, err error) {
	app := core.NewBaseApp(core.BaseAppConfig{DataDir: dir})
	if err := app.Bootstrap(); err != nil {
		return "", 0, err
	}
	defer app.ClearBootstrap()
	_ = app.DB().NewQuery("SELECT status FROM import_jobs ORDER BY created DESC LIMIT 1").Row(&status)
	err = app.DB().NewQuery("SELECT count(*) FROM contacts").Row(&contacts)
	return status, contacts, err
}

func matchKeysWritten(dir string) error {
	app := core.NewBaseApp(core.BaseAppConfig{DataDir: dir})
	if err := app.Bootstrap(); err != nil {
		return err
	}
	defer app.ClearBootstrap()
	return duplicates.CheckMatchKeys(app)
}

// A real `pi-crm import` killed with SIGKILL after its first batches
// committed, then a real `pi-crm serve` on its data directory: the server
// answers, marks the job failed and writes the match keys the job had
// deferred (in the background, after it began to listen: hooks/imports.go).
func TestServeAfterAnInterruptedImport(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	app := openApp(t, dir, true)
	ws := seedWorkspace(t, app)
	// the nightly insights job would catch up in the server's first minute,
	// and its duplicates metric settles the keys too: off, so that only the
	// start-up's own settling can write them
	newRec(t, app, "system_settings", map[string]any{"scope": "system", "setting_key": "insights.nightly_at", "setting_value": "off"})
	app.ClearBootstrap()

	const rows = 60000 // a whole import takes seconds: the kill lands after its first commits
	var csv strings.Builder
	csv.WriteString("first_name,last_name,primary_email,company\n")
	for i := range rows {
		fmt.Fprintf(&csv, "F%d,L%d,p%d@example.com,Co %d\n", i, i%977, i, i%131)
	}
	file := filepath.Join(t.TempDir(), "people.csv")
	must(t, os.WriteFile(file, []byte(csv.String()), 0o600))

	imp := exec.Command(bin, "import", "--dir", dir, "--workspace", ws.Id, file)
	must(t, imp.Start())
	killed := false
	for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if _, n, err := importState(dir); err == nil && n > 0 {
			must(t, imp.Process.Signal(syscall.SIGKILL))
			killed = true
			break
		}
	}
	_ = imp.Wait()
	if !killed {
		t.Fatal("the import committed nothing within a minute")
	}
	status, committed, err := importState(dir)
	must(t, err)
	if status != "running" || committed == 0 || committed >= rows {
		t.Fatalf("after the kill: job %q, %d of %d contacts committed: the kill did not land mid-import", status, committed, rows)
	}
	if matchKeysWritten(dir) == nil {
		t.Fatal("the committed batches' match keys were written before the job ended: nothing tests their recovery")
	}

	port := freePort(t)
	srv := exec.Command(bin, "serve", "--dir", dir, "--http", "127.0.0.1:"+port)
	must(t, srv.Start())
	defer func() {
		_ = srv.Process.Signal(syscall.SIGKILL)
		_ = srv.Wait()
	}()
	up := false
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end) && !up; time.Sleep(20 * time.Millisecond) {
		if res, err := http.Get("http://127.0.0.1:" + port + "/api/health"); err == nil {
			up = res.StatusCode == http.StatusOK
			res.Body.Close()
		}
	}
	if !up {
		t.Fatal("serve did not answer /api/health within 30 s")
	}
	var keysErr error
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if status, _, _ = importState(dir); status == "failed" {
			if keysErr = matchKeysWritten(dir); keysErr == nil {
				break
			}
		}
	}
	if status != "failed" || keysErr != nil {
		t.Fatalf("30 s after the start: job %q, match keys: %v", status, keysErr)
	}
	var counts string
	a := openApp(t, dir, false)
	defer a.ClearBootstrap()
	_ = a.DB().NewQuery("SELECT counts FROM import_jobs").Row(&counts)
	t.Logf("%d of %d rows committed before the kill; the job ends failed with counts %s and its keys written", committed, rows, counts)
}
