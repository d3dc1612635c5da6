package providers

import (
	"regexp"
	"strings"

	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/senders/twilio"
	"github.com/pi-crm/pi-crm/services/suppressions"
)

var (
	accountSID   = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	serviceSID   = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
	apiKeySID    = regexp.MustCompile(`^SK[0-9a-fA-F]{32}$`)
	alphaSender  = regexp.MustCompile(`^[A-Za-z0-9 ]{1,11}$`)
	twilioLetter = regexp.MustCompile(`[A-Za-z]`)
)

// TwilioWebhookPath is where Twilio posts status callbacks and inbound
// messages, under the Application URL.
func TwilioWebhookPath(ws string) string { return "/api/crm/webhooks/twilio/" + ws }

// twilioProvider: Twilio's Messages API (twilio-go), SMS paced by segments.
var twilioProvider = &Provider{
	Name: Twilio, Label: "Twilio", Channel: "sms",
	Fields: []Field{
		{Name: "account_sid", Label: "Account SID", Kind: KindText, Required: true,
			Check: pattern(accountSID, "AC followed by 32 hexadecimal characters"),
			Hint:  "Twilio Console → Account Dashboard → Account Info → Account SID (starts with AC)"},
		{Name: "auth_token", Label: "Auth token", Kind: KindSecret, Check: pattern(regexp.MustCompile(`^[A-Za-z0-9]{1,100}$`), "letters and digits only"),
			Hint: "Twilio Console → Account Dashboard → Account Info → Auth Token. Twilio signs its webhooks (delivery statuses, STOP) with it, so they need it even when an API key sends"},
		{Name: "api_key_sid", Label: "API key SID", Kind: KindText, Check: pattern(apiKeySID, "SK followed by 32 hexadecimal characters"),
			Hint: "Optional, instead of the auth token for sending: Twilio Console → Account → API keys & tokens → Create API key (a Standard key; its SID starts with SK)"},
		{Name: "api_key_secret", Label: "API key secret", Kind: KindSecret, Check: pattern(regexp.MustCompile(`^[A-Za-z0-9]{1,100}$`), "letters and digits only"),
			Hint: "Shown once when the key is created"},
		{Name: "from_number", Label: "From number", Kind: KindText, Check: pattern(e164, "a number in E.164, such as +15017122661"),
			Hint: "Twilio Console → Phone Numbers → Manage → Active numbers: a number with SMS, in E.164 (+15017122661)"},
		{Name: "messaging_service_sid", Label: "Messaging Service SID", Kind: KindText, Check: pattern(serviceSID, "MG followed by 32 hexadecimal characters"),
			Hint: "Instead of a number: Twilio Console → Messaging → Services → the service's SID (starts with MG)"},
		{Name: "from", Label: "Alphanumeric sender ID", Kind: KindText, Check: func(v any) string {
			s := v.(string)
			if !alphaSender.MatchString(s) || !twilioLetter.MatchString(s) {
				return "1 to 11 letters, digits and spaces, at least one letter (only where Twilio allows sender IDs)"
			}
			return ""
		}, Hint: "Optional, only in countries that allow it: the name shown instead of the number (Twilio Console → Messaging → Senders)"},
		baseURLField("api.twilio.com"),
		rateField(1, "Segments per second: 1 for a long code; toll-free numbers start at 3, short codes at 100 (Twilio → Messaging → your sender's throughput)"),
		dailyField(0, "0 is unlimited; segments a day, as Twilio counts them (a message of 161 GSM-7 characters is two)"),
	},
	LimitsNote: "Twilio: 1 segment a second per long code (a segment is 160 GSM-7 or 70 UCS-2 characters, 153/67 in a longer message); higher for toll-free numbers and short codes.",
	Check: func(c Config, bad map[string]string) {
		if c.String("from_number") == "" && c.String("messaging_service_sid") == "" {
			bad["from_number"] = "a from number or a messaging_service_sid is required"
		}
	},
	Missing: func(c Config) string {
		switch {
		case c.Secret("auth_token") == "" && (c.String("api_key_sid") == "" || c.Secret("api_key_secret") == ""):
			return "no auth_token (or api_key_sid and api_key_secret)"
		case c.String("from_number") == "" && c.String("messaging_service_sid") == "":
			return "no from_number or messaging_service_sid"
		}
		return ""
	},
	// the sender paces itself in segments (the engine counts messages);
	// the daily limit counts segments (what Twilio answers, num_segments)
	EngineRate: func(Config) float64 { return 0 },
	DailyUnits: "segments",
	Open: func(env Env, c Config) (senders.Sender, error) {
		callback := ""
		if base := strings.TrimRight(strings.TrimSpace(env.App.Settings().Meta.AppURL), "/"); strings.HasPrefix(base, "http") {
			callback = base + TwilioWebhookPath(env.Workspace)
		}
		app, ws := env.App, env.Workspace
		s, err := twilio.New(twilio.Config{AccountSID: c.String("account_sid"), AuthToken: c.Secret("auth_token"),
			APIKeySID: c.String("api_key_sid"), APIKeySecret: c.Secret("api_key_secret"),
			FromNumber: c.String("from_number"), MessagingServiceSID: c.String("messaging_service_sid"), From: c.String("from"),
			StatusCallback: callback, BaseURL: c.String("base_url"), SegmentsPerSecond: c.Float("rate_per_second"),
			HTTPClient: env.Options.HTTPClient, Now: env.Options.Now,
			OptedOut: func(number string) {
				if _, err := suppressions.Add(app, ws, "sms", number, suppressions.SMSStop, audit.Actor{}); err != nil {
					app.Logger().Warn("twilio: suppressing an opted-out number", "workspace", ws, "error", err.Error())
				}
			}})
		if err != nil {
			return nil, errNotConfigured(Twilio, err.Error())
		}
		return s, nil
	},
}
