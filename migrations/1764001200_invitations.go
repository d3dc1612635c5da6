package migrations

import (
	"strings"

	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// workspace_invitations: membership comes by invitation.
// An owner or admin invites an email address (services/members.Invite); the
// account with that address sees the invitation and becomes a member only when
// it accepts (POST /api/crm/invitations/{id}/accept). An invitation names an
// email, never a user: its record reads the same whether or not an account
// uses the address, so neither the invitation nor the invite route tells an
// admin who has an account.
//
// The rules are stated here, not with the helpers of rules.go (frozen): the
// workspace's owners and admins read its invitations — as a session user, or
// as an active, unexpired API key principal with the admin grant and the
// workspace in reach — and the invitee reads its own. Nobody writes through
// the collection API: the routes do, in transactions.
//
// The same migration makes sure the direct path into a workspace is closed:
// workspace_members has no create rule (an admin who learnt a user's id could
// otherwise add that user without consent). The server creates members: the
// owner with the workspace (hooks/workspaces.go) and the invitee on accept.
func init() {
	m.Register(func(app core.App) error {
		ws, err := app.FindCollectionByNameOrId("workspaces")
		if err != nil {
			return err
		}
		users, err := app.FindCollectionByNameOrId("users")
		if err != nil {
			return err
		}
		c := core.NewBaseCollection("workspace_invitations")
		c.Fields.Add(
			&core.RelationField{Name: "workspace", CollectionId: ws.Id, MaxSelect: 1, Required: true, CascadeDelete: true},
			// trimmed and lower-cased by services/members
			&core.EmailField{Name: "email", Required: true},
			&core.SelectField{Name: "role", Values: []string{"admin", "editor", "viewer"}, MaxSelect: 1, Required: true},
			&core.RelationField{Name: "invited_by", CollectionId: users.Id, MaxSelect: 1},
			&core.SelectField{Name: "status", Values: []string{"pending", "accepted", "declined", "revoked"}, MaxSelect: 1, Required: true},
			&core.DateField{Name: "expires_at", Required: true},
			&core.DateField{Name: "accepted_at"},
			&core.AutodateField{Name: "created", OnCreate: true},
			&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true},
		)
		// one pending invitation per address and workspace (inviting again refreshes it)
		c.AddIndex("idx_ws_invitations_pending", true, "workspace, email", "status = 'pending'")
		c.AddIndex("idx_ws_invitations_email", false, "email, status", "")
		read := invitationReadRule()
		c.ListRule, c.ViewRule = &read, &read
		c.CreateRule, c.UpdateRule, c.DeleteRule = nil, nil, nil
		if err := app.Save(c); err != nil {
			return err
		}

		members, err := app.FindCollectionByNameOrId("workspace_members")
		if err != nil {
			return err
		}
		members.CreateRule = nil
		return app.Save(members)
	}, func(app core.App) error {
		// workspace_members keeps no create rule: reopening the direct path
		// would bring finding 6 back
		c, err := app.FindCollectionByNameOrId("workspace_invitations")
		if err != nil {
			return nil
		}
		return app.Delete(c)
	})
}

// invitationAdmins is true when the caller is an owner or admin of the
// invitation's workspace: a session user through its membership, or an API
// key principal (auth collection api_keys: user, workspace, grants, is_active,
// expires_at) that is active, unexpired, holds the admin grant, reaches the
// workspace, and whose user is an owner or admin there. Each branch's three
// @collection conditions name the same un-aliased join, so they hold for one
// and the same membership row.
func invitationAdmins() string {
	return `((@request.auth.collectionName = "users" && @collection.workspace_members.workspace ?= workspace && ` +
		`@collection.workspace_members.user ?= @request.auth.id && ` +
		`(@collection.workspace_members.role ?= "owner" || @collection.workspace_members.role ?= "admin")) || ` +
		`(@request.auth.collectionName = "api_keys" && @request.auth.is_active = true && ` +
		`(@request.auth.expires_at = "" || @request.auth.expires_at > @now) && @request.auth.grants ~ "|admin|" && ` +
		`(@request.auth.workspace = "" || @request.auth.workspace = workspace) && ` +
		`@collection.workspace_members.workspace ?= workspace && @collection.workspace_members.user ?= @request.auth.user && ` +
		`(@collection.workspace_members.role ?= "owner" || @collection.workspace_members.role ?= "admin")))`
}

// invitationInvitee is true for the account the invitation is addressed to
// (emails are stored lower-cased; so is the caller's for the comparison).
func invitationInvitee() string {
	return `(@request.auth.collectionName = "users" && email = @request.auth.email:lower)`
}

func invitationReadRule() string {
	return strings.Join([]string{`@request.auth.id != ""`, "(" + invitationAdmins() + " || " + invitationInvitee() + ")"}, " && ")
}
