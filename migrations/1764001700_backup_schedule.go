package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// Default backup schedule: PocketBase's own scheduled backups (settings
// Backups.Cron / CronMaxKeep, the admin dashboard's Settings → Backups), daily
// at 03:00, the 7 newest @auto archives kept. The expression is read in the
// machine's local zone (services/backups.Register sets the cron zone; the
// dashboard's note says UTC, which is PocketBase's default, not pi-crm's).
// A schedule someone already set, or switched off after this ran, is kept:
// this only fills in an empty one, once.
const (
	backupCron1700    = "0 3 * * *"
	backupMaxKeep1700 = 7
)

func init() {
	m.Register(func(app core.App) error {
		s := app.Settings()
		if s.Backups.Cron != "" {
			return nil
		}
		s.Backups.Cron = backupCron1700
		s.Backups.CronMaxKeep = backupMaxKeep1700
		return app.Save(s)
	}, func(app core.App) error {
		s := app.Settings()
		if s.Backups.Cron != backupCron1700 {
			return nil // changed since: not ours to undo
		}
		s.Backups.Cron = ""
		s.Backups.CronMaxKeep = 3 // PocketBase's default
		return app.Save(s)
	})
}
