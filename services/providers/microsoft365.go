package providers

import (
	"regexp"

	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/senders/microsoft365"
)

var (
	guid   = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	tenant = regexp.MustCompile(`^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+)$`)
)

// microsoft365Provider: Microsoft Graph's sendMail with app-only client
// credentials; the sender is services/senders/microsoft365 (the only
// package that imports msgraph-sdk-go).
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
	Open: func(env Env, c Config) (senders.Sender, error) {
		var save *bool
		if v, ok := c.Plain["save_to_sent_items"].(bool); ok {
			save = &v
		}
		s, err := microsoft365.New(microsoft365.Config{TenantID: c.String("tenant_id"), ClientID: c.String("client_id"),
			ClientSecret: c.Secret("client_secret"), Sender: c.String("sender"), SaveToSentItems: save,
			BaseURL: c.String("base_url"), HTTPClient: env.Options.HTTPClient, Now: env.Options.Now})
		if err != nil {
			return nil, errNotConfigured(Microsoft365, err.Error())
		}
		return s, nil
	},
}
