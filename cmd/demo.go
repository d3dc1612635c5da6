// Package cmd holds pi-crm's cobra commands; they sit beside PocketBase's own
// serve, migrate and superuser commands.
package cmd

import (
	"fmt"
	"os"
	"time"

	"github.com/pi-crm/pi-crm/services/demo"
	"github.com/pocketbase/pocketbase/core"
	"github.com/spf13/cobra"
)

// NewDemoCommand returns "pi-crm demo": seed the demo data (idempotent).
func NewDemoCommand(app core.App) *cobra.Command {
	var password string
	c := &cobra.Command{
		Use:   "demo",
		Short: "Create the demo users, workspaces and contacts (idempotent)",
		Long: "Creates andy@example.com and monalisa@example.com, their workspaces, custom fields, contacts, lists and\n" +
			"timeline entries, plus the admin dashboard account " + demo.SuperuserEmail + " when there is none.\n" +
			"Existing records are left as they are, so running it twice changes nothing.",
		SilenceUsage: true,
		RunE: func(c *cobra.Command, _ []string) error {
			// bootstrap applies only PocketBase's own migrations; ours are needed here
			if err := app.RunAllMigrations(); err != nil {
				return err
			}
			seeder, err := demo.NewSeeder(app, password, time.Now)
			if err != nil {
				return err
			}
			sum, err := seeder.Seed()
			if err != nil {
				return err
			}
			out := c.OutOrStdout()
			fmt.Fprintf(out, "demo data: %d users, %d workspaces, %d custom field definitions, %d lists, %d contacts, %d timeline entries, %d templates, %d campaigns, %d suppressions, %d provider settings created, %d workspaces measured (insights)\n",
				sum.Users, sum.Workspaces, sum.Definitions, sum.Lists, sum.Contacts, sum.Entries, sum.Templates, sum.Campaigns, sum.Suppressions, sum.Providers, sum.Insights)
			if sum.Users > 0 {
				fmt.Fprintf(out, "log in as andy@example.com or monalisa@example.com with password %q\n", password)
			} else {
				fmt.Fprintln(out, "the demo users already existed; their passwords were not changed")
			}
			if sum.SuperuserCreated {
				fmt.Fprintf(out, "admin dashboard (/_/): %s with the same password\n", demo.SuperuserEmail)
			}
			return nil
		},
	}
	def := os.Getenv("PICRM_DEMO_PASSWORD")
	if def == "" {
		def = demo.DefaultPassword
	}
	c.Flags().StringVar(&password, "password", def, "password of the demo accounts (env PICRM_DEMO_PASSWORD)")
	return c
}
