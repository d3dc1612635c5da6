package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/pi-crm/pi-crm/services/contacts"
	"github.com/pi-crm/pi-crm/services/customfields"
	"github.com/pi-crm/pi-crm/services/imports"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/spf13/cobra"
)

func importService(app core.App) *imports.Service {
	cs := contacts.NewService(app)
	return imports.NewService(app, cs, customfields.NewService(app, cs), imports.NewRunner(1), time.Now)
}

// findWorkspace accepts a workspace id or its (unique) name.
func findWorkspace(app core.App, idOrName string) (string, error) {
	var ids []string
	if err := app.DB().Select("id").From("workspaces").Where(dbx.Or(dbx.HashExp{"id": idOrName}, dbx.HashExp{"name": idOrName})).Column(&ids); err != nil {
		return "", err
	}
	switch len(ids) {
	case 0:
		return "", fmt.Errorf("no workspace with id or name %q", idOrName)
	case 1:
		return ids[0], nil
	}
	return "", fmt.Errorf("%d workspaces are named %q: give the id (%s)", len(ids), idOrName, strings.Join(ids, ", "))
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// NewImportCommand returns "pi-crm import", working on the data directory.
func NewImportCommand(app core.App) *cobra.Command {
	var workspace, mode, list string
	var maps []string
	var dryRun, autoMap bool
	c := &cobra.Command{
		Use:          "import --workspace ID|NAME FILE",
		Short:        "Import contacts from a CSV file (progress, summary, error report)",
		Args:         cobra.ExactArgs(1),
		SilenceUsage: true,
		RunE: func(c *cobra.Command, args []string) error {
			if err := app.RunAllMigrations(); err != nil {
				return err
			}
			ws, err := findWorkspace(app, workspace)
			if err != nil {
				return err
			}
			// the flags are the route's options, checked by the same ParseOptions
			opts := imports.Options{Mode: mode, List: list, DryRun: dryRun, Mapping: map[string]json.RawMessage{}}
			if c.Flags().Changed("auto-map") {
				opts.AutoMap = &autoMap
			}
			for _, m := range maps {
				col, target, ok := strings.Cut(m, "=")
				if !ok {
					return fmt.Errorf("--map %q: write it as COLUMN=FIELD", m)
				}
				b, _ := json.Marshal(target)
				opts.Mapping[col] = b
			}
			raw, _ := json.Marshal(opts)
			if opts, err = imports.ParseOptions(raw); err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			size := int64(0)
			if st, err := f.Stat(); err == nil {
				size = st.Size()
			}
			counter := &countingReader{r: f}
			out := c.ErrOrStderr()
			tty := false
			if of, ok := out.(*os.File); ok {
				tty = isTerminal(of)
			}
			last := time.Time{}
			progress := func(n imports.Counts) {
				if time.Since(last) < 200*time.Millisecond {
					return
				}
				last = time.Now()
				line := fmt.Sprintf("%d rows: %d created, %d updated, %d skipped, %d failed, %s", n.Read, n.Created, n.Updated, n.Skipped, n.Failed,
					plural(n.Warnings, "warning"))
				if tty && size > 0 {
					pct := float64(counter.n) * 100 / float64(size)
					bar := strings.Repeat("#", int(pct/5)) + strings.Repeat(".", 20-int(pct/5))
					fmt.Fprintf(out, "\r[%s] %5.1f%% %s", bar, pct, line)
				} else if !tty {
					fmt.Fprintln(out, line)
				}
			}
			svc := importService(app)
			job, n, err := svc.RunLocal(imports.Input{Workspace: ws, FileName: args[0], Options: opts}, counter, progress)
			if tty {
				fmt.Fprintln(out)
			}
			if err != nil {
				return err
			}
			w := c.OutOrStdout()
			prefix := ""
			if dryRun {
				prefix = "dry run (nothing written): "
			}
			fmt.Fprintf(w, "%sjob %s: %d rows read, %d created, %d updated, %d unchanged, %d skipped, %d failed, %s\n",
				prefix, job.Id, n.Read, n.Created, n.Updated, n.Unchanged, n.Skipped, n.Failed, plural(n.Warnings, "warning"))
			printWarnings(w, job, n.Warnings)
			if _, err := os.Stat(svc.ErrorReportPath(job.Id)); err == nil {
				fmt.Fprintf(w, "error report: %s\n", svc.ErrorReportPath(job.Id))
			}
			return nil
		},
	}
	c.Flags().StringVar(&workspace, "workspace", "", "workspace id or name (required)")
	c.Flags().StringVar(&mode, "mode", imports.ModeCreate, "create, update, upsert or skip_existing (matched on normalised email or phone)")
	c.Flags().StringArrayVar(&maps, "map", nil, "COLUMN=FIELD (base field, custom field, new:TYPE[:Label], or ignore); repeatable")
	c.Flags().StringVar(&list, "list", "", "add imported contacts to this list id")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "validate and report without writing")
	c.Flags().BoolVar(&autoMap, "auto-map", true, "map the columns --map does not name by their headers (--auto-map=false: only --map columns are read)")
	_ = c.MarkFlagRequired("workspace")
	return c
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// printWarnings prints the first warnings of job (values left out of rows
// that were imported: phone numbers that cannot be read), from its sample.
func printWarnings(w io.Writer, job *core.Record, total int) {
	if total == 0 {
		return
	}
	var rep struct {
		Sample []imports.RowError `json:"sample"`
	}
	_ = job.UnmarshalJSONField("error_report", &rep)
	shown := 0
	for _, r := range rep.Sample {
		if !r.Warning || shown == 5 {
			continue
		}
		shown++
		fmt.Fprintf(w, "warning: row %d, %s: %s\n", r.Row, r.Column, r.Message)
	}
	if total > shown {
		fmt.Fprintf(w, "… and %d more warnings in the report\n", total-shown)
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
