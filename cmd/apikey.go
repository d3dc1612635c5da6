package cmd

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pi-crm/pi-crm/services/apikeys"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/spf13/cobra"
)

// NewAPIKeyCommand returns "pi-crm apikey create|list|revoke", working on the
// data directory directly (the server may be running).
func NewAPIKeyCommand(app core.App) *cobra.Command {
	root := &cobra.Command{Use: "apikey", Short: "Create, list and revoke API keys"}

	var scopes, description, workspace string
	var days int
	create := &cobra.Command{
		Use:          "create USER_EMAIL",
		Short:        "Create a key for a user; the key is printed once",
		Args:         cobra.ExactArgs(1),
		SilenceUsage: true,
		RunE: func(c *cobra.Command, args []string) error {
			user, err := prepare(app, args[0])
			if err != nil {
				return err
			}
			var list []string
			for _, s := range strings.Split(scopes, ",") {
				if s = strings.TrimSpace(s); s != "" {
					list = append(list, s)
				}
			}
			created, err := apikeys.NewService(app, time.Now).Create(user, nil, apikeys.CreateInput{
				Description: description, Scopes: list, ExpiresInDays: days, Workspace: workspace,
			}, audit.Actor{})
			if err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), created.Key)
			fmt.Fprintln(c.ErrOrStderr(), "store this key now: it is not shown again (id "+created.Record.Id+")")
			return nil
		},
	}
	create.Flags().StringVar(&scopes, "scopes", "", "comma-separated scopes: "+strings.Join(apikeys.AllScopes, ", "))
	create.Flags().StringVar(&description, "description", "", "what the key is for")
	create.Flags().StringVar(&workspace, "workspace", "", "restrict the key to this workspace id")
	create.Flags().IntVar(&days, "expires-in-days", 0, "days until the key expires (0: never)")

	list := &cobra.Command{
		Use:          "list USER_EMAIL",
		Short:        "List a user's keys (never the secret)",
		Args:         cobra.ExactArgs(1),
		SilenceUsage: true,
		RunE: func(c *cobra.Command, args []string) error {
			user, err := prepare(app, args[0])
			if err != nil {
				return err
			}
			keys, err := app.FindRecordsByFilter("api_keys", "user = {:u}", "created", 0, 0, dbx.Params{"u": user.Id})
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tPREFIX\tACTIVE\tSCOPES\tEXPIRES\tLAST USED\tDESCRIPTION")
			for _, k := range keys {
				fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\t%s\t%s\n", k.Id, k.GetString("key_prefix"), k.GetBool("is_active"),
					k.GetString("scopes"), k.GetString("expires_at"), k.GetString("last_used_at"), k.GetString("description"))
			}
			return tw.Flush()
		},
	}

	revoke := &cobra.Command{
		Use:          "revoke ID|PREFIX",
		Short:        "Revoke a key (it stops working at once)",
		Args:         cobra.ExactArgs(1),
		SilenceUsage: true,
		RunE: func(c *cobra.Command, args []string) error {
			if err := app.RunAllMigrations(); err != nil {
				return err
			}
			k, err := app.FindFirstRecordByFilter("api_keys", "id = {:k} || key_prefix = {:k}", dbx.Params{"k": args[0]})
			if err != nil {
				return fmt.Errorf("no key with id or prefix %q", args[0])
			}
			k.Set("is_active", false)
			if err := app.Save(k); err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), "revoked", k.GetString("key_prefix"))
			return nil
		},
	}

	root.AddCommand(create, list, revoke)
	return root
}

// prepare applies our migrations and finds the user by email.
func prepare(app core.App, email string) (*core.Record, error) {
	if err := app.RunAllMigrations(); err != nil {
		return nil, err
	}
	user, err := app.FindAuthRecordByEmail("users", email)
	if err != nil {
		return nil, fmt.Errorf("no user %s", email)
	}
	return user, nil
}
