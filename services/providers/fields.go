package providers

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
)

// Kind is a field's type.
type Kind string

// Kinds.
const (
	KindText   Kind = "text"   // a string, trimmed
	KindSelect Kind = "select" // one of Options
	KindInt    Kind = "int"    // a whole number
	KindNumber Kind = "number" // a number
	KindBool   Kind = "bool"
	KindSecret Kind = "secret" // a string kept sealed, never answered (has_<name>); not trimmed
)

// Field is one setting of a provider.
type Field struct {
	Name      string   `json:"name"`
	Label     string   `json:"label"`
	Kind      Kind     `json:"kind"`
	Options   []string `json:"options,omitempty"`
	Default   any      `json:"default,omitempty"`
	Required  bool     `json:"required,omitempty"` // refused when empty (Validate)
	Multiline bool     `json:"multiline,omitempty"`
	// Hint is where to find the value in the provider's console, one line.
	Hint string `json:"hint"`
	// ZeroDefault: 0 (or "") takes Default (a port).
	ZeroDefault bool `json:"-"`
	// Check is the field's own check of a set value (a string, int, float64
	// or bool by Kind): "" or what is wrong, as the form shows it.
	Check func(v any) string `json:"-"`
}

// Secret reports whether the field is a secret.
func (f Field) Secret() bool { return f.Kind == KindSecret }

// Config is a provider's configuration: the plain values by name (each
// field present, with its default when never set) and the secrets (server
// use only: never answered or logged).
type Config struct {
	Plain   map[string]any
	Secrets map[string]string
}

// String is plain field name as a string.
func (c Config) String(name string) string {
	s, _ := c.Plain[name].(string)
	return s
}

// Float is plain field name as a number.
func (c Config) Float(name string) float64 {
	switch v := c.Plain[name].(type) {
	case float64:
		return v
	case int:
		return float64(v)
	}
	return 0
}

// Int is plain field name as a whole number.
func (c Config) Int(name string) int { return int(c.Float(name)) }

// Bool is plain field name as a bool.
func (c Config) Bool(name string) bool {
	b, _ := c.Plain[name].(bool)
	return b
}

// Secret is secret name ("" when not set).
func (c Config) Secret(name string) string { return c.Secrets[name] }

// ---------------------------------------------------------------------------
// the fields every provider has

// fromEmail is an email provider's sender address.
func fromEmail(required bool, hint string) Field {
	return Field{Name: "from", Label: "From", Kind: KindText, Required: required, Check: checkAddress,
		Hint: hint}
}

// rateField is rate_per_second with the provider's default.
func rateField(def float64, hint string) Field {
	return Field{Name: "rate_per_second", Label: "Messages per second", Kind: KindNumber, Default: def, Hint: hint,
		Check: func(v any) string {
			f := v.(float64)
			if math.IsNaN(f) || f < 0 || f > MaxRatePerSecond {
				return fmt.Sprintf("between 0 (unlimited) and %d messages per second", MaxRatePerSecond)
			}
			return ""
		}}
}

// dailyField is daily_limit with the provider's default.
func dailyField(def int, hint string) Field {
	return Field{Name: "daily_limit", Label: "Messages a day", Kind: KindInt, Default: def, Hint: hint,
		Check: func(v any) string {
			if n := v.(int); n < 0 || n > MaxDailyLimit {
				return fmt.Sprintf("between 0 (unlimited) and %d messages a day", MaxDailyLimit)
			}
			return ""
		}}
}

// baseURLField is the optional base_url replacing the scheme and host of
// every API call (a regional host, a proxy, a test server).
func baseURLField(official string) Field {
	return Field{Name: "base_url", Label: "API base URL", Kind: KindText, Check: checkBaseURL,
		Hint: "Leave empty for " + official + "; set it only for a proxy or a test server (scheme and host, e.g. https://proxy.example)"}
}

// secretLine is a one-line secret of at most max characters.
func secretLine(max int) func(v any) string {
	return func(v any) string {
		s := v.(string)
		if len(s) > max || strings.ContainsAny(s, "\r\n\x00") {
			return fmt.Sprintf("at most %d characters on one line", max)
		}
		return ""
	}
}

// pattern checks a text against re, with msg.
func pattern(re *regexp.Regexp, msg string) func(v any) string {
	return func(v any) string {
		if !re.MatchString(v.(string)) {
			return msg
		}
		return ""
	}
}

func checkAddress(v any) string {
	raw := v.(string)
	if len(raw) > 320 || strings.ContainsAny(raw, "\r\n") {
		return "at most 320 characters on one line"
	}
	a, err := mail.ParseAddress(raw)
	if err != nil || !strings.Contains(a.Address, "@") {
		return "an email address (news@example.com or Shop <news@example.com>)"
	}
	return ""
}

var hostname = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$`)

func checkHost(v any) string {
	h := v.(string)
	if !hostname.MatchString(h) && net.ParseIP(h) == nil {
		return "a host name or IP address only, without scheme or port (smtp.example.com)"
	}
	return ""
}

func checkBaseURL(v any) string {
	s := v.(string)
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
		(u.Path != "" && u.Path != "/") || len(s) > 500 {
		return "a scheme and host only, such as https://api.eu.example or http://127.0.0.1:4010"
	}
	return ""
}

// e164 is a phone number in E.164.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// decode reads a field's JSON value by its kind; ok false: the wrong type.
func (f Field) decode(raw json.RawMessage) (any, bool) {
	switch f.Kind {
	case KindText, KindSelect:
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, false
		}
		return strings.TrimSpace(s), true
	case KindSecret:
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, false
		}
		return s, true
	case KindInt:
		var n float64
		if json.Unmarshal(raw, &n) != nil || n != math.Trunc(n) || math.Abs(n) > 1e15 {
			return nil, false
		}
		return int(n), true
	case KindNumber:
		var n float64
		if json.Unmarshal(raw, &n) != nil {
			return nil, false
		}
		return n, true
	case KindBool:
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return nil, false
		}
		return b, true
	}
	return nil, false
}

// typeMessage is what a value of the wrong type is told.
func (f Field) typeMessage() string {
	switch f.Kind {
	case KindInt:
		return "a whole number"
	case KindNumber:
		return "a number"
	case KindBool:
		return "true or false"
	case KindSelect:
		return "one of " + strings.Join(f.Options, ", ")
	}
	return "a string"
}

// zero is the empty value of a kind.
func (f Field) zero() any {
	switch f.Kind {
	case KindInt:
		return 0
	case KindNumber:
		return 0.0
	case KindBool:
		return false
	}
	return ""
}

// normal is a stored value as the field's kind (JSON numbers come back as
// float64), or the default when absent.
func (f Field) normal(v any, present bool) any {
	if !present || v == nil {
		if f.Default != nil {
			return f.Default
		}
		return f.zero()
	}
	switch f.Kind {
	case KindInt:
		if n, ok := v.(float64); ok {
			v = int(n)
		}
	case KindNumber:
		if n, ok := v.(int); ok {
			v = float64(n)
		}
	}
	if f.ZeroDefault && f.Default != nil && v == f.zero() {
		return f.Default
	}
	return v
}
