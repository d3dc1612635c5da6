package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// Search and filter indexes (queries in
// services/search).
//
// Prefix search: SQLite uses an index for `LIKE 'x%'` only when the column
// itself is declared NOCASE, which PocketBase's columns are not. Instead the
// search asks for the range `col COLLATE NOCASE >= 'x' AND < 'x'||U+10FFFF`,
// which an index declared with the same collation serves directly. NOCASE
// indexes were chosen over stored lower-cased copies of the columns because
// they cost one small B-tree entry per column and write, need no trigger or
// hook to keep a copy in sync (raw-SQL bulk paths stay correct), and the same
// index also serves a case-insensitive sort and the name keys of the
// duplicate finder. An FTS5 trigram index would make substring search
// indexed too, but costs tens of postings per contact write; substring
// search stays a scan of one workspace's contacts.
//
// Email and phone need no new index: they are stored normalised (lower-case,
// E.164) and idx_contacts_ws_email / idx_contacts_ws_phone serve their range.
//
// Numeric custom values are stored as text ("100" < "42" as text), so
// numeric range filters and numeric sorts use an expression index on
// CAST(field_value AS REAL), partial to number rows so text rows cost
// nothing. Dates are stored as YYYY-MM-DD, which the existing
// (field_name, field_value) index already orders chronologically.
func init() {
	m.Register(func(app core.App) error {
		contacts, err := app.FindCollectionByNameOrId("contacts")
		if err != nil {
			return err
		}
		contacts.AddIndex("idx_contacts_search_first", false, "workspace, first_name COLLATE NOCASE", "")
		contacts.AddIndex("idx_contacts_search_last", false, "workspace, last_name COLLATE NOCASE, first_name COLLATE NOCASE", "")
		contacts.AddIndex("idx_contacts_search_company", false, "workspace, company COLLATE NOCASE", "")
		if err := app.Save(contacts); err != nil {
			return err
		}
		cf, err := app.FindCollectionByNameOrId("custom_fields")
		if err != nil {
			return err
		}
		cf.AddIndex("idx_custom_fields_number", false, "field_name, CAST(field_value AS REAL)", "field_type = 'number'")
		return app.Save(cf)
	}, func(app core.App) error {
		contacts, err := app.FindCollectionByNameOrId("contacts")
		if err != nil {
			return err
		}
		for _, n := range []string{"idx_contacts_search_first", "idx_contacts_search_last", "idx_contacts_search_company"} {
			contacts.RemoveIndex(n)
		}
		if err := app.Save(contacts); err != nil {
			return err
		}
		cf, err := app.FindCollectionByNameOrId("custom_fields")
		if err != nil {
			return err
		}
		cf.RemoveIndex("idx_custom_fields_number")
		return app.Save(cf)
	})
}
