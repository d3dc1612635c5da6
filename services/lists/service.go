// Package lists keeps the two "one primary" invariants of contact lists: a
// workspace has at most one default list (where new contacts land), and a
// contact has at most one primary list among any number of secondary ones.
//
// Making something primary demotes the previous one in the same
// transaction, before the new row is written. Writes go through SQLite's
// single writer connection, so a transaction's read of "the current primary"
// cannot be overtaken by another writer; the partial unique indexes on
// is_primary stay as the last line of defence.
package lists

import (
	"context"
	"fmt"

	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/commlog"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// Stable error codes.
const CodeWorkspaceMismatch = "list_workspace_mismatch"

type ctxKey struct{}

// Quiet marks writes made by this package as side effects (a demotion),
// which the hooks neither cascade nor log: the change that caused them logs
// the whole story in one entry.
func Quiet(ctx context.Context) context.Context { return context.WithValue(ctx, ctxKey{}, true) }

// IsQuiet reports whether ctx was marked by Quiet.
func IsQuiet(ctx context.Context) bool {
	v, _ := ctx.Value(ctxKey{}).(bool)
	return v
}

// Service manages lists and assignments.
type Service struct {
	app core.App
	log *commlog.Writer
}

// NewService returns a lists service writing timeline entries with log.
func NewService(app core.App, log *commlog.Writer) *Service {
	return &Service{app: app, log: log}
}

// PromoteList demotes the other default list of list's workspace when list
// becomes the default. Call it on tx before list is saved.
func (s *Service) PromoteList(tx core.App, list *core.Record) error {
	// the stored state, not list.Original(): a REST update loads the record
	// before the transaction, and another writer may have changed it since
	if !list.GetBool("is_primary") {
		return nil
	}
	q := dbx.And(dbx.HashExp{"workspace": list.GetString("workspace"), "is_primary": true})
	if list.Id != "" {
		q = dbx.And(q, dbx.Not(dbx.HashExp{"id": list.Id}))
	}
	others, err := tx.FindAllRecords("contact_lists", q)
	if err != nil {
		return err
	}
	for _, o := range others {
		o.Set("is_primary", false)
		if err := tx.SaveWithContext(Quiet(context.Background()), o); err != nil {
			return err
		}
	}
	return nil
}

// PrepareAssignment checks an assignment before it is saved and, when it
// is primary, demotes any other primary of the contact. It returns the list
// id of that previous primary ("" if none) and whether the assignment itself
// was stored as primary, both read in tx: a REST update loads the record
// before the transaction, so its Original() may be stale by now.
func (s *Service) PrepareAssignment(tx core.App, a *core.Record) (prevList string, wasPrimary bool, err error) {
	var listWS, contactWS string
	_ = tx.DB().Select("workspace").From("contact_lists").Where(dbx.HashExp{"id": a.GetString("list")}).Limit(1).Row(&listWS)
	_ = tx.DB().Select("workspace").From("contacts").Where(dbx.HashExp{"id": a.GetString("contact")}).Limit(1).Row(&contactWS)
	if listWS != "" && contactWS != "" && listWS != contactWS {
		return "", false, apperr.BadRequest(CodeWorkspaceMismatch, "The list belongs to another workspace than the contact")
	}
	if !a.IsNew() {
		_ = tx.DB().Select("is_primary").From("contact_list_assignments").Where(dbx.HashExp{"id": a.Id}).Limit(1).Row(&wasPrimary)
	}
	if !a.GetBool("is_primary") {
		return "", wasPrimary, nil
	}
	q := dbx.And(dbx.HashExp{"contact": a.GetString("contact"), "is_primary": true})
	if a.Id != "" {
		q = dbx.And(q, dbx.Not(dbx.HashExp{"id": a.Id}))
	}
	prev, err := tx.FindAllRecords("contact_list_assignments", q)
	if err != nil {
		return "", false, err
	}
	for _, p := range prev {
		prevList = p.GetString("list")
		p.Set("is_primary", false)
		if err := tx.SaveWithContext(Quiet(context.Background()), p); err != nil {
			return "", false, err
		}
	}
	return prevList, wasPrimary, nil
}

// LogAssignment writes the timeline entry of a saved assignment: created
// and wasPrimary describe it before the save.
func (s *Service) LogAssignment(tx core.App, a *core.Record, created, wasPrimary bool, prevList string) error {
	name := s.listName(tx, a.GetString("list"))
	primary := a.GetBool("is_primary")
	var msg string
	switch {
	case created:
		msg = addedEntry(name, primary)
	case primary && !wasPrimary:
		msg = fmt.Sprintf("Primary list set to %q", name)
	case !primary && wasPrimary:
		msg = fmt.Sprintf("List %q is no longer the primary list", name)
	default:
		return nil
	}
	if prevList != "" {
		msg += fmt.Sprintf(" (was %q)", s.listName(tx, prevList))
	}
	return s.writeEntry(tx, a.GetString("contact"), msg)
}

// AddedEntry is the timeline entry of a contact added to list name (the
// name of the previous primary list in prev, "" for none). Bulk writers
// (contacts.BulkCreate) write the same entry.
func AddedEntry(name string, primary bool, prev string) string {
	msg := addedEntry(name, primary)
	if prev != "" {
		msg += fmt.Sprintf(" (was %q)", prev)
	}
	return msg
}

func addedEntry(name string, primary bool) string {
	msg := fmt.Sprintf("Added to list %q", name)
	if primary {
		msg += " as primary list"
	}
	return msg
}

// LogRemoval writes the timeline entry of a deleted assignment, unless the
// contact itself is gone (a cascade of its own deletion).
func (s *Service) LogRemoval(tx core.App, a *core.Record) error {
	name := s.listName(tx, a.GetString("list"))
	msg := fmt.Sprintf("Removed from list %q", name)
	if name == "" {
		msg = "Removed from a list that was deleted"
	}
	return s.writeEntry(tx, a.GetString("contact"), msg)
}

func (s *Service) writeEntry(tx core.App, contactID, msg string) error {
	var ws string
	if err := tx.DB().Select("workspace").From("contacts").Where(dbx.HashExp{"id": contactID}).Limit(1).Row(&ws); err != nil {
		return nil // the contact is being deleted: nothing to write on
	}
	return s.log.System(tx, ws, contactID, msg)
}

func (s *Service) listName(tx core.App, id string) string {
	var name string
	_ = tx.DB().Select("name").From("contact_lists").Where(dbx.HashExp{"id": id}).Limit(1).Row(&name)
	return name
}

// AssignDefault puts a new contact in its workspace's default list as its
// primary list, if the workspace has a default list and the contact no
// primary yet.
func (s *Service) AssignDefault(tx core.App, contact *core.Record) error {
	var listID string
	err := tx.DB().Select("id").From("contact_lists").
		Where(dbx.HashExp{"workspace": contact.GetString("workspace"), "is_primary": true}).Limit(1).Row(&listID)
	if err != nil || listID == "" {
		return nil // no default list: the contact stays in none
	}
	var n int
	if err := tx.DB().Select("count(*)").From("contact_list_assignments").
		Where(dbx.HashExp{"contact": contact.Id, "is_primary": true}).Row(&n); err != nil || n > 0 {
		return err
	}
	_, err = s.Assign(tx, contact.Id, listID, true)
	return err
}

// Assign puts contact in list (creating or updating the assignment) with
// the given primary flag; the hooks demote and log.
func (s *Service) Assign(tx core.App, contactID, listID string, primary bool) (*core.Record, error) {
	a, err := tx.FindFirstRecordByFilter("contact_list_assignments", "contact = {:c} && list = {:l}", dbx.Params{"c": contactID, "l": listID})
	if err != nil {
		col, cerr := tx.FindCachedCollectionByNameOrId("contact_list_assignments")
		if cerr != nil {
			return nil, cerr
		}
		a = core.NewRecord(col)
		a.Set("contact", contactID)
		a.Set("list", listID)
	} else if a.GetBool("is_primary") == primary {
		return a, nil
	}
	a.Set("is_primary", primary)
	return a, tx.Save(a)
}
