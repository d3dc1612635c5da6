package migrations_test

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/services/contacts"
	"github.com/pi-crm/pi-crm/services/counts"
	"github.com/pi-crm/pi-crm/services/customfields"
	"github.com/pi-crm/pi-crm/services/duplicates"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// The upgrade test: a database migrated one migration at a time from the
// first one, with rows written early on (so the backfills and triggers run on
// real data), has exactly the schema of a fresh install that ran every
// migration at once: sqlite_master (type, name, table, SQL with whitespace
// folded) and the columns of every table (pragma table_info).
//
// Ignored, and only these:
//   - the per-workspace custom-field value indexes idx_cf_<workspace>_<name>
//     on contacts, in exactly the form services/customfields builds them: run-time
//     state that customfields creates when a workspace reaches
//     customfields.ValueIndexMinContacts contacts or a definition changes, not
//     schema of a fresh install (no migration builds them). Any other index,
//     or one of those names with another definition, is compared.
//   - sqlite_stat* (SQLite's planner statistics, written by ANALYZE/optimize).
//
// PocketBase's own tables (_collections, _migrations, …) are compared like
// ours: they must not differ.

// valueIndex is the name and SQL of a run-time value index (see
// services/customfields/indexes.go), the one pattern the comparison ignores.
var valueIndex = regexp.MustCompile(`^CREATE INDEX (idx_cf_([a-z0-9]+)_([a-z][a-z0-9_]*)) ON contacts \(json_extract\(custom, '\$\."([a-z][a-z0-9_]*)"'\) COLLATE NOCASE\) WHERE workspace = '([a-z0-9]+)'$`)

func isValueIndex(typ, name, tbl, sql string) bool {
	if typ != "index" || tbl != "contacts" {
		return false
	}
	m := valueIndex.FindStringSubmatch(sql)
	return m != nil && m[1] == name && m[3] == m[4] && m[2] == m[5]
}

// dbSchema is a database's schema: "type name" -> table, folded SQL and, for
// tables, columns.
type dbSchema map[string]string

func fold(s string) string { return strings.Join(strings.Fields(s), " ") }

// schemaOf reads app's schema and the value indexes it ignored.
func schemaOf(t *testing.T, app core.App) (dbSchema, []string) {
	t.Helper()
	var rows []struct {
		Type string `db:"type"`
		Name string `db:"name"`
		Tbl  string `db:"tbl_name"`
		SQL  string `db:"sql"`
	}
	if err := app.DB().NewQuery(`SELECT type, name, tbl_name, coalesce(sql, '') AS sql FROM sqlite_master
		WHERE name NOT LIKE 'sqlite\_stat%' ESCAPE '\' ORDER BY type, name`).All(&rows); err != nil {
		t.Fatal(err)
	}
	s := dbSchema{}
	ignored := make([]string, 0, 1)
	for _, r := range rows {
		sql := fold(r.SQL)
		if isValueIndex(r.Type, r.Name, r.Tbl, sql) {
			ignored = append(ignored, r.Name)
			continue
		}
		v := "on " + r.Tbl + ": " + sql
		if r.Type == "table" {
			var cols []struct {
				Cid     int    `db:"cid"`
				Name    string `db:"name"`
				Type    string `db:"type"`
				NotNull int    `db:"notnull"`
				Default string `db:"dflt"`
				PK      int    `db:"pk"`
			}
			if err := app.DB().NewQuery(`SELECT cid, name, type, "notnull", coalesce(dflt_value, '<null>') AS dflt, pk
				FROM pragma_table_info({:t}) ORDER BY cid`).Bind(dbx.Params{"t": r.Name}).All(&cols); err != nil {
				t.Fatal(err)
			}
			for _, c := range cols {
				v += fmt.Sprintf("\n  column %d %s %s notnull=%d default=%s pk=%d", c.Cid, c.Name, c.Type, c.NotNull, c.Default, c.PK)
			}
		}
		s[r.Type+" "+r.Name] = v
	}
	return s, ignored
}

// compareSchemas fails t for every object that one of the schemas lacks or
// that they define differently.
func compareSchemas(t *testing.T, gotName string, got dbSchema, wantName string, want dbSchema) {
	t.Helper()
	keys := map[string]bool{}
	for k := range got {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		g, inGot := got[k]
		w, inWant := want[k]
		switch {
		case !inGot:
			t.Errorf("%s: missing from %s (%s has it %s)", k, gotName, wantName, w)
		case !inWant:
			t.Errorf("%s: only in %s: %s", k, gotName, g)
		case g != w:
			t.Errorf("%s differs:\n%s: %s\n%s: %s", k, gotName, g, wantName, w)
		}
	}
}

// bareApp is a bootstrapped app with PocketBase's system migrations and none
// of ours.
func bareApp(t *testing.T) core.App {
	t.Helper()
	app := core.NewBaseApp(core.BaseAppConfig{DataDir: t.TempDir()})
	if err := app.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.ClearBootstrap() })
	if _, err := core.NewMigrationsRunner(app, core.SystemMigrations).Up(); err != nil {
		t.Fatal(err)
	}
	return app
}

// migrateUpTo runs the app migrations whose file sorts at or before last
// (all of them for "").
func migrateUpTo(t *testing.T, app core.App, last string) {
	t.Helper()
	var list core.MigrationsList
	for _, m := range core.AppMigrations.Items() {
		if last == "" || m.File <= last {
			list.Add(m)
		}
	}
	if _, err := core.NewMigrationsRunner(app, list).Up(); err != nil {
		t.Fatalf("migrating up to %q: %v", last, err)
	}
}

// freshSchema is the schema of a fresh install: every migration at once.
func freshSchema(t *testing.T) dbSchema {
	t.Helper()
	app := bareApp(t)
	migrateUpTo(t, app, "")
	s, ignored := schemaOf(t, app)
	if len(ignored) > 0 {
		t.Fatalf("a fresh install has value indexes: %v", ignored)
	}
	return s
}

// seeded is the data written into a database being upgraded.
type seeded struct {
	user, ws          string
	ann1, ann2, other string
}

// seed writes a user, a workspace with its owner membership, contacts (two of
// them duplicates by email) and a custom value, through the record API of the
// bare app (no project hooks: nothing but the migrations keeps the derived
// state).
func seed(t *testing.T, app core.App) seeded {
	t.Helper()
	users, err := app.FindCollectionByNameOrId("users")
	if err != nil {
		t.Fatal(err)
	}
	user := core.NewRecord(users)
	user.SetEmail("upgrade@example.com")
	user.SetPassword("pi-crm-password")
	mustSave(t, app, user)
	ws := saveNew(t, app, "workspaces", map[string]any{"owner": user.Id, "name": "Upgraded"})
	saveNew(t, app, "workspace_members", map[string]any{"workspace": ws.Id, "user": user.Id, "role": "owner"})
	a1 := saveNew(t, app, "contacts", map[string]any{"workspace": ws.Id, "first_name": "Ann", "last_name": "Smith",
		"primary_email": "ann@example.com", "company": "Acme"})
	a2 := saveNew(t, app, "contacts", map[string]any{"workspace": ws.Id, "first_name": "ann", "last_name": "SMITH",
		"primary_email": "Ann@Example.com", "primary_phone": "+14155550100"})
	o := saveNew(t, app, "contacts", map[string]any{"workspace": ws.Id, "first_name": "Bob", "last_name": "Jones",
		"primary_phone": "+14155550199", "company": "Initech"})
	saveNew(t, app, "custom_field_definitions", map[string]any{"user": user.Id, "workspace": ws.Id, "field_name": "tier",
		"label": "Tier", "field_type": "text"})
	saveNew(t, app, "custom_fields", map[string]any{"contact": a1.Id, "field_name": "tier", "field_value": "gold", "field_type": "text"})
	return seeded{user: user.Id, ws: ws.Id, ann1: a1.Id, ann2: a2.Id, other: o.Id}
}

// foundGroups refreshes ws's duplicate groups and returns them as
// "reason:ids".
func foundGroups(t *testing.T, app core.App, ws string) []string {
	t.Helper()
	if err := app.RunInTransaction(func(tx core.App) error { return duplicates.RefreshDuplicates(tx, ws) }); err != nil {
		t.Fatal(err)
	}
	var groups []string
	if err := app.DB().NewQuery(`SELECT reason || ':' || ids FROM crm_match_found WHERE workspace = {:ws} ORDER BY reason, ids`).
		Bind(dbx.Params{"ws": ws}).Column(&groups); err != nil {
		t.Fatal(err)
	}
	return groups
}

// checkDerivedState checks that the state the migrations and triggers keep is
// right for the seeded rows and that contacts can still be written.
func checkDerivedState(t *testing.T, app core.App, d seeded) {
	t.Helper()
	if err := duplicates.CheckMatchKeys(app); err != nil {
		t.Error(err)
	}
	if err := counts.CheckContactCounts(app); err != nil {
		t.Error(err)
	}
	a1, err := app.FindRecordById("contacts", d.ann1)
	if err != nil {
		t.Fatal(err)
	}
	if c := fold(a1.GetString("custom")); c != `{"tier":"gold"}` {
		t.Errorf("custom copy of the value written before 1764000100: %s", c)
	}
	ids := []string{d.ann1, d.ann2}
	sort.Strings(ids)
	want := "same_email:" + strings.Join(ids, ",")
	if g := foundGroups(t, app, d.ws); !contains(g, want) {
		t.Errorf("duplicate groups %v, want %s among them", g, want)
	}
	// a contact written now goes through the migrated triggers
	bob := saveNew(t, app, "contacts", map[string]any{"workspace": d.ws, "first_name": "BOB", "last_name": "jones", "company": "initech"})
	if err := duplicates.CheckMatchKeys(app); err != nil {
		t.Error(err)
	}
	if err := counts.CheckContactCounts(app); err != nil {
		t.Error(err)
	}
	ids = []string{d.other, bob.Id}
	sort.Strings(ids)
	if g, want := foundGroups(t, app, d.ws), "same_name_company:"+strings.Join(ids, ","); !contains(g, want) {
		t.Errorf("duplicate groups after a new contact %v, want %s among them", g, want)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// buildValueIndex gives workspace ws enough contacts for customfields to build
// its value indexes at run time, and builds them.
func buildValueIndex(t *testing.T, app core.App, ws string) {
	t.Helper()
	err := app.RunInTransaction(func(tx core.App) error {
		q := tx.DB().NewQuery(`INSERT INTO contacts (id, workspace, first_name, last_name, created, updated)
			VALUES ({:id}, {:ws}, 'Many', {:l}, '2025-01-01 00:00:00.000Z', '2025-01-01 00:00:00.000Z')`).Prepare()
		defer q.Close()
		for i := 0; i < customfields.ValueIndexMinContacts; i++ {
			if _, err := q.Bind(dbx.Params{"id": fmt.Sprintf("many%011d", i), "ws": ws, "l": fmt.Sprint(i)}).Execute(); err != nil {
				return err
			}
		}
		return customfields.SyncValueIndexes(tx, ws)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Step by step from the first migration, with data, equals a fresh install.
func TestUpgradeStepByStepMatchesFreshInstall(t *testing.T) {
	app := bareApp(t)
	var d seeded
	seededAt := ""
	for _, m := range core.AppMigrations.Items() {
		var foundBefore int
		if m.File == "1764001050_match_changes_columns.go" {
			// on a database at the current version it changes nothing: the
			// groups already built stay, nothing is logged for rebuilding.
			// RebuildDuplicates, not RefreshDuplicates: the refresh reads the
			// table of deferred keys 1764001900 adds, not there yet
			if err := app.RunInTransaction(func(tx core.App) error { return duplicates.RebuildDuplicates(tx, d.ws) }); err != nil {
				t.Fatal(err)
			}
			_ = app.DB().NewQuery(`SELECT count(*) FROM crm_match_found`).Row(&foundBefore)
		}
		migrateUpTo(t, app, m.File)
		if seededAt == "" {
			d, seededAt = seed(t, app), m.File
		}
		if m.File == "1764001050_match_changes_columns.go" {
			var found, logged int
			_ = app.DB().NewQuery(`SELECT count(*) FROM crm_match_found`).Row(&found)
			_ = app.DB().NewQuery(`SELECT count(*) FROM crm_match_changes`).Row(&logged)
			if found != foundBefore || found == 0 || logged != 0 {
				t.Errorf("1764001050 rebuilt a current finder schema: found %d (was %d), logged %d", found, foundBefore, logged)
			}
		}
	}
	t.Logf("rows written after %s", seededAt)
	checkDerivedState(t, app, d)
	buildValueIndex(t, app, d.ws)

	upgraded, ignored := schemaOf(t, app)
	if want := []string{"idx_cf_" + d.ws + "_tier"}; strings.Join(ignored, ",") != strings.Join(want, ",") {
		t.Errorf("ignored value indexes %v, want %v", ignored, want)
	}
	compareSchemas(t, "upgraded", upgraded, "fresh", freshSchema(t))
}

// A database that ran an earlier version of 1764000720 (its objects as a
// fresh install of that commit had them, testdata/legacy_*.sql) reaches the
// current schema and keys through 1764001050.
func TestUpgradeFromEarlierDuplicateKeys(t *testing.T) {
	fresh := freshSchema(t)
	files, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if !strings.HasPrefix(f.Name(), "legacy_1764000720_") {
			continue
		}
		n++
		t.Run(strings.TrimSuffix(f.Name(), ".sql"), func(t *testing.T) {
			app := bareApp(t)
			migrateUpTo(t, app, "1764000000_schema.go")
			d := seed(t, app)
			migrateUpTo(t, app, "1764000710")
			b, err := os.ReadFile("testdata/" + f.Name())
			if err != nil {
				t.Fatal(err)
			}
			for _, part := range strings.Split(string(b), ";\n\n") {
				lines := strings.Split(part, "\n")
				for len(lines) > 0 && (strings.HasPrefix(lines[0], "--") || strings.TrimSpace(lines[0]) == "") {
					lines = lines[1:]
				}
				if q := strings.TrimSpace(strings.Join(lines, "\n")); q != "" {
					if _, err := app.DB().NewQuery(q).Execute(); err != nil {
						t.Fatalf("%s: %v", q, err)
					}
				}
			}
			if _, err := app.DB().NewQuery(`INSERT INTO _migrations (file, applied) VALUES ('1764000720_duplicate_keys.go', {:at})`).
				Bind(dbx.Params{"at": time.Now().UnixMicro()}).Execute(); err != nil {
				t.Fatal(err)
			}
			// the old triggers work on their own tables
			saveNew(t, app, "contacts", map[string]any{"workspace": d.ws, "first_name": "Old", "last_name": "Trigger"})

			migrateUpTo(t, app, "")
			checkDerivedState(t, app, d)
			upgraded, _ := schemaOf(t, app)
			compareSchemas(t, "upgraded", upgraded, "fresh", fresh)
		})
	}
	if n == 0 {
		t.Fatal("no legacy schemas in testdata")
	}
}

// The schema the services' run-time SQL expects (duplicates.MatchSchema,
// counts.CountSchema and ValueCountSchema, contacts.BulkInsertSchema: the key expressions and
// columns BulkInsert, RefreshDuplicates and the counts read and write) is the
// migrated one. A change of a trigger or table in those services without a
// migration fails here.
func TestMigratedSchemaMatchesServiceSQL(t *testing.T) {
	migrated := freshSchema(t)

	app := bareApp(t)
	migrateUpTo(t, app, "")
	for _, typ := range []string{"trigger", "table"} {
		var names []string
		if err := app.DB().NewQuery(`SELECT name FROM sqlite_master WHERE type = {:t} AND name LIKE 'crm\_%' ESCAPE '\' ORDER BY name`).
			Bind(dbx.Params{"t": typ}).Column(&names); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if _, err := app.DB().NewQuery(`DROP ` + strings.ToUpper(typ) + ` "` + n + `"`).Execute(); err != nil {
				t.Fatal(err)
			}
		}
	}
	live := duplicates.MatchSchema()
	live = append(live, counts.CountSchema()...)
	live = append(live, counts.ValueCountSchema()...)
	live = append(live, contacts.BulkInsertSchema()...)
	for _, q := range live {
		if _, err := app.DB().NewQuery(q).Execute(); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	services, _ := schemaOf(t, app)
	compareSchemas(t, "services", services, "migrations", migrated)
}
