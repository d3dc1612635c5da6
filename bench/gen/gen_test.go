package gen_test

import (
	"crypto/sha256"
	"database/sql"
	"encoding/csv"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/pi-crm/pi-crm/bench/gen"
	"github.com/pi-crm/pi-crm/services/contacts"
	"github.com/pi-crm/pi-crm/services/customfields"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// The generator writes raw SQL; these checks hold its rows to what the
// app would have written through its hooks and validators.

func generate(t *testing.T, n int, seed uint64) (string, *gen.Manifest) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ds")
	m, err := gen.Generate(dir, gen.Config{N: n, Seed: seed, MergePairs: 2, MergeLogs: 20})
	if err != nil {
		t.Fatal(err)
	}
	return dir, m
}

func openApp(t *testing.T, dir string) core.App {
	t.Helper()
	app := core.NewBaseApp(core.BaseAppConfig{DataDir: filepath.Join(dir, "pb_data")})
	if err := app.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.ClearBootstrap() })
	return app
}

func TestGeneratedRecordsAreValid(t *testing.T) {
	dir, m := generate(t, 300, 7)
	app := openApp(t, dir)

	recs, err := app.FindAllRecords("contacts", dbx.HashExp{"workspace": m.Workspace})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 300 {
		t.Fatalf("contacts: got %d, want 300", len(recs))
	}
	defs := map[string]customfields.Definition{}
	for _, f := range gen.Fields {
		defs[f.Name] = customfields.Definition{Name: f.Name, Type: f.Type, Options: f.Options}
	}
	for _, r := range recs {
		// PocketBase's own field validation (email, phone pattern, relation)
		if err := app.Validate(r); err != nil {
			t.Fatalf("contact %s does not validate: %v", r.Id, err)
		}
		if e, _ := contacts.NormalizeEmail(r.GetString("primary_email")); e != r.GetString("primary_email") {
			t.Fatalf("email %q is not normalised", r.GetString("primary_email"))
		}
		if p := r.GetString("primary_phone"); p != "" {
			if n, err := contacts.NormalizePhone(p, "US"); err != nil || n != p {
				t.Fatalf("phone %q is not E.164 (%v)", p, err)
			}
		}
		rows, err := app.FindAllRecords("custom_fields", dbx.HashExp{"contact": r.Id})
		if err != nil {
			t.Fatal(err)
		}
		copyVals := map[string]any{}
		if err := r.UnmarshalJSONField("custom", &copyVals); err != nil {
			t.Fatal(err)
		}
		if len(rows) != len(copyVals) {
			t.Fatalf("contact %s: %d EAV rows but %d values in the copy", r.Id, len(rows), len(copyVals))
		}
		for _, row := range rows {
			if err := app.Validate(row); err != nil {
				t.Fatalf("custom value %s does not validate: %v", row.Id, err)
			}
			name, v := row.GetString("field_name"), row.GetString("field_value")
			d := defs[name]
			if row.GetString("field_type") != d.Type {
				t.Fatalf("%s: type %q, want %q", name, row.GetString("field_type"), d.Type)
			}
			c, err := d.Canonical(v, "US") // every type accepts its stored text form
			if err != nil || c != v {
				t.Fatalf("%s = %q is not canonical (%q, %v)", name, v, c, err)
			}
			if _, ok := copyVals[name]; !ok {
				t.Fatalf("contact %s: %s missing from the read copy", r.Id, name)
			}
		}
	}

	// one primary list per contact, 5 timeline entries per contact
	var bad int
	if err := app.DB().NewQuery(`SELECT COUNT(*) FROM contacts c WHERE c.workspace = {:ws} AND (
		(SELECT COUNT(*) FROM contact_list_assignments a WHERE a.contact = c.id AND a.is_primary = TRUE) != 1
		OR (SELECT COUNT(*) FROM communication_logs l WHERE l.contact = c.id) != {:e})`).
		Bind(dbx.Params{"ws": m.Workspace, "e": gen.EntriesPerContact}).Row(&bad); err != nil {
		t.Fatal(err)
	}
	if bad != 0 {
		t.Fatalf("%d contacts without exactly one primary list and %d entries", bad, gen.EntriesPerContact)
	}
	var plain int
	if err := app.DB().Select("COUNT(*)").From(m.PlainCollection).Row(&plain); err != nil || plain != 300 {
		t.Fatalf("plain collection: %d rows (%v)", plain, err)
	}
	if app.Settings().RateLimits.Enabled {
		t.Fatal("the rate limiter is still on in the benchmark data dir")
	}
	if u, err := app.FindAuthRecordByEmail("users", m.UserEmail); err != nil || !u.ValidatePassword(m.Password) {
		t.Fatalf("bench user cannot log in with the manifest's password (%v)", err)
	}
	member, err := app.FindFirstRecordByFilter("workspace_members", "workspace = {:w} && role = 'owner'", dbx.Params{"w": m.Workspace})
	if err != nil || member == nil {
		t.Fatalf("the owner membership is missing: %v", err)
	}

	// the CSV: header + N rows, 16 columns except ragged rows
	f, err := os.Open(filepath.Join(dir, m.CSV))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = -1
	all, err := cr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 301 || len(all[0]) != 16 {
		t.Fatalf("csv: %d lines, %d columns", len(all), len(all[0]))
	}
}

// digest summarises the generated rows (ids, values, timestamps).
func digest(t *testing.T, dir string) string {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, "pb_data", "data.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	h := sha256.New()
	for _, q := range []string{
		`SELECT id || first_name || last_name || primary_email || primary_phone || company || custom || created FROM contacts ORDER BY id`,
		`SELECT id || contact || field_name || field_value FROM custom_fields ORDER BY id`,
		`SELECT id || contact || content || timestamp FROM communication_logs WHERE contact IN (SELECT id FROM contacts) ORDER BY id`,
	} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			h.Write([]byte(s))
		}
		rows.Close()
	}
	csvBytes, err := os.ReadFile(filepath.Join(dir, "contacts.csv"))
	if err != nil {
		t.Fatal(err)
	}
	h.Write(csvBytes)
	return hex.EncodeToString(h.Sum(nil))
}

func TestSameSeedSameData(t *testing.T) {
	a, _ := generate(t, 100, 42)
	b, _ := generate(t, 100, 42)
	c, _ := generate(t, 100, 43)
	if digest(t, a) != digest(t, b) {
		t.Fatal("two runs with the same seed differ")
	}
	if digest(t, a) == digest(t, c) {
		t.Fatal("different seeds gave the same data")
	}
}
