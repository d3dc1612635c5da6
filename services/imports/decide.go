// The decision stage: for each row, by the job's mode, create a contact,
// update the one it matched (which fields change), leave it unchanged, or skip it.

package imports

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pi-crm/pi-crm/services/csvio"
	"github.com/pi-crm/pi-crm/services/customfields"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/tools/types"
)

// action is what the batch does with one row.
type action struct {
	p       *prepared
	create  bool
	id      string
	base    [5]string      // new base values
	custom  map[string]any // new read copy
	set     []customValue  // custom rows to write
	before  *updatedEntry  // update: the values overwritten
	changed []string       // update: changed field names
	// update: the changed base fields and custom names, for the timeline
	changedBase, changedCustom []string
	assign                     []assignment // list assignments to add
}

type assignment struct {
	id, list string
	primary  bool
}

// decide matches the batch's live rows against the workspace (2), decides
// what each does, writes the undo journal and, unless a dry run, the batch
// (commit). It returns the counts after the batch.
func (e *engine) decide(live []*prepared) (Counts, error) {
	// 2. existing contacts with the batch's emails and phones (those of
	// earlier batches of this job included)
	byEmail, byPhone, err := e.lookup(live)
	if err != nil {
		return Counts{}, err
	}
	now := types.NowDateTime().String()
	e.batchTimes[now] = true
	var acts []*action
	var matchedIDs []string
	for _, p := range live {
		m, errRow := e.match(p, byEmail, byPhone)
		if errRow != nil {
			e.counts.Failed++
			if err := e.reportRow(*errRow); err != nil {
				return Counts{}, err
			}
			continue
		}
		if m != nil && e.wroteEarlier(m) {
			// written by an earlier batch of this job: a duplicate within
			// the file, as the seen keys report within a batch
			msg := "the same email or phone as an earlier row, which was imported instead (contact " + m.ID + ")"
			if row, ok := e.contactIDs.rowOf(m.ID); ok {
				msg = fmt.Sprintf("the same email or phone as row %d, which was imported instead", row)
			}
			e.counts.Skipped++
			if err := e.reportRow(RowError{Row: p.row, Code: RowDupInFile, Message: msg}); err != nil {
				return Counts{}, err
			}
			continue
		}
		switch {
		case m == nil && e.opts.Mode == ModeUpdate:
			e.counts.Skipped++
			if err := e.reportRow(RowError{Row: p.row, Code: RowNoMatch, Message: "no contact has this email or phone (mode update only changes existing contacts)"}); err != nil {
				return Counts{}, err
			}
		case m != nil && e.opts.Mode == ModeCreate:
			e.counts.Failed++
			field := "primary_email"
			if p.base[iEmail] == "" || p.base[iEmail] != m.Email {
				field = "primary_phone"
			}
			if err := e.reportRow(RowError{Row: p.row, Column: field, Code: RowDuplicate, Message: "a contact with this " + strings.ReplaceAll(strings.TrimPrefix(field, "primary_"), "_", " ") +
				" already exists (" + m.ID + "): use mode upsert or skip_existing"}); err != nil {
				return Counts{}, err
			}
		case m != nil && e.opts.Mode == ModeSkipExisting:
			e.counts.Skipped++
		case m != nil:
			acts = append(acts, &action{p: p, id: m.ID})
			matchedIDs = append(matchedIDs, m.ID)
			if err := e.reportDropped(p, false); err != nil {
				return Counts{}, err
			}
		default:
			a, errRow := e.newContact(p)
			if errRow != nil {
				e.counts.Failed++
				if err := e.reportRow(*errRow); err != nil {
					return Counts{}, err
				}
				continue
			}
			acts = append(acts, a)
			if err := e.reportDropped(p, true); err != nil {
				return Counts{}, err
			}
		}
	}
	if err := e.planUpdates(acts, matchedIDs, byEmail, byPhone); err != nil {
		return Counts{}, err
	}
	var creates, updates int
	entry := journalEntry{}
	for _, a := range acts {
		switch {
		case a.create:
			creates++
			entry.Created = append(entry.Created, a.id)
		case a.before != nil:
			updates++
			entry.Updated = append(entry.Updated, *a.before)
			for _, as := range a.assign {
				entry.Assigned = append(entry.Assigned, as.id)
			}
		case len(a.assign) > 0:
			for _, as := range a.assign {
				entry.Assigned = append(entry.Assigned, as.id)
			}
		}
	}
	unchanged := len(acts) - creates - updates

	if !e.opts.DryRun && len(acts) > 0 {
		// the journal is on disk before the batch commits: after a crash it
		// may name rows that never were (undo skips them), never miss one
		b, _ := json.Marshal(entry)
		if _, err := e.journal.Write(append(b, '\n')); err != nil {
			return Counts{}, err
		}
		if err := e.journal.Sync(); err != nil {
			return Counts{}, err
		}
	}
	next := e.counts
	next.Created += creates
	next.Updated += updates
	next.Unchanged += unchanged
	next.Committed = next.Read
	if !e.opts.DryRun {
		if err := e.commit(acts, next, now); err != nil {
			return Counts{}, err
		}
	}
	return next, nil
}

func chunks(vals []any, n int) [][]any {
	var out [][]any
	for len(vals) > n {
		out = append(out, vals[:n])
		vals = vals[n:]
	}
	if len(vals) > 0 {
		out = append(out, vals)
	}
	return out
}

func (e *engine) newContact(p *prepared) (*action, *RowError) {
	a := &action{p: p, create: true, id: e.contactIDs.forRow(p.row), base: p.base, custom: map[string]any{}}
	have := map[string]bool{}
	for _, cv := range p.custom {
		have[cv.name] = true
		a.set = append(a.set, cv)
	}
	for _, cv := range e.defaults {
		if !have[cv.name] {
			have[cv.name] = true
			a.set = append(a.set, cv)
		}
	}
	for _, name := range e.required {
		if !have[name] {
			for _, d := range p.dropped {
				if d.field == name { // given, but a phone number that cannot be read
					return nil, &RowError{Row: p.row, Column: d.column, Code: RowRequired, Message: d.reason + "; custom field " + name + " is required for new contacts"}
				}
			}
			return nil, &RowError{Row: p.row, Column: name, Code: RowRequired, Message: "custom field " + name + " is required for new contacts"}
		}
	}
	for _, cv := range a.set {
		a.custom[cv.name] = customfields.Decode(cv.typ, cv.value)
	}
	// the default list's assignment is a rule of the create (contacts.BulkCreate)
	if e.listID != "" && e.listID != e.defList {
		a.assign = append(a.assign, assignment{e.ids.next(), e.listID, e.defList == ""})
	}
	return a, nil
}

// planUpdates computes, for the rows matching existing contacts, the values
// they change and the values those had (the undo journal).
func (e *engine) planUpdates(acts []*action, ids []string, byEmail, byPhone map[string]*existing) error {
	if len(ids) == 0 {
		return nil
	}
	current := map[string]*existing{}
	for _, m := range byEmail {
		current[m.ID] = m
	}
	for _, m := range byPhone {
		current[m.ID] = m
	}
	type cfRow struct {
		Contact string `db:"contact"`
		Name    string `db:"field_name"`
		Value   string `db:"field_value"`
		Type    string `db:"field_type"`
	}
	rows := map[string]map[string]cfRow{}
	inList, hasPrimary := map[string]bool{}, map[string]bool{}
	anyIDs := make([]any, len(ids))
	for i, id := range ids {
		anyIDs[i] = id
	}
	for _, part := range chunks(anyIDs, 500) {
		var rs []cfRow
		if err := e.lookupDB().Select("contact", "field_name", "field_value", "field_type").From("custom_fields").
			Where(dbx.In("contact", part...)).All(&rs); err != nil {
			return err
		}
		for _, r := range rs {
			if rows[r.Contact] == nil {
				rows[r.Contact] = map[string]cfRow{}
			}
			rows[r.Contact][r.Name] = r
		}
		if e.listID != "" {
			var as []struct {
				Contact string `db:"contact"`
				List    string `db:"list"`
				Primary bool   `db:"is_primary"`
			}
			if err := e.lookupDB().Select("contact", "list", "is_primary").From("contact_list_assignments").
				Where(dbx.In("contact", part...)).All(&as); err != nil {
				return err
			}
			for _, x := range as {
				if x.List == e.listID {
					inList[x.Contact] = true
				}
				if x.Primary {
					hasPrimary[x.Contact] = true
				}
			}
		}
	}
	for _, a := range acts {
		if a.create {
			continue
		}
		m := current[a.id]
		old := m.base()
		a.base = old
		before := &updatedEntry{ID: a.id, Base: map[string]string{}, Custom: map[string]*[2]string{}}
		for i, v := range a.p.base {
			if v != "" && v != old[i] { // an empty cell leaves the field as it is
				a.base[i] = v
				before.Base[csvio.BaseFields[i]] = old[i]
				a.changed = append(a.changed, csvio.BaseFields[i])
				a.changedBase = append(a.changedBase, csvio.BaseFields[i])
			}
		}
		a.custom = map[string]any{}
		if m.Custom != "" {
			_ = json.Unmarshal([]byte(m.Custom), &a.custom)
		}
		for _, cv := range a.p.custom {
			r, ok := rows[a.id][cv.name]
			if ok && r.Value == cv.value && r.Type == cv.typ {
				continue
			}
			if ok {
				before.Custom[cv.name] = &[2]string{r.Value, r.Type}
			} else {
				before.Custom[cv.name] = nil
			}
			a.set = append(a.set, cv)
			a.custom[cv.name] = customfields.Decode(cv.typ, cv.value)
			a.changed = append(a.changed, "custom."+cv.name)
			a.changedCustom = append(a.changedCustom, cv.name)
		}
		if e.listID != "" && !inList[a.id] {
			a.assign = append(a.assign, assignment{e.ids.next(), e.listID, !hasPrimary[a.id]})
		}
		if len(a.changed) > 0 {
			a.before = before
		}
	}
	return nil
}
