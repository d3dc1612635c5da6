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

// `pi-crm import` reports the phones it left out (issue 18) and its flags
// are the route's options: --mode upsert updates, --auto-map=false reads
// only the --map columns.
func TestImportCommandWarningsAndFlags(t *testing.T) {
	env := testutil.New(t)
	owner, _ := env.User("cli@example.com")
	ws := env.Workspace("CLI phones", owner, nil)
	dir := t.TempDir()
	in := filepath.Join(dir, "google.csv")
	csv := "First Name,Last Name,E-mail 1 - Value,Phone 1 - Value\nOlivia,Bennett,olivia@example.co.uk,+44 7700 900123\nRaj,Patel,raj@example.com,ask reception\n"
	if err := os.WriteFile(in, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	out, progress, err := execute(cmd.NewImportCommand(env.App), "--workspace", ws.Id, in)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, progress)
	}
	if !strings.Contains(out, "2 rows read, 2 created, 0 updated, 0 unchanged, 0 skipped, 0 failed, 1 warning\n") ||
		!strings.Contains(out, `warning: row 3, Phone 1 - Value: "ask reception" is not a phone number; the contact was created without it`) ||
		!strings.Contains(out, "error report: ") || !strings.Contains(progress, "1 warning") {
		t.Fatalf("summary %q progress %q", out, progress)
	}
	var phone string
	_ = env.App.DB().NewQuery("SELECT primary_phone FROM contacts WHERE primary_email = 'olivia@example.co.uk'").Row(&phone)
	if phone != "+447700900123" {
		t.Errorf("phone %q", phone)
	}

	if err := os.WriteFile(in, []byte("First Name,Surname,mail\nLivvy,Other,olivia@example.co.uk\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err = execute(cmd.NewImportCommand(env.App), "--workspace", ws.Id, "--mode", "upsert", "--auto-map=false", "--map", "mail=primary_email", "--map", "First Name=first_name", in)
	if err != nil || !strings.Contains(out, "1 updated") {
		t.Fatalf("upsert: %v %q", err, out)
	}
	var first, last string
	_ = env.App.DB().NewQuery("SELECT first_name, last_name FROM contacts WHERE primary_email = 'olivia@example.co.uk'").Row(&first, &last)
	if first != "Livvy" || last != "Bennett" {
		t.Errorf("after --mode upsert --auto-map=false: %q %q (Surname is not mapped, so the last name stays)", first, last)
	}
}
