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
	// At start, in the background, every workspace's value indexes and
	// kept value counts are brought up to date, one transaction each: a
	// database from before the counts (migration 1764002000) gets its
	// counted fields here. Nothing missing costs three small queries per
	// workspace; a search meanwhile counts through the index.
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		go syncAllValueIndexes(app)
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

// syncAllValueIndexes runs customfields.SyncValueIndexes for every
// workspace, each in its own transaction (so no one holds the writer for
// long); a failure is logged and the next workspace goes on.
func syncAllValueIndexes(app core.App) {
	var ids []string
	if err := app.DB().NewQuery(`SELECT id FROM workspaces ORDER BY id`).Column(&ids); err != nil {
		app.Logger().Error("value indexes at start", "error", err)
		return
	}
	for _, ws := range ids {
		if err := app.RunInTransaction(func(tx core.App) error { return customfields.SyncValueIndexes(tx, ws) }); err != nil {
			app.Logger().Error("value indexes at start", "workspace", ws, "error", err)
		}
	}
}
