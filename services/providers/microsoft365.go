package providers

import (
	"regexp"

	"github.com/pi-crm/pi-crm/services/senders"
)

var (
	guid   = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	tenant = regexp.MustCompile(`^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+)$`)
)

// microsoft365Provider: Microsoft Graph's sendMail with app-only client
// credentials. The sender (services/senders/microsoft365) is not in this
// build yet: its settings are stored and shown, Open refuses.
var microsoft365Provider = &Provider{
	Name: Microsoft365, Label: "Microsoft 365", Channel: "email",
	Fields: []Field{
		fromEmail(false, "Optional: the From header (the sender mailbox when empty)"),
		{Name: "tenant_id", Label: "Directory (tenant) ID", Kind: KindText, Required: true,
			Check: pattern(tenant, "a GUID or your tenant's domain (contoso.onmicrosoft.com)"),
			Hint:  "Microsoft Entra admin center → App registrations → your app → Overview → Directory (tenant) ID"},
		{Name: "client_id", Label: "Application (client) ID", Kind: KindText, Required: true, Check: pattern(guid, "a GUID (00000000-0000-0000-0000-000000000000)"),
			Hint: "The same Overview page → Application (client) ID; the app needs the Mail.Send application permission (and Mail.ReadBasic for look-ups)"},
		{Name: "client_secret", Label: "Client secret", Kind: KindSecret, Check: secretLine(500),
			Hint: "Your app → Certificates & secrets → New client secret: its Value (shown once)"},
		{Name: "sender", Label: "Sender mailbox", Kind: KindText, Required: true, Check: checkAddress,
			Hint: "The mailbox that sends (news@example.com); an application access policy may restrict the app to it"},
		{Name: "save_to_sent_items", Label: "Save to Sent Items", Kind: KindBool, Default: true,
			Hint: "Keep a copy in the mailbox's Sent Items (the look-up after a crash reads it)"},
		baseURLField("graph.microsoft.com"),
		rateField(0.5, "Exchange Online: 30 messages a minute per mailbox (0.5 a second)"),
		dailyField(10000, "Exchange Online: 10,000 recipients a day per mailbox"),
	},
	LimitsNote: "Microsoft 365: 30 messages a minute and 10,000 recipients a day per mailbox.",
	Missing: func(c Config) string {
		if c.Secret("client_secret") == "" {
			return "no client_secret"
		}
		return ""
	},
	Open: func(Env, Config) (senders.Sender, error) { return nil, notInThisBuild(Microsoft365) },
}
