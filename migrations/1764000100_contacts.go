package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// Contacts core:
//   - workspaces.default_country: the ISO 3166 region used to read phone
//     numbers written without a country code ("" means US);
//   - contacts.custom: a read copy of the contact's custom_fields rows as
//     {field_name: typed value}. The EAV rows stay authoritative; the copy is
//     rewritten in the same transaction as every change to them (see
//     services/customfields), so a page of contacts is read with its custom
//     values in the page query itself, and the PocketBase filter/sort syntax
//     can reach them (custom.tier = "gold");
//   - a workspace definition is unique per workspace and field name, whoever
//     created it: two admins' definitions of "tier" in one workspace would
//     leave the type of its values undecided.
func init() {
	m.Register(func(app core.App) error {
		ws, err := app.FindCollectionByNameOrId("workspaces")
		if err != nil {
			return err
		}
		ws.Fields.Add(&core.TextField{Name: "default_country", Max: 2, Pattern: `^([A-Z]{2})?$`})
		if err := app.Save(ws); err != nil {
			return err
		}

		contacts, err := app.FindCollectionByNameOrId("contacts")
		if err != nil {
			return err
		}
		contacts.Fields.Add(jsonField("custom", 1<<20))
		if err := app.Save(contacts); err != nil {
			return err
		}

		defs, err := app.FindCollectionByNameOrId("custom_field_definitions")
		if err != nil {
			return err
		}
		defs.AddIndex("idx_cfd_ws_name", true, "workspace, field_name", "workspace != ''")
		if err := app.Save(defs); err != nil {
			return err
		}

		// Values stored before this migration (an install seeded earlier) get
		// their copy, typed the way services/customfields types them.
		_, err = app.DB().NewQuery(`UPDATE contacts SET custom = (
			SELECT json_group_object(cf.field_name, CASE
				WHEN cf.field_type IN ('number', 'boolean', 'multiselect') AND json_valid(cf.field_value) THEN json(cf.field_value)
				ELSE cf.field_value END)
			FROM custom_fields cf WHERE cf.contact = contacts.id)
			WHERE EXISTS (SELECT 1 FROM custom_fields cf WHERE cf.contact = contacts.id)`).Execute()
		return err
	}, func(app core.App) error {
		for _, step := range []struct{ collection, field string }{{"workspaces", "default_country"}, {"contacts", "custom"}} {
			c, err := app.FindCollectionByNameOrId(step.collection)
			if err != nil {
				return err
			}
			c.Fields.RemoveByName(step.field)
			if err := app.Save(c); err != nil {
				return err
			}
		}
		defs, err := app.FindCollectionByNameOrId("custom_field_definitions")
		if err != nil {
			return err
		}
		defs.RemoveIndex("idx_cfd_ws_name")
		return app.Save(defs)
	})
}
