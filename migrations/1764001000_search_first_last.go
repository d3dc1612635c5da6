package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// A two-word name search ("ann smith") reads the contacts whose first name
// is the first word and whose last name starts with the second
// (services/search: twoWordNames): the first-name index gets the last name
// as its second column, as the last-name index has the first name, so that
// range is one index read instead of a table lookup per contact with that
// first name.
func init() {
	m.Register(func(app core.App) error {
		return setFirstNameIndex(app, "workspace, first_name COLLATE NOCASE, last_name COLLATE NOCASE")
	}, func(app core.App) error {
		return setFirstNameIndex(app, "workspace, first_name COLLATE NOCASE")
	})
}

func setFirstNameIndex(app core.App, columns string) error {
	contacts, err := app.FindCollectionByNameOrId("contacts")
	if err != nil {
		return err
	}
	contacts.AddIndex("idx_contacts_search_first", false, columns, "")
	return app.Save(contacts)
}
