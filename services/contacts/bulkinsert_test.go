package contacts_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/contacts"
	"github.com/pi-crm/pi-crm/services/counts"
	"github.com/pi-crm/pi-crm/services/duplicates"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// A bulk insert leaves the same match keys, change log and counts as the
// per-row triggers: for the rows of its workspace (written set-based), for a
// row of another workspace inserted meanwhile (triggers on), and after a
// failed bulk insert (rolled back, switch off again).
func TestBulkInsertKeepsKeysAndCounts(t *testing.T) {
	env := testutil.New(t)
	owner, _ := env.User("bulk@example.com")
	a := env.Workspace("A", owner, nil)
	b := env.Workspace("B", owner, nil)
	env.Create("contacts", map[string]any{"workspace": a.Id, "first_name": "Ada", "last_name": "King", "company": "Engines"})

	insert := func(tx dbx.Builder, id, ws, first, last, email, company string) error {
		_, err := tx.NewQuery(`INSERT INTO contacts (id, workspace, first_name, last_name, primary_email, company, created, updated)
			VALUES ({:id}, {:ws}, {:f}, {:l}, {:e}, {:c}, '2025-01-01 00:00:00.000Z', '2025-01-01 00:00:00.000Z')`).
			Bind(dbx.Params{"id": id, "ws": ws, "f": first, "l": last, "e": email, "c": company}).Execute()
		return err
	}
	changes := func(ws string) int {
		var n int
		_ = env.App.DB().NewQuery(`SELECT count(*) FROM crm_match_changes WHERE workspace = {:ws}`).Bind(dbx.Params{"ws": ws}).Row(&n)
		return n
	}
	before := changes(a.Id)
	err := env.App.RunInTransaction(func(tx core.App) error {
		return contacts.BulkInsert(tx.DB(), a.Id, func() error {
			for i := 0; i < 20; i++ {
				if err := insert(tx.DB(), fmt.Sprintf("bulk%011d", i), a.Id, "ada", "KING", fmt.Sprintf("ada%d@engines.com", i), "engines"); err != nil {
					return err
				}
			}
			// another workspace's row: its triggers still run
			return insert(tx.DB(), "otherws00000001", b.Id, "Bo", "Lee", "bo@lee.io", "")
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	// the count is written with the rows; the keys and change-log rows are
	// deferred, and the record of that committed with them
	if err := counts.CheckContactCounts(env.App); err != nil {
		t.Fatal(err)
	}
	if err := duplicates.CheckMatchKeys(env.App); err == nil || !strings.Contains(err.Error(), "missing same_email 'ada0@engines.com'") {
		t.Fatalf("keys of the bulk rows before BulkDone: %v", err)
	}
	var pending int
	_ = env.App.DB().NewQuery(`SELECT count(*) FROM crm_match_pending WHERE workspace = {:ws}`).Bind(dbx.Params{"ws": a.Id}).Row(&pending)
	if pending != 1 || changes(a.Id) != before {
		t.Fatalf("deferred: %d pending records, %d change-log rows (were %d)", pending, changes(a.Id), before)
	}
	// one step of 7 contacts: the rest stays deferred
	var more bool
	if err := env.App.RunInTransaction(func(tx core.App) error {
		var err error
		more, err = duplicates.SettleKeys(tx.DB(), a.Id, 7)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !more || changes(a.Id)-before != 7 {
		t.Fatalf("after a step of 7: more %v, %d change-log rows", more, changes(a.Id)-before)
	}
	if err := duplicates.CheckMatchKeys(env.App); err == nil || strings.Contains(err.Error(), "'ada0@engines.com'") {
		t.Fatalf("keys after a step of 7: %v", err)
	}
	cacheSize := func() (n int) {
		t.Helper()
		if err := env.App.NonconcurrentDB().NewQuery(`PRAGMA cache_size`).Row(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	cache := cacheSize()
	if err := contacts.BulkDone(env.App, a.Id); err != nil {
		t.Fatal(err)
	}
	// the value indexes' smaller cache is the writer's again afterwards
	if got := cacheSize(); got != cache {
		t.Fatalf("writer's cache_size %d after BulkDone, %d before", got, cache)
	}
	if err := duplicates.CheckMatchKeys(env.App); err != nil {
		t.Fatal(err)
	}
	if got := changes(a.Id) - before; got != 20 {
		t.Fatalf("%d change-log rows for 20 bulk rows", got)
	}
	_ = env.App.DB().NewQuery(`SELECT count(*) FROM crm_match_pending`).Row(&pending)
	if pending != 0 {
		t.Fatalf("%d pending records after BulkDone", pending)
	}
	if changes(b.Id) != 1 {
		t.Fatalf("the other workspace's row left %d change-log rows", changes(b.Id))
	}

	boom := errors.New("boom")
	err = env.App.RunInTransaction(func(tx core.App) error {
		return contacts.BulkInsert(tx.DB(), a.Id, func() error {
			if err := insert(tx.DB(), "bulkfail0000001", a.Id, "X", "Y", "", ""); err != nil {
				return err
			}
			return boom
		})
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	var switches, n int
	_ = env.App.DB().NewQuery(`SELECT count(*) FROM crm_bulk_insert`).Row(&switches)
	if switches != 0 {
		t.Fatalf("%d switches left on after a failed bulk insert", switches)
	}
	// the triggers run again for an ordinary insert
	rec := env.Create("contacts", map[string]any{"workspace": a.Id, "first_name": "Ada", "last_name": "King", "company": "Engines"})
	if err := duplicates.CheckMatchKeys(env.App); err != nil {
		t.Fatal(err)
	}
	_ = env.App.DB().NewQuery(`SELECT count(*) FROM crm_match_keys WHERE contact = {:id}`).Bind(dbx.Params{"id": rec.Id}).Row(&n)
	if n == 0 {
		t.Fatal("no keys for a contact inserted after the bulk insert")
	}
	if err := counts.CheckContactCounts(env.App); err != nil {
		t.Fatal(err)
	}
}

// Keys a bulk insert deferred are never lost: a duplicates read writes them
// (as after a crash before BulkDone), a contact of the range updated
// meanwhile through the record hooks keeps exactly its current keys, and a
// deleted workspace leaves no record behind.
func TestDeferredKeysSettleOnRead(t *testing.T) {
	env := testutil.New(t)
	owner, _ := env.User("defer@example.com")
	a := env.Workspace("A", owner, nil)
	err := env.App.RunInTransaction(func(tx core.App) error {
		return contacts.BulkInsert(tx.DB(), a.Id, func() error {
			for i := 0; i < 3; i++ {
				if _, err := tx.DB().NewQuery(`INSERT INTO contacts (id, workspace, first_name, last_name, company, created, updated)
					VALUES ({:id}, {:ws}, 'Ada', 'King', 'Engines', '2025-01-01 00:00:00.000Z', '2025-01-01 00:00:00.000Z')`).
					Bind(dbx.Params{"id": fmt.Sprintf("defer%010d", i), "ws": a.Id}).Execute(); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	// updated before the keys are written: the update trigger writes its keys
	rec, err := env.App.FindRecordById("contacts", "defer0000000002")
	if err != nil {
		t.Fatal(err)
	}
	rec.Set("primary_email", "ada@engines.com")
	if err := env.App.Save(rec); err != nil {
		t.Fatal(err)
	}
	res, err := duplicates.NewService(env.App).Duplicates(a.Id, 1, 50)
	if err != nil {
		t.Fatal(err)
	}
	var group []string
	for _, g := range res.Items {
		if g.Reason == duplicates.ReasonNameCompany {
			group = g.Contacts
		}
	}
	if strings.Join(group, ",") != "defer0000000000,defer0000000001,defer0000000002" {
		t.Fatalf("name+company group after the read %v (all groups %+v)", group, res.Items)
	}
	if err := duplicates.CheckMatchKeys(env.App); err != nil {
		t.Fatal(err)
	}
	var pending int
	_ = env.App.DB().NewQuery(`SELECT count(*) FROM crm_match_pending`).Row(&pending)
	if pending != 0 {
		t.Fatalf("%d pending records after a read", pending)
	}

	// a workspace deleted with keys still deferred
	b := env.Workspace("B", owner, nil)
	if err := env.App.RunInTransaction(func(tx core.App) error {
		return contacts.BulkInsert(tx.DB(), b.Id, func() error {
			_, err := tx.DB().NewQuery(`INSERT INTO contacts (id, workspace, first_name, created, updated)
				VALUES ('deferb000000000', {:ws}, 'Bo', '2025-01-01 00:00:00.000Z', '2025-01-01 00:00:00.000Z')`).Bind(dbx.Params{"ws": b.Id}).Execute()
			return err
		})
	}); err != nil {
		t.Fatal(err)
	}
	if err := env.App.Delete(b); err != nil {
		t.Fatal(err)
	}
	_ = env.App.DB().NewQuery(`SELECT count(*) FROM crm_match_pending`).Row(&pending)
	if pending != 0 {
		t.Fatalf("%d pending records after the workspace's delete", pending)
	}
}
