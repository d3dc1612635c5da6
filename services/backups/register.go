// Package backups is pi-crm's side of PocketBase's backups: the same zip
// archives (app.CreateBackup: data.db and auxiliary.db copied with VACUUM
// INTO, then every other file of the data directory), the same storage
// (pb_data/backups or the S3 bucket of the backups settings) and the same
// schedule (settings Backups.Cron / CronMaxKeep), so the admin dashboard's
// Backups page, /api/backups and the pi-crm backup commands see one set.
// What is added here: the data directory lock a server holds (so an offline
// restore cannot pull the files from under it), the schedule read in the
// machine's local time, listing, pruning and the offline restore.
package backups

import (
	"time"

	"github.com/pocketbase/pocketbase/core"
)

// Config is what Register needs.
type Config struct {
	// Location is the zone backup (and every other) cron expression is read
	// in; nil is time.Local, the Pi's zone (/etc/localtime, or TZ).
	Location *time.Location
}

// Register wires the backups into app: the cron zone, the server's lock on
// the data directory, and the lock file kept out of archives and restores.
func Register(app core.App, cfg Config) {
	loc := cfg.Location
	if loc == nil {
		loc = time.Local
	}
	// PocketBase's cron ticks in UTC; a shop owner who reads "03:00" means the
	// shop's clock. One scheduler serves every job, so the audit retention job
	// (hooks/audit.go, 03:30) moves to local time with it, which is what it
	// meant too.
	app.Cron().SetTimezone(loc)

	var held *Lock
	app.OnServe().BindFunc(func(e *core.ServeEvent) error {
		l, err := Acquire(e.App.DataDir())
		if err != nil {
			// a second server on the same files would race the first one's
			// writes and backups: refuse to start
			return err
		}
		held = l
		return e.Next()
	})
	app.OnTerminate().BindFunc(func(e *core.TerminateEvent) error {
		// a restart (app.Restart after a restore from the dashboard) execs the
		// binary again: the descriptor is close-on-exec, so the new process
		// takes the lock anew either way
		_ = held.Release()
		held = nil
		return e.Next()
	})
	exclude := func(e *core.BackupEvent) error {
		e.Exclude = append(e.Exclude, LockFileName)
		return e.Next()
	}
	app.OnBackupCreate().BindFunc(exclude)
	app.OnBackupRestore().BindFunc(exclude)
}
