// Package crashtest kills a real `pi-crm serve` with SIGKILL at random
// moments of a 2,000-recipient send to the outbox, restarts it until the
// campaign is sent, and checks the ledger: every recipient has exactly one
// final row and exactly one outbox message. CRASH_TRIALS sets the number of
// trials (default 2, `make crash-test` runs 20); PICRM_BIN the binary (default
// bin/pi-crm, built by `make build`). TestServeAfterAnInterruptedImport
// (import_test.go) kills a real `pi-crm import` and starts `serve` after it.
package crashtest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	_ "github.com/pi-crm/pi-crm/migrations"
	"github.com/pi-crm/pi-crm/services/campaigns"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

const recipients = 2000

func openApp(t *testing.T, dir string, migrate bool) core.App {
	t.Helper()
	app := core.NewBaseApp(core.BaseAppConfig{DataDir: dir})
	if err := app.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	if migrate {
		if err := app.RunAllMigrations(); err != nil {
			t.Fatal(err)
		}
	}
	return app
}

// seed writes a workspace with 2,000 contacts and a campaign in "sending"
// with an approved snapshot: the server resumes it at start.
func seed(t *testing.T, dir string) string {
	app := openApp(t, dir, true)
	defer app.ClearBootstrap()
	ws := seedWorkspace(t, app)
	must(t, app.RunInTransaction(func(tx core.App) error {
		for i := range recipients {
			newRec(t, tx, "contacts", map[string]any{"workspace": ws.Id, "first_name": fmt.Sprint("C", i), "primary_email": fmt.Sprintf("c%d@example.com", i)})
		}
		return nil
	}))
	snap := campaigns.Snapshot{Channel: "email", Provider: "outbox", Template: campaigns.SnapshotTemplate{ID: "t", Name: "T", Channel: "email",
		Subject: "Hello {{first_name}}", BodyHTML: `<html><body><p>Hi {{first_name}}</p><a href="{{unsubscribe_url}}">Unsubscribe</a></body></html>`}}
	hash, err := snap.Hash()
	must(t, err)
	b, _ := json.Marshal(snap)
	c := newRec(t, app, "campaigns", map[string]any{"workspace": ws.Id, "name": "Crash", "type": "email", "status": "sending",
		"provider": "outbox", "snapshot": string(b), "snapshot_hash": hash})
	return c.Id
}

func newRec(t *testing.T, app core.App, col string, f map[string]any) *core.Record {
	c, err := app.FindCachedCollectionByNameOrId(col)
	must(t, err)
	r := core.NewRecord(c)
	for k, v := range f {
		r.Set(k, v)
	}
	must(t, app.Save(r))
	return r
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func campaignStatus(dir, id string) (string, error) {
	app := core.NewBaseApp(core.BaseAppConfig{DataDir: dir})
	if err := app.Bootstrap(); err != nil {
		return "", err
	}
	defer app.ClearBootstrap()
	var s string
	err := app.DB().NewQuery("SELECT status FROM campaigns WHERE id = {:id}").Bind(dbx.Params{"id": id}).Row(&s)
	return s, err
}

// binary is the pi-crm binary the tests run (PICRM_BIN, else bin/pi-crm);
// the test is skipped without one.
func binary(t *testing.T) string {
	bin := os.Getenv("PICRM_BIN")
	if bin == "" {
		bin = "../../bin/pi-crm"
	}
	bin, _ = filepath.Abs(bin)
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no binary at %s (make build)", bin)
	}
	return bin
}

func TestCrashTrials(t *testing.T) {
	bin := binary(t)
	trials := 2
	if v, err := strconv.Atoi(os.Getenv("CRASH_TRIALS")); err == nil && v > 0 {
		trials = v
	}
	totalKills, totalMid := 0, 0
	for trial := range trials {
		dir := t.TempDir()
		id := seed(t, dir)
		kills, midSend := 0, 0
		deadline := time.Now().Add(3 * time.Minute)
		for {
			if time.Now().After(deadline) {
				t.Fatalf("trial %d: not sent after 3 minutes", trial)
			}
			cmd := exec.Command(bin, "serve", "--dir", dir, "--http", "127.0.0.1:"+freePort(t))
			cmd.Stdout, cmd.Stderr = nil, nil
			must(t, cmd.Start())
			// kill at a random moment of start-up, ledger writing or sending;
			// after six kills the run is left to finish. The window is about
			// as long as start-up (~65 ms) and a whole send to the outbox on
			// a quiet box (~0.4 s at 5,000 msg/s): with 30–630 ms most trials
			// finished before their first kill once sends got faster (20
			// trials: 9 kills, 6 of them mid-send)
			wait := time.Duration(30+rand.IntN(350)) * time.Millisecond
			if kills >= 6 {
				wait = 20 * time.Second
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			sent := false
			for end := time.Now().Add(wait); time.Now().Before(end); {
				time.Sleep(50 * time.Millisecond)
				if s, err := campaignStatus(dir, id); err == nil && s == "sent" {
					sent = true
					break
				}
			}
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
			if sent {
				break
			}
			kills++
			if n := sentSoFar(dir, id); n > 0 && n < recipients {
				midSend++
			}
		}
		totalKills += kills
		totalMid += midSend
		check(t, dir, id, trial, kills)
	}
	t.Logf("%d trials, %d kills (%d in the middle of the send), 0 duplicates, 0 lost", trials, totalKills, totalMid)
}

// seedWorkspace writes an owner and a workspace "W" of theirs.
func seedWorkspace(t *testing.T, app core.App) *core.Record {
	users, _ := app.FindCollectionByNameOrId("users")
	u := core.NewRecord(users)
	u.SetEmail("owner@example.com")
	u.SetPassword("password-123")
	must(t, app.Save(u))
	return newRec(t, app, "workspaces", map[string]any{"name": "W", "owner": u.Id})
}

func sentSoFar(dir, id string) int {
	app := core.NewBaseApp(core.BaseAppConfig{DataDir: dir})
	if err := app.Bootstrap(); err != nil {
		return -1
	}
	defer app.ClearBootstrap()
	var n int
	_ = app.DB().NewQuery("SELECT count(*) FROM outbox_messages WHERE campaign = {:id}").Bind(dbx.Params{"id": id}).Row(&n)
	return n
}

func check(t *testing.T, dir, id string, trial, kills int) {
	app := openApp(t, dir, false)
	defer app.ClearBootstrap()
	q := func(sql string) int {
		var n int
		must(t, app.DB().NewQuery(sql).Bind(dbx.Params{"id": id}).Row(&n))
		return n
	}
	rows := q("SELECT count(*) FROM campaign_deliveries WHERE campaign = {:id}")
	sent := q("SELECT count(*) FROM campaign_deliveries WHERE campaign = {:id} AND status = 'sent'")
	contacts := q("SELECT count(DISTINCT contact) FROM campaign_deliveries WHERE campaign = {:id}")
	msgs := q("SELECT count(*) FROM outbox_messages WHERE campaign = {:id}")
	doubled := q("SELECT count(*) FROM (SELECT delivery FROM outbox_messages WHERE campaign = {:id} GROUP BY delivery HAVING count(*) > 1)")
	matched := q("SELECT count(*) FROM campaign_deliveries d JOIN outbox_messages o ON o.delivery = d.id AND o.id = d.provider_message_id WHERE d.campaign = {:id} AND d.status = 'sent'")
	t.Logf("trial %d: %d kills; rows %d, sent %d, messages %d", trial, kills, rows, sent, msgs)
	if rows != recipients || contacts != recipients || sent != recipients || msgs != recipients || doubled != 0 || matched != recipients {
		t.Fatalf("trial %d: rows %d contacts %d sent %d messages %d doubled %d matched %d", trial, rows, contacts, sent, msgs, doubled, matched)
	}
}
