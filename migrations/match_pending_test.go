package migrations_test

import (
	"testing"

	"github.com/pi-crm/pi-crm/migrations"
	"github.com/pi-crm/pi-crm/services/contacts"
	"github.com/pi-crm/pi-crm/services/duplicates"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// Down of 1764001900 loses no match key: what a bulk write left deferred is
// written before the pending table goes, and the workspace trigger is
// 1764001050's again.
func TestMatchPendingDownWritesDeferredKeys(t *testing.T) {
	app := bareApp(t)
	migrateUpTo(t, app, "")
	d := seed(t, app)
	if err := app.RunInTransaction(func(tx core.App) error {
		return contacts.BulkInsert(tx.DB(), d.ws, func() error {
			_, err := tx.DB().NewQuery(`INSERT INTO contacts (id, workspace, first_name, last_name, primary_email, created, updated)
				VALUES ('pendingdown0001', {:ws}, 'Ann', 'Smith', 'ann.smith@example.com', '2025-01-01 00:00:00.000Z', '2025-01-01 00:00:00.000Z')`).
				Bind(dbx.Params{"ws": d.ws}).Execute()
			return err
		})
	}); err != nil {
		t.Fatal(err)
	}
	if err := duplicates.CheckMatchKeys(app); err == nil {
		t.Fatal("no key deferred: the down has nothing to write")
	}
	if err := migrations.ExecSQLFile(app, "1764001900_match_pending.down.sql"); err != nil {
		t.Fatal(err)
	}
	if err := duplicates.CheckMatchKeys(app); err != nil {
		t.Fatal(err)
	}
	var n int
	_ = app.DB().NewQuery(`SELECT count(*) FROM sqlite_master WHERE name = 'crm_match_pending'`).Row(&n)
	if n != 0 {
		t.Fatal("crm_match_pending left after the down")
	}
	current, err := migrations.MatchSchemaCurrent1050(app)
	if err != nil || !current {
		t.Fatalf("the finder's schema after the down is not 1764001050's: %v %v", current, err)
	}
}
