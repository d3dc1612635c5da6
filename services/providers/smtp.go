package providers

import (
	"fmt"

	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/senders/smtp"
)

// smtpProvider is any mail server that takes SMTP submission.
var smtpProvider = &Provider{
	Name: SMTP, Label: "SMTP server", Channel: "email",
	Fields: []Field{
		fromEmail(true, "The address your mail server lets this login send as (news@example.com or Shop <news@example.com>)"),
		{Name: "host", Label: "Host", Kind: KindText, Required: true, Check: checkHost,
			Hint: "Your provider's SMTP submission server, e.g. smtp.example.com (without scheme or port)"},
		{Name: "port", Label: "Port", Kind: KindInt, Hint: "Empty or 0: 587 for starttls, 465 for tls, 25 for none",
			Check: func(v any) string {
				if n := v.(int); n != 0 && (n < 1 || n > 65535) {
					return "between 1 and 65535 (587 for starttls, 465 for tls)"
				}
				return ""
			}},
		{Name: "tls", Label: "Encryption", Kind: KindSelect, Options: []string{smtp.TLSStartTLS, smtp.TLSImplicit, smtp.TLSNone},
			Default: smtp.TLSStartTLS, Hint: `"starttls" (port 587) or "tls" (port 465) as your provider says; "none" only for a relay on your own network`},
		{Name: "username", Label: "Username", Kind: KindText, Check: func(v any) string {
			if s := v.(string); len(s) > 320 {
				return "at most 320 characters on one line"
			}
			return ""
		}, Hint: "The SMTP login, often the mailbox address; empty for a relay without login"},
		{Name: "password", Label: "Password", Kind: KindSecret, Check: secretLine(1000),
			Hint: "The SMTP password or app password of that login"},
		{Name: "reply_to", Label: "Reply-To", Kind: KindText, Check: checkAddress, Hint: "Optional: where replies go"},
		rateField(0, "0 is unlimited; your mail provider's hourly limit divided by 3600 keeps you under it"),
		dailyField(0, "0 is unlimited; set your mail provider's daily sending limit"),
		{Name: "concurrency", Label: "Connections", Kind: KindInt, Default: DefaultSMTPConcurrent,
			Hint: "Connections kept open to the server (most providers allow a few)",
			Check: func(v any) string {
				if n := v.(int); n < 1 || n > MaxSMTPConcurrent {
					return fmt.Sprintf("between 1 and %d connections", MaxSMTPConcurrent)
				}
				return ""
			}},
	},
	LimitsNote: "SMTP servers publish their own limits: set them here.",
	Derive: func(c Config) {
		if c.Int("port") == 0 {
			c.Plain["port"] = smtp.DefaultPort(c.String("tls"))
		}
	},
	Missing: func(c Config) string {
		if c.String("username") != "" && c.Secret("password") == "" {
			return "a username without a password"
		}
		return ""
	},
	Concurrency: func(c Config) int { return c.Int("concurrency") },
	Open: func(env Env, c Config) (senders.Sender, error) {
		s, err := smtp.New(smtp.Config{Host: c.String("host"), Port: c.Int("port"), TLS: c.String("tls"),
			Username: c.String("username"), Password: c.Secret("password"), From: c.String("from"), ReplyTo: c.String("reply_to"),
			Concurrency: max(1, c.Int("concurrency")), TLSConfig: env.Options.TLSConfig})
		if err != nil {
			return nil, errNotConfigured(SMTP, err.Error())
		}
		return s, nil
	},
}
