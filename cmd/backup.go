package cmd

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/pi-crm/pi-crm/services/backups"
	"github.com/pocketbase/pocketbase/core"
	"github.com/spf13/cobra"
)

// NewBackupCommand returns "pi-crm backup create|list|restore|prune": the
// archives of PocketBase's own backups (the admin dashboard's Backups page,
// /api/backups), in pb_data/backups or the S3 bucket of the backups settings.
func NewBackupCommand(app core.App) *cobra.Command {
	root := &cobra.Command{Use: "backup", Short: "Create, list, restore and prune backups of the data directory"}

	create := &cobra.Command{
		Use:   "create [NAME]",
		Short: "Back up the data directory now (safe while the server runs)",
		Long: "Writes a zip archive of the data directory (the databases copied with SQLite's VACUUM INTO, then every\n" +
			"other file: uploads, import reports and journals, the settings key) into the backups storage.\n" +
			"NAME: lower-case letters, digits, _ and - (.zip is added); default pb_backup_<app>_<UTC time>.zip.",
		Args:         cobra.MaximumNArgs(1),
		SilenceUsage: true,
		RunE: func(c *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			start := time.Now()
			b, err := backups.Create(context.Background(), app, name)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "%s  %s  in %s\n", b.Name, size(b.Size), time.Since(start).Round(time.Millisecond))
			return nil
		},
	}

	list := &cobra.Command{
		Use:          "list",
		Short:        "List the backups, newest first",
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(c *cobra.Command, _ []string) error {
			all, err := backups.List(app)
			if err != nil {
				return err
			}
			if len(all) == 0 {
				fmt.Fprintln(c.OutOrStdout(), "no backups yet")
				return nil
			}
			w := tabwriter.NewWriter(c.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tSIZE\tMODIFIED (UTC)")
			for _, b := range all {
				fmt.Fprintf(w, "%s\t%s\t%s\n", b.Name, size(b.Size), b.Modified.UTC().Format("2006-01-02 15:04:05"))
			}
			return w.Flush()
		},
	}

	restore := &cobra.Command{
		Use:   "restore NAME",
		Short: "Replace the data directory's content with a backup (the server must be stopped)",
		Long: "Refuses while a server runs on the data directory (it holds " + backups.LockFileName + "): stop it first, or\n" +
			"restore from the admin dashboard, which restores through the running server and restarts it.\n" +
			"Everything in the data directory but backups/ is replaced; make a backup first if you may want it back.",
		Args:         cobra.ExactArgs(1),
		SilenceUsage: true,
		RunE: func(c *cobra.Command, args []string) error {
			if err := backups.Restore(context.Background(), app, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "restored %s; start the server again (sudo systemctl start pi-crm)\n", args[0])
			return nil
		},
	}

	var keep int
	prune := &cobra.Command{
		Use:          "prune --keep N",
		Short:        "Delete all but the N newest backups (scheduled and manual alike)",
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(c *cobra.Command, _ []string) error {
			deleted, err := backups.Prune(app, keep)
			if err != nil {
				return err
			}
			for _, b := range deleted {
				fmt.Fprintf(c.OutOrStdout(), "deleted %s\n", b.Name)
			}
			fmt.Fprintf(c.OutOrStdout(), "%d deleted, the %d newest kept\n", len(deleted), keep)
			return nil
		},
	}
	prune.Flags().IntVar(&keep, "keep", 0, "how many of the newest backups to keep (at least 1)")
	_ = prune.MarkFlagRequired("keep")

	root.AddCommand(create, list, restore, prune)
	return root
}

func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
