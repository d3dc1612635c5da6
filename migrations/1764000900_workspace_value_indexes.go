package migrations

import (
	"fmt"
	"regexp"

	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// Value indexes per workspace (services/customfields/indexes.go): the
// indexes shared by all workspaces (idx_contacts_cf_<name>, built by the first
// version of 1764000410) are dropped, so a contact write no longer pays for
// the field names of every other workspace.
//
// The per-workspace partial indexes that replace them are run-time state, not
// schema (see 1764000410): customfields builds them for a workspace with
// enough contacts when a definition changes, at every hundredth contact
// created from customfields.ValueIndexMinContacts on, and at the end of an
// import. This migration no longer builds them itself (it called the live
// customfields.SyncValueIndexes, whose later versions could need columns of
// later migrations). Down drops the per-workspace ones.
func init() {
	m.Register(func(app core.App) error {
		return dropIndexes900(app, `^idx_contacts_cf_[a-z][a-z0-9_]*$`)
	}, func(app core.App) error {
		return dropIndexes900(app, `^idx_cf_[a-z0-9]+_[a-z][a-z0-9_]*$`)
	})
}

// dropIndexes900 drops the indexes on contacts whose names match pattern.
func dropIndexes900(app core.App, pattern string) error {
	re := regexp.MustCompile(pattern)
	var names []string
	if err := app.DB().NewQuery(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'contacts' ORDER BY name`).Column(&names); err != nil {
		return err
	}
	for _, n := range names {
		if re.MatchString(n) {
			if _, err := app.DB().NewQuery(`DROP INDEX IF EXISTS "` + n + `"`).Execute(); err != nil {
				return fmt.Errorf("dropping %s: %w", n, err)
			}
		}
	}
	return nil
}
