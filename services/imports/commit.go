// The commit stage: a batch's decisions written in one transaction (raw SQL
// through the set-based contact-write rules of services/contacts) with its counts.

package imports

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pi-crm/pi-crm/services/contacts"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// write decides what each row of the batch does and writes the batch in one
// transaction.
func (e *engine) write(batch []prepared) error {
	e.batchNo++
	// 1. rows that fail on their own, empty rows, duplicates within the file
	var live []*prepared
	for i := range batch {
		p := &batch[i]
		e.counts.Read++
		switch {
		case len(p.errs) > 0:
			e.counts.Failed++
			if err := e.reportRow(p.errs...); err != nil {
				return err
			}
			continue
		case p.empty:
			e.counts.Skipped++
			if err := e.reportRow(RowError{Row: p.row, Code: RowEmpty, Message: "the row has no value in any imported column"}); err != nil {
				return err
			}
			continue
		}
		var keys []string
		if v := p.base[iEmail]; v != "" {
			keys = append(keys, "e"+v)
		}
		if v := p.base[iPhone]; v != "" {
			keys = append(keys, "p"+v)
		}
		dup := int32(0)
		for _, k := range keys {
			if r, ok := e.seen[k]; ok {
				dup = r
			}
		}
		if dup != 0 {
			e.counts.Skipped++
			if err := e.reportRow(RowError{Row: p.row, Code: RowDupInFile, Message: fmt.Sprintf("the same email or phone as row %d, which was imported instead", dup)}); err != nil {
				return err
			}
			continue
		}
		for _, k := range keys {
			e.seen[k] = int32(p.row)
		}
		live = append(live, p)
	}

	if e.opts.DryRun {
		next, err := e.decide(live)
		if err != nil {
			return err
		}
		e.counts = next
		return e.maybeProgress(false)
	}
	// earlier batches are in the database now: lookup finds them
	clear(e.seen)
	// The lookups, the decisions and the writes in one transaction: no
	// other write (a contact created meanwhile with one of the batch's
	// emails) can fall between what the batch read and what it writes,
	// which would fail the whole batch on the unique index. Other writers
	// wait for the batch (busy timeout), as for any transaction.
	var next Counts
	err := e.s.app.RunInTransaction(func(tx core.App) error {
		e.tx = tx
		defer func() { e.tx = nil }()
		var err error
		next, err = e.decide(live)
		return err
	})
	if err != nil {
		return err
	}
	e.counts = next
	return e.maybeProgress(false)
}

// commit writes the batch's actions in the batch's transaction (e.tx, opened
// by write): the new contacts with their read copy in one statement, the EAV
// rows, list assignments and timeline entries with multi-row INSERTs
// (bulk.go), updated contacts with a prepared UPDATE,
// and the job's committed counts. It does what the record hooks do
// (normalised values, duplicate checks, validated custom values, ids,
// timestamps), which were all settled before.
func (e *engine) commit(acts []*action, next Counts, now string) error {
	first, last := 0, 0
	if len(acts) > 0 {
		first, last = acts[0].p.row, acts[len(acts)-1].p.row
	}
	// in the batch's transaction (write): its lookups saw what this writes over
	err := func(tx core.App) error {
		db := tx.DB()
		insContact := newJSONInsert(db, "contacts", []string{"id", "workspace", "first_name", "last_name", "primary_email",
			"primary_phone", "company", "custom", "created", "updated"})
		updContact := db.NewQuery(`UPDATE contacts SET first_name = {:f}, last_name = {:l}, primary_email = {:e}, primary_phone = {:p},
			company = {:c}, custom = {:custom}, updated = {:now} WHERE id = {:id}`).Prepare()
		defer updContact.Close()
		cfCols := []string{"id", "contact", "field_name", "field_value", "field_type", "created", "updated"}
		newCF := newMultiInsert(db, "custom_fields", cfCols, "") // a new contact has no rows to conflict with
		defer newCF.close()
		setCF := newMultiInsert(db, "custom_fields", cfCols,
			` ON CONFLICT (contact, field_name) DO UPDATE SET field_value = excluded.field_value, field_type = excluded.field_type, updated = excluded.updated`)
		defer setCF.close()
		insAssign := newMultiInsert(db, "contact_list_assignments", []string{"id", "contact", "list", "is_primary", "assigned_at", "created", "updated"}, "")
		defer insAssign.close()
		insLog := newMultiInsert(db, "communication_logs", []string{"id", "workspace", "contact", "type", "direction", "content", "timestamp", "created", "updated"}, "")
		defer insLog.close()

		type newValue struct {
			contact string
			v       customValue
		}
		var newValues []newValue
		src := contacts.Source(e.fileName)
		for _, a := range acts {
			if !a.create && a.before == nil && len(a.assign) == 0 {
				continue
			}
			if a.create || a.before != nil {
				custom, _ := json.Marshal(a.custom)
				if a.create {
					if err := insContact.add(a.id, e.ws, a.base[iFirst], a.base[iLast], a.base[iEmail], a.base[iPhone], a.base[iCompany],
						string(custom), now, now); err != nil {
						return err
					}
				} else if _, err := updContact.Bind(dbx.Params{"id": a.id, "f": a.base[iFirst], "l": a.base[iLast], "e": a.base[iEmail],
					"p": a.base[iPhone], "c": a.base[iCompany], "custom": string(custom), "now": now}).Execute(); err != nil {
					return fmt.Errorf("row %d: %w", a.p.row, err)
				}
			}
			for _, cv := range a.set {
				if a.create {
					newValues = append(newValues, newValue{a.id, cv})
					continue
				}
				if err := setCF.add(e.ids.next(), a.id, cv.name, cv.value, cv.typ, now, now); err != nil {
					return err
				}
			}
			for _, as := range a.assign {
				if err := insAssign.add(as.id, a.id, as.list, as.primary, now, now, now); err != nil {
					return err
				}
			}
			if a.create {
				continue // its entries are rules of the create (contacts.BulkCreate)
			}
			content, ok := contacts.BulkUpdatedEntry(src, a.changedBase, a.changedCustom)
			if !ok {
				continue
			}
			if err := insLog.add(e.ids.next(), e.ws, a.id, "system", "internal", content, now, now, now); err != nil {
				return err
			}
		}
		// the contacts first (the other rows refer to them), with the rules
		// of a create (match keys, count, timeline, default list) applied set-based
		if err := contacts.BulkCreate(tx, contacts.Bulk{Workspace: e.ws, Source: src, Now: now, DefaultList: e.defList}, insContact.flush); err != nil {
			return err
		}
		// The new contacts' values in contact order and, per contact, by
		// field name, ids made in that order: the table, its id index and
		// the unique (contact, field_name) index then all take the batch as
		// appends (the contacts' ids grow with the rows). The global
		// (field_name, field_value) index this order once served is gone
		// (migration 1764001800).
		slices.SortStableFunc(newValues, func(x, y newValue) int {
			if c := strings.Compare(x.contact, y.contact); c != 0 {
				return c
			}
			return strings.Compare(x.v.name, y.v.name)
		})
		for _, nv := range newValues {
			if err := newCF.add(e.ids.next(), nv.contact, nv.v.name, nv.v.value, nv.v.typ, now, now); err != nil {
				return err
			}
		}
		for _, m := range []*multiInsert{newCF, setCF, insAssign, insLog} {
			if err := m.flush(); err != nil {
				return err
			}
		}
		counts, _ := json.Marshal(next)
		if _, err := db.Update("import_jobs", dbx.Params{"counts": string(counts)}, dbx.HashExp{"id": e.job.Id}).Execute(); err != nil {
			return err
		}
		if e.s.crashAt == e.batchNo {
			return errCrash
		}
		return nil
	}(e.tx)
	if err != nil && !errors.Is(err, errCrash) {
		return fmt.Errorf("writing rows %d to %d: %w", first, last, err)
	}
	return err
}
