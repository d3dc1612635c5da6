package cmd_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/cmd"
	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/backups"
	"github.com/pi-crm/pi-crm/services/demo"
	"github.com/pocketbase/pocketbase/core"
)

// tableState is a table's row count and a hash of its rows that ignores their
// order (VACUUM INTO may renumber rowids of tables without an INTEGER PRIMARY KEY).
type tableState struct {
	Rows int
	Hash string
}

// dataState is every table of data.db and every file of the data directory
// but the databases, the backups and PocketBase's temp dir.
func dataState(t *testing.T, app core.App) (map[string]tableState, map[string]string) {
	t.Helper()
	var tables []string
	if err := app.DB().NewQuery("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").Column(&tables); err != nil {
		t.Fatal(err)
	}
	state := map[string]tableState{}
	for _, name := range tables {
		rows, err := app.DB().NewQuery("SELECT * FROM `" + name + "`").Rows()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		cols, _ := rows.Columns()
		var hashes []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			for i, v := range vals {
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				fmt.Fprintf(h, "%s=%T:%v\x00", cols[i], v, v)
			}
			hashes = append(hashes, hex.EncodeToString(h.Sum(nil)))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		sort.Strings(hashes)
		sum := sha256.Sum256([]byte(strings.Join(hashes, "\n")))
		state[name] = tableState{Rows: len(hashes), Hash: hex.EncodeToString(sum[:8])}
	}
	files := map[string]string{}
	dir := app.DataDir()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			if rel == core.LocalBackupsDirName || rel == core.LocalTempDirName {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(rel, "data.db") || strings.HasPrefix(rel, "auxiliary.db") || rel == backups.LockFileName {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		files[rel] = hex.EncodeToString(sum[:8])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return state, files
}

func count(t *testing.T, app core.App, table string) int {
	t.Helper()
	var n int
	if err := app.DB().NewQuery("SELECT count(*) FROM `" + table + "`").Row(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// The demo (contacts with custom values, lists, timeline, audit, campaigns
// with their deliveries and outbox messages) plus a CLI import with an error
// report and undo journal; `backup create`; contacts changed and deleted, a
// list deleted, the import job deleted (its files go with it), a contact
// added; `backup restore`: every table of data.db has the rows (count and a
// content hash) it had at backup time, and every file is back.
func TestBackupRestoreReturnsEveryTable(t *testing.T) {
	env := testutil.New(t)
	app := env.App
	seeder, err := demo.NewSeeder(app, "pi-crm-test-password", time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seeder.Seed(); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(t.TempDir(), "in.csv")
	if err := os.WriteFile(in, []byte("first_name,last_name,primary_email,Tier\nAda,Lovelace,ada.backup@example.com,gold\nBad,Row,not-an-email,x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ws, err := app.FindFirstRecordByData("workspaces", "name", "Andy's workspace")
	if err != nil {
		t.Fatal(err)
	}
	if _, progress, err := execute(cmd.NewImportCommand(app), "--workspace", ws.Id, "--map", "Tier=new:text:Tier", in); err != nil {
		t.Fatalf("import: %v %s", err, progress)
	}
	for _, table := range []string{"contacts", "custom_fields", "contact_lists", "contact_list_assignments", "communication_logs",
		"audit_logs", "campaigns", "campaign_deliveries", "outbox_messages", "import_jobs"} {
		if count(t, app, table) == 0 {
			t.Fatalf("the seed left %s empty: the test would prove nothing for it", table)
		}
	}
	job, err := app.FindFirstRecordByFilter("import_jobs", "workspace = {:ws}", map[string]any{"ws": ws.Id})
	if err != nil {
		t.Fatal(err)
	}
	before, beforeFiles := dataState(t, app)
	if _, ok := beforeFiles[filepath.Join("imports", job.Id, "errors.csv")]; !ok {
		t.Fatalf("no error report among the data files %v", beforeFiles)
	}

	out, _, err := execute(cmd.NewBackupCommand(app), "create", "before_changes")
	if err != nil || !strings.HasPrefix(out, "before_changes.zip ") {
		t.Fatalf("create: %v %q", err, out)
	}

	// change and delete
	contacts, err := app.FindRecordsByFilter("contacts", "workspace = {:ws}", "created", 3, 0, map[string]any{"ws": ws.Id})
	if err != nil || len(contacts) < 3 {
		t.Fatalf("contacts: %v %d", err, len(contacts))
	}
	contacts[0].Set("company", "Changed after the backup")
	if err := app.Save(contacts[0]); err != nil {
		t.Fatal(err)
	}
	for _, c := range contacts[1:] {
		if err := app.Delete(c); err != nil {
			t.Fatal(err)
		}
	}
	list, err := app.FindFirstRecordByFilter("contact_lists", "workspace = {:ws}", map[string]any{"ws": ws.Id})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Delete(list); err != nil {
		t.Fatal(err)
	}
	if err := app.Delete(job); err != nil {
		t.Fatal(err)
	}
	added := core.NewRecord(contacts[0].Collection())
	added.Load(map[string]any{"workspace": ws.Id, "first_name": "After", "last_name": "Backup", "primary_email": "after@example.com"})
	if err := app.Save(added); err != nil {
		t.Fatal(err)
	}
	changed, changedFiles := dataState(t, app)
	if changed["contacts"] == before["contacts"] || len(changedFiles) == len(beforeFiles) {
		t.Fatal("the changes did not change the contacts or the import files: the comparison below would prove nothing")
	}

	out, _, err = execute(cmd.NewBackupCommand(app), "restore", "before_changes.zip")
	if err != nil || !strings.Contains(out, "restored before_changes.zip") {
		t.Fatalf("restore: %v %q", err, out)
	}
	after, afterFiles := dataState(t, app)
	for name, want := range before {
		if got := after[name]; got != want {
			t.Errorf("%s: %d rows %s after the restore, %d rows %s at backup time", name, got.Rows, got.Hash, want.Rows, want.Hash)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("table %s appeared with the restore", name)
		}
	}
	for name, want := range beforeFiles {
		if afterFiles[name] != want {
			t.Errorf("file %s: %q after the restore, %q at backup time", name, afterFiles[name], want)
		}
	}
	for name := range afterFiles {
		if _, ok := beforeFiles[name]; !ok {
			t.Errorf("file %s appeared with the restore", name)
		}
	}
	// the restored app works: a write goes through its hooks (audit entry included)
	audits := count(t, app, "audit_logs")
	c, err := app.FindRecordById("contacts", contacts[1].Id)
	if err != nil {
		t.Fatalf("a contact deleted after the backup is not back: %v", err)
	}
	c.Set("company", "Written after the restore")
	if err := app.Save(c); err != nil {
		t.Fatal(err)
	}
	if count(t, app, "audit_logs") <= audits {
		t.Error("a write after the restore wrote no audit entry")
	}
}

// A restore is refused while another process holds the data directory (as a
// running server does) and nothing is changed; an unknown name and a bad name
// are clear errors; prune keeps the newest N.
func TestBackupRestoreRefusedWhileHeldAndPrune(t *testing.T) {
	env := testutil.New(t)
	app := env.App
	for i, name := range []string{"one", "two", "three"} {
		if _, _, err := execute(cmd.NewBackupCommand(app), "create", name); err != nil {
			t.Fatal(err)
		}
		// archives are ordered by modification time, kept to the second by some stores
		past := time.Now().Add(-time.Duration(10-i) * time.Minute)
		_ = os.Chtimes(filepath.Join(app.DataDir(), "backups", name+".zip"), past, past)
	}
	lock, err := backups.Acquire(app.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	u, _ := app.FindFirstRecordByData("_superusers", "email", "test@example.com")
	_, _, err = execute(cmd.NewBackupCommand(app), "restore", "one.zip")
	if err == nil || !strings.Contains(err.Error(), "data_dir_in_use") || !strings.Contains(err.Error(), "stop it first") {
		t.Fatalf("restore while held: %v", err)
	}
	if !app.IsBootstrapped() {
		t.Fatal("a refused restore closed the app")
	}
	if u != nil {
		if _, err := app.FindRecordById("_superusers", u.Id); err != nil {
			t.Fatalf("a refused restore changed the data: %v", err)
		}
	}
	if _, err := backups.Acquire(app.DataDir()); err != backups.ErrDataDirInUse {
		t.Fatalf("a second lock: %v", err)
	}
	_ = lock.Release()

	if _, _, err := execute(cmd.NewBackupCommand(app), "restore", "missing.zip"); err == nil || !strings.Contains(err.Error(), "backup_not_found") {
		t.Fatalf("unknown name: %v", err)
	}
	if _, _, err := execute(cmd.NewBackupCommand(app), "create", "Bad Name"); err == nil || !strings.Contains(err.Error(), "backup_name_invalid") {
		t.Fatalf("bad name: %v", err)
	}
	if _, _, err := execute(cmd.NewBackupCommand(app), "prune", "--keep", "0"); err == nil || !strings.Contains(err.Error(), "backup_keep_invalid") {
		t.Fatalf("keep 0: %v", err)
	}
	out, _, err := execute(cmd.NewBackupCommand(app), "prune", "--keep", "2")
	if err != nil || !strings.Contains(out, "deleted one.zip") || !strings.Contains(out, "1 deleted") {
		t.Fatalf("prune: %v %q", err, out)
	}
	out, _, err = execute(cmd.NewBackupCommand(app), "list")
	if err != nil || strings.Contains(out, "one.zip") || !strings.Contains(out, "two.zip") || !strings.Contains(out, "three.zip") ||
		strings.Index(out, "three.zip") > strings.Index(out, "two.zip") {
		t.Fatalf("list after prune (newest first): %v\n%s", err, out)
	}
}
