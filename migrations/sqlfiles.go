package migrations

import (
	"embed"
	"fmt"
	"strings"

	"github.com/pocketbase/pocketbase/core"
)

// Migrations that are plain SQL state it in an embedded file beside them
// (<migration>.up.sql, <migration>.down.sql), never through a service's
// functions: a later change of a service must not change what an old
// migration does. A file is frozen once its migration is released; a change of
// the schema is a new migration with its own file.
//
// A file holds statements that each end with ';' followed by a blank line
// (trigger bodies hold ';' too, but never a blank line); lines starting with
// "--" before a statement are comments. The text of a CREATE statement is
// stored by SQLite as written, so keep it byte for byte.
//
//go:embed *.sql
var sqlFiles embed.FS

// sqlStatements returns the statements of the embedded file name.
func sqlStatements(name string) ([]string, error) {
	b, err := sqlFiles.ReadFile(name)
	if err != nil {
		return nil, err
	}
	parts := strings.Split(string(b), ";\n\n")
	out := make([]string, 0, len(parts))
	for _, part := range parts {
		lines := strings.Split(part, "\n")
		for len(lines) > 0 && (strings.HasPrefix(lines[0], "--") || strings.TrimSpace(lines[0]) == "") {
			lines = lines[1:]
		}
		q := strings.TrimSuffix(strings.TrimRight(strings.Join(lines, "\n"), "\n"), ";")
		if q != "" {
			out = append(out, q)
		}
	}
	return out, nil
}

// execSQLFile runs the statements of the embedded file name, in order.
func execSQLFile(app core.App, name string) error {
	stmts, err := sqlStatements(name)
	if err != nil {
		return err
	}
	for i, q := range stmts {
		if _, err := app.DB().NewQuery(q).Execute(); err != nil {
			return fmt.Errorf("%s, statement %d: %w", name, i+1, err)
		}
	}
	return nil
}

// sqlFileUpDown registers nothing itself: it returns the up and down
// functions of a migration that is the files <base>.up.sql and, when it
// exists, <base>.down.sql.
func sqlFileUpDown(base string) (up, down func(core.App) error) {
	up = func(app core.App) error { return execSQLFile(app, base+".up.sql") }
	down = func(app core.App) error {
		if _, err := sqlFiles.Open(base + ".down.sql"); err != nil {
			return nil
		}
		return execSQLFile(app, base+".down.sql")
	}
	return up, down
}
