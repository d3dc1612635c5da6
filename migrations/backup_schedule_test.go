package migrations_test

import (
	"strings"
	"testing"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pocketbase/pocketbase/core"
)

// The backup schedule migration fills in an empty schedule only: a schedule
// set by someone else survives both directions; its own is undone by down.
func TestBackupScheduleMigration(t *testing.T) {
	env := testutil.New(t)
	app := env.App
	var mig *core.Migration
	for _, m := range core.AppMigrations.Items() {
		if strings.Contains(m.File, "1764001700_backup_schedule") {
			mig = m
		}
	}
	if mig == nil {
		t.Fatal("migration not registered")
	}
	if b := app.Settings().Backups; b.Cron != "0 3 * * *" || b.CronMaxKeep != 7 {
		t.Fatalf("fresh install: %q keep %d", b.Cron, b.CronMaxKeep)
	}

	s := app.Settings()
	s.Backups.Cron, s.Backups.CronMaxKeep = "30 1 * * 0", 2
	if err := app.Save(s); err != nil {
		t.Fatal(err)
	}
	for _, step := range []func(core.App) error{mig.Down, mig.Up} {
		if err := step(app); err != nil {
			t.Fatal(err)
		}
		if b := app.Settings().Backups; b.Cron != "30 1 * * 0" || b.CronMaxKeep != 2 {
			t.Fatalf("someone's schedule was changed: %q keep %d", b.Cron, b.CronMaxKeep)
		}
	}

	s = app.Settings()
	s.Backups.Cron, s.Backups.CronMaxKeep = "0 3 * * *", 7
	if err := app.Save(s); err != nil {
		t.Fatal(err)
	}
	if err := mig.Down(app); err != nil {
		t.Fatal(err)
	}
	if b := app.Settings().Backups; b.Cron != "" {
		t.Fatalf("down kept its schedule %q", b.Cron)
	}
	if err := mig.Up(app); err != nil {
		t.Fatal(err)
	}
	if b := app.Settings().Backups; b.Cron != "0 3 * * *" || b.CronMaxKeep != 7 {
		t.Fatalf("up on an empty schedule: %q keep %d", b.Cron, b.CronMaxKeep)
	}
}
