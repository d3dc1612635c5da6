package imports

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"
)

// copySQL rebuilds a contact's read copy of its custom values from the EAV
// rows, typed as services/customfields types them.
const copySQL = `UPDATE contacts SET custom = COALESCE((
	SELECT json_group_object(cf.field_name, CASE
		WHEN cf.field_type IN ('number', 'boolean', 'multiselect') AND json_valid(cf.field_value) THEN json(cf.field_value)
		ELSE cf.field_value END)
	FROM custom_fields cf WHERE cf.contact = contacts.id), '{}') WHERE id = {:id}`

// Undo removes the contacts job created and restores the values it
// overwrote (base fields and custom values, and list assignments it added),
// in one transaction with one audit entry. Changes made to those contacts
// after the import are overwritten by the restored values; contacts it
// created are deleted with everything attached to them.
func (s *Service) Undo(jobID string, actor audit.Actor) (*core.Record, error) {
	job, err := s.Job(jobID)
	if err != nil {
		return nil, err
	}
	var opts Options
	_ = job.UnmarshalJSONField("options", &opts)
	status := job.GetString("status")
	switch {
	case opts.DryRun:
		return nil, apperr.Conflict(CodeNotUndoable, "This was a dry run: it wrote nothing, so there is nothing to undo")
	case status == StatusUndone:
		return nil, apperr.Conflict(CodeNotUndoable, "This import was already undone")
	case status != StatusCompleted && status != StatusFailed:
		return nil, apperr.Conflict(CodeNotUndoable, "This import is still "+status+": wait until it ends, then undo it")
	}
	f, err := os.Open(s.journalPath(jobID))
	if errors.Is(err, os.ErrNotExist) {
		f = nil // the job wrote nothing
	} else if err != nil {
		return nil, err
	}
	if f != nil {
		defer f.Close()
	}
	var deleted, restored int
	var definitions []string
	deletedDefs := []string{}
	err = s.app.RunInTransaction(func(tx core.App) error {
		deps, err := dependents(tx)
		if err != nil {
			return err
		}
		now := types.NowDateTime().String()
		if f != nil {
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 1<<20), 256<<20)
			for sc.Scan() {
				var entry journalEntry
				if err := json.Unmarshal(sc.Bytes(), &entry); err != nil {
					return fmt.Errorf("undo journal of job %s is damaged: %w", jobID, err)
				}
				definitions = append(definitions, entry.Definitions...)
				for _, id := range entry.Assigned {
					if _, err := tx.DB().Delete("contact_list_assignments", dbx.HashExp{"id": id}).Execute(); err != nil {
						return err
					}
				}
				for _, u := range entry.Updated {
					n, err := restore(tx, u, now)
					if err != nil {
						return err
					}
					restored += n
				}
				n, err := deleteContacts(tx, deps, entry.Created)
				if err != nil {
					return err
				}
				deleted += n
			}
			if err := sc.Err(); err != nil {
				return err
			}
		}
		// the custom fields the job defined go too, unless a value (set
		// since, on a contact the job did not create) still uses one
		for _, id := range definitions {
			name, err := deleteUnusedDefinition(tx, id, job.GetString("workspace"), actor)
			if err != nil {
				return err
			}
			if name != "" {
				deletedDefs = append(deletedDefs, name)
			}
		}
		job.Set("status", StatusUndone)
		if err := tx.Save(skip(job)); err != nil {
			return err
		}
		return audit.Log(tx, audit.Entry{Actor: actor, Workspace: job.GetString("workspace"), Action: ActionUndo,
			EntityType: "import_jobs", EntityID: jobID,
			Details: map[string]any{"deleted_contacts": deleted, "restored_contacts": restored, "deleted_custom_fields": deletedDefs}}, s.now())
	})
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "unique") {
			return nil, apperr.Conflict(CodeNotUndoable, "Undo would give a contact an email or phone another contact now has: "+
				"change or merge that contact, then undo again. Nothing was changed")
		}
		return nil, err
	}
	return job, nil
}

// deleteUnusedDefinition deletes custom field definition id (through the
// model, so its hooks and audit entry run) when no contact of workspace ws
// has a value for it; it returns the deleted field's name ("" when kept or
// gone already).
func deleteUnusedDefinition(tx core.App, id, ws string, actor audit.Actor) (string, error) {
	rec, err := tx.FindRecordById("custom_field_definitions", id)
	if err != nil {
		return "", nil // never written (the job failed first) or deleted since
	}
	name := rec.GetString("field_name")
	var n int
	if err := tx.DB().NewQuery(`SELECT count(*) FROM custom_fields cf JOIN contacts c ON c.id = cf.contact
		WHERE c.workspace = {:ws} AND cf.field_name = {:name}`).Bind(dbx.Params{"ws": ws, "name": name}).Row(&n); err != nil {
		return "", err
	}
	if n > 0 {
		return "", nil
	}
	audit.Attach(rec, actor)
	if err := tx.Delete(rec); err != nil {
		return "", err
	}
	return name, nil
}

type dep struct {
	table, field string
	cascade      bool
}

// dependents lists the relation fields pointing at contacts: raw SQL does
// not cascade, so undo does what PocketBase's delete would.
func dependents(tx core.App) ([]dep, error) {
	contacts, err := tx.FindCachedCollectionByNameOrId("contacts")
	if err != nil {
		return nil, err
	}
	cols, err := tx.FindAllCollections(core.CollectionTypeBase, core.CollectionTypeAuth)
	if err != nil {
		return nil, err
	}
	var out []dep
	for _, c := range cols {
		for _, f := range c.Fields {
			if r, ok := f.(*core.RelationField); ok && r.CollectionId == contacts.Id {
				if r.MaxSelect > 1 {
					continue // none in our schema; a JSON array would need rewriting
				}
				out = append(out, dep{c.Name, r.Name, r.CascadeDelete})
			}
		}
	}
	return out, nil
}

func deleteContacts(tx core.App, deps []dep, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	n := 0
	for _, part := range chunks(toAny(ids), 500) {
		for _, d := range deps {
			var err error
			if d.cascade {
				_, err = tx.DB().Delete(d.table, dbx.In(d.field, part...)).Execute()
			} else {
				_, err = tx.DB().Update(d.table, dbx.Params{d.field: ""}, dbx.In(d.field, part...)).Execute()
			}
			if err != nil {
				return 0, err
			}
		}
		res, err := tx.DB().Delete("contacts", dbx.In("id", part...)).Execute()
		if err != nil {
			return 0, err
		}
		k, _ := res.RowsAffected()
		n += int(k)
	}
	return n, nil
}

func toAny(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

func restore(tx core.App, u updatedEntry, now string) (int, error) {
	var exists int
	_ = tx.DB().Select("count(*)").From("contacts").Where(dbx.HashExp{"id": u.ID}).Row(&exists)
	if exists == 0 {
		return 0, nil // deleted since: nothing to restore
	}
	if len(u.Base) > 0 {
		p := dbx.Params{"updated": now}
		for k, v := range u.Base {
			p[k] = v
		}
		if _, err := tx.DB().Update("contacts", p, dbx.HashExp{"id": u.ID}).Execute(); err != nil {
			return 0, err
		}
	}
	for name, old := range u.Custom {
		var err error
		if old == nil {
			_, err = tx.DB().Delete("custom_fields", dbx.HashExp{"contact": u.ID, "field_name": name}).Execute()
		} else {
			_, err = tx.DB().NewQuery(`INSERT INTO custom_fields (id, contact, field_name, field_value, field_type, created, updated)
				VALUES ({:id}, {:contact}, {:name}, {:value}, {:type}, {:now}, {:now})
				ON CONFLICT (contact, field_name) DO UPDATE SET field_value = excluded.field_value, field_type = excluded.field_type, updated = excluded.updated`).
				Bind(dbx.Params{"id": core.GenerateDefaultRandomId(), "contact": u.ID, "name": name, "value": old[0], "type": old[1], "now": now}).Execute()
		}
		if err != nil {
			return 0, err
		}
	}
	if len(u.Custom) > 0 {
		if _, err := tx.DB().NewQuery(copySQL).Bind(dbx.Params{"id": u.ID}).Execute(); err != nil {
			return 0, err
		}
	}
	return 1, nil
}
