package migrations

import (
	"fmt"
	"regexp"

	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// Value indexes over contacts.custom (services/customfields/indexes.go).
//
// This migration once built one index per custom field name shared by all
// workspaces (idx_contacts_cf_<name>); 1764000900 drops those on every
// database, so its up does nothing now. Value indexes are run-time state, not
// schema: customfields builds a workspace's own partial indexes
// (idx_cf_<workspace>_<name>) when a definition changes, when the workspace
// reaches customfields.ValueIndexMinContacts contacts (and at every hundredth
// contact after it), and at the end of an import. A fresh install has none;
// migrations/upgrade_test.go ignores exactly those names when it compares
// schemas.
//
// Down drops every value index of either kind (the contacts.custom column,
// dropped by the down of 1764000100, cannot go while an index uses it).
func init() {
	m.Register(func(app core.App) error {
		return nil
	}, func(app core.App) error {
		return dropValueIndexes410(app, `^idx_cf_[a-z0-9]+_[a-z][a-z0-9_]*$`, `^idx_contacts_cf_[a-z][a-z0-9_]*$`)
	})
}

// dropValueIndexes410 drops the indexes on contacts whose names match one of
// patterns.
func dropValueIndexes410(app core.App, patterns ...string) error {
	res := make([]*regexp.Regexp, len(patterns))
	for i, p := range patterns {
		res[i] = regexp.MustCompile(p)
	}
	var names []string
	if err := app.DB().NewQuery(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'contacts' ORDER BY name`).Column(&names); err != nil {
		return err
	}
	for _, n := range names {
		for _, re := range res {
			if re.MatchString(n) {
				if _, err := app.DB().NewQuery(`DROP INDEX IF EXISTS "` + n + `"`).Execute(); err != nil {
					return fmt.Errorf("dropping %s: %w", n, err)
				}
				break
			}
		}
	}
	return nil
}
