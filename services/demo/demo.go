// Package demo seeds the demo data of the README: Andy and Monalisa, their
// private workspaces, a shared workspace owned by Andy where Monalisa is admin,
// custom field definitions of several types, ~50 contacts with custom values,
// lists, some timeline entries and a pending invitation of Andy to Monalisa's
// workspace. Seeding is idempotent: every record is found by its natural key
// before it is created, so running it again changes nothing, and it all
// happens in one transaction.
package demo

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pi-crm/pi-crm/services/members"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// DefaultPassword is the demo users' password unless overridden.
const DefaultPassword = "pi-crm-demo"

// Users are the demo accounts.
var Users = []struct{ Email, Name string }{
	{"andy@example.com", "Andy"},
	{"monalisa@example.com", "Monalisa"},
}

// SuperuserEmail is the admin dashboard (/_/) account the demo creates when
// the install has none.
const SuperuserEmail = "admin@example.com"

// Summary tells what a run created (zero counts on a second run).
type Summary struct {
	Users, Workspaces, Contacts, Definitions, Lists, Entries, Templates, Campaigns, Insights int
	Suppressions, Providers                                                                  int
	SuperuserCreated                                                                         bool
}

// Seeder writes the demo data through app.
type Seeder struct {
	app      core.App
	password string
	now      func() time.Time
}

// NewSeeder returns a seeder using password for new accounts.
func NewSeeder(app core.App, password string, now func() time.Time) (*Seeder, error) {
	if len(password) < 8 {
		return nil, errors.New("the demo password must have at least 8 characters")
	}
	return &Seeder{app: app, password: password, now: now}, nil
}

// Seed creates whatever part of the demo data is missing: the records in
// one transaction, then the campaigns, which go through the lifecycle and the
// sending engine (each step its own transaction, as in the product), then
// the suppressions the providers' webhooks would have left and an example
// Mailgun setting that cannot send, then the insights.
func (s *Seeder) Seed() (Summary, error) {
	var sum Summary
	err := s.app.RunInTransaction(func(tx core.App) error {
		run := &run{tx: tx, s: s, sum: &sum}
		return run.all()
	})
	if err != nil {
		return sum, err
	}
	if err := s.campaigns(&sum); err != nil {
		return sum, err
	}
	if err := s.suppressions(&sum); err != nil {
		return sum, err
	}
	if err := s.providerExample(&sum); err != nil {
		return sum, err
	}
	return sum, s.insights(&sum)
}

type run struct {
	tx  core.App
	s   *Seeder
	sum *Summary
}

type workspaceSpec struct {
	name, owner string
	members     map[string]string // email -> role
	contacts    int
	offset      int
}

var workspaces = []workspaceSpec{
	{name: "Andy's workspace", owner: "andy@example.com", contacts: 20, offset: 0},
	{name: "Monalisa's workspace", owner: "monalisa@example.com", contacts: 10, offset: 20},
	{name: "Shared", owner: "andy@example.com", members: map[string]string{"monalisa@example.com": "admin"}, contacts: 20, offset: 30},
}

// invitations are pending when seeded: the invitee sees them after logging
// in (memberships come by invitation, services/members), and the demo's
// memberships stay as above until someone accepts.
type invitationSpec struct{ workspace, from, to, role string }

var invitations = []invitationSpec{
	{workspace: "Monalisa's workspace", from: "monalisa@example.com", to: "andy@example.com", role: "viewer"},
}

type definitionSpec struct {
	owner, workspace, name, label, typ string
	options                            []string
	required                           bool
	def                                string
}

var definitions = []definitionSpec{
	{owner: "andy@example.com", name: "industry", label: "Industry", typ: "select", options: []string{"Retail", "Hospitality", "Construction", "Health", "Software"}},
	{owner: "andy@example.com", name: "birthday", label: "Birthday", typ: "date"},
	{owner: "andy@example.com", name: "vip", label: "VIP", typ: "boolean", def: "false"},
	{owner: "andy@example.com", workspace: "Shared", name: "lead_score", label: "Lead score", typ: "number", def: "0"},
	{owner: "andy@example.com", workspace: "Shared", name: "website", label: "Website", typ: "url"},
	{owner: "andy@example.com", workspace: "Shared", name: "interests", label: "Interests", typ: "multiselect", options: []string{"Email", "SMS", "Events", "Offers"}},
	{owner: "monalisa@example.com", name: "linkedin", label: "LinkedIn", typ: "url"},
	{owner: "monalisa@example.com", name: "source", label: "Source", typ: "text", required: false},
}

var (
	firstNames = []string{"Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jamal", "Kira", "Liam", "Maya", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara", "Uma", "Victor", "Wen", "Xavier", "Yara"}
	lastNames  = []string{"Okafor", "Schmidt", "Dubois", "Patel", "Rossi", "Haddad", "Hopper", "Tanaka", "Moreau", "Wright", "Novak", "Walsh", "Cohen", "Berg", "Ivanova", "Garcia", "Lee", "Silva", "Nyberg", "Khan"}
	companies  = []string{"Bakery Bloom", "Northwind Tiles", "Harbor Cafe", "Greenleaf Clinic", "Pixel Forge", "Summit Builders", ""}
	listNames  = []string{"Customers", "Newsletter", "Leads"}
)

func (r *run) all() error {
	users := map[string]*core.Record{}
	for _, u := range Users {
		rec, err := r.user(u.Email, u.Name)
		if err != nil {
			return err
		}
		users[u.Email] = rec
	}
	if err := r.superuser(); err != nil {
		return err
	}

	wsByName := map[string]*core.Record{}
	for _, spec := range workspaces {
		ws, err := r.workspace(spec, users)
		if err != nil {
			return err
		}
		wsByName[spec.name] = ws
	}

	for _, d := range definitions {
		if err := r.definition(d, users, wsByName); err != nil {
			return err
		}
	}

	for _, inv := range invitations {
		if err := r.invitation(inv, users, wsByName); err != nil {
			return err
		}
	}

	for _, spec := range workspaces {
		lists, err := r.lists(wsByName[spec.name])
		if err != nil {
			return err
		}
		defs := r.definitionsFor(spec)
		for i := 0; i < spec.contacts; i++ {
			if err := r.contact(wsByName[spec.name], spec.offset+i, lists, defs); err != nil {
				return err
			}
		}
	}

	for _, t := range demoTemplates {
		if err := r.template(t, wsByName[t.workspace]); err != nil {
			return err
		}
	}
	return nil
}

// demoTemplate is a template of the demo: each uses its workspace's custom
// fields, so the editor's preview differs from contact to contact.
type demoTemplate struct {
	workspace, name, channel, subject, preheader, html, text, signature string
}

var demoTemplates = []demoTemplate{
	{workspace: "Andy's workspace", name: "Spring newsletter", channel: "email",
		subject:   `Spring at the shop, {{first_name | default "friend"}}`,
		preheader: "New season, new offers for {{custom.industry | lower | default \"your business\"}}",
		html: `<html><body style="font-family:Arial,sans-serif;color:#222">
<h1>Hello {{first_name | default "there"}}!</h1>
<p>Spring is here, and we have picked a few things for {{company | default "you"}} in {{custom.industry | default "your line of work"}}.</p>
{{if custom.vip}}<p><strong>As a VIP you get 20% off everything until the end of the month.</strong></p>{{else}}<p>Everything in the spring range is 10% off this week.</p>{{end}}
{{if custom.birthday}}<p>And we have not forgotten: your birthday is on {{custom.birthday | date "2 January"}}. A small surprise is waiting.</p>{{end}}
<p><a href="https://shop.example.com/spring">See the spring range</a></p>
<p style="font-size:12px;color:#777">You receive this because you are a customer. <a href="{{unsubscribe_url}}">Unsubscribe</a></p>
</body></html>`,
		signature: "Andy\nAndy's Shop, 1 Market Street"},
	{workspace: "Andy's workspace", name: "Appointment reminder", channel: "sms",
		text: `Hi {{first_name | default "there"}}, a reminder of your appointment at Andy's Shop tomorrow at 10:00. Reply STOP to opt out.`},
	{workspace: "Shared", name: "Welcome to the shared list", channel: "email",
		subject: `Welcome, {{first_name | default "friend"}}`,
		html: `<html><body><p>Hi {{first_name | default "there"}},</p>
<p>Thanks for your interest in {{custom.interests | default "our news"}}.{{if custom.website}} We had a look at <a href="{{custom.website}}">your website</a>.{{end}}</p>
<p><a href="{{unsubscribe_url}}">Unsubscribe</a></p></body></html>`},
	{workspace: "Monalisa's workspace", name: "Thank you", channel: "email",
		subject: "Thank you, {{first_name}}",
		html:    `<p>Dear {{full_name | default "customer"}},</p><p>Thank you for finding us through {{custom.source | lower | default "a friend"}}.</p><p><a href="{{unsubscribe_url}}">Unsubscribe</a></p>`},
}

// template saves t in ws unless a template of that name exists there; the
// template hooks check it and generate the text part from the HTML.
func (r *run) template(t demoTemplate, ws *core.Record) error {
	if _, err := r.tx.FindFirstRecordByFilter("templates", "workspace = {:w} && name = {:n}", dbx.Params{"w": ws.Id, "n": t.name}); err == nil {
		return nil
	}
	err := r.save("templates", map[string]any{"workspace": ws.Id, "name": t.name, "channel": t.channel, "subject": t.subject,
		"preheader": t.preheader, "body_html": t.html, "body_text": t.text, "signature": t.signature, "status": "ready"})
	if err != nil {
		return fmt.Errorf("template %s: %w", t.name, err)
	}
	r.sum.Templates++
	return nil
}

func (r *run) user(email, name string) (*core.Record, error) {
	rec, err := r.tx.FindAuthRecordByEmail("users", email)
	if err == nil {
		return rec, nil
	}
	col, err := r.tx.FindCollectionByNameOrId("users")
	if err != nil {
		return nil, err
	}
	rec = core.NewRecord(col)
	rec.SetEmail(email)
	rec.SetPassword(r.s.password)
	rec.SetVerified(true)
	rec.SetEmailVisibility(true)
	rec.Set("name", name)
	if err := r.tx.Save(rec); err != nil {
		return nil, fmt.Errorf("user %s: %w", email, err)
	}
	r.sum.Users++
	return rec, nil
}

func (r *run) superuser() error {
	total, err := r.tx.CountRecords(core.CollectionNameSuperusers)
	if err != nil || total > 0 {
		return err
	}
	col, err := r.tx.FindCollectionByNameOrId(core.CollectionNameSuperusers)
	if err != nil {
		return err
	}
	rec := core.NewRecord(col)
	rec.SetEmail(SuperuserEmail)
	rec.SetPassword(r.s.password)
	if err := r.tx.Save(rec); err != nil {
		return fmt.Errorf("superuser: %w", err)
	}
	r.sum.SuperuserCreated = true
	return nil
}

func (r *run) workspace(spec workspaceSpec, users map[string]*core.Record) (*core.Record, error) {
	owner := users[spec.owner]
	ws, err := r.tx.FindFirstRecordByFilter("workspaces", "owner = {:o} && name = {:n}", dbx.Params{"o": owner.Id, "n": spec.name})
	if err != nil {
		col, err := r.tx.FindCollectionByNameOrId("workspaces")
		if err != nil {
			return nil, err
		}
		ws = core.NewRecord(col)
		ws.Set("owner", owner.Id)
		ws.Set("name", spec.name)
		// the workspaces hook adds the owner's membership
		if err := r.tx.Save(ws); err != nil {
			return nil, fmt.Errorf("workspace %s: %w", spec.name, err)
		}
		r.sum.Workspaces++
	}
	for email, role := range spec.members {
		u := users[email]
		if _, err := r.tx.FindFirstRecordByFilter("workspace_members", "workspace = {:w} && user = {:u}", dbx.Params{"w": ws.Id, "u": u.Id}); err == nil {
			continue
		}
		col, err := r.tx.FindCollectionByNameOrId("workspace_members")
		if err != nil {
			return nil, err
		}
		m := core.NewRecord(col)
		m.Set("workspace", ws.Id)
		m.Set("user", u.Id)
		m.Set("role", role)
		if err := r.tx.Save(m); err != nil {
			return nil, fmt.Errorf("member %s: %w", email, err)
		}
	}
	return ws, nil
}

// invitation seeds a pending invitation unless one (in any state) exists or
// the invitee is a member already.
func (r *run) invitation(inv invitationSpec, users map[string]*core.Record, ws map[string]*core.Record) error {
	w, to := ws[inv.workspace], users[inv.to]
	if _, err := r.tx.FindFirstRecordByFilter(members.Collection, "workspace = {:w} && email = {:e}", dbx.Params{"w": w.Id, "e": inv.to}); err == nil {
		return nil
	}
	if _, err := r.tx.FindFirstRecordByFilter("workspace_members", "workspace = {:w} && user = {:u}", dbx.Params{"w": w.Id, "u": to.Id}); err == nil {
		return nil
	}
	col, err := r.tx.FindCollectionByNameOrId(members.Collection)
	if err != nil {
		return err
	}
	rec := core.NewRecord(col)
	rec.Set("workspace", w.Id)
	rec.Set("email", inv.to)
	rec.Set("role", inv.role)
	rec.Set("invited_by", users[inv.from].Id)
	rec.Set("status", members.StatusPending)
	rec.Set("expires_at", r.s.now().Add(members.Validity).UTC())
	if err := r.tx.Save(rec); err != nil {
		return fmt.Errorf("invitation of %s: %w", inv.to, err)
	}
	return nil
}

func (r *run) definition(d definitionSpec, users map[string]*core.Record, ws map[string]*core.Record) error {
	wsID := ""
	if d.workspace != "" {
		wsID = ws[d.workspace].Id
	}
	user := users[d.owner]
	_, err := r.tx.FindFirstRecordByFilter("custom_field_definitions", "user = {:u} && workspace = {:w} && field_name = {:n}",
		dbx.Params{"u": user.Id, "w": wsID, "n": d.name})
	if err == nil {
		return nil
	}
	col, err := r.tx.FindCollectionByNameOrId("custom_field_definitions")
	if err != nil {
		return err
	}
	rec := core.NewRecord(col)
	rec.Set("user", user.Id)
	rec.Set("workspace", wsID)
	rec.Set("field_name", d.name)
	rec.Set("label", d.label)
	rec.Set("field_type", d.typ)
	if d.options != nil {
		rec.Set("options", d.options)
	}
	rec.Set("is_required", d.required)
	rec.Set("default_value", d.def)
	if err := r.tx.Save(rec); err != nil {
		return fmt.Errorf("definition %s: %w", d.name, err)
	}
	r.sum.Definitions++
	return nil
}

// definitionsFor returns the definitions that apply in a workspace: its own
// plus its owner's user-wide ones.
func (r *run) definitionsFor(spec workspaceSpec) []definitionSpec {
	var out []definitionSpec
	for _, d := range definitions {
		if d.owner == spec.owner && (d.workspace == "" || d.workspace == spec.name) {
			out = append(out, d)
		}
	}
	return out
}

func (r *run) lists(ws *core.Record) ([]*core.Record, error) {
	col, err := r.tx.FindCollectionByNameOrId("contact_lists")
	if err != nil {
		return nil, err
	}
	out := make([]*core.Record, 0, len(listNames))
	for i, name := range listNames {
		rec, err := r.tx.FindFirstRecordByFilter("contact_lists", "workspace = {:w} && name = {:n}", dbx.Params{"w": ws.Id, "n": name})
		if err != nil {
			rec = core.NewRecord(col)
			rec.Set("workspace", ws.Id)
			rec.Set("name", name)
			rec.Set("is_primary", i == 0) // "Customers" is where new contacts land
			if err := r.tx.Save(rec); err != nil {
				return nil, fmt.Errorf("list %s: %w", name, err)
			}
			r.sum.Lists++
		}
		out = append(out, rec)
	}
	return out, nil
}

func (r *run) contact(ws *core.Record, n int, lists []*core.Record, defs []definitionSpec) error {
	first := firstNames[n%len(firstNames)]
	last := lastNames[(n*7)%len(lastNames)]
	email := contactEmail(n)
	if _, err := r.tx.FindFirstRecordByFilter("contacts", "workspace = {:w} && primary_email = {:e}", dbx.Params{"w": ws.Id, "e": email}); err == nil {
		return nil
	}
	contacts, err := r.tx.FindCollectionByNameOrId("contacts")
	if err != nil {
		return err
	}
	c := core.NewRecord(contacts)
	c.Set("workspace", ws.Id)
	c.Set("first_name", first)
	c.Set("last_name", last)
	c.Set("primary_email", email)
	if phone := contactPhone(n); phone != "" {
		c.Set("primary_phone", phone)
	}
	c.Set("company", companies[n%len(companies)])
	// custom values go with the contact, through the same validation as the
	// API; the hooks also write the "Contact created" timeline entry and put
	// the contact in the default list
	custom := map[string]any{}
	for _, d := range defs {
		if v := demoValue(d, n); v != "" {
			custom[d.name] = v
		}
	}
	c.Set("custom", custom)
	if err := r.tx.Save(c); err != nil {
		return fmt.Errorf("contact %s: %w", email, err)
	}
	r.sum.Contacts++
	r.sum.Entries++

	// a primary list for everyone, and a second list for every other contact
	primary := lists[n%len(lists)]
	if err := r.assign(c.Id, primary.Id, true); err != nil {
		return err
	}
	if n%2 == 0 {
		secondary := lists[(n+1)%len(lists)]
		if err := r.assign(c.Id, secondary.Id, false); err != nil {
			return err
		}
	}

	created := r.s.now().Add(-time.Duration(50-n) * 24 * time.Hour).UTC()
	var entries []map[string]any
	switch n % 4 {
	case 0:
		entries = append(entries, map[string]any{"type": "call", "direction": "outbound", "content": "Intro call: interested in the spring offer", "timestamp": created.Add(48 * time.Hour), "status": "completed"})
	case 1:
		entries = append(entries, map[string]any{"type": "note", "direction": "internal", "content": "Prefers SMS over email", "timestamp": created.Add(24 * time.Hour)})
	case 2:
		entries = append(entries, map[string]any{"type": "meeting", "direction": "inbound", "content": "Visited the shop, asked for a quote", "timestamp": created.Add(72 * time.Hour), "status": "completed"})
	}
	for _, e := range entries {
		e["workspace"] = ws.Id
		e["contact"] = c.Id
		if err := r.save("communication_logs", e); err != nil {
			return err
		}
		r.sum.Entries++
	}
	return nil
}

// contactEmail is demo contact n's email address.
func contactEmail(n int) string {
	return strings.ToLower(fmt.Sprintf("%s.%s%d@example.net", firstNames[n%len(firstNames)], lastNames[(n*7)%len(lastNames)], n))
}

// contactPhone is demo contact n's phone in E.164 ("": every third has none).
func contactPhone(n int) string {
	if n%3 == 2 {
		return ""
	}
	return fmt.Sprintf("+1415555%04d", 100+n)
}

// assign puts contact in list, updating the assignment the default list
// already made for a new contact; making one primary demotes the other.
func (r *run) assign(contactID, listID string, primary bool) error {
	a, err := r.tx.FindFirstRecordByFilter("contact_list_assignments", "contact = {:c} && list = {:l}", dbx.Params{"c": contactID, "l": listID})
	if err != nil {
		return r.save("contact_list_assignments", map[string]any{"contact": contactID, "list": listID, "is_primary": primary})
	}
	if a.GetBool("is_primary") == primary {
		return nil
	}
	a.Set("is_primary", primary)
	return r.tx.Save(a)
}

func (r *run) save(collection string, fields map[string]any) error {
	col, err := r.tx.FindCachedCollectionByNameOrId(collection)
	if err != nil {
		return err
	}
	rec := core.NewRecord(col)
	for k, v := range fields {
		rec.Set(k, v)
	}
	if err := r.tx.Save(rec); err != nil {
		return fmt.Errorf("%s: %w", collection, err)
	}
	return nil
}

// demoValue gives contact n a deterministic value for d (empty: no value).
func demoValue(d definitionSpec, n int) string {
	switch d.typ {
	case "select":
		return d.options[n%len(d.options)]
	case "multiselect":
		return fmt.Sprintf(`["%s","%s"]`, d.options[n%len(d.options)], d.options[(n+2)%len(d.options)])
	case "date":
		return fmt.Sprintf("19%02d-%02d-%02d", 60+n%40, 1+n%12, 1+n%28)
	case "boolean":
		if n%5 == 0 {
			return "true"
		}
		return "false"
	case "number":
		return fmt.Sprintf("%d", (n*37)%100)
	case "url":
		if n%2 == 0 {
			return fmt.Sprintf("https://example.org/%s", strings.ToLower(firstNames[n%len(firstNames)]))
		}
	case "text":
		return []string{"Walk-in", "Referral", "Website", "Market stall"}[n%4]
	}
	return ""
}
