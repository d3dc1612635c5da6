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
	var dryRun bool
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
			opts := imports.Options{Mode: mode, List: list, DryRun: dryRun, Mapping: map[string]json.RawMessage{}}
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
				line := fmt.Sprintf("%d rows: %d created, %d updated, %d skipped, %d failed", n.Read, n.Created, n.Updated, n.Skipped, n.Failed)
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
			fmt.Fprintf(w, "%sjob %s: %d rows read, %d created, %d updated, %d unchanged, %d skipped, %d failed\n",
				prefix, job.Id, n.Read, n.Created, n.Updated, n.Unchanged, n.Skipped, n.Failed)
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
	_ = c.MarkFlagRequired("workspace")
	return c
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
