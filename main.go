// pi-crm: a self-hosted CRM with email and SMS campaigns, one binary on
// PocketBase. main wires the app; the work happens in hooks/ and services/.
package main

import (
	"log"

	"github.com/pi-crm/pi-crm/cmd"
	"github.com/pi-crm/pi-crm/hooks"
	"github.com/pi-crm/pi-crm/internal/dbconfig"
	_ "github.com/pi-crm/pi-crm/migrations"
	"github.com/pi-crm/pi-crm/services/backups"
	"github.com/pocketbase/pocketbase"
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

	if err := app.Start(); err != nil {
		log.Fatal(err)
	}
}
