package merge

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/commlog"
	"github.com/pi-crm/pi-crm/services/contacts"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// Undoer undoes merges.
type Undoer struct {
	app      core.App
	timeline *commlog.Writer
	now      func() time.Time
}

// NewUndoer returns the undo service.
func NewUndoer(app core.App, timeline *commlog.Writer, now func() time.Time) *Undoer {
	if now == nil {
		now = time.Now
	}
	return &Undoer{app: app, timeline: timeline, now: now}
}

// UndoResult is the restored pair.
type UndoResult struct {
	MergeID  string         `json:"merge_id"`
	Source   *core.Record   `json:"source"`
	Target   *core.Record   `json:"target"`
	Restored map[string]int `json:"restored"`
}

// Undo restores the source of merge mergeID with its id, values, custom
// values, list memberships and the records that were its own, and gives the
// target back its values from before the merge, in one transaction.
//
// It refuses (409) when that is no longer safe: the target was deleted, or
// its values changed since the merge (restoring "before" would silently drop
// that later edit), or another contact now holds the source's email or phone.
// Records that were moved and have since been deleted stay deleted.
func (u *Undoer) Undo(c Caller, mergeID string) (*UndoResult, error) {
	var res *UndoResult
	err := u.app.RunInTransaction(func(tx core.App) error {
		var err error
		res, err = u.undo(tx, c, mergeID)
		return err
	})
	return res, err
}

func (u *Undoer) undo(tx core.App, c Caller, mergeID string) (*UndoResult, error) {
	notFound := apperr.NotFound(CodeMergeNotFound, "No merge with this id in your workspaces")
	rec, err := tx.FindRecordById(Collection, mergeID)
	if err != nil {
		return nil, notFound
	}
	ws := rec.GetString("workspace")
	role, err := memberRole(tx, c, ws)
	if err != nil {
		return nil, err
	}
	if role == "" {
		return nil, notFound
	}
	if !contacts.CanWrite(role) {
		return nil, apperr.Forbidden(CodeForbidden, "Undoing a merge needs the editor role in the workspace: ask a workspace admin")
	}
	if !rec.GetDateTime("undone_at").IsZero() {
		return nil, apperr.Conflict(CodeAlreadyUndone, "This merge was already undone on "+rec.GetDateTime("undone_at").String())
	}
	now := u.now()
	if until := rec.GetDateTime("undo_until"); until.IsZero() || now.After(until.Time()) {
		return nil, apperr.New(410, CodeUndoExpired, "This merge can no longer be undone: the undo window ended on "+until.String()+
			". The source's snapshot stays in the audit log (action contact.merge)")
	}
	var snap Snapshot
	if err := rec.UnmarshalJSONField("snapshot", &snap); err != nil {
		return nil, fmt.Errorf("merge %s: snapshot: %w", mergeID, err)
	}
	var moved Moved
	if err := rec.UnmarshalJSONField("moved", &moved); err != nil {
		return nil, fmt.Errorf("merge %s: moved: %w", mergeID, err)
	}
	srcID, tgtID := rec.GetString("source_id"), rec.GetString("target")

	tgt, err := tx.FindRecordById("contacts", tgtID)
	if err != nil {
		return nil, apperr.Conflict(CodeTargetDeleted, "The contact this merge went into was deleted (or merged again) since: the merge cannot be undone")
	}
	cur, err := stateOf(tx, tgt)
	if err != nil {
		return nil, err
	}
	if !cur.same(snap.TargetAfter) {
		return nil, apperr.Conflict(CodeTargetChanged, "The merged contact was edited after the merge: undoing would overwrite those edits. Undo them first or edit the contacts by hand").
			With("merged", snap.TargetAfter).With("current", cur)
	}
	if _, err := tx.FindRecordById("contacts", srcID); err == nil {
		return nil, apperr.Conflict(CodeUndoConflict, "A contact with the source's id exists again: nothing to restore")
	}
	ts := stamp(now)

	// 1. the target's values from before (through its save: validation,
	// custom rows and read copy, audit, realtime, timeline)
	for f, v := range snap.TargetBefore.Base {
		tgt.Set(f, v)
	}
	custom := map[string]any{}
	for n := range snap.TargetAfter.Custom {
		custom[n] = nil
	}
	for n, v := range snap.TargetBefore.Custom {
		custom[n] = v
	}
	tgt.Set("custom", custom)
	audit.Attach(tgt, c.Actor)
	if err := tx.Save(tgt); err != nil {
		return nil, err
	}

	// 2. the source row, exactly as it was (id, created, updated, custom copy)
	if err := insertRow(tx, "contacts", snap.Source); err != nil {
		if isUnique(err) {
			return nil, apperr.Conflict(CodeUndoConflict, "Another contact now has the source's email address or phone number: change or merge that contact first")
		}
		return nil, fmt.Errorf("restore the source: %w", err)
	}
	// its custom rows with their ids (the copy in the row above matches them)
	for _, r := range snap.SourceCustom {
		if err := insertRow(tx, "custom_fields", r); err != nil {
			return nil, fmt.Errorf("restore custom value %s: %w", r.str("field_name"), err)
		}
	}

	// 3. list flags: the rows going back leave the target unflagged first;
	// the target's own primary comes back if the merge changed it and nobody
	// changed it since
	var curPrimary string
	_ = tx.DB().Select("list").From("contact_list_assignments").
		Where(dbx.HashExp{"contact": tgtID, "is_primary": true}).Limit(1).Row(&curPrimary)
	if back := moved["contact_list_assignments"]["contact"]; len(back) > 0 {
		if _, err := tx.DB().Update("contact_list_assignments", dbx.Params{"is_primary": false, "updated": ts},
			dbx.And(dbx.In("id", back...), dbx.HashExp{"contact": tgtID})).Execute(); err != nil {
			return nil, err
		}
	}
	if curPrimary == snap.PrimaryAfter && snap.TargetPrimary != "" {
		if _, err := tx.DB().NewQuery(`UPDATE contact_list_assignments SET is_primary = FALSE, updated = {:ts} WHERE contact = {:tgt} AND is_primary = TRUE AND id != {:id}`).
			Bind(dbx.Params{"tgt": tgtID, "id": snap.TargetPrimary, "ts": ts}).Execute(); err != nil {
			return nil, err
		}
		if _, err := tx.DB().Update("contact_list_assignments", dbx.Params{"is_primary": true, "updated": ts},
			dbx.HashExp{"id": snap.TargetPrimary, "contact": tgtID}).Execute(); err != nil {
			return nil, err
		}
	}

	// 4. everything that moved goes back (one UPDATE per relation)
	restored := map[string]int{"custom_fields": len(snap.SourceCustom)}
	rels, err := relationsToContacts(tx)
	if err != nil {
		return nil, err
	}
	multi := map[string]bool{}
	hasUpdated := map[string]bool{"contact_list_assignments": true}
	for _, r := range rels {
		multi[r.collection+"."+r.field] = r.multi
		hasUpdated[r.collection] = r.hasUpdated
	}
	for col, fields := range moved {
		for field, idList := range fields {
			if len(idList) == 0 {
				continue
			}
			n, err := moveBack(tx, col, field, multi[col+"."+field], hasUpdated[col], idList, snap.MultiHadTarget[col+"."+field], srcID, tgtID, ts)
			if err != nil {
				return nil, err
			}
			restored[col] += n
		}
	}

	// 5. rows that could not move: put back (re-inserted when the source's
	// delete removed them, re-pointed when it only emptied the reference)
	for col, rows := range snap.Removed {
		for _, r := range rows {
			field, _ := r["@field"].(string)
			delete(r, "@field")
			if field == "" {
				field = "contact"
			}
			var n int
			_ = tx.DB().Select("count(*)").From(col).Where(dbx.HashExp{"id": r.str("id")}).Row(&n)
			if n > 0 {
				_, err = tx.DB().Update(col, dbx.Params{field: srcID}, dbx.HashExp{"id": r.str("id")}).Execute()
			} else {
				err = insertRow(tx, col, r)
			}
			if err != nil {
				return nil, fmt.Errorf("restore %s %s: %w", col, r.str("id"), err)
			}
			restored[col]++
		}
	}

	// 6. the source's own primary flag
	for _, a := range snap.SourceAssignments {
		if a.truthy("is_primary") {
			if _, err := tx.DB().Update("contact_list_assignments", dbx.Params{"is_primary": true},
				dbx.HashExp{"id": a.str("id"), "contact": srcID}).Execute(); err != nil {
				return nil, err
			}
		}
	}

	// 7. the merge row, the timeline, the audit entry
	rec.Set("undone_at", now.UTC())
	rec.Set("undone_by", c.UserID)
	audit.Attach(rec, c.Actor)
	if err := tx.Save(rec); err != nil {
		return nil, err
	}
	src, err := tx.FindRecordById("contacts", srcID)
	if err != nil {
		return nil, err
	}
	if err := u.timeline.System(tx, ws, tgtID, fmt.Sprintf("Merge %s undone: contact %s (%s) restored with its records", mergeID, describe(src), srcID)); err != nil {
		return nil, err
	}
	if err := u.timeline.System(tx, ws, srcID, fmt.Sprintf("Restored: the merge into contact %s (%s) was undone (merge %s)", describe(tgt), tgtID, mergeID)); err != nil {
		return nil, err
	}
	if err := audit.Log(tx, audit.Entry{
		Actor: c.Actor, Workspace: ws, Action: ActionUndo, EntityType: "contacts", EntityID: srcID,
		Details: map[string]any{"merge_id": mergeID, "target": tgtID, "restored": restored, "source": snapshotForAudit(snap.Source)},
	}, now); err != nil {
		return nil, err
	}
	fresh, err := tx.FindRecordById("contacts", tgtID)
	if err != nil {
		return nil, err
	}
	return &UndoResult{MergeID: mergeID, Source: src, Target: fresh, Restored: restored}, nil
}

// moveBack re-points the listed rows from the target to the source, only
// those still on the target (a row moved elsewhere since stays there).
func moveBack(tx core.App, col, field string, multi, hasUpdated bool, idList, hadTarget []any, src, tgt, ts string) (int, error) {
	if !multi {
		p := dbx.Params{field: src}
		if hasUpdated {
			p["updated"] = ts
		}
		res, err := tx.DB().Update(col, p, dbx.And(dbx.In("id", idList...), dbx.HashExp{field: tgt})).Execute()
		if err != nil {
			return 0, err
		}
		n, _ := res.RowsAffected()
		return int(n), nil
	}
	had := map[any]bool{}
	for _, id := range hadTarget {
		had[id] = true
	}
	n := 0
	for _, id := range idList {
		var raw string
		if err := tx.DB().Select(field).From(col).Where(dbx.HashExp{"id": id}).Row(&raw); err != nil {
			continue
		}
		var list []string
		_ = json.Unmarshal([]byte(raw), &list)
		if had[id] {
			list = append(list, src) // it listed both: the target stays
		} else {
			for i, v := range list {
				if v == tgt {
					list[i] = src
				}
			}
		}
		b, _ := json.Marshal(list)
		p := dbx.Params{field: string(b)}
		if hasUpdated {
			p["updated"] = ts
		}
		if _, err := tx.DB().Update(col, p, dbx.HashExp{"id": id}).Execute(); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
