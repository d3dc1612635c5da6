package migrations

import (
	"regexp"
	"strings"

	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// The duplicate finder's schema, brought to its current version on a database
// that ran an earlier version of 1764000720.
//
// 1764000720 read its statements from services/search while the finder
// changed under it: its first version kept group counts (crm_match_groups,
// triggers on crm_match_keys), the next a change log of (workspace, reason,
// key), the current one a change log of one row per contact write
// (workspace, k0…k4). A database that had run the migration kept its old
// tables (CREATE TABLE IF NOT EXISTS), and 1764000950 then gave it an AFTER
// INSERT trigger writing the columns k0…k4 its change log does not have.
// A database of the first two versions (no crm_match_changes at all) then
// cannot even pass 1764001100: SQLite checks every trigger when a table is
// renamed, and that trigger names a missing table. That is why this repair
// sorts before 1764001100: PocketBase applies every migration not yet
// applied, in file order, so a database that has 1764001100 already runs it
// afterwards, one stuck before 1764001100 runs it first.
//
// This migration compares the finder's tables, indexes and triggers with the
// current ones (1764001050_match_changes_columns.up.sql, the statements after
// its drops) and, when anything differs or an object of an earlier version is
// left, drops them all, creates the current ones and backfills every
// contact's keys and change-log row (the first page read per workspace builds
// its groups). A database already at the current version, a fresh install
// included, is left as it is. Down does nothing: the earlier versions are the
// inconsistent states this migration repairs.
func init() {
	m.Register(func(app core.App) error {
		current, err := matchSchemaCurrent1050(app)
		if err != nil || current {
			return err
		}
		return execSQLFile(app, "1764001050_match_changes_columns.up.sql")
	}, nil)
}

var create1050 = regexp.MustCompile(`^CREATE (TABLE|INDEX|TRIGGER) (IF NOT EXISTS )?([a-z0-9_]+) `)

// matchSchemaCurrent1050 reports whether the finder's objects in
// sqlite_master are exactly the CREATE statements of the migration's file.
func matchSchemaCurrent1050(app core.App) (bool, error) {
	stmts, err := sqlStatements("1764001050_match_changes_columns.up.sql")
	if err != nil {
		return false, err
	}
	want := map[string]string{} // type name -> stored SQL, whitespace folded
	for _, q := range stmts {
		if sm := create1050.FindStringSubmatch(q); sm != nil {
			stored := "CREATE " + sm[1] + " " + sm[3] + " " + q[len(sm[0]):]
			want[strings.ToLower(sm[1])+" "+sm[3]] = strings.Join(strings.Fields(stored), " ")
		}
	}
	var rows []struct {
		Type string `db:"type"`
		Name string `db:"name"`
		SQL  string `db:"sql"`
	}
	if err := app.DB().NewQuery(`SELECT type, name, coalesce(sql, '') AS sql FROM sqlite_master
		WHERE (name LIKE 'crm\_match\_%' ESCAPE '\' OR name LIKE 'idx\_crm\_match\_%' ESCAPE '\') AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`).All(&rows); err != nil {
		return false, err
	}
	if len(rows) != len(want) {
		return false, nil
	}
	for _, r := range rows {
		if w, ok := want[r.Type+" "+r.Name]; !ok || w != strings.Join(strings.Fields(r.SQL), " ") {
			return false, nil
		}
	}
	return true, nil
}
