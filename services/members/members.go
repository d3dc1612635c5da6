// Package members brings people into a workspace by invitation: an owner or
// admin invites an email address, and the account with that address becomes a member only when it accepts. Nobody is added
// to a workspace without consent, and the invite answers the same whether or
// not an account uses the address (or is already a member), so inviting is
// no way to learn who has an account.
package members

import (
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/tenancy"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"
)

// Stable error codes.
const (
	CodeForbidden            = "member_forbidden"
	CodeInvalid              = "member_invalid"
	CodeInvitationNotFound   = "invitation_not_found"
	CodeInvitationExpired    = "invitation_expired"
	CodeInvitationNotPending = "invitation_not_pending"
)

// Collection is where invitations live.
const Collection = "workspace_invitations"

// Invitation states.
const (
	StatusPending  = "pending"
	StatusAccepted = "accepted"
	StatusDeclined = "declined"
	StatusRevoked  = "revoked"
)

// Validity is how long an invitation can be accepted; inviting the same
// address again renews it.
const Validity = 14 * 24 * time.Hour

// Service manages invitations and the memberships they lead to.
type Service struct {
	app core.App
	now func() time.Time
}

// NewService returns a members service on app.
func NewService(app core.App) *Service { return &Service{app: app, now: time.Now} }

// WithClock returns a copy of s that reads the time from now (tests).
func (s *Service) WithClock(now func() time.Time) *Service {
	c := *s
	c.now = now
	return &c
}

// InviteInput is the request of an admin.
type InviteInput struct {
	Email string `json:"email"`
	Role  string `json:"role"`
}

// AddInput is the old name of InviteInput.
type AddInput = InviteInput

// Invited is the answer to an invite: the same for every address.
type Invited struct {
	Status string `json:"status"`
	Email  string `json:"email"`
	Role   string `json:"role"`
}

// NormalizeEmail trims and lower-cases an address.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func validEmail(s string) bool {
	if s == "" || len(s) > 254 {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && a.Name == ""
}

// Invite creates (or renews) a pending invitation of in.Email to workspace
// ws with in.Role. Only owners and admins of ws may, and nobody is invited as
// "owner": a workspace has exactly the one its creator became.
//
// The answer and the stored invitation are the same whether or not an
// account uses the address; for an address that already belongs to a member
// nothing is stored (the admin sees the members already), and the answer is
// again the same.
func (s *Service) Invite(ws string, caller audit.Actor, in InviteInput) (Invited, error) {
	if err := s.requireAdmin(s.app, ws, caller.UserID); err != nil {
		return Invited{}, err
	}
	switch in.Role {
	case tenancy.RoleAdmin, tenancy.RoleEditor, tenancy.RoleViewer:
	default:
		return Invited{}, apperr.BadRequest(CodeInvalid, "role must be admin, editor or viewer")
	}
	email := NormalizeEmail(in.Email)
	if !validEmail(email) {
		return Invited{}, apperr.BadRequest(CodeInvalid, "give the email address of the person to invite, like colleague@example.com")
	}
	out := Invited{Status: "invited", Email: email, Role: in.Role}
	err := s.app.RunInTransaction(func(tx core.App) error {
		if user, err := tx.FindAuthRecordByEmail("users", email); err == nil {
			role, err := tenancy.Role(tx, ws, user.Id)
			if err != nil {
				return err
			}
			if role != "" {
				return nil // already a member: answered alike, nothing stored
			}
		}
		inv, err := tx.FindFirstRecordByFilter(Collection, "workspace = {:w} && email = {:e} && status = {:s}",
			dbx.Params{"w": ws, "e": email, "s": StatusPending})
		if err != nil {
			col, err := tx.FindCachedCollectionByNameOrId(Collection)
			if err != nil {
				return err
			}
			inv = core.NewRecord(col)
			inv.Set("workspace", ws)
			inv.Set("email", email)
			inv.Set("status", StatusPending)
		}
		inv.Set("role", in.Role)
		inv.Set("invited_by", caller.UserID)
		inv.Set("expires_at", s.now().Add(Validity).UTC())
		audit.Attach(inv, caller)
		return tx.Save(inv)
	})
	if err != nil {
		return Invited{}, err
	}
	return out, nil
}

var errNotAdmin = apperr.Forbidden(CodeForbidden, "Only the workspace's owner and admins invite and manage members")

func (s *Service) requireAdmin(app core.App, ws, userID string) error {
	_, err := tenancy.Require(app, ws, userID, tenancy.RoleAdmin, errNotAdmin)
	return err
}

// Person is a user as an invitation shows it.
type Person struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Workspace is a workspace as an invitation shows it.
type Workspace struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Pending is one invitation as its invitee sees it: the workspace and the
// inviter by name, since the invitee cannot read either record yet.
type Pending struct {
	ID        string    `json:"id"`
	Workspace Workspace `json:"workspace"`
	Role      string    `json:"role"`
	InvitedBy *Person   `json:"invited_by"`
	Created   string    `json:"created"`
	ExpiresAt string    `json:"expires_at"`
}

// PendingFor lists the invitations waiting for the user's answer (not
// expired), newest first.
func (s *Service) PendingFor(userID string) ([]Pending, error) {
	email, err := s.emailOf(s.app, userID)
	if err != nil {
		return nil, err
	}
	recs, err := s.app.FindRecordsByFilter(Collection, "email = {:e} && status = {:s} && expires_at > {:now}", "-created", 0, 0,
		dbx.Params{"e": email, "s": StatusPending, "now": s.nowString()})
	if err != nil {
		return nil, err
	}
	out := make([]Pending, 0, len(recs))
	for _, r := range recs {
		p := Pending{ID: r.Id, Role: r.GetString("role"), Created: r.GetString("created"), ExpiresAt: r.GetString("expires_at")}
		p.Workspace.ID = r.GetString("workspace")
		if ws, err := s.app.FindRecordById("workspaces", p.Workspace.ID); err == nil {
			p.Workspace.Name = ws.GetString("name")
		}
		if by := r.GetString("invited_by"); by != "" {
			if u, err := s.app.FindRecordById("users", by); err == nil {
				p.InvitedBy = &Person{ID: u.Id, Name: u.GetString("name"), Email: u.Email()}
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// Accepted is the answer to an accepted invitation.
type Accepted struct {
	Status    string    `json:"status"`
	Workspace Workspace `json:"workspace"`
	Role      string    `json:"role"`
	MemberID  string    `json:"member"`
}

// Accept makes the invitee a member of the invitation's workspace with the
// invited role, and marks the invitation accepted, in one transaction.
func (s *Service) Accept(id string, caller audit.Actor) (Accepted, error) {
	var out Accepted
	err := s.app.RunInTransaction(func(tx core.App) error {
		inv, err := s.ownPending(tx, id, caller.UserID)
		if err != nil {
			return err
		}
		ws := inv.GetString("workspace")
		role := inv.GetString("role")
		memberID := ""
		if m, err := tx.FindFirstRecordByFilter("workspace_members", "workspace = {:w} && user = {:u}", dbx.Params{"w": ws, "u": caller.UserID}); err == nil {
			// a member already (made so by a superuser meanwhile): the role stays
			memberID, role = m.Id, m.GetString("role")
		} else {
			col, err := tx.FindCachedCollectionByNameOrId("workspace_members")
			if err != nil {
				return err
			}
			m := core.NewRecord(col)
			m.Set("workspace", ws)
			m.Set("user", caller.UserID)
			m.Set("role", role)
			audit.Attach(m, caller)
			if err := tx.Save(m); err != nil {
				return err
			}
			memberID = m.Id
		}
		inv.Set("status", StatusAccepted)
		inv.Set("accepted_at", s.now().UTC())
		audit.Attach(inv, caller)
		if err := tx.Save(inv); err != nil {
			return err
		}
		out = Accepted{Status: StatusAccepted, Role: role, MemberID: memberID, Workspace: Workspace{ID: ws}}
		if w, err := tx.FindRecordById("workspaces", ws); err == nil {
			out.Workspace.Name = w.GetString("name")
		}
		return nil
	})
	return out, err
}

// Decline marks the invitee's invitation declined.
func (s *Service) Decline(id string, caller audit.Actor) error {
	return s.app.RunInTransaction(func(tx core.App) error {
		inv, err := s.ownPending(tx, id, caller.UserID)
		if err != nil {
			return err
		}
		inv.Set("status", StatusDeclined)
		audit.Attach(inv, caller)
		return tx.Save(inv)
	})
}

// Revoke withdraws a pending invitation; owners and admins of its workspace
// may. reaches tells whether the caller may act in a workspace at all (an API
// key restricted to another one may not); an invitation out of reach is not
// found.
func (s *Service) Revoke(id string, caller audit.Actor, reaches func(ws string) bool) error {
	return s.app.RunInTransaction(func(tx core.App) error {
		inv, err := tx.FindRecordById(Collection, id)
		if err != nil || !reaches(inv.GetString("workspace")) {
			return notFound()
		}
		// only its workspace's owners and admins can read it: to everyone
		// else it does not exist
		role, err := tenancy.Role(tx, inv.GetString("workspace"), caller.UserID)
		if err != nil {
			return err
		}
		if !tenancy.AtLeast(role, tenancy.RoleAdmin) {
			return notFound()
		}
		if inv.GetString("status") != StatusPending {
			return notPending(inv)
		}
		inv.Set("status", StatusRevoked)
		audit.Attach(inv, caller)
		return tx.Save(inv)
	})
}

// ownPending finds invitation id addressed to the user, still pending and
// not expired. Another person's invitation is not found.
func (s *Service) ownPending(tx core.App, id, userID string) (*core.Record, error) {
	email, err := s.emailOf(tx, userID)
	if err != nil {
		return nil, err
	}
	inv, err := tx.FindRecordById(Collection, id)
	if err != nil || inv.GetString("email") != email {
		return nil, notFound()
	}
	if inv.GetString("status") != StatusPending {
		return nil, notPending(inv)
	}
	if exp := inv.GetDateTime("expires_at"); exp.IsZero() || !exp.Time().After(s.now()) {
		return nil, apperr.New(http.StatusGone, CodeInvitationExpired, "This invitation has expired: ask the workspace's owner or an admin to invite you again")
	}
	return inv, nil
}

func (s *Service) emailOf(app core.App, userID string) (string, error) {
	u, err := app.FindRecordById("users", userID)
	if err != nil {
		return "", apperr.Forbidden(CodeForbidden, "Invitations are answered by the invited account, logged in")
	}
	return NormalizeEmail(u.Email()), nil
}

func (s *Service) nowString() string {
	d, _ := types.ParseDateTime(s.now().UTC())
	return d.String()
}

func notFound() error {
	return apperr.NotFound(CodeInvitationNotFound, "No such invitation, or it is not yours")
}

func notPending(inv *core.Record) error {
	return apperr.Conflict(CodeInvitationNotPending, "This invitation is already "+inv.GetString("status")).With("status", inv.GetString("status"))
}
