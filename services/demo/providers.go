package demo

import (
	"encoding/json"
	"fmt"

	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/providers"
	"github.com/pi-crm/pi-crm/services/settings"
)

// mailgunExample is the Mailgun setting of Andy's workspace: filled in as a
// shop would (a sending domain at example.com, the EU region, a Reply-To)
// but with no API key, so it is "not set up" and nothing can reach Mailgun
// or anywhere else: campaigns keep the outbox, the workspace's default.
// Settings → Mailgun shows the form, its console hints and default limits
// with values in it.
var mailgunExample = map[string]any{
	"from":     "Andy's Shop <news@mg.example.com>",
	"domain":   "mg.example.com",
	"region":   "eu",
	"reply_to": "andy@example.com",
}

// providerExample stores mailgunExample through the providers' own checks
// (providers.Validate, as PUT …/providers/mailgun does) unless the
// workspace has a Mailgun setting already.
func (s *Seeder) providerExample(sum *Summary) error {
	ws, err := s.app.FindFirstRecordByFilter("workspaces", "name = \"Andy's workspace\"")
	if err != nil {
		return fmt.Errorf("demo provider: Andy's workspace: %w", err)
	}
	andy, err := s.app.FindAuthRecordByEmail("users", "andy@example.com")
	if err != nil {
		return err
	}
	store := settings.New(s.app)
	if cur, err := store.Get(ws.Id, providers.Mailgun); err != nil || cur.Exists {
		return err
	}
	in := providers.Input{}
	for k, v := range mailgunExample {
		raw, err := json.Marshal(v)
		if err != nil {
			return err
		}
		in[k] = raw
	}
	plain, secrets, err := providers.Validate(providers.Mailgun, in)
	if err != nil {
		return fmt.Errorf("demo provider: %w", err)
	}
	if len(secrets) != 0 {
		return fmt.Errorf("demo provider: the example must hold no secret")
	}
	if err := store.Put(ws.Id, providers.Mailgun, plain, nil, audit.Actor{UserID: andy.Id}); err != nil {
		return fmt.Errorf("demo provider: %w", err)
	}
	sum.Providers++
	return nil
}
