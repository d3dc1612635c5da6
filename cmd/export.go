package cmd

import (
	"bufio"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/contacts"
	"github.com/pi-crm/pi-crm/services/customfields"
	"github.com/pi-crm/pi-crm/services/export"
	"github.com/pocketbase/pocketbase/core"
	"github.com/spf13/cobra"
)

// NewExportCommand returns "pi-crm export": the export route's rows (a
// contact search without pages) and its audit entry, with no user as the
// actor and details.via "cli".
func NewExportCommand(app core.App) *cobra.Command {
	var workspace, outPath, list, q, match, sortKey, columns string
	var cfs, filters []string
	c := &cobra.Command{
		Use:          "export --workspace ID|NAME [--out FILE] [--q TERM] [--match prefix|contains] [--list ID] [--cf FIELD=OP:VALUE]... [--filter FIELD:OP:VALUE]... [--sort [-]FIELD]",
		Short:        "Export contacts with their custom fields as CSV (the contacts a search selects)",
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(c *cobra.Command, args []string) error {
			if err := app.RunAllMigrations(); err != nil {
				return err
			}
			ws, err := findWorkspace(app, workspace)
			if err != nil {
				return err
			}
			// the route's parameters, parsed by the same code
			v := url.Values{"workspace": {ws}}
			for k, val := range map[string]string{"q": q, "match": match, "list": list, "sort": sortKey, "columns": columns} {
				if val != "" {
					v.Set(k, val)
				}
			}
			for _, f := range cfs {
				name, cond, ok := strings.Cut(f, "=")
				if !ok || name == "" {
					return fmt.Errorf("--cf %q: write it as FIELD=OP:VALUE, e.g. tier=eq:gold", f)
				}
				v.Add("cf."+strings.TrimPrefix(name, "cf."), cond)
			}
			for _, f := range filters {
				v.Add("filter", f)
			}
			eq, err := export.ParseQuery(v)
			if err != nil {
				return err
			}
			cs := contacts.NewService(app)
			svc := export.NewService(app, customfields.NewService(app, cs), time.Now)
			p, err := svc.Prepare(eq)
			if err != nil {
				return err
			}
			w := c.OutOrStdout()
			var f *os.File
			if outPath != "" && outPath != "-" {
				if f, err = os.Create(outPath); err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			bw := bufio.NewWriterSize(w, 64<<10)
			n, err := svc.Write(bw, p)
			if err != nil {
				return err
			}
			if err := bw.Flush(); err != nil {
				return err
			}
			if f != nil {
				if err := f.Close(); err != nil {
					return err
				}
			}
			if err := svc.Audit(audit.Actor{}, eq, n, map[string]any{"via": "cli"}); err != nil {
				return fmt.Errorf("the export was written, but its audit entry was not: %w", err)
			}
			fmt.Fprintf(c.ErrOrStderr(), "%d contacts exported\n", n)
			return nil
		},
	}
	c.Flags().StringVar(&workspace, "workspace", "", "workspace id or name (required)")
	c.Flags().StringVar(&outPath, "out", "", "file to write (default: standard output)")
	c.Flags().StringVar(&q, "q", "", "search term, as in the contacts search (name, email, phone, company)")
	c.Flags().StringVar(&match, "match", "", "prefix (default) or contains")
	c.Flags().StringVar(&list, "list", "", "only contacts in this list id")
	c.Flags().StringArrayVar(&cfs, "cf", nil, "custom field filter FIELD=OP:VALUE (ops eq contains gt gte lt lte empty notempty); repeatable")
	c.Flags().StringArrayVar(&filters, "filter", nil, "filter FIELD:OP:VALUE on a contact field or cf.<field>, as the search route's filter=; repeatable")
	c.Flags().StringVar(&sortKey, "sort", "", "[-]field or [-]cf.<field> (default: created, creation order)")
	c.Flags().StringVar(&columns, "columns", "", "comma-separated columns (default: base fields, then custom fields)")
	_ = c.MarkFlagRequired("workspace")
	return c
}
