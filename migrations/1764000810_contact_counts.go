package migrations

import (
	m "github.com/pocketbase/pocketbase/migrations"
)

// Contacts per workspace, kept exact by triggers (services/search/counts.go):
// the total of an unfiltered contact list in O(1) instead of counting the
// workspace's index entries on every page. Migrations run in one
// transaction, so no contact is written between the backfill and the
// triggers.
//
// The SQL is frozen in 1764000810_contact_counts.up.sql / .down.sql (what
// search.CountSchema and search.BackfillContactCounts (now in services/counts) produced; unchanged
// since the migration was written).
func init() {
	m.Register(sqlFileUpDown("1764000810_contact_counts"))
}
