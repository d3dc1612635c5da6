package merge

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/commlog"
	"github.com/pi-crm/pi-crm/services/contacts"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// PrimaryListKey is the resolution key choosing whose primary list the
// merged contact keeps ("target" by default).
const PrimaryListKey = "primary_list"

// Request is a merge as the API receives it.
type Request struct {
	Source     string                     `json:"source"`
	Target     string                     `json:"target"`
	Resolution map[string]json.RawMessage `json:"resolution"`
	DryRun     bool                       `json:"dry_run"`
}

// choice is one resolved field: a side, or an explicit value.
type choice struct {
	side  string // "source", "target" or "" (value)
	value any
}

// Conflict is a field both contacts fill with different values.
type Conflict struct {
	Field  string `json:"field"`
	Source any    `json:"source"`
	Target any    `json:"target"`
}

// Result is what a merge (or a dry run) produced.
type Result struct {
	MergeID   string         `json:"merge_id,omitempty"`
	DryRun    bool           `json:"dry_run"`
	Contact   *core.Record   `json:"contact"`
	Conflicts []Conflict     `json:"conflicts"`
	Moved     map[string]int `json:"moved"`
	UndoUntil string         `json:"undo_until,omitempty"`
}

// Snapshot is what undo needs, stored in contact_merges.snapshot.
type Snapshot struct {
	Source            Row              `json:"source"`             // the source contact's row
	SourceCustom      []Row            `json:"source_custom"`      // its custom_fields rows
	SourceAssignments []Row            `json:"source_assignments"` // its list assignments
	TargetBefore      State            `json:"target_before"`
	TargetAfter       State            `json:"target_after"`
	TargetPrimary     string           `json:"target_primary_row"` // the target's primary assignment id before ("" = none)
	PrimaryAfter      string           `json:"primary_list_after"` // the merged contact's primary list ("" = none)
	Removed           map[string][]Row `json:"removed"`            // source rows that could not move (unique), by collection
	MultiHadTarget    map[string][]any `json:"multi_had_target"`   // "collection.field" -> ids of multi-relation rows that listed both
}

// Moved is contact_merges.moved: collection -> field -> ids re-pointed.
type Moved map[string]map[string][]any

// Merger merges contacts.
type Merger struct {
	app      core.App
	timeline *commlog.Writer
	now      func() time.Time
	window   time.Duration
}

// NewMerger returns the merge service; undo stays possible for window.
func NewMerger(app core.App, timeline *commlog.Writer, now func() time.Time, window time.Duration) *Merger {
	if now == nil {
		now = time.Now
	}
	if window <= 0 {
		window = DefaultUndoWindow
	}
	return &Merger{app: app, timeline: timeline, now: now, window: window}
}

var errRollback = errors.New("dry run: roll back")

// Merge merges req.Source into req.Target for the caller, in one
// transaction. A dry run does the same work and rolls it back, so it answers
// exactly what the merge would do (including validation errors).
func (m *Merger) Merge(c Caller, req Request) (*Result, error) {
	if req.Source == "" || req.Target == "" {
		return nil, apperr.BadRequest(CodeInvalid, `Send {"source": contact id, "target": contact id}: the source is merged into the target and deleted`)
	}
	if req.Source == req.Target {
		return nil, apperr.BadRequest(CodeSameContact, "Source and target are the same contact: pick two different contacts")
	}
	choices, err := parseResolution(req.Resolution)
	if err != nil {
		return nil, err
	}
	var res *Result
	err = m.app.RunInTransaction(func(tx core.App) error {
		var err error
		res, err = m.merge(tx, c, req, choices)
		if err == nil && req.DryRun {
			return errRollback
		}
		return err
	})
	if errors.Is(err, errRollback) {
		res.MergeID, res.UndoUntil = "", ""
		return res, nil
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

func parseResolution(raw map[string]json.RawMessage) (map[string]choice, error) {
	out := make(map[string]choice, len(raw))
	for k, v := range raw {
		var side string
		if json.Unmarshal(v, &side) == nil {
			if side != "source" && side != "target" {
				return nil, resolutionError(k)
			}
			out[k] = choice{side: side}
			continue
		}
		var obj map[string]any
		if json.Unmarshal(v, &obj) != nil {
			return nil, resolutionError(k)
		}
		val, ok := obj["value"]
		if !ok || len(obj) != 1 || k == PrimaryListKey {
			return nil, resolutionError(k)
		}
		out[k] = choice{value: val}
	}
	return out, nil
}

func resolutionError(k string) error {
	return apperr.BadRequest(CodeInvalid, fmt.Sprintf(`resolution.%s must be "source", "target" or {"value": …}`, k)).
		With("field", k)
}

func (m *Merger) merge(tx core.App, c Caller, req Request, choices map[string]choice) (*Result, error) {
	// Both contacts are read inside the transaction: SQLite has one writer,
	// so a concurrent merge of the same pair either finished before (and the
	// source is gone: 404) or starts after this one commits.
	src, srcRole, err := loadContact(tx, c, req.Source)
	if err != nil {
		return nil, err
	}
	tgt, tgtRole, err := loadContact(tx, c, req.Target)
	if err != nil {
		return nil, err
	}
	ws := tgt.GetString("workspace")
	if src.GetString("workspace") != ws {
		return nil, apperr.BadRequest(CodeCrossWorkspace, "The two contacts are in different workspaces: only contacts of the same workspace can be merged")
	}
	if !contacts.CanWrite(srcRole) || !contacts.CanWrite(tgtRole) {
		return nil, apperr.Forbidden(CodeForbidden, "Merging contacts needs the editor role in the workspace: ask a workspace admin")
	}

	srcCustom, srcCustomRows, err := customRows(tx, src.Id)
	if err != nil {
		return nil, err
	}
	tgtCustom, _, err := customRows(tx, tgt.Id)
	if err != nil {
		return nil, err
	}
	before, err := stateOf(tx, tgt)
	if err != nil {
		return nil, err
	}

	// --- decide every field ---
	known := map[string]bool{PrimaryListKey: true}
	var conflicts []Conflict
	base := map[string]any{}
	for _, f := range contacts.BaseFields {
		known[f] = true
		sv, tv := src.GetString(f), tgt.GetString(f)
		v, conflict, err := decide(f, choices, sv, tv, sv == tv, sv == "", tv == "")
		if err != nil {
			return nil, err
		}
		if conflict {
			conflicts = append(conflicts, Conflict{Field: f, Source: sv, Target: tv})
		}
		base[f] = v
	}
	names := map[string]bool{}
	for n := range srcCustom {
		names[n] = true
	}
	for n := range tgtCustom {
		names[n] = true
	}
	for k, ch := range choices {
		if n, ok := strings.CutPrefix(k, "custom."); ok && ch.side == "" {
			names[n] = true // an explicit value may set a field neither has
		}
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	custom := map[string]any{}
	for _, n := range sorted {
		key := "custom." + n
		known[key] = true
		s, t := srcCustom[n], tgtCustom[n]
		v, conflict, err := decide(key, choices, typed(s), typed(t),
			s != nil && t != nil && s.str("field_value") == t.str("field_value"), s == nil, t == nil)
		if err != nil {
			return nil, err
		}
		if conflict {
			conflicts = append(conflicts, Conflict{Field: key, Source: typed(s), Target: typed(t)})
		}
		custom[n] = v // nil clears a value the target had
	}
	for k := range choices {
		if !known[k] {
			return nil, apperr.BadRequest(CodeInvalid, fmt.Sprintf("resolution.%s: neither contact has this field; use a base field name (%s), custom.<field_name> or %s",
				k, strings.Join(contacts.BaseFields, ", "), PrimaryListKey)).With("field", k)
		}
	}
	if len(conflicts) > 0 && !req.DryRun {
		return nil, apperr.Conflict(CodeConflictUnresolved, fmt.Sprintf("%d field(s) differ between the two contacts: choose for each in resolution ({field: \"source\" | \"target\" | {\"value\": …}})", len(conflicts))).
			With("conflicts", conflicts)
	}
	if conflicts == nil {
		conflicts = []Conflict{}
	}

	now := m.now()
	ts := stamp(now)
	snap := Snapshot{
		SourceCustom:   srcCustomRows,
		TargetBefore:   before,
		Removed:        map[string][]Row{},
		MultiHadTarget: map[string][]any{},
	}
	srcRows, err := selectRows(tx, "contacts", dbx.HashExp{"id": src.Id})
	if err != nil || len(srcRows) != 1 {
		return nil, fmt.Errorf("snapshot of the source: %v", err)
	}
	snap.Source = srcRows[0]
	moved := Moved{}

	// --- list assignments: united, one primary ---
	if err := m.mergeAssignments(tx, src.Id, tgt.Id, choices[PrimaryListKey].side, ts, &snap, moved); err != nil {
		return nil, err
	}

	// --- every other record pointing at the source moves to the target ---
	rels, err := relationsToContacts(tx)
	if err != nil {
		return nil, err
	}
	for _, r := range rels {
		if err := moveRelation(tx, r, src.Id, tgt.Id, ts, &snap, moved); err != nil {
			return nil, err
		}
	}

	// --- the source's custom rows go (the snapshot keeps them for undo) ---
	// Raw delete: the values are merged into the target below, through the
	// contact's own save, and the source itself is deleted next.
	if _, err := tx.DB().Delete("custom_fields", dbx.HashExp{"contact": src.Id}).Execute(); err != nil {
		return nil, err
	}

	// The source is deleted before the target is saved: the target may take
	// over the source's email or phone, which the unique indexes allow only
	// once the source no longer holds it. Records that could not move (a
	// unique index, e.g. both contacts received the same campaign) are left
	// to the relation's own delete rule: cascade, or the reference emptied.
	audit.Attach(src, c.Actor)
	if err := tx.Delete(src); err != nil {
		return nil, fmt.Errorf("delete the source: %w", err)
	}

	for f, v := range base {
		tgt.Set(f, v)
	}
	tgt.Set("custom", custom)
	audit.Attach(tgt, c.Actor)
	if err := tx.Save(tgt); err != nil {
		return nil, err
	}
	fresh, err := tx.FindRecordById("contacts", tgt.Id)
	if err != nil {
		return nil, err
	}
	if snap.TargetAfter, err = stateOf(tx, fresh); err != nil {
		return nil, err
	}
	_ = tx.DB().Select("list").From("contact_list_assignments").
		Where(dbx.HashExp{"contact": tgt.Id, "is_primary": true}).Limit(1).Row(&snap.PrimaryAfter)

	counts := map[string]int{}
	for col, fields := range moved {
		for _, list := range fields {
			counts[col] += len(list)
		}
	}

	// --- the merge row, the timeline entry, the audit entry ---
	col, err := tx.FindCachedCollectionByNameOrId(Collection)
	if err != nil {
		return nil, err
	}
	rec := core.NewRecord(col)
	rec.Set("workspace", ws)
	rec.Set("source_id", src.Id)
	rec.Set("target", tgt.Id)
	rec.Set("snapshot", snap)
	rec.Set("moved", moved)
	rec.Set("merged_by", c.UserID)
	rec.Set("undo_until", now.Add(m.window).UTC())
	audit.Attach(rec, c.Actor)
	if err := tx.Save(rec); err != nil {
		return nil, fmt.Errorf("merge record: %w", err)
	}

	if err := m.timeline.System(tx, ws, tgt.Id, fmt.Sprintf("Merged contact %s (%s) into this contact: %d timeline entries and %d list memberships moved (merge %s)",
		describe(src), src.Id, counts["communication_logs"], counts["contact_list_assignments"], rec.Id)); err != nil {
		return nil, err
	}

	srcCustomTyped := map[string]any{}
	for n, r := range srcCustom {
		srcCustomTyped[n] = typed(r)
	}
	var lists []map[string]any
	for _, a := range snap.SourceAssignments {
		lists = append(lists, map[string]any{"id": a.str("id"), "list": a.str("list"), "is_primary": a.truthy("is_primary")})
	}
	resolution := map[string]any{}
	for k, ch := range choices {
		if ch.side != "" {
			resolution[k] = ch.side
		} else {
			resolution[k] = map[string]any{"value": ch.value}
		}
	}
	if err := audit.Log(tx, audit.Entry{
		Actor: c.Actor, Workspace: ws, Action: ActionMerge, EntityType: "contacts", EntityID: src.Id,
		Details: map[string]any{
			"merge_id":      rec.Id,
			"target":        tgt.Id,
			"source":        snapshotForAudit(snap.Source),
			"source_custom": srcCustomTyped,
			"source_lists":  lists,
			"target_before": snap.TargetBefore,
			"target_after":  snap.TargetAfter,
			"resolution":    resolution,
			"moved":         counts,
		},
	}, now); err != nil {
		return nil, err
	}

	return &Result{
		MergeID:   rec.Id,
		DryRun:    req.DryRun,
		Contact:   fresh,
		Conflicts: conflicts,
		Moved:     counts,
		UndoUntil: rec.GetDateTime("undo_until").String(),
	}, nil
}

// decide picks the merged value of one field: the resolution's choice, else
// the one side that has a value, else (both differ) a conflict, answered
// with the target's value for a dry run.
func decide(field string, choices map[string]choice, sv, tv any, equal, srcEmpty, tgtEmpty bool) (any, bool, error) {
	if ch, ok := choices[field]; ok {
		switch ch.side {
		case "source":
			return sv, false, nil
		case "target":
			return tv, false, nil
		}
		if _, isBase := sv.(string); isBase && !strings.HasPrefix(field, "custom.") {
			if ch.value == nil {
				return "", false, nil
			}
			s, ok := ch.value.(string)
			if !ok {
				return nil, false, apperr.BadRequest(CodeInvalid, fmt.Sprintf("resolution.%s.value must be a string", field)).With("field", field)
			}
			return s, false, nil
		}
		return ch.value, false, nil
	}
	switch {
	case equal || srcEmpty:
		return tv, false, nil
	case tgtEmpty:
		return sv, false, nil
	}
	return tv, true, nil
}

func describe(rec *core.Record) string {
	name := strings.TrimSpace(rec.GetString("first_name") + " " + rec.GetString("last_name"))
	if name == "" {
		name = rec.GetString("primary_email")
	}
	if name == "" {
		name = rec.GetString("primary_phone")
	}
	if name == "" {
		name = "(no name)"
	}
	return fmt.Sprintf("%q", name)
}

// snapshotForAudit drops bookkeeping columns from a contact row.
func snapshotForAudit(r Row) map[string]any {
	out := map[string]any{}
	for k, v := range r {
		if k == "custom" {
			var m any
			if s, ok := v.(string); ok && json.Unmarshal([]byte(s), &m) == nil {
				v = m
			}
		}
		out[k] = v
	}
	return out
}

// mergeAssignments unites the list memberships: a list both contacts are in
// keeps the target's row (the source's is deleted, kept in the snapshot);
// the others move to the target. Exactly one row ends primary: the target's
// primary list, or the source's with primary_list = "source" (either side's
// when only one has one). Flags are changed demote-first, so the partial
// unique index on (contact) WHERE is_primary never sees two.
func (m *Merger) mergeAssignments(tx core.App, src, tgt, prefer, ts string, snap *Snapshot, moved Moved) error {
	srcRows, err := selectRows(tx, "contact_list_assignments", dbx.HashExp{"contact": src})
	if err != nil {
		return err
	}
	tgtRows, err := selectRows(tx, "contact_list_assignments", dbx.HashExp{"contact": tgt})
	if err != nil {
		return err
	}
	snap.SourceAssignments = srcRows
	tgtLists := map[string]bool{}
	var srcPrimary, tgtPrimary string
	for _, r := range tgtRows {
		tgtLists[r.str("list")] = true
		if r.truthy("is_primary") {
			tgtPrimary = r.str("list")
			snap.TargetPrimary = r.str("id")
		}
	}
	var dup, move []Row
	for _, r := range srcRows {
		if r.truthy("is_primary") {
			srcPrimary = r.str("list")
		}
		if tgtLists[r.str("list")] {
			dup = append(dup, r)
		} else {
			move = append(move, r)
		}
	}
	primary := tgtPrimary
	if (prefer == "source" && srcPrimary != "") || primary == "" {
		primary = srcPrimary
	}
	if len(dup) > 0 {
		snap.Removed["contact_list_assignments"] = dup
		if _, err := tx.DB().Delete("contact_list_assignments", dbx.In("id", ids(dup)...)).Execute(); err != nil {
			return err
		}
	}
	if len(move) > 0 {
		// demote the source's rows, then re-point them (no two primaries for the target at any moment)
		if _, err := tx.DB().NewQuery(`UPDATE contact_list_assignments SET is_primary = FALSE, contact = {:tgt}, updated = {:ts} WHERE contact = {:src}`).
			Bind(dbx.Params{"tgt": tgt, "src": src, "ts": ts}).Execute(); err != nil {
			return err
		}
		moved["contact_list_assignments"] = map[string][]any{"contact": ids(move)}
	}
	if primary != tgtPrimary {
		if _, err := tx.DB().NewQuery(`UPDATE contact_list_assignments SET is_primary = FALSE, updated = {:ts} WHERE contact = {:tgt} AND is_primary = TRUE`).
			Bind(dbx.Params{"tgt": tgt, "ts": ts}).Execute(); err != nil {
			return err
		}
		if _, err := tx.DB().NewQuery(`UPDATE contact_list_assignments SET is_primary = TRUE, updated = {:ts} WHERE contact = {:tgt} AND list = {:list}`).
			Bind(dbx.Params{"tgt": tgt, "list": primary, "ts": ts}).Execute(); err != nil {
			return err
		}
	}
	return nil
}

// moveRelation re-points every row of r from the source to the target with
// one UPDATE (1,000 timeline entries: one statement, not 1,000 saves). Rows
// that a unique index keeps from moving stay on the source and are recorded
// whole in the snapshot; the source's delete then applies the relation's
// own rule to them (cascade delete, or the reference emptied).
func moveRelation(tx core.App, r relation, src, tgt, ts string, snap *Snapshot, moved Moved) error {
	table, field := quoted(r.collection), quoted(r.field)
	setUpdated := ""
	if r.hasUpdated {
		setUpdated = ", updated = {:ts}"
	}
	if r.multi {
		return moveMulti(tx, r, src, tgt, ts, snap, moved)
	}
	// One statement moves them all. UPDATE OR IGNORE: a row that would break
	// a unique index stays as it is (handled below) instead of failing the
	// whole merge; RETURNING lists exactly the rows that moved.
	var done []any
	var movedIDs []string
	if err := tx.DB().NewQuery("UPDATE OR IGNORE " + table + " SET " + field + " = {:tgt}" + setUpdated + " WHERE " + field + " = {:src} RETURNING id").
		Bind(dbx.Params{"tgt": tgt, "src": src, "ts": ts}).Column(&movedIDs); err != nil {
		return err
	}
	for _, id := range movedIDs {
		done = append(done, id)
	}
	left, err := selectRows(tx, r.collection, dbx.HashExp{r.field: src})
	if err != nil {
		return err
	}
	for _, row := range left {
		row["@field"] = r.field
	}
	snap.Removed[r.collection] = append(snap.Removed[r.collection], left...)
	if len(done) > 0 {
		if moved[r.collection] == nil {
			moved[r.collection] = map[string][]any{}
		}
		moved[r.collection][r.field] = done
	}
	return nil
}

// moveMulti replaces the source by the target in a multiple relation (a
// JSON array of ids), without listing the target twice.
func moveMulti(tx core.App, r relation, src, tgt, ts string, snap *Snapshot, moved Moved) error {
	table, field := quoted(r.collection), quoted(r.field)
	var rows []struct {
		ID  string `db:"id"`
		Val string `db:"val"`
	}
	err := tx.DB().NewQuery("SELECT id, " + field + " AS val FROM " + table +
		" WHERE EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(" + field + ") THEN " + field + " ELSE '[]' END) WHERE value = {:src})").
		Bind(dbx.Params{"src": src}).All(&rows)
	if err != nil || len(rows) == 0 {
		return err
	}
	setUpdated := ""
	if r.hasUpdated {
		setUpdated = ", updated = {:ts}"
	}
	key := r.collection + "." + r.field
	var done []any
	for _, row := range rows {
		var list []string
		_ = json.Unmarshal([]byte(row.Val), &list)
		out := make([]string, 0, len(list))
		had := false
		for _, id := range list {
			if id == tgt {
				had = true
			}
		}
		for _, id := range list {
			switch {
			case id == src && !had:
				out = append(out, tgt)
				had = true
			case id == src:
			default:
				out = append(out, id)
			}
		}
		b, _ := json.Marshal(out)
		if _, err := tx.DB().NewQuery("UPDATE " + table + " SET " + field + " = {:v}" + setUpdated + " WHERE id = {:id}").
			Bind(dbx.Params{"v": string(b), "id": row.ID, "ts": ts}).Execute(); err != nil {
			return err
		}
		if len(out) < len(list) {
			snap.MultiHadTarget[key] = append(snap.MultiHadTarget[key], row.ID)
		}
		done = append(done, row.ID)
	}
	if moved[r.collection] == nil {
		moved[r.collection] = map[string][]any{}
	}
	moved[r.collection][r.field] = done
	return nil
}
