package hooks

import (
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/customfields"
	"github.com/pi-crm/pi-crm/services/tenancy"
	"github.com/pocketbase/pocketbase/core"
)

// registerWorkspaceHooks makes the creator of a workspace its owner member in
// the same transaction as the workspace itself, whichever route created it
// (REST, batch, CLI, demo).
func registerWorkspaceHooks(app core.App) {
	app.OnRecordCreateExecute("workspaces").BindFunc(func(e *core.RecordEvent) error {
		return withinTransaction(e, func(txApp core.App) error {
			members, err := txApp.FindCollectionByNameOrId("workspace_members")
			if err != nil {
				return err
			}
			m := core.NewRecord(members)
			m.Set("workspace", e.Record.Id)
			m.Set("user", e.Record.GetString("owner"))
			m.Set("role", tenancy.RoleOwner)
			audit.Attach(m, audit.ActorOf(e.Record))
			return txApp.Save(m)
		})
	})
	// a deleted workspace's value indexes would stay behind, empty, and
	// cost every contact insert a comparison
	app.OnRecordDeleteExecute("workspaces").BindFunc(func(e *core.RecordEvent) error {
		return withinTransaction(e, func(txApp core.App) error {
			return customfields.DropValueIndexes(txApp, e.Record.Id)
		})
	})
}
