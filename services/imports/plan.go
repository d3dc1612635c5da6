// The mapping stage: the file's header becomes columns (base fields, custom
// fields, new field definitions to create), checked before anything is written.

package imports

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/csvio"
	"github.com/pi-crm/pi-crm/services/customfields"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

type column struct {
	header string
	target csvio.Target
	base   int // index in the base array for KindBase
}

type customValue struct{ name, value, typ string }

// plan resolves the mapping of each column and creates the custom fields
// the mapping defines (not in a dry run). Everything is checked first (the
// limits, every column's target, every new definition); the definitions
// are then created in one transaction, so a plan that fails writes nothing.
func (e *engine) plan(header []string, actor audit.Actor) error {
	if len(header) > MaxColumns {
		return tooManyColumns(len(header))
	}
	defs, err := e.s.custom.ForWorkspace(e.s.app, e.ws)
	if err != nil {
		return err
	}
	e.defs = defs
	var known []csvio.CustomField
	for _, d := range defs {
		known = append(known, csvio.CustomField{Name: d.Name, Label: d.Label})
	}
	sort.Slice(known, func(i, j int) bool { return known[i].Name < known[j].Name })
	auto := e.opts.AutoMap == nil || *e.opts.AutoMap
	used := map[string]bool{}
	for h := range e.opts.Mapping {
		if !slices.Contains(header, h) {
			return fmt.Errorf("options.mapping names column %q, which the file does not have (its columns: %s)", h,
				truncate(strings.Join(header, ", "), 1000))
		}
	}
	// the definitions to create, checked, in column order
	var pending []*core.Record
	planned := map[string]customfields.Definition{}
	var resolved []map[string]any
	for _, h := range header {
		t := csvio.Target{Kind: csvio.KindIgnore}
		if raw, ok := e.opts.Mapping[h]; ok {
			if t, err = csvio.ParseTarget(raw, h); err != nil {
				return err
			}
		} else if auto {
			t = csvio.AutoTarget(h, known)
		}
		c := column{header: h, target: t, base: -1}
		switch t.Kind {
		case csvio.KindBase:
			c.base = slices.Index(csvio.BaseFields, t.Field)
			if c.base < 0 {
				return fmt.Errorf("column %q: %q is not a contact field", h, t.Field)
			}
		case csvio.KindCustom:
			if _, ok := defs[t.Field]; !ok {
				return fmt.Errorf("column %q: there is no custom field %q in this workspace (map it to \"new:TYPE\" to create one)", h, t.Field)
			}
			if used["cf:"+t.Field] {
				return fmt.Errorf("column %q: custom field %q is already mapped from another column", h, t.Field)
			}
			used["cf:"+t.Field] = true
		case csvio.KindNew:
			rec, err := e.newDefinition(&t, planned, actor)
			if err != nil {
				return fmt.Errorf("column %q: %w", h, err)
			}
			if rec != nil {
				pending = append(pending, rec)
				if len(pending) > MaxNewFields {
					return tooManyNewFields(countNewFields(e.opts))
				}
			}
			c.target = csvio.Target{Kind: csvio.KindCustom, Field: t.Field}
		case csvio.KindFullName, csvio.KindIgnore:
		default:
			return fmt.Errorf("column %q: unknown mapping kind %q", h, t.Kind)
		}
		e.cols = append(e.cols, c)
		resolved = append(resolved, map[string]any{"column": h, "kind": c.target.Kind, "field": c.target.Field})
	}
	if err := e.createDefinitions(pending, planned); err != nil {
		return err
	}
	for _, d := range defs {
		if d.Default != "" {
			if v, err := d.Canonical(d.Default, e.country); err == nil && v != "" {
				e.defaults = append(e.defaults, customValue{d.Name, v, d.Type})
			}
		}
		if d.Required {
			e.required = append(e.required, d.Name)
		}
	}
	sort.Strings(e.required)
	// the mapping the job actually used, for the UI and the CLI summary, as
	// much of it as the job record holds
	opts := map[string]any{}
	_ = e.job.UnmarshalJSONField("options", &opts)
	e.job.Set("options", fitResolved(opts, resolved))
	return nil
}

// newDefinition checks the new workspace custom field t defines and returns
// its record to create, or nil when the workspace (or an earlier column)
// already has it with the same type.
func (e *engine) newDefinition(t *csvio.Target, planned map[string]customfields.Definition, actor audit.Actor) (*core.Record, error) {
	for _, have := range []map[string]customfields.Definition{e.defs, planned} {
		if d, ok := have[t.Field]; ok {
			if d.Type != t.Type {
				return nil, fmt.Errorf("custom field %q already exists with type %s", t.Field, d.Type)
			}
			return nil, nil
		}
	}
	col, err := e.s.app.FindCachedCollectionByNameOrId("custom_field_definitions")
	if err != nil {
		return nil, err
	}
	user := actor.UserID
	if user == "" {
		_ = e.s.app.DB().Select("owner").From("workspaces").Where(dbx.HashExp{"id": e.ws}).Limit(1).Row(&user)
	}
	rec := core.NewRecord(col)
	rec.Set("user", user)
	rec.Set("workspace", e.ws)
	rec.Set("field_name", t.Field)
	rec.Set("label", t.Label)
	rec.Set("field_type", t.Type)
	rec.Set("options", t.Options)
	d := customfields.FromRecord(rec)
	d.Options = t.Options
	if errs := customfields.ValidateDefinition(d); len(errs) > 0 {
		return nil, fmt.Errorf("new custom field %q: %v", t.Field, errs)
	}
	audit.Attach(rec, actor)
	planned[t.Field] = d
	return rec, nil
}

// createDefinitions saves the new definitions in one transaction (in a dry
// run: none, they are only checked) and adds them to the job's definitions.
func (e *engine) createDefinitions(pending []*core.Record, planned map[string]customfields.Definition) error {
	if !e.opts.DryRun && len(pending) > 0 {
		// journaled before they are written, as the batches are: a job that
		// fails later can still be undone, definitions included
		entry := journalEntry{}
		for _, rec := range pending {
			rec.Id = core.GenerateDefaultRandomId()
			entry.Definitions = append(entry.Definitions, rec.Id)
		}
		if err := e.appendJournal(entry); err != nil {
			return err
		}
		err := e.s.app.RunInTransaction(func(tx core.App) error {
			for _, rec := range pending {
				if err := tx.Save(rec); err != nil {
					return fmt.Errorf("new custom field %q: %w", rec.GetString("field_name"), err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, rec := range pending {
			d := customfields.FromRecord(rec)
			planned[d.Name] = d
			e.newDefs = append(e.newDefs, d.Name)
		}
	}
	for name, d := range planned {
		e.defs[name] = d
	}
	return nil
}
