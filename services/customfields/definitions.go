package customfields

import (
	"fmt"
	"sort"

	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// What happens to existing values when their definition changes:
//
//   - created (a new user-wide field, or a workspace field overriding a
//     user-wide one) or changed (type, options): the values it now governs
//     are converted to its type (text "42" becomes the number 42). If some
//     cannot be (a "maybe" in a boolean, an option that was removed), the
//     change is refused with 409 custom_field_in_use listing them, so nobody
//     loses data by changing a setting; repeating it with force deletes
//     exactly those values, in the same transaction.
//   - is_required switched on: existing contacts without a value are left as
//     they are; the rule applies to new contacts and to writes of the field.
//   - default_value: applies to contacts created afterwards.
//   - deleted: the values it governed are deleted with it (for a user-wide
//     field, in the owner's workspaces that do not override it; for a
//     workspace field, in that workspace, even when a user-wide field of the
//     same name exists). Keeping them would leave values no definition
//     describes, which no form can show or edit.
//   - renamed: refused; values are keyed by name, and a rename that rewrote
//     them would collide with another field's values.

// CheckDefinition validates a definition record before it is saved.
func (s *Service) CheckDefinition(tx core.App, rec *core.Record) error {
	d := FromRecord(rec)
	if !rec.IsNew() {
		orig := rec.Original()
		if orig.GetString("field_name") != d.Name {
			return apperr.BadRequest(CodeRename, "A custom field cannot be renamed: create a field with the new name, copy the values, then delete this one").
				With("fields", map[string]string{"field_name": "cannot change"})
		}
		if orig.GetString("workspace") != d.Workspace || orig.GetString("user") != d.User {
			return apperr.BadRequest(CodeBadShape, "A custom field cannot move to another workspace or user: create it there instead")
		}
	}
	if errs := ValidateDefinition(d); len(errs) > 0 {
		return apperr.BadRequest(CodeBadShape, "The custom field definition is not valid: "+summary(errs)).With("fields", errs)
	}
	// the unique indexes say the same, as a 400 without the existing id
	var other string
	q := tx.DB().Select("id").From("custom_field_definitions").Where(dbx.HashExp{"field_name": d.Name, "workspace": d.Workspace})
	if d.Workspace == "" {
		q.AndWhere(dbx.HashExp{"user": d.User})
	}
	if rec.Id != "" {
		q.AndWhere(dbx.Not(dbx.HashExp{"id": rec.Id}))
	}
	if err := q.Limit(1).Row(&other); err == nil && other != "" {
		return apperr.Conflict(CodeExists, fmt.Sprintf("A custom field named %q already exists here: edit that one", d.Name)).
			With("existing_id", other)
	}
	return nil
}

type scopedValue struct {
	ID        string `db:"id"`
	Contact   string `db:"contact"`
	Value     string `db:"field_value"`
	Type      string `db:"field_type"`
	Workspace string `db:"workspace"`
}

// DefinitionWorkspaces lists the workspaces definition d governs: its own,
// or (a user-wide definition) its user's workspaces that do not define the
// name themselves. Its values there follow it, and so do the value indexes.
func DefinitionWorkspaces(tx core.App, d Definition) ([]string, error) {
	if d.Workspace != "" {
		return []string{d.Workspace}, nil
	}
	var ids []string
	err := tx.DB().NewQuery(`SELECT w.id FROM workspaces w WHERE w.owner = {:u} AND NOT EXISTS (
		SELECT 1 FROM custom_field_definitions d WHERE d.workspace = w.id AND d.field_name = {:n})`).
		Bind(dbx.Params{"u": d.User, "n": d.Name}).Column(&ids)
	return ids, err
}

func scopedValues(tx core.App, d Definition) ([]scopedValue, error) {
	ids, err := DefinitionWorkspaces(tx, d)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	ws := make([]any, len(ids))
	for i, id := range ids {
		ws[i] = id
	}
	var rows []scopedValue
	err = tx.DB().Select("cf.id", "cf.contact", "cf.field_value", "cf.field_type", "c.workspace").
		From("custom_fields cf").InnerJoin("contacts c", dbx.NewExp("c.id = cf.contact")).
		Where(dbx.HashExp{"cf.field_name": d.Name}).AndWhere(dbx.In("c.workspace", ws...)).All(&rows)
	return rows, err
}

// Reconcile converts the existing values definition d governs to its type
// and options (see the top of this file). With force, values that do not
// fit are deleted; without, their presence refuses the change.
func (s *Service) Reconcile(tx core.App, d Definition, force bool) error {
	rows, err := scopedValues(tx, d)
	if err != nil {
		return err
	}
	countries := map[string]string{}
	type conversion struct {
		row   scopedValue
		value string
	}
	var convert []conversion
	var misfits []map[string]any
	var drop []scopedValue
	for _, r := range rows {
		c, ok := countries[r.Workspace]
		if !ok {
			c = s.contacts.WorkspaceCountry(tx, r.Workspace)
			countries[r.Workspace] = c
		}
		v, err := d.Canonical(r.Value, c)
		if err == nil && v == "" {
			err = fmt.Errorf("would be empty")
		}
		if err != nil {
			drop = append(drop, r)
			if len(misfits) < 10 {
				misfits = append(misfits, map[string]any{"contact": r.Contact, "value": r.Value, "error": err.Error()})
			}
			continue
		}
		if v != r.Value || r.Type != d.Type {
			convert = append(convert, conversion{r, v})
		}
	}
	if len(drop) > 0 && !force {
		return apperr.Conflict(CodeInUse, fmt.Sprintf("%d existing value(s) of %q do not fit this definition: change them first, or repeat with ?force=true to delete them",
			len(drop), d.Name)).With("count", len(drop)).With("examples", misfits)
	}
	for _, r := range drop {
		if _, err := tx.DB().Delete("custom_fields", dbx.HashExp{"id": r.ID}).Execute(); err != nil {
			return err
		}
		if err := removeCopy(tx, r.Contact, d.Name); err != nil {
			return err
		}
	}
	for _, c := range convert {
		if _, err := tx.DB().Update("custom_fields", dbx.Params{"field_value": c.value, "field_type": d.Type}, dbx.HashExp{"id": c.row.ID}).Execute(); err != nil {
			return err
		}
		if err := setCopy(tx, c.row.Contact, d.Name, Decode(d.Type, c.value)); err != nil {
			return err
		}
	}
	return nil
}

// DeleteValues deletes the values definition d governed. Call it before the
// definition itself is deleted (its scope is computed from the table).
func (s *Service) DeleteValues(tx core.App, d Definition) error {
	rows, err := scopedValues(tx, d)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if _, err := tx.DB().Delete("custom_fields", dbx.HashExp{"id": r.ID}).Execute(); err != nil {
			return err
		}
		if err := removeCopy(tx, r.Contact, d.Name); err != nil {
			return err
		}
	}
	return nil
}

// DefinitionsView is a definition with a contact's value, for the
// GET /api/crm/contacts/{id}/custom route.
type DefinitionsView struct {
	Definition
	Scope string `json:"scope"`
	Value any    `json:"value"`
}

// ContactView returns the definitions that apply to contact rec with its
// values, and the values with no definition left (kept visible, never lost).
func (s *Service) ContactView(tx core.App, rec *core.Record) ([]DefinitionsView, map[string]any, error) {
	defs, err := s.ForWorkspace(tx, rec.GetString("workspace"))
	if err != nil {
		return nil, nil, err
	}
	values, err := decodeObject(rec.Get("custom"))
	if err != nil {
		return nil, nil, err
	}
	names := make([]string, 0, len(defs))
	for n := range defs {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]DefinitionsView, 0, len(names))
	for _, n := range names {
		d := defs[n]
		if d.Options == nil {
			d.Options = []string{}
		}
		out = append(out, DefinitionsView{Definition: d, Scope: d.Scope(), Value: values[n]})
	}
	return out, values, nil
}
