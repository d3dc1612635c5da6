package providers

import (
	"context"
	"time"

	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pocketbase/pocketbase/core"
)

// What a provider's test says of its look-up (POST …/providers/{name}/test
// answers it as "lookup", with "lookup_detail"): whether the engine can
// settle "unknown" rows with these credentials (services/sending/settle.go).
const (
	// LookupOK: the provider answered a look-up of the test message.
	LookupOK = "ok"
	// LookupNoReadPermission: the credentials send but may not read what a
	// look-up reads (Gmail gmail.readonly or gmail.metadata, Graph
	// Mail.ReadBasic.All, a Mailgun key that reads events); unknown rows stay
	// unknown for a person. The detail names the permission to grant.
	LookupNoReadPermission = "no_read_permission"
	// LookupUnsupported: the provider has no look-up (outbox, smtp).
	LookupUnsupported = "unsupported"
	// LookupFailed: the look-up failed otherwise (the provider unreachable):
	// the detail says how; test again.
	LookupFailed = "failed"
)

// ProbeLookup looks the test message m, sent through s at since, up at the
// provider to learn whether its credentials may read: the status (Lookup*)
// and a detail for the person (empty when ok). Whether it was found does
// not matter (a provider's index may lag a send): only that it could be
// asked.
func ProbeLookup(ctx context.Context, s senders.Sender, m senders.Message, since time.Time) (status, detail string) {
	l, ok := s.(senders.Looker)
	if !ok {
		return LookupUnsupported, "this provider cannot look a delivery up: a message whose outcome is unknown stays unknown for a person"
	}
	delivery := m.DeliveryID
	if delivery == "" {
		// a test has no ledger row: an id nothing carries, so that the
		// look-up by delivery (Mailgun's events) is really asked
		delivery = "probe." + core.GenerateDefaultRandomId()
	}
	res, err := l.Lookup(ctx, senders.Query{Workspace: m.Workspace, DeliveryID: delivery, MessageID: m.MessageID,
		Channel: m.Channel, To: m.To, Since: since})
	switch {
	case res.NoReadPermission:
		return LookupNoReadPermission, res.Reason
	case err != nil:
		return LookupFailed, err.Error()
	}
	return LookupOK, ""
}
