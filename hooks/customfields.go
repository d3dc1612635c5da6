package hooks

import (
	"github.com/pi-crm/pi-crm/services/customfields"
	"github.com/pocketbase/pocketbase/core"
)

// forceKey marks a definition save whose request asked to delete the
// existing values that do not fit (?force=true). Record model hooks cannot
// see the request, so the request hook leaves this note on the record (a
// custom key: never stored, never exported).
const forceKey = "@custom_field_force"

func (c *contactsCore) registerCustomFieldHooks(app core.App) {
	// At start, before serving, every workspace's kept value counts follow
	// its value indexes, one transaction each (customfields.SyncCounted): a
	// database from before the counts (migration 1764002000) gets them
	// here, once. A failure is logged and the workspace's one-value filters
	// count through the index until its next sync.
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		syncAllCounted(app)
		return se.Next()
	})

	// Values written directly (custom_fields collection API, batch,
	// services): same validation as through the contact, and the contact's
	// copy follows. Writes made by the customfields package itself are
	// already validated and copied.
	prepareRow := func(e *core.RecordEvent) error {
		if customfields.IsInternal(e.Context) {
			return e.Next()
		}
		if err := c.custom.PrepareRow(e.App, e.Record); err != nil {
			return err
		}
		return e.Next()
	}
	app.OnRecordCreate("custom_fields").BindFunc(prepareRow)
	app.OnRecordUpdate("custom_fields").BindFunc(prepareRow)
	syncCopy := func(e *core.RecordEvent) error {
		if customfields.IsInternal(e.Context) {
			return e.Next()
		}
		return inTx(e, func(tx core.App) error {
			if err := e.Next(); err != nil {
				return err
			}
			return c.custom.SyncCopy(tx, e.Record.GetString("contact"), e.Record.GetString("field_name"))
		})
	}
	app.OnRecordCreateExecute("custom_fields").BindFunc(syncCopy)
	app.OnRecordUpdateExecute("custom_fields").BindFunc(syncCopy)
	app.OnRecordDeleteExecute("custom_fields").BindFunc(syncCopy)

	// Definitions: see services/customfields/definitions.go for what a
	// change does to existing values.
	markForce := func(e *core.RecordRequestEvent) error {
		if q := e.Request.URL.Query().Get("force"); q == "true" || q == "1" {
			e.Record.SetRaw(forceKey, true)
		}
		return e.Next()
	}
	app.OnRecordCreateRequest("custom_field_definitions").BindFunc(markForce)
	app.OnRecordUpdateRequest("custom_field_definitions").BindFunc(markForce)

	check := func(e *core.RecordEvent) error {
		if err := c.custom.CheckDefinition(e.App, e.Record); err != nil {
			return err
		}
		return e.Next()
	}
	app.OnRecordCreate("custom_field_definitions").BindFunc(check)
	app.OnRecordUpdate("custom_field_definitions").BindFunc(check)

	reconcile := func(e *core.RecordEvent) error {
		return inTx(e, func(tx core.App) error {
			orig := e.Record.Original()
			// a new name, or a type to or from multiselect, changes the set
			// of value indexes (services/customfields/indexes.go)
			syncIndexes := e.Record.IsNew() || orig.GetString("field_type") != e.Record.GetString("field_type")
			if e.Record.IsNew() || orig.GetString("field_type") != e.Record.GetString("field_type") ||
				orig.GetString("options") != e.Record.GetString("options") {
				force, _ := e.Record.Get(forceKey).(bool)
				if err := c.custom.Reconcile(tx, customfields.FromRecord(e.Record), force); err != nil {
					return err
				}
			}
			if err := e.Next(); err != nil {
				return err
			}
			if syncIndexes {
				return syncDefinitionIndexes(tx, e.Record)
			}
			return nil
		})
	}
	app.OnRecordCreateExecute("custom_field_definitions").BindFunc(reconcile)
	app.OnRecordUpdateExecute("custom_field_definitions").BindFunc(reconcile)
	app.OnRecordDeleteExecute("custom_field_definitions").BindFunc(func(e *core.RecordEvent) error {
		return inTx(e, func(tx core.App) error {
			if err := c.custom.DeleteValues(tx, customfields.FromRecord(e.Record)); err != nil {
				return err
			}
			if err := e.Next(); err != nil {
				return err
			}
			return syncDefinitionIndexes(tx, e.Record)
		})
	})
}

// syncDefinitionIndexes brings the value indexes of the workspaces that
// definition def applies in up to date.
func syncDefinitionIndexes(tx core.App, def *core.Record) error {
	ws, err := customfields.DefinitionWorkspaces(tx, customfields.FromRecord(def))
	if err != nil || len(ws) == 0 {
		return err // none given would mean every workspace
	}
	return customfields.SyncValueIndexes(tx, ws...)
}

// syncAllCounted runs customfields.SyncCounted for every workspace, each in
// its own transaction (so no one holds the writer for long); a failure is
// logged and the next workspace goes on.
func syncAllCounted(app core.App) {
	var ids []string
	if err := app.DB().NewQuery(`SELECT id FROM workspaces ORDER BY id`).Column(&ids); err != nil {
		app.Logger().Error("kept value counts at start", "error", err)
		return
	}
	for _, ws := range ids {
		if err := app.RunInTransaction(func(tx core.App) error { return customfields.SyncCounted(tx, ws) }); err != nil {
			app.Logger().Error("kept value counts at start", "workspace", ws, "error", err)
		}
	}
}
