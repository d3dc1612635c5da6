package duplicates

import (
	"fmt"
	"strings"

	"github.com/pocketbase/pocketbase/core"
)

// Match keys: the duplicate finder's precomputed state (migrations
// 1764000720_duplicate_keys, 1764000950_bulk_insert and
// 1764001050_match_changes_columns state its SQL).
//
//   - crm_match_keys: one row per contact and reason that applies to it
//     (workspace, reason, key, contact), plus the first name for the
//     similar-name bucket. Written by SQLite triggers on contacts, so every
//     writer keeps it in sync in its own transaction: the record hooks
//     (REST, batch, app.Save), the import fast path, merge and undo (raw SQL),
//     tests and tools inserting rows directly. Nobody has to call anything.
//     Its primary key is the index the groups are read from.
//   - crm_match_changes: an append-only log, one row per contact write
//     holding the contact's (old or new) keys: the groups whose members
//     changed. Appends go to the end of the B-tree, and one row a write (not
//     one a key, nor a count per group) keeps the trigger cost low.
//   - crm_match_found: the groups the finder reports, with their sorted
//     member ids, in page order (score, reason, key). Rebuilt by
//     RefreshDuplicates for the logged groups only, before a page is read:
//     the parts that are not plain SQL (edit distance between first names,
//     dropping a group whose members equal a better-scored group's) run only
//     for groups whose members changed since the last read.
//
// Triggers rather than Go hooks: a trigger cannot be bypassed by a raw-SQL
// write path, which this code base has several of (imports, merge, undo) and
// which other engineers are changing, and the keys are plain string
// expressions SQLite evaluates in the same statement.
const (
	keysTable    = "crm_match_keys"
	changesTable = "crm_match_changes"
	foundTable   = "crm_match_found"
)

// matchKey is one reason's key as SQL over a contacts row named by the
// prefix p ("new.", "old.", "c."), with the condition under which a contact
// has that key at all.
type matchKey struct {
	reason     string
	key, cond  string
	detail     string // stored beside the key (the first name for similar_name)
	exactScore float64
}

// The normalised keys. Email and phone are normalised again (not only
// trusted as stored) so rows written before the normalisation existed, or by
// raw bulk SQL, are still caught. SQLite has no accent folding; names fold
// case (ASCII, as lower() does) and surrounding whitespace only.
func matchKeys(p string) []matchKey {
	email := `lower(trim(` + p + `primary_email))`
	phone := `replace(replace(replace(replace(replace(trim(` + p + `primary_phone), ' ', ''), '-', ''), '(', ''), ')', ''), '.', '')`
	first := `lower(trim(` + p + `first_name))`
	last := `lower(trim(` + p + `last_name))`
	name := first + ` || ' ' || ` + last
	domain := `lower(substr(trim(` + p + `primary_email), instr(trim(` + p + `primary_email), '@') + 1))`
	hasName := `(trim(` + p + `first_name) != '' OR trim(` + p + `last_name) != '')`
	return []matchKey{
		{ReasonEmail, email, `trim(` + p + `primary_email) != ''`, `''`, scores[ReasonEmail]},
		{ReasonPhone, phone, `trim(` + p + `primary_phone) != ''`, `''`, scores[ReasonPhone]},
		{ReasonNameCompany, name + ` || ' @ ' || lower(trim(` + p + `company))`, `trim(` + p + `company) != '' AND ` + hasName, `''`, scores[ReasonNameCompany]},
		{ReasonNameDomain, name + ` || ' @ ' || ` + domain, `instr(` + p + `primary_email, '@') > 0 AND ` + hasName, `''`, scores[ReasonNameDomain]},
		// candidate bucket for similar first names: same last name and
		// first initial
		{ReasonSimilarName, last + ` || ' ' || substr(` + first + `, 1, 1)`, `trim(` + p + `first_name) != '' AND trim(` + p + `last_name) != ''`, first, scores[ReasonSimilarName]},
	}
}

// reasonOrder is the reasons best score first (name+domain at a free-mail
// domain scores 0.65, still above similar_name).
var reasonOrder = []string{ReasonEmail, ReasonPhone, ReasonNameCompany, ReasonNameDomain, ReasonSimilarName}

// MatchSchema returns the statements that create the finder's tables,
// indexes and triggers as this package's SQL expects them (the key
// expressions of matchKeys, the columns BulkInsert and RefreshDuplicates
// write), with BulkInsertSchema for the AFTER INSERT trigger's switch. The app
// never runs them: the migrations state their own SQL, and
// migrations/upgrade_test.go holds the migrated schema equal to these
// statements, so a change here without a new migration fails that test.
// Benchmarks use them to drop and restore the triggers (idempotent).
func MatchSchema() []string {
	return []string{
		`CREATE TABLE IF NOT EXISTS ` + keysTable + ` (workspace TEXT NOT NULL, reason TEXT NOT NULL, key TEXT NOT NULL,
			contact TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '', PRIMARY KEY (workspace, reason, key, contact)) WITHOUT ROWID`,
		// k0…k4: the contact's keys (old or new) in reasonOrder, NULL where
		// a reason does not apply
		`CREATE TABLE IF NOT EXISTS ` + changesTable + ` (id INTEGER PRIMARY KEY, workspace TEXT NOT NULL,
			k0 TEXT, k1 TEXT, k2 TEXT, k3 TEXT, k4 TEXT)`,
		// (workspace) then rowid: new entries land at the end of their range
		`CREATE INDEX IF NOT EXISTS idx_crm_match_changes ON ` + changesTable + ` (workspace)`,
		`CREATE TABLE IF NOT EXISTS ` + foundTable + ` (workspace TEXT NOT NULL, reason TEXT NOT NULL, key TEXT NOT NULL,
			score REAL NOT NULL, ids TEXT NOT NULL, PRIMARY KEY (workspace, reason, key)) WITHOUT ROWID`,
		`CREATE INDEX IF NOT EXISTS idx_crm_match_found_page ON ` + foundTable + ` (workspace, score DESC, reason, key)`,
		// deferred keys (pending.go): one row per workspace
		`CREATE TABLE IF NOT EXISTS ` + pendingTable + ` (workspace TEXT PRIMARY KEY NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL) WITHOUT ROWID`,

		`CREATE TRIGGER IF NOT EXISTS crm_match_contacts_ai AFTER INSERT ON contacts BEGIN ` + insertKeys("new.") + ` END`,
		`CREATE TRIGGER IF NOT EXISTS crm_match_contacts_ad AFTER DELETE ON contacts BEGIN ` + deleteKeys("old.") + ` END`,
		// only when a column a key is made of changes: a custom-field or
		// list edit costs nothing here
		`CREATE TRIGGER IF NOT EXISTS crm_match_contacts_au AFTER UPDATE OF id, workspace, first_name, last_name, primary_email, primary_phone, company ON contacts
			WHEN old.id IS NOT new.id OR old.workspace IS NOT new.workspace OR old.first_name IS NOT new.first_name
			  OR old.last_name IS NOT new.last_name OR old.primary_email IS NOT new.primary_email
			  OR old.primary_phone IS NOT new.primary_phone OR old.company IS NOT new.company
			BEGIN ` + deleteKeys("old.") + insertKeys("new.") + ` END`,
		// a deleted workspace leaves nothing behind, however its contacts go
		`CREATE TRIGGER IF NOT EXISTS crm_match_workspaces_ad AFTER DELETE ON workspaces BEGIN
			DELETE FROM ` + keysTable + ` WHERE workspace = old.id;
			DELETE FROM ` + changesTable + ` WHERE workspace = old.id;
			DELETE FROM ` + foundTable + ` WHERE workspace = old.id;
			DELETE FROM ` + pendingTable + ` WHERE workspace = old.id;
		END`,
	}
}

// DropMatchSchema undoes MatchSchema (and drops the first version's group
// count table, if present); the first six statements drop the triggers only.
// For benchmarks and tests, never run by the app.
func DropMatchSchema() []string {
	return []string{
		`DROP TRIGGER IF EXISTS crm_match_workspaces_ad`, `DROP TRIGGER IF EXISTS crm_match_contacts_au`,
		`DROP TRIGGER IF EXISTS crm_match_contacts_ad`, `DROP TRIGGER IF EXISTS crm_match_contacts_ai`,
		`DROP TRIGGER IF EXISTS crm_match_keys_ad`, `DROP TRIGGER IF EXISTS crm_match_keys_ai`, // first version
		`DROP TABLE IF EXISTS ` + pendingTable, `DROP TABLE IF EXISTS ` + foundTable, `DROP TABLE IF EXISTS ` + changesTable,
		`DROP TABLE IF EXISTS crm_match_groups`, `DROP TABLE IF EXISTS ` + keysTable,
	}
}

// BackfillMatchKeys writes the keys of every existing contact and builds
// every workspace's found groups (a repair; the migrations state their own
// backfill).
func BackfillMatchKeys(app core.App) error {
	for _, t := range []string{keysTable, foundTable, changesTable, pendingTable} {
		if _, err := app.DB().NewQuery(`DELETE FROM ` + t).Execute(); err != nil {
			return err
		}
	}
	for _, k := range matchKeys("c.") {
		q := `INSERT INTO ` + keysTable + ` (workspace, reason, key, contact, detail) ` + keyRows(k, "")
		if _, err := app.DB().NewQuery(q).Execute(); err != nil {
			return fmt.Errorf("backfill %s: %w", k.reason, err)
		}
	}
	var workspaces []string
	if err := app.DB().NewQuery(`SELECT DISTINCT workspace FROM ` + keysTable).Column(&workspaces); err != nil {
		return err
	}
	for _, ws := range workspaces {
		if err := RebuildDuplicates(app, ws); err != nil {
			return fmt.Errorf("backfill: %w", err)
		}
	}
	return nil
}

// logChange appends one change-log row holding all of the row's keys: one
// append per contact write rather than one per key.
func logChange(p string) string {
	// not for a deleted workspace (its contacts may go after it)
	return `INSERT INTO ` + changesTable + ` (workspace, k0, k1, k2, k3, k4) SELECT ` + p + `workspace, ` + keyColumns(p) + `
		WHERE EXISTS (SELECT 1 FROM workspaces WHERE id = ` + p + `workspace);
	`
}

// keyColumns is a change-log row's k0…k4 over the row named by prefix p:
// each reason's key, NULL where the reason does not apply.
func keyColumns(p string) string {
	cols := make([]string, 0, 5)
	for _, k := range matchKeys(p) {
		cols = append(cols, `CASE WHEN `+k.cond+` THEN `+k.key+` END`)
	}
	return strings.Join(cols, ", ")
}

// keyRows selects key k's (workspace, reason, key, contact, detail) rows of
// the contacts c that where (SQL over c, or "") selects.
func keyRows(k matchKey, where string) string {
	if where != "" {
		where += " AND "
	}
	return fmt.Sprintf(`SELECT c.workspace AS workspace, '%s' AS reason, %s AS key, c.id AS contact, %s AS detail FROM contacts c WHERE %s%s`,
		k.reason, k.key, k.detail, where, k.cond)
}

func insertKeys(p string) string {
	var b strings.Builder
	b.WriteString(logChange(p))
	for _, k := range matchKeys(p) {
		fmt.Fprintf(&b, `INSERT INTO %s (workspace, reason, key, contact, detail) SELECT %sworkspace, '%s', %s, %sid, %s WHERE %s;
			`, keysTable, p, k.reason, k.key, p, k.detail, k.cond)
	}
	return b.String()
}

// deleteKeys removes a contact's keys by their full primary key (computed
// from the old row, as insertKeys computed it), so no index by contact is
// needed.
func deleteKeys(p string) string {
	var b strings.Builder
	b.WriteString(logChange(p))
	for _, k := range matchKeys(p) {
		fmt.Fprintf(&b, `DELETE FROM %s WHERE workspace = %sworkspace AND reason = '%s' AND key = (%s) AND contact = %sid;
			`, keysTable, p, k.reason, k.key, p)
	}
	return b.String()
}

// CheckMatchKeys compares the stored match keys with what
// the contacts rows give now, and returns an error describing the first few
// differences (nil when in sync). Keys a bulk write deferred (pending.go)
// count as missing until they are settled. For tests and for an operator who
// suspects drift; O(contacts).
func CheckMatchKeys(app core.App) error {
	keys := matchKeys("c.")
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, keyRows(k, ""))
	}
	want := `SELECT * FROM (` + strings.Join(parts, " UNION ALL ") + `)`
	have := `SELECT workspace, reason, key, contact, detail FROM ` + keysTable
	var diffs []string
	if err := app.DB().NewQuery(`SELECT 'missing ' || reason || ' ' || quote(key) || ' of ' || contact FROM (` + want + ` EXCEPT ` + have + `)
		UNION ALL SELECT 'stale ' || reason || ' ' || quote(key) || ' of ' || contact FROM (` + have + ` EXCEPT ` + want + `)
		LIMIT 10`).Column(&diffs); err != nil {
		return err
	}
	if len(diffs) > 0 {
		return fmt.Errorf("match keys out of sync: %s", strings.Join(diffs, "; "))
	}
	return nil
}

// InsertTriggerSQL drops and recreates the match keys' AFTER INSERT trigger
// on contacts with a WHEN condition (the bulk-insert switch of
// services/contacts uses it to skip the per-row work during a batch).
func InsertTriggerSQL(when string) []string {
	return []string{
		`DROP TRIGGER IF EXISTS crm_match_contacts_ai`,
		`CREATE TRIGGER crm_match_contacts_ai AFTER INSERT ON contacts WHEN ` + when + ` BEGIN ` + insertKeys("new.") + ` END`,
	}
}

// bulkKeysSQL is what the insert trigger does, set-based, for the contacts c
// that rows selects (SettleKeys): one change-log row per contact and the
// keys of each reason, in key order. The statements take the parameter {:ws}
// (the workspace of every row).
func bulkKeysSQL(rows string) []string {
	keys := matchKeys("c.")
	stmts := make([]string, 0, 1+len(keys))
	// logChange's row per contact
	stmts = append(stmts, `INSERT INTO `+changesTable+` (workspace, k0, k1, k2, k3, k4) SELECT c.workspace, `+keyColumns("c.")+
		` FROM contacts c WHERE `+rows+` AND EXISTS (SELECT 1 FROM workspaces WHERE id = {:ws}) ORDER BY c.rowid`)
	for _, k := range keys {
		// in key order: one ordered pass through the workspace's keys of
		// that reason instead of random inserts. OR IGNORE: a contact of
		// the range may have its keys already (SettleKeys).
		stmts = append(stmts, `INSERT OR IGNORE INTO `+keysTable+` (workspace, reason, key, contact, detail) `+keyRows(k, rows)+` ORDER BY key, contact`)
	}
	return stmts
}
