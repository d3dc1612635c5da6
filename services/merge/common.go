// Package merge merges two contacts of a workspace into one and undoes such a
// merge. Two services, one per user action: Merger
// (POST /api/crm/contacts/merge) and Undoer (POST /api/crm/contacts/merge/{id}/undo).
// Each checks the caller's permission and writes its own timeline entries,
// and does all its writes in one transaction.
//
// What goes through PocketBase's Save/Delete (hooks, validation, audit,
// realtime): the target's new values (normalisation, duplicates, custom
// value validation, the contacts.custom read copy, the "Contact updated"
// timeline entry), the deletion of the source (its audit entry snapshots the
// base fields and the custom copy), the contact_merges row and the system
// timeline entries. What goes through raw SQL, for speed (a merge with 1,000
// timeline entries moves them with one statement instead of 1,000 saves):
// re-pointing rows from the source to the target, moving list assignments,
// deleting the source's custom value rows, and on undo re-inserting the
// source's rows with their ids. Raw SQL skips hooks, so this package writes
// what they would have: one audit entry per merge (action contact.merge,
// with a full snapshot of the source, its custom values and list
// memberships) and per undo (contact.merge_undo), `updated` on every row it
// changes, and contacts.custom of the restored source (taken from its
// snapshot, which is consistent with the re-inserted rows).
package merge

import (
	"database/sql"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/contacts"
	"github.com/pi-crm/pi-crm/services/customfields"
	"github.com/pi-crm/pi-crm/services/tenancy"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"
)

// Stable error codes.
const (
	CodeConflictUnresolved = "merge_conflict_unresolved"
	CodeCrossWorkspace     = "merge_cross_workspace"
	CodeSameContact        = "merge_same_contact"
	CodeInvalid            = "merge_invalid"
	CodeForbidden          = "forbidden"
	CodeMergeNotFound      = "merge_not_found"
	CodeUndoExpired        = "merge_undo_expired"
	CodeAlreadyUndone      = "merge_already_undone"
	CodeTargetDeleted      = "merge_target_deleted"
	CodeTargetChanged      = "merge_target_changed"
	CodeUndoConflict       = "merge_undo_conflict"
)

// Audit actions of the dedicated entries.
const (
	ActionMerge = "contact.merge"
	ActionUndo  = "contact.merge_undo"
)

// DefaultUndoWindow is how long a merge can be undone.
const DefaultUndoWindow = 30 * 24 * time.Hour

// Collection holds one row per merge.
const Collection = "contact_merges"

// Caller is who asks: the user, the workspace its API key is restricted to
// ("" = none) and the audit actor.
type Caller struct {
	UserID       string
	KeyWorkspace string
	Actor        audit.Actor
}

var errNotFound = apperr.NotFound(contacts.CodeNotFound, "No contact with this id in your workspaces")

// memberRole returns the caller's role in workspace ws ("" = not a member,
// or a key restricted to another workspace).
func memberRole(tx core.App, c Caller, ws string) (string, error) {
	if c.KeyWorkspace != "" && c.KeyWorkspace != ws {
		return "", nil
	}
	return tenancy.Role(tx, ws, c.UserID)
}

// loadContact returns contact id for the caller with its role; a contact of
// a workspace the caller is not in is reported as missing.
func loadContact(tx core.App, c Caller, id string) (*core.Record, string, error) {
	rec, err := tx.FindRecordById("contacts", id)
	if err != nil {
		return nil, "", errNotFound.With("id", id)
	}
	role, err := memberRole(tx, c, rec.GetString("workspace"))
	if err != nil {
		return nil, "", err
	}
	if role == "" {
		return nil, "", errNotFound.With("id", id)
	}
	return rec, role, nil
}

// Row is one database row, column -> value, as SQLite returned it.
type Row map[string]any

// selectRows reads whole rows of table (all columns, so a row can be put
// back exactly as it was, whatever fields the collection has by then).
func selectRows(tx core.App, table string, where dbx.Expression) ([]Row, error) {
	rows, err := tx.DB().Select("*").From(table).Where(where).OrderBy("id").Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []Row
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		r := Row{}
		for i, c := range cols {
			if b, ok := vals[i].([]byte); ok {
				vals[i] = string(b)
			}
			r[c] = vals[i]
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func insertRow(tx core.App, table string, r Row) error {
	_, err := tx.DB().Insert(table, dbx.Params(r)).Execute()
	return err
}

func (r Row) str(k string) string {
	s, _ := r[k].(string)
	return s
}

func (r Row) truthy(k string) bool {
	switch v := r[k].(type) {
	case bool:
		return v
	case int64:
		return v != 0
	case float64:
		return v != 0
	case string:
		return v == "1" || v == "true"
	}
	return false
}

func ids(rows []Row) []any {
	out := make([]any, len(rows))
	for i, r := range rows {
		out[i] = r.str("id")
	}
	return out
}

// relation is a field of some collection that points at contacts.
type relation struct {
	collection string
	field      string
	multi      bool
	cascade    bool
	hasUpdated bool
}

// special relations are merged by rules of their own, not re-pointed.
var special = map[string]bool{
	"custom_fields":            true, // merged per resolution
	"contact_list_assignments": true, // united, one primary
}

// relationsToContacts discovers, from the collections' schema, every
// relation field that points at contacts, so a collection added later is
// moved by a merge without anyone remembering to list it here.
func relationsToContacts(tx core.App) ([]relation, error) {
	contactsCol, err := tx.FindCachedCollectionByNameOrId("contacts")
	if err != nil {
		return nil, err
	}
	cols, _ := tx.Store().Get(core.StoreKeyCachedCollections).([]*core.Collection)
	if len(cols) == 0 {
		if cols, err = tx.FindAllCollections(); err != nil {
			return nil, err
		}
	}
	var out []relation
	for _, c := range cols {
		if c.IsView() || special[c.Name] || c.Name == Collection {
			continue
		}
		_, hasUpdated := c.Fields.GetByName("updated").(*core.AutodateField)
		for _, f := range c.Fields {
			rf, ok := f.(*core.RelationField)
			if !ok || rf.CollectionId != contactsCol.Id {
				continue
			}
			out = append(out, relation{collection: c.Name, field: rf.Name, multi: rf.IsMultiple(), cascade: rf.CascadeDelete, hasUpdated: hasUpdated})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].collection != out[j].collection {
			return out[i].collection < out[j].collection
		}
		return out[i].field < out[j].field
	})
	return out, nil
}

// quoted returns an identifier quoted for SQL. Names come from the schema
// (collections and fields match PocketBase's name pattern), never from a
// request.
func quoted(name string) string { return "`" + strings.ReplaceAll(name, "`", "") + "`" }

func stamp(now time.Time) string {
	d, _ := types.ParseDateTime(now.UTC())
	return d.String()
}

// customRows reads a contact's custom values: name -> stored row.
func customRows(tx core.App, contactID string) (map[string]Row, []Row, error) {
	rows, err := selectRows(tx, "custom_fields", dbx.HashExp{"contact": contactID})
	if err != nil {
		return nil, nil, err
	}
	m := make(map[string]Row, len(rows))
	for _, r := range rows {
		m[r.str("field_name")] = r
	}
	return m, rows, nil
}

// typed is a stored custom value as the API shows it.
func typed(r Row) any {
	if r == nil {
		return nil
	}
	return customfields.Decode(r.str("field_type"), r.str("field_value"))
}

// State is a contact's values: base fields and custom values (typed).
type State struct {
	Base   map[string]string `json:"base"`
	Custom map[string]any    `json:"custom"`
}

func stateOf(tx core.App, rec *core.Record) (State, error) {
	st := State{Base: map[string]string{}, Custom: map[string]any{}}
	for _, f := range contacts.BaseFields {
		st.Base[f] = rec.GetString(f)
	}
	rows, _, err := customRows(tx, rec.Id)
	if err != nil {
		return st, err
	}
	for n, r := range rows {
		st.Custom[n] = typed(r)
	}
	return st, nil
}

// same compares two states as JSON would show them.
func (s State) same(o State) bool {
	if len(s.Base) != len(o.Base) || len(s.Custom) != len(o.Custom) {
		return false
	}
	for k, v := range s.Base {
		if o.Base[k] != v {
			return false
		}
	}
	for k, v := range s.Custom {
		a, _ := json.Marshal(v)
		b, _ := json.Marshal(o.Custom[k])
		if _, ok := o.Custom[k]; !ok || string(a) != string(b) {
			return false
		}
	}
	return true
}

func isUnique(err error) bool {
	if err == nil {
		return false
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "unique") && !errors.Is(err, sql.ErrNoRows)
}
