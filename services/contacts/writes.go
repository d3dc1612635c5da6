package contacts

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pi-crm/pi-crm/services/commlog"
	"github.com/pi-crm/pi-crm/services/counts"
	"github.com/pi-crm/pi-crm/services/customfields"
	"github.com/pi-crm/pi-crm/services/duplicates"
	"github.com/pi-crm/pi-crm/services/lists"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// The rules of a contact write: what saving a contact does besides writing
// its own row. They exist in two variants, side by side here and built from
// the same definitions below:
//
//   - Save, for one contact saved through app.Save (the record hook binds it,
//     so REST, batch, custom routes, the CLI and services pass through it);
//   - BulkCreate / BulkUpdated / BulkDone, set-based, for the contacts an
//     import writes with raw SQL (services/imports), one statement for a
//     batch of rows.
//
// On create: the custom values (validated, defaults applied, the EAV rows and
// the contact's read copy), a "created" timeline entry, the primary
// assignment to the workspace's default list with its own timeline entry,
// and the workspace's value indexes once it has
// customfields.ValueIndexMinContacts contacts. On update: the custom values
// and an "updated" timeline entry naming the changed fields. A delete has no
// rule of its own (the relations cascade). Match keys and contact counts are
// kept by triggers; a bulk insert runs them set-based (BulkInsert).
//
// services/imports/contract_test.go writes the same contacts both ways and
// compares every table they touch: a rule added to one variant only fails it.

// Source names who writes, for the timeline entries: "" for a record save,
// the file name for an import.
type Source string

// CreatedEntry is the timeline entry of a new contact.
func CreatedEntry(src Source) string {
	if src == "" {
		return "Contact created"
	}
	return "Contact created by import of " + string(src)
}

// UpdatedEntry is the timeline entry of a changed contact; changed comes
// from ChangedFields.
func UpdatedEntry(src Source, changed []string) string {
	if src == "" {
		return "Contact updated: " + strings.Join(changed, ", ")
	}
	return "Contact updated by import of " + string(src) + ": " + strings.Join(changed, ", ")
}

// ChangedFields lists what a write changed, for UpdatedEntry: the base
// fields in BaseFields order, then the custom values, sorted, as "custom.<name>".
func ChangedFields(base, custom []string) []string {
	out := make([]string, 0, len(base)+len(custom))
	for _, f := range BaseFields {
		if slices.Contains(base, f) {
			out = append(out, f)
		}
	}
	names := slices.Clone(custom)
	slices.Sort(names)
	for _, n := range names {
		out = append(out, "custom."+n)
	}
	return out
}

// ValueIndexesDue reports whether creates that took a workspace from before
// to after contacts must bring its value indexes up to date: when they reach
// customfields.ValueIndexMinContacts, and (should raw-SQL writers have passed
// that number unseen) at every hundredth contact after it.
// customfields.SyncValueIndexes is two small queries when nothing is missing.
func ValueIndexesDue(before, after int) bool {
	min := customfields.ValueIndexMinContacts
	if after < min {
		return false
	}
	return before < min || after/100 > before/100
}

// Writes applies the rules to one contact saved through app.Save.
type Writes struct {
	contacts *Service
	custom   *customfields.Service
	lists    *lists.Service
	timeline *commlog.Writer
}

// NewWrites returns the rules of a contact write on the given services.
func NewWrites(cs *Service, custom *customfields.Service, l *lists.Service, timeline *commlog.Writer) *Writes {
	return &Writes{contacts: cs, custom: custom, lists: l, timeline: timeline}
}

// Save applies the rules of a save of rec (new or changed) around write, the
// record's own write (e.Next() of the record's execute hook), on tx.
func (w *Writes) Save(tx core.App, rec *core.Record, write func() error) error {
	created := rec.IsNew()
	changedBase := changedBaseFields(rec)
	plan, err := w.custom.PlanContact(tx, rec)
	if err != nil {
		return err
	}
	rec.Set("custom", plan.Copy())
	if err := write(); err != nil {
		return w.contacts.DuplicateFromIndexError(tx, rec, err)
	}
	if err := w.custom.Apply(tx, rec.Id, plan); err != nil {
		return err
	}
	ws := rec.GetString("workspace")
	if created {
		if err := w.timeline.System(tx, ws, rec.Id, CreatedEntry("")); err != nil {
			return err
		}
		// through the assignment hooks: the "added to list" entry
		// (lists.AddedEntry) comes from there
		if err := w.lists.AssignDefault(tx, rec); err != nil {
			return err
		}
		n, err := counts.ContactCount(tx.DB(), ws)
		if err != nil || !ValueIndexesDue(n-1, n) {
			return err
		}
		return customfields.SyncValueIndexes(tx, ws)
	}
	changed := ChangedFields(changedBase, plan.Changed)
	if len(changed) == 0 {
		return nil
	}
	return w.timeline.System(tx, ws, rec.Id, UpdatedEntry("", changed))
}

func changedBaseFields(rec *core.Record) []string {
	if rec.IsNew() {
		return nil
	}
	orig := rec.Original()
	var out []string
	for _, f := range BaseFields {
		if rec.GetString(f) != orig.GetString(f) {
			out = append(out, f)
		}
	}
	return out
}

// Bulk describes a batch of contacts written by raw SQL, for the set-based
// variant of the rules.
type Bulk struct {
	Workspace string
	Source    Source
	// Now is the batch's timestamp (types.DateTime's string form): created,
	// updated, the entries' timestamp and assigned_at.
	Now string
	// DefaultList is the workspace's default list ("" for none; DefaultList
	// reads it).
	DefaultList string
}

// DefaultList returns the id of workspace ws's default list ("" for none),
// the list lists.AssignDefault puts a new contact in.
func DefaultList(tx dbx.Builder, ws string) string {
	var id string
	_ = tx.Select("id").From("contact_lists").Where(dbx.HashExp{"workspace": ws, "is_primary": true}).Limit(1).Row(&id)
	return id
}

// BulkCreate runs insert, which must insert new contacts of b.Workspace only
// (their custom values and read copy are the caller's: validated with
// customfields.Definition.Canonical, defaults applied), on tx (a
// transaction), and then applies the create rules to those contacts, one
// statement per rule: match keys and count (BulkInsert), the created
// entry, the default list's primary assignment and its entry. The value
// indexes are BulkDone's. Ids are a random prefix per statement and the
// contact's rowid, so each statement appends to its table's id index in one
// place. On an error the caller must roll tx back.
func BulkCreate(tx core.App, b Bulk, insert func() error) error {
	db := tx.DB()
	var last int64
	if err := db.NewQuery(`SELECT coalesce(max(rowid), 0) FROM contacts`).Row(&last); err != nil {
		return fmt.Errorf("bulk create: %w", err)
	}
	if err := BulkInsert(db, b.Workspace, insert); err != nil {
		return err
	}
	// as in BulkInsert: the rowid range drives, not the workspace index
	from := ` FROM contacts c WHERE c.rowid > {:last} AND +c.workspace = {:ws} ORDER BY c.rowid`
	prefixes := idPrefixes(3)
	id := func(i int) string { return `'` + prefixes[i] + `' || substr('0000000000' || c.rowid, -10)` }
	entry := func(i int, content string) (string, string) {
		return `INSERT OR FAIL INTO communication_logs (id, workspace, contact, type, direction, content, timestamp, created, updated) SELECT ` +
			id(i) + `, c.workspace, c.id, 'system', 'internal', {:v}, {:now}, {:now}, {:now}` + from, content
	}
	type stmt struct{ sql, v string }
	q, v := entry(0, CreatedEntry(b.Source))
	stmts := []stmt{{q, v}}
	if b.DefaultList != "" {
		var name string
		if err := db.Select("name").From("contact_lists").Where(dbx.HashExp{"id": b.DefaultList}).Limit(1).Row(&name); err != nil {
			return fmt.Errorf("bulk create: the default list: %w", err)
		}
		stmts = append(stmts, stmt{`INSERT OR FAIL INTO contact_list_assignments (id, contact, list, is_primary, assigned_at, created, updated) SELECT ` +
			id(1) + `, c.id, {:v}, TRUE, {:now}, {:now}, {:now}` + from, b.DefaultList})
		q, v := entry(2, lists.AddedEntry(name, true, ""))
		stmts = append(stmts, stmt{q, v})
	}
	for _, s := range stmts {
		if _, err := db.NewQuery(s.sql).Bind(dbx.Params{"ws": b.Workspace, "last": last, "now": b.Now, "v": s.v}).Execute(); err != nil {
			return fmt.Errorf("bulk create: %w", err)
		}
	}
	return nil
}

// BulkUpdatedEntry is the timeline entry of a contact a bulk write changed
// (the caller writes it with the batch's other rows): Save's update rule.
func BulkUpdatedEntry(src Source, base, custom []string) (string, bool) {
	changed := ChangedFields(base, custom)
	if len(changed) == 0 {
		return "", false
	}
	return UpdatedEntry(src, changed), true
}

// settleStep is the number of contacts whose deferred match keys BulkDone
// writes per transaction: a few seconds of the writer on a Pi, under the
// other writers' busy timeout (internal/dbconfig).
const settleStep = 50_000

// BulkDone ends a bulk write into workspace ws (call it outside the write's
// transactions): the match keys BulkInsert deferred, in transactions of
// settleStep contacts, then the value indexes, each built once for the whole
// write (an ordered pass per key reason, a sort per index: cheaper than
// keeping them row by row during it). SyncValueIndexes builds none below
// customfields.ValueIndexMinContacts contacts, the threshold ValueIndexesDue
// states for single creates. What an error leaves undone stays recorded as
// deferred (the next duplicates read writes it) or comes with later writes
// (the value indexes).
func BulkDone(app core.App, ws string) error {
	for more := true; more; {
		if err := app.RunInTransaction(func(tx core.App) error {
			var err error
			more, err = duplicates.SettleKeys(tx.DB(), ws, settleStep)
			return err
		}); err != nil {
			return err
		}
	}
	return app.RunInTransaction(func(tx core.App) error {
		restore, err := sortCache(tx.DB())
		if err != nil {
			return err
		}
		err = customfields.SyncValueIndexes(tx, ws)
		if rerr := restore(); err == nil {
			err = rerr
		}
		return err
	})
}

// sortCacheKB is the writer's page cache while BulkDone builds the value
// indexes.
const sortCacheKB = 4000

// sortCache lowers db's page cache to sortCacheKB and returns what puts
// the previous size back. Why: SQLite gives a sort (a CREATE INDEX) up to
// the connection's cache size of memory before it spills to a temporary
// file, on top of the cache itself, so the value indexes built at an
// import's end were its memory peak. Importing 1,000,000 rows into the 1M
// data set (bench/cmd/importprof, RSS polled every 20 ms): the end rose
// ~9 MB above the batches' highest (VmHWM 123 MB), and with the 4 MB cache
// it stayed under them (110 MB). `pi-crm import` of the same rows: 101 MB
// at the end (its batches 98) before, 98.1 MB in the batches and 89–93 at
// the end with it, 390 s and 381 s.
func sortCache(db dbx.Builder) (restore func() error, err error) {
	var kb int
	if err := db.NewQuery(`PRAGMA cache_size`).Row(&kb); err != nil {
		return nil, fmt.Errorf("bulk done: %w", err)
	}
	if _, err := db.NewQuery(fmt.Sprintf(`PRAGMA cache_size = -%d`, sortCacheKB)).Execute(); err != nil {
		return nil, fmt.Errorf("bulk done: %w", err)
	}
	return func() error {
		if _, err := db.NewQuery(fmt.Sprintf(`PRAGMA cache_size = %d`, kb)).Execute(); err != nil {
			return fmt.Errorf("bulk done: restoring the cache size: %w", err)
		}
		return nil
	}, nil
}

// idPrefixes returns n distinct random 5-character id prefixes.
func idPrefixes(n int) []string {
	out := make([]string, 0, n)
	for len(out) < n {
		p := core.GenerateDefaultRandomId()[:5]
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}
