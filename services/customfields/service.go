// Package customfields validates and stores a contact's custom values.
//
// Storage: the custom_fields rows (one per contact and field, EAV) are the
// source of truth. Each contact also carries a read copy of its values in
// contacts.custom ({field_name: typed value}), rewritten in the same
// transaction as every change to the rows. The copy is why reading a page of
// contacts with their custom values costs the page query and nothing more
// (no per-contact query, no second query joining the page's rows), and why
// the PocketBase filter syntax reaches custom values (custom.tier = "gold").
// Anything that changes rows without this package (raw SQL in a bulk path)
// must rewrite the copy itself.
//
// Which definitions apply to a contact: those of its workspace, plus the
// user-wide ones (empty workspace) of the workspace's owner; a workspace
// definition overrides a user-wide one of the same name.
package customfields

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// Stable error codes.
const (
	CodeUnknown  = "custom_field_unknown"
	CodeInvalid  = "custom_field_invalid"
	CodeInUse    = "custom_field_in_use"
	CodeExists   = "custom_field_exists"
	CodeRename   = "custom_field_rename"
	CodeBadShape = "custom_field_definition_invalid"
)

type ctxKey struct{}

// Internal marks a context whose custom_fields writes come from this
// package: they are already validated and the copy is already written.
func Internal(ctx context.Context) context.Context { return context.WithValue(ctx, ctxKey{}, true) }

// IsInternal reports whether ctx was marked by Internal.
func IsInternal(ctx context.Context) bool {
	v, _ := ctx.Value(ctxKey{}).(bool)
	return v
}

// Service validates and stores custom values and definitions.
type Service struct {
	app      core.App
	contacts Countries
}

// Countries is what custom values need of the contacts service: the default
// phone country of a workspace (*contacts.Service; an interface because the
// contacts service builds on this package).
type Countries interface {
	WorkspaceCountry(tx core.App, wsID string) string
}

// NewService returns a custom fields service.
func NewService(app core.App, cs Countries) *Service {
	return &Service{app: app, contacts: cs}
}

// ForWorkspace returns the definitions that apply in workspace wsID by name.
func (s *Service) ForWorkspace(tx core.App, wsID string) (map[string]Definition, error) {
	defs, err := workspaceDefinitions(tx, wsID)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Definition, len(defs))
	for _, d := range defs {
		out[d.Name] = d
	}
	return out, nil
}

// Definitions returns the definitions that apply in workspace wsID in the
// order the workspace made them.
func (s *Service) Definitions(tx core.App, wsID string) ([]Definition, error) {
	return workspaceDefinitions(tx, wsID)
}

// workspaceDefinitions returns the definitions that apply in workspace wsID,
// one per name (the workspace's own wins over its owner's user-wide one),
// each name where its oldest definition puts it.
func workspaceDefinitions(tx core.App, wsID string) ([]Definition, error) {
	var owner string
	if err := tx.DB().Select("owner").From("workspaces").Where(dbx.HashExp{"id": wsID}).Limit(1).Row(&owner); err != nil {
		return nil, fmt.Errorf("workspace %s: %w", wsID, err)
	}
	var recs []*core.Record
	err := tx.RecordQuery("custom_field_definitions").
		AndWhere(dbx.Or(dbx.HashExp{"workspace": wsID}, dbx.HashExp{"workspace": "", "user": owner})).
		OrderBy("created ASC", "field_name ASC").All(&recs)
	if err != nil {
		return nil, err
	}
	var out []Definition
	at := map[string]int{}
	for _, r := range recs {
		d := FromRecord(r)
		if i, ok := at[d.Name]; ok {
			if d.Workspace != "" {
				out[i] = d // the workspace's own definition wins
			}
			continue
		}
		at[d.Name] = len(out)
		out = append(out, d)
	}
	return out, nil
}

// Plan is what a contact write does to the contact's custom values.
type Plan struct {
	rows    map[string]*core.Record // current rows by field name
	defs    map[string]Definition
	next    map[string]string // changed names -> new stored value ("" = removed)
	Changed []string          // names whose value changes, sorted
}

// Copy is the contact's read copy after the plan is applied.
func (p *Plan) Copy() map[string]any {
	out := map[string]any{}
	for name, row := range p.rows {
		out[name] = Decode(p.typeOf(name, row.GetString("field_type")), row.GetString("field_value"))
	}
	for name, v := range p.next {
		if v == "" {
			delete(out, name)
		} else {
			out[name] = Decode(p.typeOf(name, ""), v)
		}
	}
	return out
}

func (p *Plan) typeOf(name, fallback string) string {
	if d, ok := p.defs[name]; ok {
		return d.Type
	}
	return fallback
}

// Submitted returns the custom values a write asks for: on a new contact
// the whole "custom" object; on an update, the keys whose value differs from
// the stored copy. Absent keys are left alone (a PATCH of one field does not
// wipe the others); null or "" clears a value.
func Submitted(rec *core.Record) (map[string]any, error) {
	next, err := decodeObject(rec.Get("custom"))
	if err != nil {
		return nil, err
	}
	if rec.IsNew() {
		return next, nil
	}
	prev, _ := decodeObject(rec.Original().Get("custom"))
	out := map[string]any{}
	for k, v := range next {
		if old, ok := prev[k]; !ok || !reflect.DeepEqual(old, v) {
			out[k] = v
		}
	}
	return out, nil
}

func decodeObject(v any) (map[string]any, error) {
	var raw []byte
	switch x := v.(type) {
	case nil:
		return map[string]any{}, nil
	case string:
		raw = []byte(x)
	case []byte:
		raw = x
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return nil, err
		}
		raw = b
	}
	if s := strings.TrimSpace(string(raw)); s == "" || s == "null" {
		return map[string]any{}, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, apperr.BadRequest(CodeInvalid, `"custom" must be an object of {field_name: value}`).
			With("fields", map[string]string{"custom": "must be an object"})
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// PlanContact validates the custom values a save of contact rec asks for
// against the definitions of its workspace, applying defaults to a new
// contact. Nothing is written.
func (s *Service) PlanContact(tx core.App, rec *core.Record) (*Plan, error) {
	submitted, err := Submitted(rec)
	if err != nil {
		return nil, err
	}
	ws := rec.GetString("workspace")
	p := &Plan{rows: map[string]*core.Record{}, next: map[string]string{}}
	if !rec.IsNew() {
		rows, err := tx.FindAllRecords("custom_fields", dbx.HashExp{"contact": rec.Id})
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			p.rows[r.GetString("field_name")] = r
		}
	}
	if len(submitted) == 0 && !rec.IsNew() {
		return p, nil // the common update: no custom value touched, no query for definitions
	}
	if p.defs, err = s.ForWorkspace(tx, ws); err != nil {
		return nil, err
	}

	var unknown []string
	for name := range submitted {
		if _, ok := p.defs[name]; !ok {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		fields := map[string]string{}
		for _, n := range unknown {
			fields[n] = "no such custom field in this workspace"
		}
		return nil, apperr.BadRequest(CodeUnknown, "Unknown custom field(s): "+strings.Join(unknown, ", ")+
			". Define them first, or leave them out").With("fields", fields)
	}

	country := s.contacts.WorkspaceCountry(tx, ws)
	fields := map[string]string{}
	values := map[string]string{}
	for name, v := range submitted {
		c, err := p.defs[name].Canonical(v, country)
		if err != nil {
			fields[name] = err.Error()
			continue
		}
		values[name] = c
	}
	for name, d := range p.defs {
		if _, given := submitted[name]; rec.IsNew() && !given && d.Default != "" {
			if c, err := d.Canonical(d.Default, country); err == nil {
				values[name] = c
			}
		}
		// required: on create, and whenever a write clears the value; a
		// contact saved before the field became required is not blocked
		// until someone touches that field
		_, given := submitted[name]
		if d.Required && fields[name] == "" && (rec.IsNew() || given) && values[name] == "" {
			fields[name] = "is required"
		}
	}
	if len(fields) > 0 {
		return nil, apperr.BadRequest(CodeInvalid, "Some custom values are not valid: "+summary(fields)).With("fields", fields)
	}
	for name, v := range values {
		old := ""
		if r, ok := p.rows[name]; ok {
			old = r.GetString("field_value")
		}
		if v != old {
			p.next[name] = v
			p.Changed = append(p.Changed, name)
		}
	}
	sort.Strings(p.Changed)
	return p, nil
}

func summary(fields map[string]string) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + " " + fields[n]
	}
	return strings.Join(parts, "; ")
}

// Apply writes the plan's rows for contact contactID, on tx (the
// transaction that saves the contact).
func (s *Service) Apply(tx core.App, contactID string, p *Plan) error {
	if len(p.next) == 0 {
		return nil
	}
	ctx := Internal(context.Background())
	col, err := tx.FindCachedCollectionByNameOrId("custom_fields")
	if err != nil {
		return err
	}
	for _, name := range p.Changed {
		v := p.next[name]
		row := p.rows[name]
		switch {
		case v == "" && row != nil:
			if err := tx.DeleteWithContext(ctx, row); err != nil {
				return err
			}
		case v != "":
			if row == nil {
				row = core.NewRecord(col)
				row.Set("contact", contactID)
				row.Set("field_name", name)
			}
			row.Set("field_value", v)
			row.Set("field_type", p.defs[name].Type)
			if err := tx.SaveWithContext(ctx, row); err != nil {
				return fmt.Errorf("custom value %s: %w", name, err)
			}
		}
	}
	return nil
}

// PrepareRow checks a custom_fields row written directly (collection API,
// batch, services) against the definition that applies to its contact, and
// stores its canonical form and type.
func (s *Service) PrepareRow(tx core.App, row *core.Record) error {
	if !row.IsNew() && row.Original().GetString("contact") != row.GetString("contact") {
		return apperr.BadRequest(CodeInvalid, "A custom value cannot move to another contact: delete it and set it on the other contact")
	}
	if !row.IsNew() && row.Original().GetString("field_name") != row.GetString("field_name") {
		return apperr.BadRequest(CodeInvalid, "A custom value cannot change its field: delete it and set the other field")
	}
	var ws string
	err := tx.DB().Select("workspace").From("contacts").Where(dbx.HashExp{"id": row.GetString("contact")}).Limit(1).Row(&ws)
	if err != nil {
		return nil // no such contact: the relation field's own validation says so
	}
	defs, err := s.ForWorkspace(tx, ws)
	if err != nil {
		return err
	}
	name := row.GetString("field_name")
	d, ok := defs[name]
	if !ok {
		return apperr.BadRequest(CodeUnknown, "Unknown custom field: "+name+". Define it first").
			With("fields", map[string]string{name: "no such custom field in this workspace"})
	}
	v, err := d.Canonical(row.GetString("field_value"), s.contacts.WorkspaceCountry(tx, ws))
	if err == nil && v == "" {
		err = fmt.Errorf("cannot be empty: delete the value instead")
	}
	if err != nil {
		return apperr.BadRequest(CodeInvalid, "Custom value not valid: "+name+" "+err.Error()).
			With("fields", map[string]string{name: err.Error()})
	}
	row.Set("field_value", v)
	row.Set("field_type", d.Type)
	return nil
}

// SyncCopy rewrites the copy of one value of contactID from its row (or
// removes it when the row is gone).
func (s *Service) SyncCopy(tx core.App, contactID, name string) error {
	var row struct {
		Value string `db:"field_value"`
		Type  string `db:"field_type"`
	}
	err := tx.DB().Select("field_value", "field_type").From("custom_fields").
		Where(dbx.HashExp{"contact": contactID, "field_name": name}).Limit(1).One(&row)
	if err != nil {
		return removeCopy(tx, contactID, name)
	}
	return setCopy(tx, contactID, name, Decode(row.Type, row.Value))
}

// copyExpr reads the copy as an object whatever the column holds (NULL for
// a contact without values).
const copyExpr = `CASE WHEN json_valid(custom) THEN CASE WHEN json_type(custom) = 'object' THEN custom ELSE '{}' END ELSE '{}' END`

func setCopy(tx core.App, contactID, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = tx.DB().NewQuery(`UPDATE contacts SET custom = json_set(` + copyExpr + `, {:path}, json({:v})) WHERE id = {:id}`).
		Bind(dbx.Params{"path": jsonPath(name), "v": string(b), "id": contactID}).Execute()
	return err
}

func removeCopy(tx core.App, contactID, name string) error {
	_, err := tx.DB().NewQuery(`UPDATE contacts SET custom = json_remove(` + copyExpr + `, {:path}) WHERE id = {:id}`).
		Bind(dbx.Params{"path": jsonPath(name), "id": contactID}).Execute()
	return err
}

// field names match ^[a-z][a-z0-9_]*$ (schema pattern), so quoting is enough
func jsonPath(name string) string { return `$."` + name + `"` }
