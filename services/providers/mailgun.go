package providers

import (
	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/senders/mailgun"
)

// mailgunProvider: Mailgun's HTTP API (mailgun-go), webhooks signed with
// the webhook signing key.
var mailgunProvider = &Provider{
	Name: Mailgun, Label: "Mailgun", Channel: "email",
	Fields: []Field{
		fromEmail(true, "An address at your sending domain (news@mg.example.com or Shop <news@mg.example.com>)"),
		{Name: "domain", Label: "Sending domain", Kind: KindText, Required: true, Check: checkHost,
			Hint: "Mailgun → Send → Sending → Domains: the domain name you verified, e.g. mg.example.com"},
		{Name: "api_key", Label: "API key", Kind: KindSecret, Check: secretLine(200),
			Hint: "Mailgun → your name (top right) → API Security → Add new key (a sending key of the domain works too)"},
		{Name: "region", Label: "Region", Kind: KindSelect, Options: []string{mailgun.RegionUS, mailgun.RegionEU}, Default: mailgun.RegionUS,
			Hint: "Where the domain was created: eu if your Mailgun address starts with app.eu.mailgun.com"},
		{Name: "webhook_signing_key", Label: "Webhook signing key", Kind: KindSecret, Check: secretLine(200),
			Hint: "Mailgun → Send → Sending → Webhooks → HTTP webhook signing key (needed for bounces and complaints)"},
		{Name: "reply_to", Label: "Reply-To", Kind: KindText, Check: checkAddress, Hint: "Optional: where replies go"},
		baseURLField("api.mailgun.net (us) or api.eu.mailgun.net (eu)"),
		rateField(0, "0 is unlimited; Mailgun's limits depend on your plan (Mailgun → Account → Plan)"),
		dailyField(0, "0 is unlimited; a free or trial plan allows 100 messages a day"),
	},
	LimitsNote: "Mailgun's limits depend on the plan: configurable, unlimited by default.",
	Missing: func(c Config) string {
		if c.Secret("api_key") == "" {
			return "no api_key"
		}
		return ""
	},
	Concurrency: func(Config) int { return 4 },
	Open: func(env Env, c Config) (senders.Sender, error) {
		s, err := mailgun.New(mailgun.Config{Domain: c.String("domain"), APIKey: c.Secret("api_key"), Region: c.String("region"),
			BaseURL: c.String("base_url"), From: c.String("from"), ReplyTo: c.String("reply_to"),
			HTTPClient: env.Options.HTTPClient, Now: env.Options.Now})
		if err != nil {
			return nil, errNotConfigured(Mailgun, err.Error())
		}
		return s, nil
	},
}
