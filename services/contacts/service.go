// Package contacts holds the invariants of a contact's base fields: email and
// phone normalisation, duplicate detection within a workspace, and who may
// read or write a contact.
package contacts

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/tenancy"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// Stable error codes.
const (
	CodeDuplicate    = "contact_duplicate"
	CodeInvalidEmail = "contact_invalid_email"
	CodeInvalidPhone = "contact_invalid_phone"
	CodeNotFound     = "contact_not_found"
	CodeForbidden    = "contact_forbidden"
)

// BaseFields are the contact's own fields, in the order the UI shows them.
var BaseFields = []string{"first_name", "last_name", "primary_email", "primary_phone", "company"}

// Service checks contacts. Methods that take a tx run on it (the caller's
// transaction when there is one) instead of the service's own app, so that
// their reads see the caller's uncommitted writes.
type Service struct {
	app core.App
}

// NewService returns a contacts service on app.
func NewService(app core.App) *Service { return &Service{app: app} }

// WorkspaceCountry returns the default phone country of workspace wsID.
func (s *Service) WorkspaceCountry(tx core.App, wsID string) string {
	var country string
	_ = tx.DB().Select("default_country").From("workspaces").Where(dbx.HashExp{"id": wsID}).Limit(1).Row(&country)
	if country == "" {
		return DefaultCountry
	}
	return country
}

// Prepare normalises rec's email and phone in place and refuses a value that
// another contact of the same workspace already holds. It runs before the
// record is validated and saved, on every path that saves a contact.
func (s *Service) Prepare(tx core.App, rec *core.Record) error {
	ws := rec.GetString("workspace")
	email, err := NormalizeEmail(rec.GetString("primary_email"))
	if err != nil {
		return fieldError(CodeInvalidEmail, "primary_email",
			fmt.Sprintf("%q is not a valid email address: write it as name@example.com", rec.GetString("primary_email")))
	}
	rec.Set("primary_email", email)

	if raw := rec.GetString("primary_phone"); raw != "" {
		country := s.WorkspaceCountry(tx, ws)
		phone, err := NormalizePhone(raw, country)
		if err != nil {
			// the normaliser's message says what is wrong with this number
			// (too short for its country code, no area code, …)
			return fieldError(CodeInvalidPhone, "primary_phone", err.Error())
		}
		rec.Set("primary_phone", phone)
	}

	orig := rec.Original()
	for _, field := range []string{"primary_email", "primary_phone"} {
		v := rec.GetString(field)
		if v == "" || (!rec.IsNew() && orig.GetString(field) == v) {
			continue
		}
		id, err := s.findBy(tx, ws, field, v, rec.Id)
		if err != nil {
			return err
		}
		if id != "" {
			return Duplicate(field, id)
		}
	}
	return nil
}

// DuplicateFromIndexError turns a unique-index failure on the email or phone
// (two writers passed Prepare at the same time and the database refused the
// second) into the same 409 Prepare would have returned. Other errors pass.
func (s *Service) DuplicateFromIndexError(tx core.App, rec *core.Record, err error) error {
	if err == nil {
		return nil
	}
	msg := strings.ToLower(err.Error())
	if !strings.Contains(msg, "unique") && !strings.Contains(msg, "not_unique") {
		return err
	}
	for _, field := range []string{"primary_email", "primary_phone"} {
		if v := rec.GetString(field); v != "" && strings.Contains(msg, field) {
			if id, ferr := s.findBy(tx, rec.GetString("workspace"), field, v, rec.Id); ferr == nil && id != "" {
				return Duplicate(field, id)
			}
		}
	}
	return err
}

func (s *Service) findBy(tx core.App, ws, field, value, exceptID string) (string, error) {
	var id string
	q := tx.DB().Select("id").From("contacts").Where(dbx.HashExp{"workspace": ws, field: value})
	if exceptID != "" {
		q.AndWhere(dbx.Not(dbx.HashExp{"id": exceptID}))
	}
	err := q.Limit(1).Row(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return id, err
}

// Duplicate is the 409 for a value another contact holds.
func Duplicate(field, existingID string) *apperr.Error {
	what := map[string]string{"primary_email": "email address", "primary_phone": "phone number"}[field]
	return apperr.Conflict(CodeDuplicate, "A contact with this "+what+" already exists in the workspace: open it (or merge into it) instead of creating another").
		With("existing_id", existingID).With("field", field)
}

// fieldError is a 400 that also carries PocketBase's field-level shape
// (data.<field> = {code, message}), which forms display next to the input.
func fieldError(code, field, message string) *apperr.Error {
	return apperr.BadRequest(code, message).With(field, map[string]any{"code": code, "message": message})
}

// Access returns the contact with id when user is a member of its
// workspace, and the member's role. A contact of another workspace is
// reported as missing, not forbidden: its existence is not the caller's to know.
func (s *Service) Access(userID, contactID string) (*core.Record, string, error) {
	rec, err := s.app.FindRecordById("contacts", contactID)
	if err != nil {
		return nil, "", apperr.NotFound(CodeNotFound, "No contact with this id in your workspaces")
	}
	role, err := tenancy.Role(s.app, rec.GetString("workspace"), userID)
	if err != nil {
		return nil, "", err
	}
	if role == "" {
		return nil, "", apperr.NotFound(CodeNotFound, "No contact with this id in your workspaces")
	}
	return rec, role, nil
}

// CanWrite reports whether role may change contacts.
func CanWrite(role string) bool {
	return tenancy.AtLeast(role, tenancy.RoleEditor)
}

// ErrReadOnly is returned to a viewer who tries to change a contact.
var ErrReadOnly = apperr.Forbidden(CodeForbidden, "Viewers cannot change contacts: ask a workspace admin for the editor role")
