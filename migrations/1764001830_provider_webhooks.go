package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// Provider webhooks (services/webhooks):
//
//   - webhook_tokens: the Mailgun webhook tokens already seen, each kept until
//     it is too old to be accepted anyway (expires_at), so a replayed
//     signature is refused. The server's own: no API rules (superusers only),
//     no relation (a token names its workspace as text).
//   - campaign_deliveries gain when the provider reported the message
//     delivered, first opened and first clicked (the webhook's event times).
func init() {
	m.Register(func(app core.App) error {
		c := core.NewBaseCollection("webhook_tokens")
		c.Fields.Add(
			&core.TextField{Name: "workspace", Max: 50, Required: true},
			&core.TextField{Name: "provider", Max: 50, Required: true},
			&core.TextField{Name: "token", Max: 200, Required: true},
			&core.DateField{Name: "expires_at", Required: true},
		)
		c.AddIndex("idx_webhook_tokens_token", true, "provider, token", "")
		c.AddIndex("idx_webhook_tokens_expires", false, "expires_at", "")
		if err := app.Save(c); err != nil {
			return err
		}
		d, err := app.FindCollectionByNameOrId("campaign_deliveries")
		if err != nil {
			return err
		}
		d.Fields.Add(
			&core.DateField{Name: "delivered_at"},
			&core.DateField{Name: "opened_at"},
			&core.DateField{Name: "clicked_at"},
		)
		return app.Save(d)
	}, func(app core.App) error {
		if d, err := app.FindCollectionByNameOrId("campaign_deliveries"); err == nil {
			for _, f := range []string{"delivered_at", "opened_at", "clicked_at"} {
				d.Fields.RemoveByName(f)
			}
			if err := app.Save(d); err != nil {
				return err
			}
		}
		if c, err := app.FindCollectionByNameOrId("webhook_tokens"); err == nil {
			return app.Delete(c)
		}
		return nil
	})
}
