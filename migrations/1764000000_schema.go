package migrations

import (
	"fmt"

	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// Field helpers: keep the schema below readable as a table.
func text(name string, max int, required bool) *core.TextField {
	return &core.TextField{Name: name, Max: max, Required: required}
}

func rel(name, collectionID string, required, cascade bool) *core.RelationField {
	return &core.RelationField{Name: name, CollectionId: collectionID, MaxSelect: 1, Required: required, CascadeDelete: cascade}
}

func sel(name string, required bool, values ...string) *core.SelectField {
	return &core.SelectField{Name: name, Values: values, MaxSelect: 1, Required: required}
}

func jsonField(name string, maxSize int64) *core.JSONField {
	return &core.JSONField{Name: name, MaxSize: maxSize}
}

func timestamps(c *core.Collection) {
	c.Fields.Add(&core.AutodateField{Name: "created", OnCreate: true})
	c.Fields.Add(&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true})
}

func applyRules(c *core.Collection, r ruleSet) {
	c.ListRule, c.ViewRule, c.CreateRule, c.UpdateRule, c.DeleteRule = r.list, r.view, r.create, r.update, r.delete
}

func clearRules(c *core.Collection) {
	c.ListRule, c.ViewRule, c.CreateRule, c.UpdateRule, c.DeleteRule = nil, nil, nil, nil, nil
}

// schema creates every collection of DESIGN.md's data model. Collections are
// saved in dependency order because relation fields need the target's id.
//
// Rules refer to collections created later (every rule joins
// workspace_members), so collections are first saved without rules and the
// rules are set in a second pass once all of them exist.
type schema struct {
	app     core.App
	ids     map[string]string
	created []*core.Collection
	rules   map[string]ruleSet
}

func (s *schema) save(c *core.Collection) error {
	timestamps(c)
	s.rules[c.Name] = ruleSet{c.ListRule, c.ViewRule, c.CreateRule, c.UpdateRule, c.DeleteRule}
	clearRules(c)
	if err := s.app.Save(c); err != nil {
		return fmt.Errorf("collection %s: %w", c.Name, err)
	}
	s.ids[c.Name] = c.Id
	s.created = append(s.created, c)
	return nil
}

func (s *schema) saveRules() error {
	for _, c := range s.created {
		applyRules(c, s.rules[c.Name])
		if err := s.app.Save(c); err != nil {
			return fmt.Errorf("rules of %s: %w", c.Name, err)
		}
	}
	return nil
}

func init() {
	m.Register(func(app core.App) error {
		users, err := app.FindCollectionByNameOrId("users")
		if err != nil {
			return err
		}
		s := &schema{app: app, ids: map[string]string{"users": users.Id}, rules: map[string]ruleSet{}}
		steps := []func() error{
			s.workspaces, s.workspaceMembers, s.contacts, s.customFieldDefinitions, s.customFields,
			s.contactLists, s.contactListAssignments, s.templates, s.campaigns, s.campaignApprovals,
			s.campaignDeliveries, s.suppressions, s.communicationLogs, s.aiInsights, s.auditLogs,
			s.systemSettings, s.apiKeys, s.importJobs,
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return err
			}
		}
		if err := s.saveRules(); err != nil {
			return err
		}
		return s.users(users)
	}, nil)
}

// users: no public sign-up (accounts come from the admin dashboard, the CLI or
// the demo command); a user sees itself and the people it shares a workspace with.
func (s *schema) users(c *core.Collection) error {
	self := authed + " && id = @request.auth.id"
	coMembers := ptr(authed + " && (id = @request.auth.id || workspace_members_via_user.workspace.workspace_members_via_workspace.user ?= @request.auth.id)")
	c.ListRule, c.ViewRule = coMembers, coMembers
	c.CreateRule = nil
	c.UpdateRule, c.DeleteRule = ptr(self), ptr(self)
	return s.app.Save(c)
}

func (s *schema) workspaces() error {
	c := core.NewBaseCollection("workspaces")
	c.Fields.Add(
		rel("owner", s.ids["users"], true, true),
		text("name", 100, true),
	)
	c.AddIndex("idx_workspaces_owner_name", true, "owner, name", "")
	applyRules(c, ruleSet{
		list:   ptr(and(authed, member("id", anyRole))),
		view:   ptr(and(authed, member("id", anyRole))),
		create: ptr(and(authed, "owner = @request.auth.id")),
		update: ptr(and(authed, member("id", admins), immutable("owner"))),
		delete: ptr(and(authed, "owner = @request.auth.id")),
	})
	return s.save(c)
}

func (s *schema) workspaceMembers() error {
	c := core.NewBaseCollection("workspace_members")
	c.Fields.Add(
		rel("workspace", s.ids["workspaces"], true, true),
		rel("user", s.ids["users"], true, true),
		sel("role", true, RoleOwner, RoleAdmin, RoleEditor, RoleViewer),
	)
	c.AddIndex("idx_workspace_members_ws_user", true, "workspace, user", "")
	c.AddIndex("idx_workspace_members_user", false, "user, workspace, role", "")
	// The owner's membership is created by the workspaces hook and can only go
	// away with the workspace; nobody can grant "owner" through the API.
	notOwner := `role != "owner"`
	applyRules(c, ruleSet{
		list:   ptr(and(authed, member("workspace", anyRole))),
		view:   ptr(and(authed, member("workspace", anyRole))),
		create: ptr(and(authed, member("workspace", admins), notOwner)),
		update: ptr(and(authed, member("workspace", admins), notOwner,
			`(@request.body.role:isset = false || @request.body.role != "owner")`, immutable("workspace", "user"))),
		delete: ptr(and(authed, notOwner, "("+member("workspace", admins)+" || user = @request.auth.id)")),
	})
	return s.save(c)
}

func (s *schema) contacts() error {
	c := core.NewBaseCollection("contacts")
	c.Fields.Add(
		rel("workspace", s.ids["workspaces"], true, true),
		text("first_name", 100, false),
		text("last_name", 100, false),
		&core.EmailField{Name: "primary_email"},
		&core.TextField{Name: "primary_phone", Max: 32, Pattern: `^(\+[1-9][0-9]{5,15})?$`},
		text("company", 200, false),
	)
	c.AddIndex("idx_contacts_workspace", false, "workspace, created", "")
	c.AddIndex("idx_contacts_ws_email", true, "workspace, primary_email", "primary_email != ''")
	c.AddIndex("idx_contacts_ws_phone", true, "workspace, primary_phone", "primary_phone != ''")
	c.AddIndex("idx_contacts_ws_name", false, "workspace, last_name, first_name", "")
	c.AddIndex("idx_contacts_ws_company", false, "workspace, company", "")
	applyRules(c, workspaceScoped("workspace", editors, "", "", "workspace"))
	return s.save(c)
}

func (s *schema) customFieldDefinitions() error {
	c := core.NewBaseCollection("custom_field_definitions")
	c.Fields.Add(
		rel("user", s.ids["users"], true, true),
		rel("workspace", s.ids["workspaces"], false, true),
		&core.TextField{Name: "field_name", Max: 64, Required: true, Pattern: `^[a-z][a-z0-9_]*$`},
		text("label", 100, true),
		sel("field_type", true, "text", "number", "date", "boolean", "select", "multiselect", "email", "url", "phone"),
		jsonField("options", 64<<10),
		&core.BoolField{Name: "is_required"},
		text("default_value", 1000, false),
	)
	c.AddIndex("idx_cfd_user_ws_name", true, "user, workspace, field_name", "")
	c.AddIndex("idx_cfd_workspace", false, "workspace", "")
	// A definition without a workspace applies to every workspace its user
	// owns, so members of those workspaces read it; only its user changes it.
	// A workspace definition is managed by that workspace's admins.
	read := ptr(and(authed, "(user = @request.auth.id || (workspace != \"\" && "+member("workspace", anyRole)+
		") || (workspace = \"\" && user.workspaces_via_owner.workspace_members_via_workspace.user ?= @request.auth.id))"))
	manage := "((workspace = \"\" && user = @request.auth.id) || (workspace != \"\" && " + member("workspace", admins) + "))"
	applyRules(c, ruleSet{
		list:   read,
		view:   read,
		create: ptr(and(authed, "user = @request.auth.id", manage)),
		update: ptr(and(authed, manage, immutable("user", "workspace"))),
		delete: ptr(and(authed, manage)),
	})
	return s.save(c)
}

func (s *schema) customFields() error {
	c := core.NewBaseCollection("custom_fields")
	c.Fields.Add(
		rel("contact", s.ids["contacts"], true, true),
		&core.TextField{Name: "field_name", Max: 64, Required: true, Pattern: `^[a-z][a-z0-9_]*$`},
		text("field_value", 10000, false),
		sel("field_type", false, "text", "number", "date", "boolean", "select", "multiselect", "email", "url", "phone"),
	)
	c.AddIndex("idx_custom_fields_contact_name", true, "contact, field_name", "")
	c.AddIndex("idx_custom_fields_name_value", false, "field_name, field_value", "")
	applyRules(c, workspaceScoped("contact.workspace", editors, "", "", "contact"))
	return s.save(c)
}

func (s *schema) contactLists() error {
	c := core.NewBaseCollection("contact_lists")
	c.Fields.Add(
		rel("workspace", s.ids["workspaces"], true, true),
		text("name", 100, true),
		&core.BoolField{Name: "is_primary"},
	)
	c.AddIndex("idx_contact_lists_ws_name", true, "workspace, name", "")
	// at most one default list per workspace
	c.AddIndex("idx_contact_lists_ws_default", true, "workspace", "is_primary = TRUE")
	applyRules(c, workspaceScoped("workspace", editors, "", "", "workspace"))
	return s.save(c)
}

func (s *schema) contactListAssignments() error {
	c := core.NewBaseCollection("contact_list_assignments")
	c.Fields.Add(
		rel("contact", s.ids["contacts"], true, true),
		rel("list", s.ids["contact_lists"], true, true),
		&core.BoolField{Name: "is_primary"},
		&core.AutodateField{Name: "assigned_at", OnCreate: true},
	)
	c.AddIndex("idx_cla_contact_list", true, "contact, list", "")
	c.AddIndex("idx_cla_list", false, "list", "")
	// at most one primary list per contact, enforced by SQLite itself
	c.AddIndex("idx_cla_contact_primary", true, "contact", "is_primary = TRUE")
	sameWorkspace := "list.workspace = contact.workspace"
	applyRules(c, workspaceScoped("contact.workspace", editors, sameWorkspace, "", "contact", "list"))
	return s.save(c)
}

func (s *schema) templates() error {
	c := core.NewBaseCollection("templates")
	c.Fields.Add(
		rel("workspace", s.ids["workspaces"], true, true),
		text("name", 200, true),
		sel("channel", true, "email", "sms"),
		text("subject", 500, false),
		text("body_html", 500000, false),
		text("body_text", 100000, false),
		text("preheader", 500, false),
		text("signature", 10000, false),
		jsonField("ai_prompt", 64<<10),
	)
	c.AddIndex("idx_templates_ws_name", true, "workspace, name", "")
	applyRules(c, workspaceScoped("workspace", editors, "", "", "workspace"))
	return s.save(c)
}

// CampaignStatuses are the states of a campaign; only drafts are edited
// through the collection API, every transition goes through a custom route.
var CampaignStatuses = []string{"draft", "pending_approval", "approved", "rejected", "scheduled", "sending", "paused", "sent", "failed", "cancelled"}

func (s *schema) campaigns() error {
	c := core.NewBaseCollection("campaigns")
	c.Fields.Add(
		rel("workspace", s.ids["workspaces"], true, true),
		text("name", 200, true),
		sel("type", true, "email", "sms"),
		rel("template", s.ids["templates"], false, false),
		jsonField("segment", 64<<10),
		jsonField("schedule", 16<<10),
		sel("status", true, CampaignStatuses...),
		text("provider", 50, false),
		rel("created_by", s.ids["users"], false, false),
		jsonField("counters", 16<<10),
	)
	c.AddIndex("idx_campaigns_workspace", false, "workspace, status", "")
	sameWsTemplate := `(template = "" || template.workspace = workspace)`
	read := ptr(and(authed, member("workspace", anyRole)))
	applyRules(c, ruleSet{
		list:   read,
		view:   read,
		create: ptr(and(authed, member("workspace", editors), `(status = "" || status = "draft")`, sameWsTemplate, `(created_by = "" || created_by = @request.auth.id)`)),
		update: ptr(and(authed, member("workspace", editors), `status = "draft"`,
			`(@request.body.status:isset = false || @request.body.status = "draft")`,
			`(@request.body.template:isset = false || @request.body.template = "" || @request.body.template.workspace = workspace)`,
			immutable("workspace", "created_by", "counters"))),
		delete: ptr(and(authed, "(("+member("workspace", editors)+` && status = "draft") || (`+member("workspace", admins)+` && status != "sending"))`)),
	})
	return s.save(c)
}

func (s *schema) campaignApprovals() error {
	c := core.NewBaseCollection("campaign_approvals")
	c.Fields.Add(
		rel("campaign", s.ids["campaigns"], true, true),
		sel("status", true, "pending", "approved", "rejected"),
		rel("requested_by", s.ids["users"], false, false),
		rel("reviewer", s.ids["users"], false, false),
		text("notes", 5000, false),
		&core.DateField{Name: "reviewed_at"},
	)
	c.AddIndex("idx_campaign_approvals_campaign", false, "campaign", "")
	applyRules(c, workspaceScoped("campaign.workspace", admins, "", "", "campaign"))
	return s.save(c)
}

func (s *schema) campaignDeliveries() error {
	c := core.NewBaseCollection("campaign_deliveries")
	c.Fields.Add(
		rel("campaign", s.ids["campaigns"], true, true),
		// not required: deleting a contact keeps the ledger row (the relation is emptied)
		rel("contact", s.ids["contacts"], false, false),
		sel("channel", true, "email", "sms"),
		text("address", 254, true),
		sel("status", true, "queued", "sending", "sent", "delivered", "failed", "bounced", "suppressed", "skipped"),
		text("provider_message_id", 200, false),
		text("error", 2000, false),
		&core.NumberField{Name: "attempts", OnlyInt: true},
		&core.DateField{Name: "sent_at"},
	)
	// the ledger: one delivery per campaign and recipient
	c.AddIndex("idx_deliveries_campaign_contact", true, "campaign, contact", "contact != ''")
	c.AddIndex("idx_deliveries_campaign_status", false, "campaign, status", "")
	c.AddIndex("idx_deliveries_provider_id", false, "provider_message_id", "provider_message_id != ''")
	applyRules(c, readOnly("campaign.workspace", anyRole))
	return s.save(c)
}

func (s *schema) suppressions() error {
	c := core.NewBaseCollection("suppressions")
	c.Fields.Add(
		rel("workspace", s.ids["workspaces"], true, true),
		sel("channel", true, "email", "sms"),
		text("address", 254, true),
		sel("reason", true, "unsubscribe", "hard_bounce", "complaint", "sms_stop", "manual"),
	)
	c.AddIndex("idx_suppressions_ws_channel_address", true, "workspace, channel, address", "")
	r := workspaceScoped("workspace", editors, "", "", "workspace")
	// changing or lifting a suppression lets messages flow to that address
	// again: admins only
	r.update = ptr(and(authed, member("workspace", admins), immutable("workspace")))
	r.delete = ptr(and(authed, member("workspace", admins)))
	applyRules(c, r)
	return s.save(c)
}

func (s *schema) communicationLogs() error {
	c := core.NewBaseCollection("communication_logs")
	c.Fields.Add(
		rel("workspace", s.ids["workspaces"], true, true),
		rel("contact", s.ids["contacts"], true, true),
		sel("type", true, "email", "sms", "call", "meeting", "note", "system"),
		sel("direction", false, "inbound", "outbound", "internal"),
		text("content", 100000, true),
		&core.DateField{Name: "timestamp"},
		text("status", 50, false),
		rel("campaign", s.ids["campaigns"], false, false),
	)
	c.AddIndex("idx_comm_logs_contact_ts", false, "contact, timestamp", "")
	c.AddIndex("idx_comm_logs_ws_ts", false, "workspace, timestamp", "")
	// System entries are written by the server only and are never edited.
	userEntry := `type != "system"`
	consistent := `contact.workspace = workspace && (campaign = "" || campaign.workspace = workspace)`
	r := workspaceScoped("workspace", editors, and(userEntry, consistent),
		and(userEntry, `(@request.body.type:isset = false || @request.body.type != "system")`), "workspace", "contact", "campaign")
	r.delete = ptr(and(*r.delete, userEntry))
	applyRules(c, r)
	return s.save(c)
}

func (s *schema) aiInsights() error {
	c := core.NewBaseCollection("ai_insights")
	c.Fields.Add(
		rel("user", s.ids["users"], true, true),
		rel("workspace", s.ids["workspaces"], false, true),
		text("type", 50, true),
		text("content", 100000, true),
		&core.NumberField{Name: "confidence", Min: ptrF(0), Max: ptrF(1)},
		text("model", 100, false),
		&core.NumberField{Name: "tokens", OnlyInt: true},
	)
	c.AddIndex("idx_ai_insights_user", false, "user", "")
	c.AddIndex("idx_ai_insights_workspace", false, "workspace", "")
	read := ptr(and(authed, "(user = @request.auth.id || (workspace != \"\" && "+member("workspace", anyRole)+"))"))
	applyRules(c, ruleSet{
		list:   read,
		view:   read,
		delete: ptr(and(authed, "(user = @request.auth.id || (workspace != \"\" && "+member("workspace", admins)+"))")),
	})
	return s.save(c)
}

func ptrF(f float64) *float64 { return &f }

// audit_logs keeps plain ids instead of relations so that deleting a user or a
// workspace never rewrites (or cascades into) the history.
func (s *schema) auditLogs() error {
	c := core.NewBaseCollection("audit_logs")
	c.Fields.Add(
		text("user", 50, false),
		text("api_key", 50, false),
		text("workspace", 50, false),
		text("action", 50, true),
		text("entity_type", 50, false),
		text("entity_id", 50, false),
		jsonField("details", 1<<20),
		text("ip_address", 64, false),
		&core.DateField{Name: "timestamp", Required: true},
	)
	c.AddIndex("idx_audit_ws_ts", false, "workspace, timestamp", "")
	c.AddIndex("idx_audit_entity", false, "entity_type, entity_id", "")
	c.AddIndex("idx_audit_user", false, "user, timestamp", "")
	applyRules(c, readOnly("workspace", admins))
	return s.save(c)
}

// system_settings: plain values in setting_value; credentials in secret_value,
// which is hidden from every API read (and encrypted by the settings service).
func (s *schema) systemSettings() error {
	c := core.NewBaseCollection("system_settings")
	c.Fields.Add(
		sel("scope", true, "system", "user", "workspace"),
		text("scope_id", 50, false),
		&core.TextField{Name: "setting_key", Max: 100, Required: true, Pattern: `^[a-z][a-z0-9_.]*$`},
		jsonField("setting_value", 64<<10),
		&core.TextField{Name: "secret_value", Max: 10000, Hidden: true},
		&core.BoolField{Name: "is_secret"},
	)
	c.AddIndex("idx_settings_scope_key", true, "scope, scope_id, setting_key", "")
	allowed := "((scope = \"user\" && scope_id = @request.auth.id) || (scope = \"workspace\" && " + member("scope_id", admins) + "))"
	applyRules(c, ruleSet{
		list:   ptr(and(authed, allowed)),
		view:   ptr(and(authed, allowed)),
		create: ptr(and(authed, allowed)),
		update: ptr(and(authed, allowed, immutable("scope", "scope_id"))),
		delete: ptr(and(authed, allowed)),
	})
	return s.save(c)
}

// api_keys are created through POST /api/crm/api-keys only (the server makes
// the secret and stores its hash); owners list, revoke and delete their keys.
func (s *schema) apiKeys() error {
	c := core.NewBaseCollection("api_keys")
	c.Fields.Add(
		rel("user", s.ids["users"], true, true),
		text("description", 200, false),
		&core.TextField{Name: "key_hash", Max: 128, Required: true, Hidden: true},
		text("key_prefix", 32, true),
		jsonField("scopes", 4<<10),
		rel("workspace", s.ids["workspaces"], false, true),
		&core.DateField{Name: "expires_at"},
		&core.BoolField{Name: "is_active"},
		&core.DateField{Name: "last_used_at"},
	)
	c.AddIndex("idx_api_keys_hash", true, "key_hash", "")
	c.AddIndex("idx_api_keys_user", false, "user", "")
	own := "user = @request.auth.id"
	applyRules(c, ruleSet{
		list: ptr(and(authed, own)),
		view: ptr(and(authed, own)),
		// only the description can change, and a key can be revoked but never revived
		update: ptr(and(authed, own, `@request.body.key_hash:isset = false`,
			`(@request.body.is_active:isset = false || @request.body.is_active = false)`,
			immutable("user", "key_prefix", "scopes", "workspace", "expires_at", "last_used_at"))),
		delete: ptr(and(authed, own)),
	})
	return s.save(c)
}

func (s *schema) importJobs() error {
	c := core.NewBaseCollection("import_jobs")
	c.Fields.Add(
		rel("workspace", s.ids["workspaces"], true, true),
		rel("created_by", s.ids["users"], false, false),
		sel("status", true, "queued", "running", "completed", "failed", "cancelled", "undone"),
		text("file_name", 255, false),
		jsonField("options", 64<<10),
		jsonField("counts", 4<<10),
		text("error", 2000, false),
		jsonField("error_report", 5<<20),
	)
	c.AddIndex("idx_import_jobs_workspace", false, "workspace, created", "")
	applyRules(c, readOnly("workspace", anyRole))
	return s.save(c)
}
