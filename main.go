// pi-crm: a self-hosted CRM with email and SMS campaigns, one binary on
// PocketBase. main wires the app; the work happens in hooks/ and services/.
package main

import (
	"log"

	"github.com/pi-crm/pi-crm/cmd"
	"github.com/pi-crm/pi-crm/hooks"
	"github.com/pi-crm/pi-crm/internal/dbconfig"
	"github.com/pi-crm/pi-crm/internal/footprint"
	_ "github.com/pi-crm/pi-crm/migrations"
	"github.com/pi-crm/pi-crm/services/backups"
	"github.com/pocketbase/pocketbase"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/plugins/migratecmd"
)

func main() {
	// Dev mode (SQL and verbose logs) only with --dev: pocketbase.New() also
	// turns it on for any binary that lives under the temp dir, mistaking it
	// for "go run", and a CI checkout or an unpacked release may well be there.
	cfg := pocketbase.Config{DefaultDev: false}
	// 8 read connections with 2 MB page caches instead of up to 120 with
	// 32 MB each: same throughput, a third of the memory under load
	// (internal/dbconfig has the measurements)
	dbconfig.Apply(&cfg)
	app := pocketbase.NewWithConfig(cfg)

	// Go migrations only; the schema is code, never auto-generated from
	// changes made in the admin dashboard.
	migratecmd.MustRegister(app, app.RootCmd, migratecmd.Config{Automigrate: false})

	hooks.Register(app, hooks.Config{Public: publicFS()})
	// the schedule in local time, the server's lock on the data directory
	backups.Register(app, backups.Config{})

	app.RootCmd.AddCommand(cmd.NewDemoCommand(app), cmd.NewAPIKeyCommand(app), cmd.NewImportCommand(app), cmd.NewExportCommand(app),
		cmd.NewBackupCommand(app), cmd.NewCampaignCommand(app, cmd.NewCampaignSendTestCommand(app)))

	// once the server is up, the executable's pages that start-up faulted in
	// (every init, 64 KB around each fault) leave the resident set; the ones
	// in use come back one by one (internal/footprint)
	app.OnServe().BindFunc(func(e *core.ServeEvent) error {
		if err := e.Next(); err != nil {
			return err
		}
		if _, err := footprint.ReleaseExecutablePages(); err != nil {
			e.App.Logger().Warn("footprint: executable pages kept", "error", err)
		}
		return nil
	})

	if err := app.Start(); err != nil {
		log.Fatal(err)
	}
}
