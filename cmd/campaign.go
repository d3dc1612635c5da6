package cmd

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/spf13/cobra"
)

// NewCampaignCommand returns "pi-crm campaign": a look at campaigns from the
// command line (list, status), for checking a Pi without the web UI. More
// subcommands (send-test) are added by their own files through extra.
func NewCampaignCommand(app core.App, extra ...*cobra.Command) *cobra.Command {
	root := &cobra.Command{Use: "campaign", Short: "Campaigns: list, status"}
	var workspace, status string
	list := &cobra.Command{
		Use:          "list --workspace ID|NAME [--status STATUS]",
		Short:        "List a workspace's campaigns with their status and counters",
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := app.RunAllMigrations(); err != nil {
				return err
			}
			ws, err := findWorkspace(app, workspace)
			if err != nil {
				return err
			}
			q := app.RecordQuery("campaigns").AndWhere(dbx.HashExp{"workspace": ws}).OrderBy("created DESC")
			if status != "" {
				q = q.AndWhere(dbx.HashExp{"status": status})
			}
			var recs []*core.Record
			if err := q.All(&recs); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tTYPE\tSTATUS\tSENT\tFAILED\tSKIPPED\tSCHEDULED")
			for _, r := range recs {
				k := counters(r)
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", r.Id, r.GetString("name"), r.GetString("type"), r.GetString("status"),
					k["sent"], k["failed"], k["skipped"], scheduled(r))
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&workspace, "workspace", "", "workspace id or name (required)")
	list.Flags().StringVar(&status, "status", "", "only campaigns with this status")
	_ = list.MarkFlagRequired("workspace")

	show := &cobra.Command{
		Use:          "status ID",
		Short:        "A campaign's status, approval, schedule and deliveries by status",
		Args:         cobra.ExactArgs(1),
		SilenceUsage: true,
		RunE: func(c *cobra.Command, args []string) error {
			if err := app.RunAllMigrations(); err != nil {
				return err
			}
			r, err := app.FindRecordById("campaigns", args[0])
			if err != nil {
				return fmt.Errorf("no campaign %q", args[0])
			}
			out := c.OutOrStdout()
			fmt.Fprintf(out, "campaign %s (%s, %s): %s\n", r.GetString("name"), r.Id, r.GetString("type"), r.GetString("status"))
			if reason := r.GetString("status_reason"); reason != "" {
				fmt.Fprintf(out, "reason: %s\n", reason)
			}
			if s := scheduled(r); s != "" {
				fmt.Fprintf(out, "scheduled: %s\n", s)
			}
			if h := r.GetString("snapshot_hash"); h != "" {
				fmt.Fprintf(out, "snapshot: %s, submitted by %s, approved by %s\n", h[:12], orNone(r.GetString("submitted_by")), orNone(r.GetString("approved_by")))
			}
			var rows []struct {
				Status string `db:"status"`
				N      int    `db:"n"`
			}
			err = app.DB().Select("status", "count(*) AS n").From("campaign_deliveries").
				Where(dbx.HashExp{"campaign": r.Id}).GroupBy("status").All(&rows)
			if err != nil {
				return err
			}
			sort.Slice(rows, func(i, j int) bool { return rows[i].Status < rows[j].Status })
			parts := make([]string, 0, len(rows))
			total := 0
			for _, row := range rows {
				parts = append(parts, fmt.Sprintf("%s %d", row.Status, row.N))
				total += row.N
			}
			fmt.Fprintf(out, "deliveries: %d (%s)\n", total, orNone(strings.Join(parts, ", ")))
			return nil
		},
	}
	root.AddCommand(list, show)
	root.AddCommand(extra...)
	return root
}

func counters(r *core.Record) map[string]int {
	k := map[string]int{}
	_ = json.Unmarshal([]byte(r.GetString("counters")), &k) // absent or partial: zeros
	return k
}

func scheduled(r *core.Record) string {
	at := r.GetDateTime("scheduled_at")
	if at.IsZero() {
		return ""
	}
	if zone := r.GetString("timezone"); zone != "" {
		if loc, err := time.LoadLocation(zone); err == nil {
			return at.Time().In(loc).Format("2006-01-02 15:04 MST") + " (" + zone + ")"
		}
	}
	return at.Time().UTC().Format("2006-01-02 15:04 UTC")
}

func orNone(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
