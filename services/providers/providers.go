// Package providers opens a workspace's sending providers: their settings
// (services/settings, setting_key "provider.<name>", secrets write-only),
// their validation, the sender they give and its limits, and the workspace's
// default provider. Names: "outbox" (the embedded default, needs no settings)
// and "smtp". "ai" is not a sending provider (services/ai).
//
// Field names, the same for every provider so that scripts can rely on
// them: from, rate_per_second, daily_limit; smtp adds host, port, tls
// (none|starttls|tls), username, password (a secret: never answered, only
// has_password), reply_to, and concurrency (connections kept, default 4).
package providers

import (
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/mail"
	"regexp"
	"strings"

	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/senders/outbox"
	"github.com/pi-crm/pi-crm/services/senders/smtp"
	"github.com/pi-crm/pi-crm/services/settings"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// Provider names.
const (
	Outbox = outbox.Name
	SMTP   = smtp.Name
)

// Names are the sending providers, in the order the UI lists them.
var Names = []string{Outbox, SMTP}

// DefaultSettingKey is the workspace setting (system_settings, scope
// workspace, a JSON string value) naming the default provider.
const DefaultSettingKey = "providers.default"

// SecretPassword is the SMTP password's name in services/settings.
const SecretPassword = "password"

// Error codes.
const (
	CodeUnknown         = "provider_unknown"
	CodeNotConfigured   = "provider_not_configured"
	CodeSettingsInvalid = "provider_settings_invalid"
	CodeTestInvalid     = "provider_test_invalid"
	CodeTestFailed      = "provider_test_failed"
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

// Known reports whether name is a sending provider.
func Known(name string) bool { return name == Outbox || name == SMTP }

// ErrUnknown is the error of a name that is no sending provider.
func ErrUnknown(name string) *apperr.Error {
	return apperr.BadRequest(CodeUnknown, fmt.Sprintf("There is no sending provider %q: use one of %s", name, strings.Join(Names, ", "))).
		With("provider", name).With("providers", Names)
}

func errNotConfigured(name, missing string) *apperr.Error {
	return apperr.BadRequest(CodeNotConfigured, fmt.Sprintf("The %s provider is not set up for this workspace (%s): an owner or admin sets it up in Settings", name, missing)).
		With("provider", name).With("settings_url", SettingsURL)
}

// Settings is a provider's stored (plain) configuration. Outbox uses the
// first three fields only.
type Settings struct {
	From          string  `json:"from"`
	RatePerSecond float64 `json:"rate_per_second"`
	DailyLimit    int     `json:"daily_limit"`
	Host          string  `json:"host,omitempty"`
	Port          int     `json:"port,omitempty"`
	TLS           string  `json:"tls,omitempty"`
	Username      string  `json:"username,omitempty"`
	ReplyTo       string  `json:"reply_to,omitempty"`
	Concurrency   int     `json:"concurrency,omitempty"`
}

// Input is the body of PUT …/providers/{name}: omitted fields take their
// defaults (rate and limit 0: unlimited); password omitted keeps the stored
// one, "" removes it.
type Input struct {
	From          *string  `json:"from"`
	RatePerSecond *float64 `json:"rate_per_second"`
	DailyLimit    *int     `json:"daily_limit"`
	Host          *string  `json:"host"`
	Port          *int     `json:"port"`
	TLS           *string  `json:"tls"`
	Username      *string  `json:"username"`
	Password      *string  `json:"password"`
	ReplyTo       *string  `json:"reply_to"`
	Concurrency   *int     `json:"concurrency"`
}

var hostname = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$`)

// Validate checks in for provider name: the settings to store and the
// secrets to change (settings.Store.Put), or 400 provider_settings_invalid
// with a message per field in data.fields.
func Validate(name string, in Input) (Settings, map[string]string, error) {
	if !Known(name) {
		return Settings{}, nil, ErrUnknown(name)
	}
	bad := map[string]string{}
	var s Settings
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return strings.TrimSpace(*p)
	}
	s.From = str(in.From)
	switch {
	case s.From == "" && name == SMTP:
		bad["from"] = "the sender's address is required (news@example.com or Shop <news@example.com>)"
	case s.From != "":
		if msg := checkAddress(s.From); msg != "" {
			bad["from"] = msg
		}
	}
	if in.RatePerSecond != nil {
		s.RatePerSecond = *in.RatePerSecond
		if math.IsNaN(s.RatePerSecond) || s.RatePerSecond < 0 || s.RatePerSecond > MaxRatePerSecond {
			bad["rate_per_second"] = fmt.Sprintf("between 0 (unlimited) and %d messages per second", MaxRatePerSecond)
		}
	}
	if in.DailyLimit != nil {
		s.DailyLimit = *in.DailyLimit
		if s.DailyLimit < 0 || s.DailyLimit > MaxDailyLimit {
			bad["daily_limit"] = fmt.Sprintf("between 0 (unlimited) and %d messages a day", MaxDailyLimit)
		}
	}
	var secrets map[string]string
	if name == SMTP {
		s.Host = str(in.Host)
		switch {
		case s.Host == "":
			bad["host"] = "the mail server's name is required (smtp.example.com)"
		case !hostname.MatchString(s.Host) && net.ParseIP(s.Host) == nil:
			bad["host"] = "a host name or IP address only, without scheme or port (smtp.example.com)"
		}
		s.TLS = smtp.TLSStartTLS
		if in.TLS != nil && strings.TrimSpace(*in.TLS) != "" {
			s.TLS = strings.TrimSpace(*in.TLS)
		}
		switch s.TLS {
		case smtp.TLSNone, smtp.TLSStartTLS, smtp.TLSImplicit:
		default:
			bad["tls"] = `one of "starttls" (port 587), "tls" (port 465) or "none"`
		}
		s.Port = smtp.DefaultPort(s.TLS)
		if in.Port != nil && *in.Port != 0 {
			s.Port = *in.Port
			if s.Port < 1 || s.Port > 65535 {
				bad["port"] = "between 1 and 65535 (587 for starttls, 465 for tls)"
			}
		}
		s.Username = str(in.Username)
		if len(s.Username) > 320 || strings.ContainsAny(s.Username, "\r\n\x00") {
			bad["username"] = "at most 320 characters on one line"
		}
		s.ReplyTo = str(in.ReplyTo)
		if s.ReplyTo != "" {
			if msg := checkAddress(s.ReplyTo); msg != "" {
				bad["reply_to"] = msg
			}
		}
		s.Concurrency = DefaultSMTPConcurrent
		if in.Concurrency != nil {
			s.Concurrency = *in.Concurrency
			if s.Concurrency < 1 || s.Concurrency > MaxSMTPConcurrent {
				bad["concurrency"] = fmt.Sprintf("between 1 and %d connections", MaxSMTPConcurrent)
			}
		}
		if in.Password != nil {
			// not trimmed: a password may end in a space
			p := *in.Password
			if len(p) > 1000 || strings.ContainsAny(p, "\r\n\x00") {
				bad["password"] = "at most 1000 characters on one line"
			}
			secrets = map[string]string{SecretPassword: p}
		}
	} else {
		for field, set := range map[string]bool{"host": in.Host != nil, "port": in.Port != nil, "tls": in.TLS != nil,
			"username": in.Username != nil, "password": in.Password != nil, "reply_to": in.ReplyTo != nil, "concurrency": in.Concurrency != nil} {
			if set {
				bad[field] = "the outbox takes only from, rate_per_second and daily_limit"
			}
		}
	}
	if len(bad) > 0 {
		return Settings{}, nil, apperr.BadRequest(CodeSettingsInvalid, "Check the "+name+" settings: "+firstProblem(bad)).With("fields", bad)
	}
	return s, secrets, nil
}

func checkAddress(raw string) string {
	if len(raw) > 320 || strings.ContainsAny(raw, "\r\n") {
		return "at most 320 characters on one line"
	}
	a, err := mail.ParseAddress(raw)
	if err != nil || !strings.Contains(a.Address, "@") {
		return "an email address (news@example.com or Shop <news@example.com>)"
	}
	return ""
}

var fieldOrder = []string{"from", "host", "port", "tls", "username", "password", "reply_to", "rate_per_second", "daily_limit", "concurrency"}

func firstProblem(bad map[string]string) string {
	for _, f := range fieldOrder {
		if m, ok := bad[f]; ok {
			return f + ": " + m
		}
	}
	return ""
}

// View is what GET …/providers/{name} answers: the settings (smtp fields
// only for smtp), whether a password is stored, never the password.
type View struct {
	Name          string  `json:"name"`
	From          string  `json:"from"`
	RatePerSecond float64 `json:"rate_per_second"`
	DailyLimit    int     `json:"daily_limit"`
	Configured    bool    `json:"configured"`
	Default       bool    `json:"default"`
	*SMTPView
}

// SMTPView is the smtp part of a View.
type SMTPView struct {
	Host        string `json:"host"`
	Port        int    `json:"port"`
	TLS         string `json:"tls"`
	Username    string `json:"username"`
	ReplyTo     string `json:"reply_to"`
	Concurrency int    `json:"concurrency"`
	HasPassword bool   `json:"has_password"`
}

// Loaded is a provider's stored settings with its secrets (server use only).
type Loaded struct {
	Name     string
	Settings Settings
	Password string // never to be answered or logged
	Stored   bool
}

// Configured: the outbox always; smtp with a host and a from address.
func (l Loaded) Configured() bool {
	if l.Name == Outbox {
		return true
	}
	return l.Settings.Host != "" && l.Settings.From != ""
}

// Limits are the sender's limits from the settings.
func (l Loaded) Limits() senders.Limits {
	lim := senders.Limits{RatePerSecond: l.Settings.RatePerSecond, DailyLimit: l.Settings.DailyLimit, Concurrency: 1}
	if l.Name == SMTP {
		lim.Concurrency = l.Settings.Concurrency
		if lim.Concurrency < 1 {
			lim.Concurrency = DefaultSMTPConcurrent
		}
	}
	return lim
}

// View is the answer of GET.
func (l Loaded) View(isDefault bool) View {
	v := View{Name: l.Name, From: l.Settings.From, RatePerSecond: l.Settings.RatePerSecond, DailyLimit: l.Settings.DailyLimit,
		Configured: l.Configured(), Default: isDefault}
	if l.Name == SMTP {
		st := l.Settings
		if st.TLS == "" {
			st.TLS = smtp.TLSStartTLS
		}
		if st.Port == 0 {
			st.Port = smtp.DefaultPort(st.TLS)
		}
		if st.Concurrency == 0 {
			st.Concurrency = DefaultSMTPConcurrent
		}
		v.SMTPView = &SMTPView{Host: st.Host, Port: st.Port, TLS: st.TLS, Username: st.Username, ReplyTo: st.ReplyTo,
			Concurrency: st.Concurrency, HasPassword: l.Password != ""}
	}
	return v
}

// Load reads provider name of workspace ws (unknown name: 400 provider_unknown).
func Load(store *settings.Store, ws, name string) (Loaded, error) {
	if !Known(name) {
		return Loaded{}, ErrUnknown(name)
	}
	st, err := store.Get(ws, name)
	if err != nil {
		return Loaded{}, err
	}
	l := Loaded{Name: name, Stored: st.Exists, Password: st.Secrets[SecretPassword]}
	if err := st.Decode(&l.Settings); err != nil {
		return Loaded{}, fmt.Errorf("providers: settings of %s: %w", name, err)
	}
	return l, nil
}

// Options change how Open builds a sender (tests: a CA to trust).
type Options struct {
	// TLSConfig is the SMTP sender's base TLS configuration (nil: the
	// system's roots).
	TLSConfig *tls.Config
}

// Open returns the sender of provider name for workspace ws and its limits:
// 400 provider_unknown for a name that is no provider, 400
// provider_not_configured for smtp without host or from. The caller closes
// the sender.
func Open(app core.App, ws, name string) (senders.Sender, senders.Limits, error) {
	return OpenWith(app, ws, name, Options{})
}

// OpenWith is Open with options.
func OpenWith(app core.App, ws, name string, opt Options) (senders.Sender, senders.Limits, error) {
	l, err := Load(settings.New(app), ws, name)
	if err != nil {
		return nil, senders.Limits{}, err
	}
	return open(app, l, opt)
}

func open(app core.App, l Loaded, opt Options) (senders.Sender, senders.Limits, error) {
	switch l.Name {
	case Outbox:
		return &defaults{TxSender: outbox.New(app, "email"), from: l.Settings.From}, l.Limits(), nil
	case SMTP:
		if !l.Configured() {
			missing := "no host"
			if l.Settings.Host != "" {
				missing = "no from address"
			}
			return nil, senders.Limits{}, errNotConfigured(SMTP, missing)
		}
		if l.Settings.Username != "" && l.Password == "" {
			return nil, senders.Limits{}, errNotConfigured(SMTP, "a username without a password")
		}
		lim := l.Limits()
		s, err := smtp.New(smtp.Config{Host: l.Settings.Host, Port: l.Settings.Port, TLS: l.Settings.TLS,
			Username: l.Settings.Username, Password: l.Password, From: l.Settings.From, ReplyTo: l.Settings.ReplyTo,
			Concurrency: lim.Concurrency, TLSConfig: opt.TLSConfig})
		if err != nil {
			return nil, senders.Limits{}, errNotConfigured(SMTP, err.Error())
		}
		return s, lim, nil
	}
	return nil, senders.Limits{}, ErrUnknown(l.Name)
}

// defaults fills the provider's from address into messages that have none
// (the outbox records what a real send would carry) and stays a TxSender.
type defaults struct {
	senders.TxSender
	from string
}

func (d *defaults) fill(m senders.Message) senders.Message {
	if m.From == "" {
		m.From = d.from
	}
	return m
}

func (d *defaults) Send(ctx context.Context, m senders.Message) (senders.Result, error) {
	return d.TxSender.Send(ctx, d.fill(m))
}

func (d *defaults) SendTx(tx core.App, m senders.Message) (senders.Result, error) {
	return d.TxSender.SendTx(tx, d.fill(m))
}

// SendTxBatch keeps the wrapped sender's batch path (the engine's outbox
// batches), with the from address filled in.
func (d *defaults) SendTxBatch(tx core.App, ms []senders.Message) ([]senders.Result, []error) {
	filled := make([]senders.Message, len(ms))
	for i, m := range ms {
		filled[i] = d.fill(m)
	}
	if b, ok := d.TxSender.(senders.TxBatchSender); ok {
		return b.SendTxBatch(tx, filled)
	}
	results, errs := make([]senders.Result, len(ms)), make([]error, len(ms))
	for i, m := range filled {
		results[i], errs[i] = d.TxSender.SendTx(tx, m)
	}
	return results, errs
}

// Default is the workspace's default provider: the setting providers.default
// when it names a provider, else "outbox".
func Default(app core.App, ws string) string {
	rec, err := app.FindFirstRecordByFilter(settings.Collection,
		"scope = 'workspace' && scope_id = {:ws} && setting_key = {:key}", dbx.Params{"ws": ws, "key": DefaultSettingKey})
	if err != nil {
		if !errors.Is(err, sql.ErrNoRows) {
			app.Logger().Warn("providers: reading the default provider", "workspace", ws, "error", err.Error())
		}
		return Outbox
	}
	var name string
	if err := json.Unmarshal([]byte(rec.GetString("setting_value")), &name); err != nil || !Known(name) {
		return Outbox
	}
	return name
}
