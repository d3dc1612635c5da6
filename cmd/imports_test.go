package cmd_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pi-crm/pi-crm/cmd"
	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/spf13/cobra"
)

func execute(c *cobra.Command, args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	c.SetOut(&out)
	c.SetErr(&errOut)
	c.SetArgs(args)
	err := c.Execute()
	return out.String(), errOut.String(), err
}

// `pi-crm import` by workspace name with a mapping, its summary and error
// report; `pi-crm export` to a file; then the export imported into an empty
// workspace (dry run first) reproduces the contacts.
func TestImportExportCommands(t *testing.T) {
	env := testutil.New(t)
	owner, _ := env.User("cli@example.com")
	env.Workspace("CLI source", owner, nil)
	target := env.Workspace("CLI target", owner, nil)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(in, []byte("Given Name,Surname,E-mail,Notes\nAda,Lovelace,ADA@example.com,first\nBad,Row,not-an-email,x\nGrace,Hopper,grace@example.com,second\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, progress, err := execute(cmd.NewImportCommand(env.App), "--workspace", "CLI source", "--map", "Notes=new:text:Notes", in)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, progress)
	}
	if !strings.Contains(out, "3 rows read, 2 created, 0 updated, 0 unchanged, 0 skipped, 1 failed") || !strings.Contains(out, "error report: ") {
		t.Fatalf("summary %q", out)
	}
	if !strings.Contains(progress, "rows: ") {
		t.Errorf("no progress lines on a non-terminal: %q", progress)
	}

	file := filepath.Join(dir, "out.csv")
	if _, _, err := execute(cmd.NewExportCommand(env.App), "--workspace", "CLI source", "--out", file); err != nil {
		t.Fatal(err)
	}
	exported, _ := os.ReadFile(file)
	for _, want := range []string{"first_name,last_name,primary_email", "Ada,Lovelace,ada@example.com", "Grace,Hopper,grace@example.com", "first"} {
		if !strings.Contains(string(exported), want) {
			t.Fatalf("export lacks %q:\n%s", want, exported)
		}
	}

	out, _, err = execute(cmd.NewImportCommand(env.App), "--workspace", target.Id, "--dry-run", file)
	if err != nil || !strings.Contains(out, "dry run (nothing written)") || !strings.Contains(out, "2 created") {
		t.Fatalf("dry run: %v %q", err, out)
	}
	var n int
	_ = env.App.DB().NewQuery("SELECT count(*) FROM contacts WHERE workspace = {:ws}").Bind(map[string]any{"ws": target.Id}).Row(&n)
	if n != 0 {
		t.Fatalf("the dry run wrote %d contacts", n)
	}
	if _, _, err := execute(cmd.NewImportCommand(env.App), "--workspace", "no such workspace", file); err == nil {
		t.Error("an unknown workspace was accepted")
	}
	if _, _, err := execute(cmd.NewImportCommand(env.App), "--workspace", target.Id, "--mode", "merge-all", file); err == nil {
		t.Error("an unknown mode was accepted")
	}
}
