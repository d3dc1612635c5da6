// Package providers opens a workspace's sending providers: their settings
// (services/settings, setting_key "provider.<name>", secrets write-only),
// their validation, the sender they give and its limits, and the workspace's
// default provider.
//
// Each provider is one file declaring a Provider: its fields (plain or
// secret, defaults, a check with its message, where to find the value in the
// provider's console), its default limits (the rate_per_second and
// daily_limit fields' defaults) and how it opens its sender. The registry
// (All) lists them in the order the UI shows them; everything else —
// validation, views, Open — reads the declarations, so adding a provider is
// adding its file and its line in All. "ai" is not a sending provider
// (services/ai).
//
// Field names, the same for every provider so that scripts can rely on
// them: from, rate_per_second, daily_limit, and each provider's own fields.
// A secret is never answered: a view says has_<field>.
package providers

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pocketbase/pocketbase/core"
)

// Provider names.
const (
	Outbox       = "outbox"
	SMTP         = "smtp"
	Mailgun      = "mailgun"
	Gmail        = "gmail"
	Microsoft365 = "microsoft365"
	Twilio       = "twilio"
)

// Provider is one provider's declaration.
type Provider struct {
	Name    string
	Label   string // "Mailgun"
	Channel string // "email" or "sms"
	// Fields in the order the settings form shows them (from,
	// rate_per_second and daily_limit among them: commonFields).
	Fields []Field
	// LimitsNote says where the default limits come from (the provider's
	// published limits), shown beside them.
	LimitsNote string
	// Check is the provider's checks across fields (one of two fields, …):
	// it adds a message per field to bad. nil: none.
	Check func(c Config, bad map[string]string)
	// Derive fills values that depend on others (smtp's port from its tls
	// mode) after loading and validating. nil: none.
	Derive func(c Config)
	// Missing says what keeps a stored configuration from sending ("" when
	// it can): a required field or secret not set. nil: never missing.
	Missing func(c Config) string
	// Concurrency is the parallel sends (nil: 1).
	Concurrency func(c Config) int
	// DailyUnits is what daily_limit counts ("": messages; Twilio
	// "segments", senders.Limits.DailyUnits).
	DailyUnits string
	// EngineRate: the engine's rate (messages per second) from the config
	// (nil: rate_per_second). A provider that paces itself (Twilio counts
	// segments) answers 0.
	EngineRate func(c Config) float64
	// Open opens the sender of a configuration Missing accepted.
	Open func(env Env, c Config) (senders.Sender, error)
}

// Env is what opening a sender may need besides its configuration.
type Env struct {
	App       core.App
	Workspace string
	Options   Options
}

// Options are for tests and the server's wiring.
type Options struct {
	// TLSConfig is SMTP's base TLS configuration (nil: the system's roots).
	TLSConfig *tls.Config
	// HTTPClient is the remote providers' HTTP client (nil: their SDK's
	// default with a 30 s timeout).
	HTTPClient *http.Client
	// Now is the remote providers' clock (nil: time.Now), for look-ups.
	Now func() time.Time
}

// All are the sending providers, in the order the UI lists them.
func All() []*Provider {
	return []*Provider{outboxProvider, smtpProvider, mailgunProvider, gmailProvider, microsoft365Provider, twilioProvider}
}

// Names are the sending providers' names, in order.
var Names = func() []string {
	out := make([]string, 0, len(All()))
	for _, p := range All() {
		out = append(out, p.Name)
	}
	return out
}()

// Get is the provider named name (nil: none).
func Get(name string) *Provider {
	for _, p := range All() {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Known reports whether name is a sending provider.
func Known(name string) bool { return Get(name) != nil }

// DefaultSettingKey is the workspace setting (system_settings, scope
// workspace, a JSON string value) naming the default provider.
const DefaultSettingKey = "providers.default"

// Error codes.
const (
	CodeUnknown         = "provider_unknown"
	CodeNotConfigured   = "provider_not_configured"
	CodeSettingsInvalid = "provider_settings_invalid"
	CodeTestInvalid     = "provider_test_invalid"
	CodeTestFailed      = "provider_test_failed"
	CodeDefaultInvalid  = "provider_default_invalid"
)

// SettingsURL is where the UI configures the sending providers.
const SettingsURL = "/settings"

// Bounds.
const (
	MaxRatePerSecond      = 10000
	MaxDailyLimit         = 10_000_000
	DefaultSMTPConcurrent = 4
	MaxSMTPConcurrent     = 50
)

// ErrUnknown is the error of a name that is no sending provider.
func ErrUnknown(name string) *apperr.Error {
	return apperr.BadRequest(CodeUnknown, fmt.Sprintf("There is no sending provider %q: use one of %s", name, strings.Join(Names, ", "))).
		With("provider", name).With("providers", Names)
}

func errNotConfigured(name, missing string) *apperr.Error {
	return apperr.BadRequest(CodeNotConfigured, fmt.Sprintf("The %s provider is not set up for this workspace (%s): an owner or admin sets it up in Settings", name, missing)).
		With("provider", name).With("settings_url", SettingsURL)
}

// channelGuard refuses a message of another channel than the sender's
// (a campaign naming an SMS provider for an email): permanent, named.
type channelGuard struct{ senders.Sender }

func (g channelGuard) Send(ctx context.Context, m senders.Message) (senders.Result, error) {
	if m.Channel != "" && m.Channel != g.Channel() {
		return senders.Result{}, senders.Permanent(fmt.Errorf("the %s provider sends %s only, not %s: choose a provider of the campaign's channel",
			g.Name(), g.Channel(), m.Channel))
	}
	return g.Sender.Send(ctx, m)
}

// UnitsOf is the inner sender's (senders.UnitCounter), else one message:
// the guard keeps what a provider's daily limit counts visible.
func (g channelGuard) UnitsOf(m senders.Message) int {
	if u, ok := g.Sender.(senders.UnitCounter); ok {
		return u.UnitsOf(m)
	}
	return 1
}

// lookingGuard is a channelGuard over a senders.Looker, still one.
type lookingGuard struct {
	channelGuard
	senders.Looker
}

// Send is the guard's (the Looker has none; spelled out for clarity).
func (g lookingGuard) Send(ctx context.Context, m senders.Message) (senders.Result, error) {
	return g.channelGuard.Send(ctx, m)
}

// chainingGuard is a channelGuard over a senders.ChainSender, still one.
type chainingGuard struct {
	channelGuard
	chain senders.ChainSender
}

// SendChain is the inner sender's when every message is of its channel;
// else each goes alone through the guard, which refuses the others.
func (g chainingGuard) SendChain(ctx context.Context, ms []senders.Message, done func(int, senders.Result, error) bool) {
	for _, m := range ms {
		if m.Channel != "" && m.Channel != g.Channel() {
			for i, m := range ms {
				r, err := g.Send(ctx, m)
				if !done(i, r, err) {
					return
				}
			}
			return
		}
	}
	g.chain.SendChain(ctx, ms, done)
}

// guard wraps s in the channel check, keeping its look-up or its chains.
func guard(s senders.Sender) senders.Sender {
	if l, ok := s.(senders.Looker); ok {
		return lookingGuard{channelGuard{s}, l}
	}
	if c, ok := s.(senders.ChainSender); ok {
		return chainingGuard{channelGuard{s}, c}
	}
	return channelGuard{s}
}
