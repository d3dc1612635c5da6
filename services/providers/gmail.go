package providers

import (
	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/senders/gmail"
)

// gmailProvider: Google Workspace through the Gmail API, as a service
// account with domain-wide delegation (the user to send as) or an OAuth
// refresh token; the sender is services/senders/gmail.
var gmailProvider = &Provider{
	Name: Gmail, Label: "Google Workspace (Gmail)", Channel: "email",
	Fields: []Field{
		fromEmail(false, "Optional: the From header (an address or alias of the user sending; the user's own address when empty)"),
		{Name: "service_account_json", Label: "Service account key (JSON)", Kind: KindSecret, Multiline: true,
			Check: func(v any) string {
				if len(v.(string)) > 20000 {
					return "at most 20,000 characters"
				}
				return ""
			},
			Hint: "Google Cloud console → IAM & Admin → Service accounts → Keys → Add key (JSON); allow it in Admin console → Security → API controls → Domain-wide delegation with gmail.send and gmail.readonly"},
		{Name: "delegated_user", Label: "Send as user", Kind: KindText, Check: checkAddress,
			Hint: "With a service account: the Workspace user whose mailbox sends (news@example.com)"},
		{Name: "client_id", Label: "OAuth client ID", Kind: KindText, Check: secretLine(300),
			Hint: "Instead of a service account: Google Cloud console → APIs & Services → Credentials → OAuth client ID"},
		{Name: "client_secret", Label: "OAuth client secret", Kind: KindSecret, Check: secretLine(300),
			Hint: "The same OAuth client's secret"},
		{Name: "refresh_token", Label: "OAuth refresh token", Kind: KindSecret, Check: secretLine(2000),
			Hint: "A refresh token granted to that client with the gmail.send (and gmail.readonly for look-ups) scopes"},
		baseURLField("gmail.googleapis.com"),
		rateField(2.5, "Google Workspace: about 150 messages a minute per user (2.5 a second)"),
		dailyField(2000, "Google Workspace: 2,000 messages a day per user"),
	},
	LimitsNote: "Google Workspace: 2,000 messages a day per user and about 150 sends a minute.",
	Check: func(c Config, bad map[string]string) {
		if c.String("client_id") == "" && c.String("delegated_user") == "" {
			bad["delegated_user"] = "a delegated_user (with a service account) or a client_id (with a refresh token) is required"
		}
	},
	Missing: func(c Config) string {
		sa := c.Secret("service_account_json") != "" && c.String("delegated_user") != ""
		oauth := c.String("client_id") != "" && c.Secret("client_secret") != "" && c.Secret("refresh_token") != ""
		if !sa && !oauth {
			return "neither service_account_json with delegated_user nor client_id, client_secret and refresh_token"
		}
		return ""
	},
	Open: func(env Env, c Config) (senders.Sender, error) {
		s, err := gmail.New(gmail.Config{ServiceAccountJSON: c.Secret("service_account_json"), DelegatedUser: c.String("delegated_user"),
			ClientID: c.String("client_id"), ClientSecret: c.Secret("client_secret"), RefreshToken: c.Secret("refresh_token"),
			From: c.String("from"), BaseURL: c.String("base_url"), HTTPClient: env.Options.HTTPClient, Now: env.Options.Now})
		if err != nil {
			return nil, errNotConfigured(Gmail, err.Error())
		}
		return s, nil
	},
}
