package main

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/pi-crm/pi-crm/bench/gen"
	_ "modernc.org/sqlite"
)

// engineCompare (`pi-crm-bench engine`) prints engineTimes.
func engineCompare(dsDir string, m *gen.Manifest, workDir string) error {
	cli, mc, err := engineTimes(dsDir, m, workDir)
	if err != nil {
		return err
	}
	fmt.Printf("the sqlite3 baseline's two import statements (%d CSV rows), same schema and staged rows:\n", m.CSVRows)
	fmt.Printf("  sqlite3 CLI (process, statements only)  %v\n", cli.Round(time.Millisecond))
	fmt.Printf("  modernc.org/sqlite (database/sql)       %v  (%.2f× the CLI's time)\n", mc.Round(time.Millisecond), mc.Seconds()/cli.Seconds())
	return nil
}

// engineTimes runs the sqlite3 import baseline's two statements (importSQL)
// once in the sqlite3 CLI and once through modernc.org/sqlite, the pure-Go
// SQLite PocketBase pins (DESIGN.md builds with CGO_ENABLED=0), each on a
// fresh database with the same schema and the same staged CSV, and returns
// both times (the statements and the commit; staging excluded). The second
// is the floor of any import through the app's engine: the same contact
// and EAV rows with no validation, look-ups, timeline, duplicate keys or
// value indexes, in one transaction into an otherwise empty database.
func engineTimes(dsDir string, m *gen.Manifest, workDir string) (cli, mc time.Duration, err error) {
	bin, err := exec.LookPath("sqlite3")
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite3 is not installed")
	}
	schema, err := exec.Command(bin, "-readonly", filepath.Join(dsDir, m.DataDir, "data.db"),
		`SELECT sql || ';' FROM sqlite_master WHERE tbl_name IN ('contacts', 'custom_fields') AND type != 'trigger' AND sql IS NOT NULL ORDER BY type DESC`).Output()
	if err != nil {
		return 0, 0, fmt.Errorf("reading the schema: %v", err)
	}
	dir, err := os.MkdirTemp(workDir, "engine-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	prep, stmts := importSQL(string(schema), filepath.Join(dsDir, m.CSV), m.ImportWorkspace)
	pragmas := []string{"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA cache_size=-32000", "PRAGMA temp_store=MEMORY"}
	dbs := map[string]string{"cli": filepath.Join(dir, "cli.db"), "modernc": filepath.Join(dir, "modernc.db")}
	for _, db := range dbs {
		c := exec.Command(bin, db)
		c.Stdin = strings.NewReader(strings.Join(pragmas, ";\n") + ";\n" + prep + "\n")
		// the CSV's short rows (dirty by design) make .import warn and
		// exit 1: the staged row count decides
		out, err := c.CombinedOutput()
		n, _ := exec.Command(bin, db, "SELECT count(*) FROM staging").Output()
		if strings.TrimSpace(string(n)) != fmt.Sprint(m.CSVRows) {
			return 0, 0, fmt.Errorf("staging: %s of %d rows (%v): %s", strings.TrimSpace(string(n)), m.CSVRows, err, lastLines(string(out), 2))
		}
	}

	c := exec.Command(bin, dbs["cli"])
	c.Stdin = strings.NewReader(strings.Join(pragmas, ";\n") + ";\nBEGIN;\n" + strings.Join(stmts, "\n") + "\nCOMMIT;\n")
	start := time.Now()
	if out, err := c.CombinedOutput(); err != nil {
		return 0, 0, fmt.Errorf("sqlite3: %v: %s", err, out)
	}
	cli = time.Since(start)

	db, err := sql.Open("sqlite", dbs["modernc"])
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, p := range pragmas {
		if _, err := db.Exec(p); err != nil {
			return 0, 0, err
		}
	}
	start = time.Now()
	tx, err := db.Begin()
	if err != nil {
		return 0, 0, err
	}
	for _, q := range stmts {
		if _, err := tx.Exec(q); err != nil {
			_ = tx.Rollback()
			return 0, 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, err
	}
	return cli, time.Since(start), nil
}
