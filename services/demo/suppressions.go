package demo

import (
	"fmt"

	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/suppressions"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// demoSuppression is a suppression of the Shared workspace as a provider's
// webhook leaves it (services/webhooks): a contact of the demo (its number,
// as in run.contact) and why no campaign writes to it any more.
type demoSuppression struct {
	contact         int
	channel, reason string
}

// demoSuppressions: a hard bounce and a spam complaint reported by Mailgun,
// an SMS STOP replied through Twilio. They are seeded after the campaigns
// (the sent one reached these contacts; the one waiting for approval counts
// them as suppressed), so the suppressions list, the audience and the
// insights have something to show.
var demoSuppressions = []demoSuppression{
	{contact: 31, channel: "email", reason: suppressions.HardBounce},
	{contact: 32, channel: "email", reason: suppressions.Complaint},
	{contact: 33, channel: "sms", reason: suppressions.SMSStop},
}

// suppressions adds whichever of demoSuppressions is missing, through the
// same service as the webhooks (an audit entry naming the server).
func (s *Seeder) suppressions(sum *Summary) error {
	ws, err := s.app.FindFirstRecordByFilter("workspaces", "name = 'Shared'")
	if err != nil {
		return fmt.Errorf("demo suppressions: the Shared workspace: %w", err)
	}
	return s.app.RunInTransaction(func(tx core.App) error {
		for _, d := range demoSuppressions {
			field, address := "primary_email", contactEmail(d.contact)
			if d.channel == "sms" {
				field, address = "primary_phone", contactPhone(d.contact)
			}
			if address == "" {
				return fmt.Errorf("demo suppressions: contact %d has no %s", d.contact, field)
			}
			// only an address of the workspace's contacts
			if _, err := tx.FindFirstRecordByFilter("contacts", "workspace = {:w} && "+field+" = {:a}", dbx.Params{"w": ws.Id, "a": address}); err != nil {
				return fmt.Errorf("demo suppressions: no contact with %s in Shared: %w", address, err)
			}
			created, err := suppressions.Add(tx, ws.Id, d.channel, address, d.reason, audit.Actor{})
			if err != nil {
				return fmt.Errorf("demo suppression %s: %w", address, err)
			}
			if created {
				sum.Suppressions++
			}
		}
		return nil
	})
}
