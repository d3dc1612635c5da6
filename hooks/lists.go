package hooks

import (
	"github.com/pi-crm/pi-crm/services/lists"
	"github.com/pocketbase/pocketbase/core"
)

func (c *contactsCore) registerListHooks(app core.App) {
	// a new default list demotes the old one in the same transaction
	promote := func(e *core.RecordEvent) error {
		if lists.IsQuiet(e.Context) {
			return e.Next()
		}
		return inTx(e, func(tx core.App) error {
			if err := c.lists.PromoteList(tx, e.Record); err != nil {
				return err
			}
			return e.Next()
		})
	}
	app.OnRecordCreateExecute("contact_lists").BindFunc(promote)
	app.OnRecordUpdateExecute("contact_lists").BindFunc(promote)

	// a new primary assignment demotes the contact's previous primary, in the
	// same transaction, and the change goes on the contact's timeline
	assign := func(e *core.RecordEvent) error {
		if lists.IsQuiet(e.Context) {
			return e.Next()
		}
		return inTx(e, func(tx core.App) error {
			created := e.Record.IsNew()
			prev, wasPrimary, err := c.lists.PrepareAssignment(tx, e.Record)
			if err != nil {
				return err
			}
			if err := e.Next(); err != nil {
				return err
			}
			return c.lists.LogAssignment(tx, e.Record, created, wasPrimary, prev)
		})
	}
	app.OnRecordCreateExecute("contact_list_assignments").BindFunc(assign)
	app.OnRecordUpdateExecute("contact_list_assignments").BindFunc(assign)
	app.OnRecordDeleteExecute("contact_list_assignments").BindFunc(func(e *core.RecordEvent) error {
		return inTx(e, func(tx core.App) error {
			if err := e.Next(); err != nil {
				return err
			}
			return c.lists.LogRemoval(tx, e.Record)
		})
	})
}
