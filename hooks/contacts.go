package hooks

import (
	"net/http"
	"time"

	"github.com/pi-crm/pi-crm/services/apikeys"
	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/commlog"
	"github.com/pi-crm/pi-crm/services/contacts"
	"github.com/pi-crm/pi-crm/services/customfields"
	"github.com/pi-crm/pi-crm/services/lists"
	"github.com/pocketbase/pocketbase/core"
)

// contactsCore holds the services behind the contact hooks and routes.
type contactsCore struct {
	contacts *contacts.Service
	custom   *customfields.Service
	lists    *lists.Service
	timeline *commlog.Writer
	writes   *contacts.Writes
}

// registerContactsCore wires the contact invariants. They live in
// record model hooks, not request hooks, so that REST, batch, the CLI and
// any service saving a contact all pass through them.
func registerContactsCore(app core.App, crm *crmRoutes, now func() time.Time) {
	cs := contacts.NewService(app)
	tl := commlog.NewWriter(now)
	c := &contactsCore{
		contacts: cs,
		custom:   customfields.NewService(app, cs),
		lists:    lists.NewService(app, tl),
		timeline: tl,
	}
	c.writes = contacts.NewWrites(cs, c.custom, c.lists, tl)
	c.registerContactHooks(app)
	c.registerCustomFieldHooks(app)
	c.registerListHooks(app)
	crm.add(http.MethodGet, "/contacts/{id}/custom", apikeys.ScopeContactsRead, c.getCustom)
	crm.add(http.MethodPost, "/contacts/{id}/custom", apikeys.ScopeContactsWrite, c.setCustom)
}

func (c *contactsCore) registerContactHooks(app core.App) {
	// before validation: the collection's own validation then sees the
	// normalised values, and a duplicate is a 409, not a generic 400
	prepare := func(e *core.RecordEvent) error {
		if err := c.contacts.Prepare(e.App, e.Record); err != nil {
			return err
		}
		return e.Next()
	}
	app.OnRecordCreate("contacts").BindFunc(prepare)
	app.OnRecordUpdate("contacts").BindFunc(prepare)

	// the rules of a contact write: services/contacts/writes.go
	save := func(e *core.RecordEvent) error {
		return inTx(e, func(tx core.App) error { return c.writes.Save(tx, e.Record, e.Next) })
	}
	app.OnRecordCreateExecute("contacts").BindFunc(save)
	app.OnRecordUpdateExecute("contacts").BindFunc(save)
}

// contactFor returns the contact of the route for the caller: its own
// membership decides, and an API key limited to one workspace sees no other.
func (c *contactsCore) contactFor(e *core.RequestEvent, who caller) (*core.Record, string, error) {
	rec, role, err := c.contacts.Access(who.UserID, e.Request.PathValue("id"))
	if err != nil {
		return nil, "", err
	}
	if !who.Reaches(rec.GetString("workspace")) {
		return nil, "", apperr.NotFound(contacts.CodeNotFound, "No contact with this id in your workspaces")
	}
	return rec, role, nil
}

// GET /api/crm/contacts/{id}/custom: the definitions that apply to the
// contact, each with its value; any member of the workspace may read.
func (c *contactsCore) getCustom(e *core.RequestEvent, who caller) error {
	rec, _, err := c.contactFor(e, who)
	if err != nil {
		return err
	}
	return c.customView(e, rec)
}

// POST /api/crm/contacts/{id}/custom {"custom": {name: value}}: sets (or,
// with null, clears) the given values; the others stay. It saves the contact
// through the same hooks as the collection API: same validation, same
// transaction, same timeline entry.
func (c *contactsCore) setCustom(e *core.RequestEvent, who caller) error {
	var body struct {
		Custom map[string]any `json:"custom"`
	}
	if err := e.BindBody(&body); err != nil || body.Custom == nil {
		return apperr.BadRequest(customfields.CodeInvalid, `Send the values as {"custom": {"field_name": value}}`)
	}
	rec, role, err := c.contactFor(e, who)
	if err != nil {
		return err
	}
	if !contacts.CanWrite(role) {
		return contacts.ErrReadOnly
	}
	merged := map[string]any{}
	if err := rec.UnmarshalJSONField("custom", &merged); err != nil || merged == nil {
		merged = map[string]any{}
	}
	for k, v := range body.Custom {
		merged[k] = v
	}
	rec.Set("custom", merged)
	audit.Attach(rec, who.Actor)
	if err := e.App.Save(rec); err != nil {
		return err
	}
	return c.customView(e, rec)
}

func (c *contactsCore) customView(e *core.RequestEvent, rec *core.Record) error {
	fields, values, err := c.custom.ContactView(e.App, rec)
	if err != nil {
		return err
	}
	return e.JSON(http.StatusOK, map[string]any{
		"contact":   rec.Id,
		"workspace": rec.GetString("workspace"),
		"custom":    values,
		"fields":    fields,
	})
}
