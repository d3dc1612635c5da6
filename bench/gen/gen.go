// Package gen writes the benchmark data set: a fresh pi-crm data directory
// with one workspace of N contacts × 10 typed custom fields, 5 lists, 5
// timeline entries per contact, a plain PocketBase collection holding the
// same rows without custom fields (the list baseline), merge pairs and an
// empty import workspace, plus a CSV file of N rows to import. The same
// Config (N, Seed) always produces the same records (ids included).
//
// Schema, users, workspaces, definitions and lists are created by the real
// app: our migrations and hooks on a PocketBase app, records saved with
// app.Save. The bulk rows (contacts, custom values, assignments, timeline)
// are written with prepared raw SQL in large transactions, which skips the
// record hooks, so this package writes what they would: PocketBase ids and
// timestamps, normalised email and phone (services/contacts), canonical
// custom values (services/customfields) with the contacts.custom read copy
// matching the EAV rows, one primary list per contact and the "Contact
// created" system entry.
package gen

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/pi-crm/pi-crm/hooks"
	_ "github.com/pi-crm/pi-crm/migrations"
	"github.com/pi-crm/pi-crm/services/contacts"
	"github.com/pi-crm/pi-crm/services/customfields"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// Version changes whenever the generated data changes shape, so cached data
// sets of an older generator are not reused.
const Version = 1

// SchemaKey names the migrations compiled into this program (ours are
// registered by importing the migrations package). A data set generated
// with other migrations is not reused: the server would run the new ones
// at start and the cold start, the import and the indexes would measure a
// different schema.
func SchemaKey() string {
	h := fnv.New32a()
	for _, m := range core.AppMigrations.Items() {
		h.Write([]byte(m.File))
		h.Write([]byte{0})
	}
	return fmt.Sprintf("%08x", h.Sum32())
}

// Credentials of the generated accounts. They only ever exist in a
// benchmark data directory.
const (
	UserEmail         = "bench@example.com"
	SuperuserEmail    = "bench-admin@example.com"
	Password          = "bench-password-123"
	PlainCollection   = "plain_contacts"
	MergeFieldCount   = 50
	EntriesPerContact = 5
)

// Config says what to generate.
type Config struct {
	N          int    // contacts in the main workspace and rows in the CSV
	Seed       uint64 // same seed, same data
	MergePairs int    // contact pairs to merge (each merge consumes one)
	MergeLogs  int    // timeline entries on each merge source
	Log        func(format string, args ...any)
}

// Manifest describes a generated data set to the harness (manifest.json).
type Manifest struct {
	Version           int         `json:"version"`
	SchemaKey         string      `json:"schema_key"`
	N                 int         `json:"n"`
	Seed              uint64      `json:"seed"`
	DataDir           string      `json:"data_dir"` // relative to the manifest
	UserEmail         string      `json:"user_email"`
	SuperuserEmail    string      `json:"superuser_email"`
	Password          string      `json:"password"`
	Workspace         string      `json:"workspace"`
	ImportWorkspace   string      `json:"import_workspace"`
	MergeWorkspace    string      `json:"merge_workspace"`
	MergePairs        [][2]string `json:"merge_pairs"` // [source, target]
	MergeLogs         int         `json:"merge_logs"`
	Lists             []string    `json:"lists"`
	Fields            []Field     `json:"fields"`
	PlainCollection   string      `json:"plain_collection"`
	CSV               string      `json:"csv"` // relative to the manifest
	CSVRows           int         `json:"csv_rows"`
	CSVDirtyRows      int         `json:"csv_dirty_rows"`
	CSVInvalidRows    int         `json:"csv_invalid_rows"`
	EmailPrefixes     []string    `json:"email_prefixes"` // selective search terms
	GeneratedSeconds  float64     `json:"generated_seconds"`
	RowsWritten       int         `json:"rows_written"`
	RateLimitsEnabled bool        `json:"rate_limits_enabled"`
}

// Generate writes a data set into dir (which must not exist or be empty):
// dir/pb_data, dir/contacts.csv and dir/manifest.json.
func Generate(dir string, cfg Config) (*Manifest, error) {
	if cfg.N < 1 {
		return nil, fmt.Errorf("n must be at least 1")
	}
	if cfg.Log == nil {
		cfg.Log = func(string, ...any) {}
	}
	start := time.Now()
	dataDir := filepath.Join(dir, "pb_data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	app := core.NewBaseApp(core.BaseAppConfig{DataDir: dataDir})
	if err := app.Bootstrap(); err != nil {
		return nil, err
	}
	defer app.ClearBootstrap()
	// the real wiring: workspace owner membership, audit entries, contact
	// invariants for the records saved through app.Save below
	hooks.Register(app, hooks.Config{})
	if err := app.RunAllMigrations(); err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}

	m := &Manifest{
		Version: Version, SchemaKey: SchemaKey(), N: cfg.N, Seed: cfg.Seed, DataDir: "pb_data", UserEmail: UserEmail,
		SuperuserEmail: SuperuserEmail, Password: Password, Fields: Fields, PlainCollection: PlainCollection,
		MergeLogs: cfg.MergeLogs, CSV: "contacts.csv",
	}
	g := &generator{app: app, cfg: cfg, m: m, r: rand.New(rand.NewPCG(cfg.Seed, 1))}
	steps := []struct {
		name string
		fn   func() error
	}{
		{"settings", g.settings},
		{"accounts and workspaces", g.accounts},
		{"definitions and lists", g.definitions},
		{"contacts", g.contacts},
		{"plain collection", g.plain},
		{"merge pairs", g.merge},
		// the raw-SQL rows do not pass the contact hooks that build a
		// workspace's value indexes once it is large enough; an import
		// syncs them at its end, and so does the generator
		{"value indexes", func() error { return customfields.SyncValueIndexes(g.app) }},
		{"csv", func() error { return g.csv(filepath.Join(dir, m.CSV)) }},
		{"optimize", g.optimize},
	}
	for _, s := range steps {
		t := time.Now()
		if err := s.fn(); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		cfg.Log("gen: %s done in %.1fs", s.name, time.Since(t).Seconds())
	}
	m.GeneratedSeconds = time.Since(start).Seconds()
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644); err != nil {
		return nil, err
	}
	return m, nil
}

type generator struct {
	app   core.App
	cfg   Config
	m     *Manifest
	r     *rand.Rand
	user  *core.Record
	lists []string
}

// settings: the benchmark measures raw throughput from one client IP, which
// the app's rate limiter (600 requests per 10 s on /api/) would cut off.
// Only this data directory is changed.
func (g *generator) settings() error {
	s := g.app.Settings()
	s.RateLimits.Enabled = false
	g.m.RateLimitsEnabled = false
	return g.app.Save(s)
}

func (g *generator) save(collection string, fields map[string]any) (*core.Record, error) {
	col, err := g.app.FindCachedCollectionByNameOrId(collection)
	if err != nil {
		return nil, err
	}
	rec := core.NewRecord(col)
	for k, v := range fields {
		rec.Set(k, v)
	}
	if err := g.app.Save(rec); err != nil {
		return nil, fmt.Errorf("%s: %w", collection, err)
	}
	return rec, nil
}

func (g *generator) accounts() error {
	users, err := g.app.FindCollectionByNameOrId("users")
	if err != nil {
		return err
	}
	u := core.NewRecord(users)
	u.SetEmail(UserEmail)
	u.SetPassword(Password)
	u.SetVerified(true)
	u.Set("name", "Bench")
	if err := g.app.Save(u); err != nil {
		return fmt.Errorf("user: %w", err)
	}
	g.user = u
	sucol, err := g.app.FindCollectionByNameOrId(core.CollectionNameSuperusers)
	if err != nil {
		return err
	}
	su := core.NewRecord(sucol)
	su.SetEmail(SuperuserEmail)
	su.SetPassword(Password)
	if err := g.app.Save(su); err != nil {
		return fmt.Errorf("superuser: %w", err)
	}
	for _, ws := range []struct {
		name string
		id   *string
	}{{"Bench", &g.m.Workspace}, {"Import", &g.m.ImportWorkspace}, {"Merge", &g.m.MergeWorkspace}} {
		// the workspaces hook makes the owner a member in the same transaction
		rec, err := g.save("workspaces", map[string]any{"owner": u.Id, "name": ws.name, "default_country": "US"})
		if err != nil {
			return err
		}
		*ws.id = rec.Id
	}
	return nil
}

// definitions: the 10 fields are user-wide (they apply to every workspace
// of the bench user: the main one, the import target and the merge one);
// the merge workspace adds its own so that merged contacts carry 50 values.
func (g *generator) definitions() error {
	for _, f := range Fields {
		if _, err := g.save("custom_field_definitions", map[string]any{
			"user": g.user.Id, "workspace": "", "field_name": f.Name, "label": f.Label, "field_type": f.Type, "options": f.Options,
		}); err != nil {
			return err
		}
	}
	for _, f := range mergeFields() {
		if _, err := g.save("custom_field_definitions", map[string]any{
			"user": g.user.Id, "workspace": g.m.MergeWorkspace, "field_name": f.Name, "label": f.Label, "field_type": f.Type, "options": f.Options,
		}); err != nil {
			return err
		}
	}
	for i, name := range []string{"Customers", "Newsletter", "Leads", "Wholesale", "Events"} {
		rec, err := g.save("contact_lists", map[string]any{"workspace": g.m.Workspace, "name": name, "is_primary": i == 0})
		if err != nil {
			return err
		}
		g.lists = append(g.lists, rec.Id)
	}
	g.m.Lists = g.lists
	return nil
}

// mergeFields are the merge workspace's own 40 fields (with the 10
// user-wide ones: 50 per merged contact).
func mergeFields() []Field {
	types := []string{"text", "number", "date", "boolean", "select"}
	out := make([]Field, 0, MergeFieldCount-len(Fields))
	for i := 1; len(out) < MergeFieldCount-len(Fields); i++ {
		f := Field{Name: fmt.Sprintf("m%02d", i), Label: fmt.Sprintf("Merge field %d", i), Type: types[i%len(types)]}
		if f.Type == "select" {
			f.Options = tiers
		}
		out = append(out, f)
	}
	return out
}

func mergeValue(f Field, r *rand.Rand) string {
	switch f.Type {
	case "number":
		return strconv.Itoa(r.IntN(10000))
	case "date":
		return time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, r.IntN(2000)).Format("2006-01-02")
	case "boolean":
		return strconv.FormatBool(r.IntN(2) == 0)
	case "select":
		return pick(r, f.Options)
	}
	return pick(r, notes)
}

// writer holds the prepared statements of one bulk transaction.
type writer struct {
	tx                             *sql.Tx
	contact, custom, assign, entry *sql.Stmt
	types                          map[string]string
	rows                           int
}

func (g *generator) begin() (*writer, error) {
	db, ok := g.app.NonconcurrentDB().(*dbx.DB)
	if !ok {
		return nil, fmt.Errorf("unexpected db type %T", g.app.NonconcurrentDB())
	}
	// the writer connection only (PocketBase keeps it at one connection):
	// a 256 MB page cache keeps the random-id B-trees of a large data set
	// in memory while they grow; it changes the speed, not the data
	if _, err := db.DB().Exec("PRAGMA cache_size = -262144"); err != nil {
		return nil, err
	}
	tx, err := db.DB().Begin()
	if err != nil {
		return nil, err
	}
	w := &writer{tx: tx, types: map[string]string{}}
	for _, f := range Fields {
		w.types[f.Name] = f.Type
	}
	for _, f := range mergeFields() {
		w.types[f.Name] = f.Type
	}
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var s *sql.Stmt
		s, err = tx.Prepare(q)
		return s
	}
	w.contact = prep(`INSERT INTO contacts (id, workspace, first_name, last_name, primary_email, primary_phone, company, custom, created, updated)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	w.custom = prep(`INSERT INTO custom_fields (id, contact, field_name, field_value, field_type, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	w.assign = prep(`INSERT INTO contact_list_assignments (id, contact, list, is_primary, assigned_at, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	w.entry = prep(`INSERT INTO communication_logs (id, workspace, contact, type, direction, content, timestamp, status, campaign, created, updated)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?)`)
	if err != nil {
		tx.Rollback()
		return nil, err
	}
	return w, nil
}

func (w *writer) commit() error { return w.tx.Commit() }

// addContact writes p (normalised here, as the contacts hooks would) with
// its custom values and their read copy; it returns the contact id.
func (w *writer) addContact(r *rand.Rand, ws string, p Person, created time.Time) (string, error) {
	email, err := contacts.NormalizeEmail(p.Email)
	if err != nil {
		return "", fmt.Errorf("generated email %q: %w", p.Email, err)
	}
	ph, err := contacts.NormalizePhone(p.Phone, "US")
	if err != nil {
		return "", fmt.Errorf("generated phone %q: %w", p.Phone, err)
	}
	copyVals := make(map[string]any, len(p.Custom))
	for name, v := range p.Custom {
		copyVals[name] = customfields.Decode(w.types[name], v)
	}
	cj, err := json.Marshal(copyVals)
	if err != nil {
		return "", err
	}
	id := newID(r)
	ts := pbTime(created)
	if _, err := w.contact.Exec(id, ws, p.First, p.Last, email, ph, p.Company, string(cj), ts, ts); err != nil {
		return "", err
	}
	w.rows++
	for _, name := range sortedKeys(p.Custom) {
		if _, err := w.custom.Exec(newID(r), id, name, p.Custom[name], w.types[name], ts, ts); err != nil {
			return "", err
		}
		w.rows++
	}
	// the hooks write this entry for every new contact
	if err := w.addEntry(r, ws, id, "system", "internal", "Contact created", "", created, created); err != nil {
		return "", err
	}
	return id, nil
}

func (w *writer) addAssignment(r *rand.Rand, contact, list string, primary bool, at time.Time) error {
	ts := pbTime(at)
	_, err := w.assign.Exec(newID(r), contact, list, primary, ts, ts, ts)
	w.rows++
	return err
}

func (w *writer) addEntry(r *rand.Rand, ws, contact, typ, dir, content, status string, at, created time.Time) error {
	_, err := w.entry.Exec(newID(r), ws, contact, typ, dir, content, pbTime(at), status, pbTime(created), pbTime(created))
	w.rows++
	return err
}

var entryKinds = []struct{ typ, dir, content, status string }{
	{"email", "outbound", "Sent: Spring newsletter", "delivered"},
	{"call", "outbound", "Intro call: interested in the spring offer", "completed"},
	{"note", "internal", "Prefers to be contacted in the morning", ""},
	{"meeting", "inbound", "Visited the shop, asked for a quote", "completed"},
	{"sms", "outbound", "Your order is ready for pickup", "delivered"},
}

// baseTime is the creation time of contact 0; contact i is created i
// seconds later, so every timestamp is fixed by the seed-free index.
var baseTime = time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)

const batch = 10_000

func (g *generator) contacts() error {
	r := g.r
	var w *writer
	var err error
	for i := 0; i < g.cfg.N; i++ {
		if i%batch == 0 {
			if w != nil {
				g.m.RowsWritten += w.rows
				if err := w.commit(); err != nil {
					return err
				}
				g.cfg.Log("gen: %d/%d contacts", i, g.cfg.N)
			}
			if w, err = g.begin(); err != nil {
				return err
			}
		}
		p := person(r, i, "")
		created := baseTime.Add(time.Duration(i) * time.Second)
		id, err := w.addContact(r, g.m.Workspace, p, created)
		if err != nil {
			w.tx.Rollback()
			return err
		}
		// one primary list each (spread over the 5 lists), a second list
		// for every other contact
		primary := i % len(g.lists)
		if err := w.addAssignment(r, id, g.lists[primary], true, created); err != nil {
			w.tx.Rollback()
			return err
		}
		if i%2 == 0 {
			second := (primary + 1 + (i/2)%(len(g.lists)-1)) % len(g.lists)
			if err := w.addAssignment(r, id, g.lists[second], false, created); err != nil {
				w.tx.Rollback()
				return err
			}
		}
		for k := 0; k < EntriesPerContact-1; k++ {
			e := entryKinds[(i+k)%len(entryKinds)]
			at := created.Add(time.Duration(k+1) * 36 * time.Hour)
			if err := w.addEntry(r, g.m.Workspace, id, e.typ, e.dir, e.content, e.status, at, at); err != nil {
				w.tx.Rollback()
				return err
			}
		}
		// ~100 selective search terms: "first.last" matches ~N/10,000
		// contacts (about 10 at 100k)
		if step := max(1, g.cfg.N/100); i%step == 0 && len(g.m.EmailPrefixes) < 100 {
			g.m.EmailPrefixes = append(g.m.EmailPrefixes, emailPrefix(p))
		}
	}
	g.m.RowsWritten += w.rows
	return w.commit()
}

func emailPrefix(p Person) string {
	e := p.Email
	for j := len(p.First) + 1; j < len(e); j++ {
		if e[j] >= '0' && e[j] <= '9' {
			return e[:j]
		}
	}
	return e
}

// plain: the baseline collection, a plain PocketBase base collection with
// the contacts' base columns and the same rows, no custom fields, no
// relation, a public list rule (no membership join), and the same
// (workspace, created) index the contacts list uses.
func (g *generator) plain() error {
	c := core.NewBaseCollection(PlainCollection)
	c.Fields.Add(
		&core.TextField{Name: "workspace"},
		&core.TextField{Name: "first_name"},
		&core.TextField{Name: "last_name"},
		&core.TextField{Name: "primary_email"},
		&core.TextField{Name: "primary_phone"},
		&core.TextField{Name: "company"},
		&core.AutodateField{Name: "created", OnCreate: true},
		&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true},
	)
	c.AddIndex("idx_plain_contacts_ws_created", false, "workspace, created", "")
	public := ""
	c.ListRule, c.ViewRule = &public, &public
	if err := g.app.Save(c); err != nil {
		return err
	}
	_, err := g.app.NonconcurrentDB().NewQuery(`INSERT INTO ` + PlainCollection + ` (id, workspace, first_name, last_name, primary_email, primary_phone, company, created, updated)
		SELECT id, workspace, first_name, last_name, primary_email, primary_phone, company, created, updated FROM contacts WHERE workspace = {:ws}`).
		Bind(dbx.Params{"ws": g.m.Workspace}).Execute()
	return err
}

// fillValue completes a merge contact's user-wide fields (every one set).
var fillValue = map[string]string{"text": "Referral", "select": "gold", "number": "1", "date": "2001-02-03", "boolean": "true",
	"multiselect": `["email"]`, "url": "https://example.com/", "email": "x@example.com", "phone": "+12125550100"}

// merge: pairs of duplicates in the merge workspace. Each contact has 50
// custom values, the source has MergeLogs timeline entries (the target 5);
// source and target differ in email and in 5 custom values, so a merge
// needs a resolution for those.
func (g *generator) merge() error {
	if g.cfg.MergePairs == 0 {
		return nil
	}
	r := rand.New(rand.NewPCG(g.cfg.Seed, 3))
	var lists []string
	for i, name := range []string{"Customers", "Prospects"} {
		rec, err := g.save("contact_lists", map[string]any{"workspace": g.m.MergeWorkspace, "name": name, "is_primary": i == 0})
		if err != nil {
			return err
		}
		lists = append(lists, rec.Id)
	}
	fields := mergeFields()
	w, err := g.begin()
	if err != nil {
		return err
	}
	for i := 0; i < g.cfg.MergePairs; i++ {
		base := person(r, 9_000_000+i, "")
		base.Phone = ""
		for _, f := range Fields { // all 10 user-wide fields set
			if _, ok := base.Custom[f.Name]; !ok {
				base.Custom[f.Name] = fillValue[f.Type]
			}
		}
		for _, f := range fields {
			base.Custom[f.Name] = mergeValue(f, r)
		}
		target := base
		target.Custom = map[string]string{}
		for k, v := range base.Custom {
			target.Custom[k] = v
		}
		target.Phone = phone(7_000_000 + i)
		source := base
		source.Custom = map[string]string{}
		for k, v := range base.Custom {
			source.Custom[k] = v
		}
		source.Email = "dup." + base.Email
		for _, f := range fields[:5] {
			source.Custom[f.Name] = mergeValue(f, r) + "x"
			if f.Type != "text" {
				source.Custom[f.Name] = mergeValue(f, r)
			}
		}
		created := baseTime.Add(time.Duration(i) * time.Minute)
		tid, err := w.addContact(r, g.m.MergeWorkspace, target, created)
		if err != nil {
			w.tx.Rollback()
			return err
		}
		sid, err := w.addContact(r, g.m.MergeWorkspace, source, created.Add(time.Second))
		if err != nil {
			w.tx.Rollback()
			return err
		}
		if err := w.addAssignment(r, tid, lists[0], true, created); err != nil {
			w.tx.Rollback()
			return err
		}
		if err := w.addAssignment(r, sid, lists[1], true, created); err != nil {
			w.tx.Rollback()
			return err
		}
		for k := 0; k < g.cfg.MergeLogs-1; k++ { // plus "Contact created"
			e := entryKinds[k%len(entryKinds)]
			at := created.Add(time.Duration(k+1) * time.Hour)
			if err := w.addEntry(r, g.m.MergeWorkspace, sid, e.typ, e.dir, e.content, e.status, at, at); err != nil {
				w.tx.Rollback()
				return err
			}
		}
		for k := 0; k < EntriesPerContact-1; k++ {
			e := entryKinds[k]
			at := created.Add(time.Duration(k+1) * time.Hour)
			if err := w.addEntry(r, g.m.MergeWorkspace, tid, e.typ, e.dir, e.content, e.status, at, at); err != nil {
				w.tx.Rollback()
				return err
			}
		}
		g.m.MergePairs = append(g.m.MergePairs, [2]string{sid, tid})
	}
	g.m.RowsWritten += w.rows
	return w.commit()
}

// optimize runs what PocketBase's daily cron runs (core/base.go
// __pbDBOptimize__): a WAL checkpoint and PRAGMA optimize, so the planner
// has the statistics a running install would have, and the data set is one
// file that copies cleanly.
func (g *generator) optimize() error {
	for _, q := range []string{"PRAGMA optimize", "PRAGMA wal_checkpoint(TRUNCATE)"} {
		if _, err := g.app.NonconcurrentDB().NewQuery(q).Execute(); err != nil {
			return err
		}
	}
	_, err := g.app.AuxNonconcurrentDB().NewQuery("PRAGMA wal_checkpoint(TRUNCATE)").Execute()
	return err
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
