// pi-crm: a self-hosted CRM with email and SMS campaigns, one binary on
// PocketBase. main wires the app; the work happens in hooks/ and services/.
package main

import (
	"log"

	"github.com/pi-crm/pi-crm/cmd"
	"github.com/pi-crm/pi-crm/hooks"
	_ "github.com/pi-crm/pi-crm/migrations"
	"github.com/pocketbase/pocketbase"
	"github.com/pocketbase/pocketbase/plugins/migratecmd"
)

func main() {
	app := pocketbase.New()

	// Go migrations only; the schema is code, never auto-generated from
	// changes made in the admin dashboard.
	migratecmd.MustRegister(app, app.RootCmd, migratecmd.Config{Automigrate: false})

	hooks.Register(app, hooks.Config{Public: publicFS()})

	app.RootCmd.AddCommand(cmd.NewDemoCommand(app), cmd.NewAPIKeyCommand(app), cmd.NewImportCommand(app), cmd.NewExportCommand(app))

	if err := app.Start(); err != nil {
		log.Fatal(err)
	}
}
