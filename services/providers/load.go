package providers

import (
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/settings"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// Loaded is a provider's stored settings with its secrets (server use only).
type Loaded struct {
	Provider *Provider
	Config   Config
	Stored   bool
}

// Name is the provider's name.
func (l Loaded) Name() string { return l.Provider.Name }

// Missing says what keeps the provider from sending ("" : nothing).
func (l Loaded) Missing() string {
	for _, f := range l.Provider.Fields {
		if f.Required && !f.Secret() && l.Config.String(f.Name) == "" {
			return "no " + f.Name
		}
	}
	if l.Provider.Missing != nil {
		return l.Provider.Missing(l.Config)
	}
	return ""
}

// Configured reports whether the provider can send.
func (l Loaded) Configured() bool { return l.Missing() == "" }

// Limits are the sender's limits from the settings.
func (l Loaded) Limits() senders.Limits {
	p, c := l.Provider, l.Config
	lim := senders.Limits{RatePerSecond: c.Float("rate_per_second"), DailyLimit: c.Int("daily_limit"), DailyUnits: p.DailyUnits, Concurrency: 1}
	if p.EngineRate != nil {
		lim.RatePerSecond = p.EngineRate(c)
	}
	if p.Concurrency != nil {
		lim.Concurrency = max(1, p.Concurrency(c))
	}
	return lim
}

// View is the answer of GET …/providers/{name}: name, label, channel,
// configured (and what is missing), default, every plain field, and
// has_<secret> for each secret — never a secret's value.
func (l Loaded) View(isDefault bool) map[string]any {
	v := map[string]any{"name": l.Provider.Name, "label": l.Provider.Label, "channel": l.Provider.Channel,
		"configured": l.Configured(), "default": isDefault}
	if m := l.Missing(); m != "" {
		v["missing"] = m
	}
	for _, f := range l.Provider.Fields {
		if f.Secret() {
			v["has_"+f.Name] = l.Config.Secrets[f.Name] != ""
			continue
		}
		v[f.Name] = l.Config.Plain[f.Name]
	}
	return v
}

// Schema is a provider's declaration as the settings form reads it.
type Schema struct {
	Name          string  `json:"name"`
	Label         string  `json:"label"`
	Channel       string  `json:"channel"`
	Fields        []Field `json:"fields"`
	DefaultLimits struct {
		RatePerSecond any    `json:"rate_per_second"`
		DailyLimit    any    `json:"daily_limit"`
		Note          string `json:"note"`
	} `json:"default_limits"`
}

// SchemaOf is p's schema.
func SchemaOf(p *Provider) Schema {
	s := Schema{Name: p.Name, Label: p.Label, Channel: p.Channel, Fields: p.Fields}
	for _, f := range p.Fields {
		switch f.Name {
		case "rate_per_second":
			s.DefaultLimits.RatePerSecond = f.normal(nil, false)
		case "daily_limit":
			s.DefaultLimits.DailyLimit = f.normal(nil, false)
		}
	}
	s.DefaultLimits.Note = p.LimitsNote
	return s
}

// Load reads provider name of workspace ws (unknown name: 400 provider_unknown).
func Load(store *settings.Store, ws, name string) (Loaded, error) {
	p := Get(name)
	if p == nil {
		return Loaded{}, ErrUnknown(name)
	}
	st, err := store.Get(ws, name)
	if err != nil {
		return Loaded{}, err
	}
	stored := map[string]any{}
	if err := st.Decode(&stored); err != nil {
		return Loaded{}, err
	}
	c := Config{Plain: map[string]any{}, Secrets: map[string]string{}}
	for _, f := range p.Fields {
		if f.Secret() {
			if s := st.Secrets[f.Name]; s != "" {
				c.Secrets[f.Name] = s
			}
			continue
		}
		v, ok := stored[f.Name]
		c.Plain[f.Name] = f.normal(v, ok)
	}
	if p.Derive != nil {
		p.Derive(c)
	}
	return Loaded{Provider: p, Config: c, Stored: st.Exists}, nil
}

// Open returns the sender of provider name for workspace ws and its limits:
// 400 provider_unknown for a name that is no provider, 400
// provider_not_configured for one that cannot send yet. The caller closes
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
	return open(app, ws, l, opt)
}

// Opener is OpenWith with fixed options, of the engine's shape
// (sending.OpenFunc).
func Opener(opt Options) func(app core.App, ws, name string) (senders.Sender, senders.Limits, error) {
	return func(app core.App, ws, name string) (senders.Sender, senders.Limits, error) {
		return OpenWith(app, ws, name, opt)
	}
}

func open(app core.App, ws string, l Loaded, opt Options) (senders.Sender, senders.Limits, error) {
	if m := l.Missing(); m != "" {
		return nil, senders.Limits{}, errNotConfigured(l.Name(), m)
	}
	s, err := l.Provider.Open(Env{App: app, Workspace: ws, Options: opt}, l.Config)
	if err != nil {
		return nil, senders.Limits{}, err
	}
	if _, ok := s.(senders.TxSender); ok {
		return s, l.Limits(), nil // the outbox: its own types (TxBatchSender) stay visible
	}
	return guard(s), l.Limits(), nil
}

// Default is the workspace's default provider: the setting providers.default
// when it names a provider, else "outbox".
func Default(app core.App, ws string) string {
	rec, err := findDefault(app, ws)
	if err != nil {
		app.Logger().Warn("providers: reading the default provider", "workspace", ws, "error", err.Error())
		return Outbox
	}
	if rec == nil {
		return Outbox
	}
	var name string
	if err := json.Unmarshal([]byte(rec.GetString("setting_value")), &name); err != nil || !Known(name) {
		return Outbox
	}
	return name
}

func findDefault(app core.App, ws string) (*core.Record, error) {
	rec, err := app.FindFirstRecordByFilter(settings.Collection,
		"scope = 'workspace' && scope_id = {:ws} && setting_key = {:key}", dbx.Params{"ws": ws, "key": DefaultSettingKey})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return rec, err
}

// SetDefault makes name the workspace's default provider (audited as the
// setting record's change by actor). A provider that cannot send yet is
// refused (400 provider_not_configured): new campaigns would pause.
func SetDefault(app core.App, ws, name string, actor audit.Actor) error {
	if !Known(name) {
		return ErrUnknown(name).With("field", "name")
	}
	return app.RunInTransaction(func(tx core.App) error {
		l, err := Load(settings.New(tx), ws, name)
		if err != nil {
			return err
		}
		if m := l.Missing(); m != "" {
			return errNotConfigured(name, m)
		}
		rec, err := findDefault(tx, ws)
		if err != nil {
			return err
		}
		if rec == nil {
			col, err := tx.FindCachedCollectionByNameOrId(settings.Collection)
			if err != nil {
				return err
			}
			rec = core.NewRecord(col)
			rec.Set("scope", "workspace")
			rec.Set("scope_id", ws)
			rec.Set("setting_key", DefaultSettingKey)
		}
		value, _ := json.Marshal(name)
		rec.Set("setting_value", string(value))
		audit.Attach(rec, actor)
		return tx.Save(rec)
	})
}
