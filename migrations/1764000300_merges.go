package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// contact_merges: one row per merge of two contacts, with
// what undoing it needs (services/merge). Rows are written and updated by the
// merge routes only; workspace members read them (a UI lists the recent
// merges and offers "undo"); nobody writes through the API.
//
// source_id and target are plain ids, not relations: the source no longer
// exists while the merge stands, and a relation to the target would make
// PocketBase rewrite (blank) this history when the target is deleted.
func init() {
	m.Register(func(app core.App) error {
		ws, err := app.FindCollectionByNameOrId("workspaces")
		if err != nil {
			return err
		}
		users, err := app.FindCollectionByNameOrId("users")
		if err != nil {
			return err
		}
		c := core.NewBaseCollection("contact_merges")
		c.Fields.Add(
			rel("workspace", ws.Id, true, true),
			text("source_id", 50, true),
			text("target", 50, true),
			// the source's rows as they were, the target's values before and
			// after the merge (see services/merge.Snapshot)
			jsonField("snapshot", 8<<20),
			// ids of the records re-pointed from the source to the target
			jsonField("moved", 8<<20),
			rel("merged_by", users.Id, false, false),
			&core.DateField{Name: "undo_until"},
			&core.DateField{Name: "undone_at"},
			rel("undone_by", users.Id, false, false),
		)
		timestamps(c)
		c.AddIndex("idx_contact_merges_ws_created", false, "workspace, created", "")
		c.AddIndex("idx_contact_merges_target", false, "target", "")
		c.AddIndex("idx_contact_merges_source", false, "source_id", "")
		applyRules(c, readOnly("workspace", anyRole))
		return app.Save(c)
	}, func(app core.App) error {
		c, err := app.FindCollectionByNameOrId("contact_merges")
		if err != nil {
			return nil
		}
		return app.Delete(c)
	})
}
