package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/pi-crm/pi-crm/bench/gen"
)

// The sqlite3 CLI baselines: the storage limit for the same rows.

func (b *bench) sqlite3() (string, error) {
	p, err := exec.LookPath(b.cfg.SQLite3)
	if err != nil {
		return "", fmt.Errorf("not installed (apt-get install sqlite3), baseline skipped")
	}
	return p, nil
}

// sqliteImport loads the CSV with `.import` into a staging table of a
// fresh database holding the app's contacts and custom_fields tables with
// all their indexes (copied from the generated database), then inserts the
// same rows the app writes: one contact row (with its custom JSON read
// copy) and one EAV row per non-empty custom value. Two INSERT … SELECT
// statements in one transaction, with PocketBase's own connection pragmas.
// It returns the wall time of the whole sqlite3 process (CSV parsing
// included) and its peak RSS in kB.
func (b *bench) sqliteImport() (time.Duration, int, error) {
	bin, err := b.sqlite3()
	if err != nil {
		return 0, 0, err
	}
	src := filepath.Join(b.dsDir, b.m.DataDir, "data.db")
	out, err := exec.Command(bin, "-readonly", src,
		`SELECT sql || ';' FROM sqlite_master WHERE tbl_name IN ('contacts', 'custom_fields') AND type != 'trigger' AND sql IS NOT NULL ORDER BY type DESC`).Output()
	if err != nil {
		return 0, 0, fmt.Errorf("reading the schema: %v", err)
	}
	prep, stmts := importSQL(string(out), filepath.Join(b.dsDir, b.m.CSV), b.m.ImportWorkspace)
	script := strings.Join(append(append([]string{
		"PRAGMA journal_mode=WAL;", "PRAGMA synchronous=NORMAL;", "PRAGMA cache_size=-32000;", "PRAGMA temp_store=MEMORY;",
		prep, "BEGIN;"}, stmts...),
		"COMMIT;",
		"SELECT 'rows', (SELECT count(*) FROM contacts), (SELECT count(*) FROM custom_fields);",
	), "\n")
	dir, err := os.MkdirTemp(b.runDir, "sqlite-import-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command(bin, filepath.Join(dir, "baseline.db"))
	cmd.Stdin = strings.NewReader(script)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	d, peak, err := runTimed(cmd)
	counts := ""
	for _, l := range strings.Split(stdout.String(), "\n") {
		if strings.HasPrefix(l, "rows|") {
			counts = strings.TrimPrefix(l, "rows|")
		}
	}
	if counts == "" {
		return 0, 0, fmt.Errorf("sqlite3 import failed (%v): %s", err, lastLines(stderr.String(), 2))
	}
	c, e, _ := strings.Cut(counts, "|")
	b.notef("sqlite3 baseline import wrote %s contacts and %s custom_fields rows", c, e)
	return d, peak, nil
}

// importSQL returns the baseline import: the CLI commands that create the
// schema and stage the CSV (prep), and the two statements that insert the
// rows (one contact row with its custom JSON read copy, one EAV row per
// non-empty custom value).
func importSQL(schema, csvPath, ws string) (prep string, stmts []string) {
	cases := make([]string, 0, len(gen.Fields))
	obj := make([]string, 0, len(gen.Fields))
	vals := make([]string, 0, len(gen.Fields))
	for i, f := range gen.Fields {
		cases = append(cases, fmt.Sprintf("WHEN '%s' THEN s.%s", f.Name, f.Name))
		obj = append(obj, fmt.Sprintf("'%s', %s", f.Name, f.Name))
		vals = append(vals, fmt.Sprintf("(%d, '%s', '%s')", i, f.Name, f.Type))
	}
	now := `strftime('%Y-%m-%d %H:%M:%fZ', 'now')`
	prep = schema + "\n.import --csv '" + csvPath + "' staging"
	return prep, []string{
		`INSERT OR IGNORE INTO contacts (id, workspace, first_name, last_name, primary_email, primary_phone, company, custom, created, updated)
		 SELECT printf('c%014d', rowid), '` + ws + `', first_name, last_name, lower(trim(primary_email)), primary_phone, company,
		 json_object(` + strings.Join(obj, ", ") + `), ` + now + `, ` + now + ` FROM staging;`,
		`WITH f(k, name, type) AS (VALUES ` + strings.Join(vals, ", ") + `),
		      v AS (SELECT s.rowid AS rid, f.k AS k, f.name AS name, f.type AS type, CASE f.name ` + strings.Join(cases, " ") + ` END AS val
		            FROM staging s, f)
		 INSERT OR IGNORE INTO custom_fields (id, contact, field_name, field_value, field_type, created, updated)
		 SELECT printf('f%02d%013d', k, rid), printf('c%014d', rid), name, val, type, ` + now + `, ` + now + `
		 FROM v WHERE val IS NOT NULL AND val != '';`,
	}
}

// sqliteExport writes the main workspace as CSV (base columns and the 10
// custom values read from the JSON copy) with the sqlite3 CLI.
func (b *bench) sqliteExport() (time.Duration, error) {
	bin, err := b.sqlite3()
	if err != nil {
		return 0, err
	}
	cols := []string{"id", "created", "first_name", "last_name", "primary_email", "primary_phone", "company"}
	for _, f := range gen.Fields {
		cols = append(cols, fmt.Sprintf("json_extract(custom, '$.%s') AS %s", f.Name, f.Name))
	}
	out, err := os.Create(filepath.Join(b.runDir, "sqlite-export.csv"))
	if err != nil {
		return 0, err
	}
	defer out.Close()
	cmd := exec.Command(bin, "-readonly", "-csv", "-header", filepath.Join(b.dataDir, "data.db"),
		"SELECT "+strings.Join(cols, ", ")+" FROM contacts WHERE workspace = '"+b.m.Workspace+"' ORDER BY created")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = out, &stderr
	d, _, err := runTimed(cmd)
	if err != nil {
		return 0, fmt.Errorf("%v: %s", err, lastLines(stderr.String(), 2))
	}
	return d, nil
}
