package hooks

import "github.com/pocketbase/pocketbase/core"

// registerCampaignHooks fills the defaults of a new campaign before it is
// validated: every campaign starts as a draft, made by whoever created it.
func registerCampaignHooks(app core.App) {
	app.OnRecordCreateRequest("campaigns").BindFunc(func(e *core.RecordRequestEvent) error {
		if c := callerOf(e.RequestEvent); c.UserID != "" && e.Record.GetString("created_by") == "" && !e.HasSuperuserAuth() {
			e.Record.Set("created_by", c.UserID)
		}
		return e.Next()
	})
	app.OnRecordCreate("campaigns").BindFunc(func(e *core.RecordEvent) error {
		if e.Record.GetString("status") == "" {
			e.Record.Set("status", "draft")
		}
		return e.Next()
	})
}
