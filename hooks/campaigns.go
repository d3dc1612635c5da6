package hooks

import "github.com/pocketbase/pocketbase/core"

// registerCampaignHooks fills the defaults of a new campaign before it is
// validated: every campaign starts as a draft, made by whoever created it.
func registerCampaignHooks(app core.App) {
	app.OnRecordCreateRequest("campaigns").BindFunc(func(e *core.RecordRequestEvent) error {
		if e.Auth != nil && e.Record.GetString("created_by") == "" && e.Auth.Collection().Name == "users" {
			e.Record.Set("created_by", e.Auth.Id)
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
