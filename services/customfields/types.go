package customfields

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pi-crm/pi-crm/services/contacts/normalize"
	"github.com/pi-crm/pi-crm/services/textclean"
	"github.com/pocketbase/pocketbase/core"
)

// Types a definition may have.
var Types = []string{"text", "number", "date", "boolean", "select", "multiselect", "email", "url", "phone"}

// Definition is a custom field definition.
type Definition struct {
	ID        string   `json:"id"`
	User      string   `json:"user"`
	Workspace string   `json:"workspace"` // "" = all workspaces the user owns
	Name      string   `json:"field_name"`
	Label     string   `json:"label"`
	Type      string   `json:"field_type"`
	Options   []string `json:"options"`
	Required  bool     `json:"is_required"`
	Default   string   `json:"default_value"`
}

// Scope says where the definition comes from: "workspace" or "user".
func (d Definition) Scope() string {
	if d.Workspace == "" {
		return "user"
	}
	return "workspace"
}

// FromRecord reads a custom_field_definitions record.
func FromRecord(r *core.Record) Definition {
	d := Definition{
		ID: r.Id, User: r.GetString("user"), Workspace: r.GetString("workspace"), Name: r.GetString("field_name"),
		Label: r.GetString("label"), Type: r.GetString("field_type"), Required: r.GetBool("is_required"),
		Default: r.GetString("default_value"),
	}
	var opts []any
	if err := json.Unmarshal([]byte(r.GetString("options")), &opts); err == nil {
		for _, o := range opts {
			d.Options = append(d.Options, fmt.Sprint(o))
		}
	}
	return d
}

// Canonical checks v (a JSON-decoded value: string, float64, bool, []any or
// nil) against the definition and returns the string stored in
// custom_fields.field_value. "" means no value. Each stored form sorts and
// compares correctly as text (ISO dates, "true"/"false"), so filters on
// field_value need no conversion.
func (d Definition) Canonical(v any, country string) (string, error) {
	// the one rule for text (services/textclean): control characters are
	// stripped from every custom value, through the API and imports alike
	v = textclean.Value(v)
	if v == nil {
		return "", nil
	}
	if s, ok := v.(string); ok && strings.TrimSpace(s) == "" {
		return "", nil
	}
	if a, ok := v.([]any); ok && len(a) == 0 {
		return "", nil
	}
	switch d.Type {
	case "text":
		switch x := v.(type) {
		case string:
			if len(x) > 10000 {
				return "", errors.New("must be at most 10000 characters")
			}
			return x, nil
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64), nil
		case bool:
			return strconv.FormatBool(x), nil
		}
		return "", errors.New("must be text")
	case "number":
		var f float64
		switch x := v.(type) {
		case float64:
			f = x
		case string:
			p, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err != nil {
				return "", errors.New("must be a number, e.g. 42 or 3.5")
			}
			f = p
		default:
			return "", errors.New("must be a number, e.g. 42 or 3.5")
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return "", errors.New("must be a finite number")
		}
		return strconv.FormatFloat(f, 'f', -1, 64), nil
	case "date":
		s, ok := v.(string)
		if !ok {
			return "", errors.New("must be a date written as YYYY-MM-DD")
		}
		s = strings.TrimSpace(s)
		for _, layout := range []string{"2006-01-02", time.RFC3339, "2006-01-02 15:04:05.000Z"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.Format("2006-01-02"), nil
			}
		}
		return "", errors.New("must be a date written as YYYY-MM-DD")
	case "boolean":
		switch x := v.(type) {
		case bool:
			return strconv.FormatBool(x), nil
		case string:
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "true", "1", "yes":
				return "true", nil
			case "false", "0", "no":
				return "false", nil
			}
		}
		return "", errors.New("must be true or false")
	case "select":
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("must be one of %s", d.optionList())
		}
		o, ok := d.option(s)
		if !ok {
			return "", fmt.Errorf("%q is not an option: choose one of %s", s, d.optionList())
		}
		return o, nil
	case "multiselect":
		var items []string
		switch x := v.(type) {
		case []any:
			for _, it := range x {
				s, ok := it.(string)
				if !ok {
					return "", fmt.Errorf("must be a list of options from %s", d.optionList())
				}
				items = append(items, s)
			}
		case string:
			// a JSON list (as stored, or sent by a form) or a single option
			if err := json.Unmarshal([]byte(x), &items); err != nil {
				items = []string{x}
			}
		default:
			return "", fmt.Errorf("must be a list of options from %s", d.optionList())
		}
		chosen := map[string]bool{}
		for _, it := range items {
			o, ok := d.option(it)
			if !ok {
				return "", fmt.Errorf("%q is not an option: choose from %s", it, d.optionList())
			}
			chosen[o] = true
		}
		// in the definition's order, once each: equal sets store equal strings
		out := make([]string, 0, len(chosen))
		for _, o := range d.Options {
			if chosen[o] {
				out = append(out, o)
			}
		}
		if len(out) == 0 {
			return "", nil
		}
		b, _ := json.Marshal(out)
		return string(b), nil
	case "email":
		s, ok := v.(string)
		if !ok {
			return "", errors.New("must be an email address")
		}
		e, err := normalize.Email(s)
		if err != nil {
			return "", fmt.Errorf("%q is not a valid email address", s)
		}
		return e, nil
	case "url":
		s, ok := v.(string)
		if !ok {
			return "", errors.New("must be a web address")
		}
		s = strings.TrimSpace(s)
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", fmt.Errorf("%q is not a web address: write it as https://example.com/…", s)
		}
		return s, nil
	case "phone":
		s, ok := v.(string)
		if !ok {
			return "", errors.New("must be a phone number")
		}
		p, err := normalize.Phone(s, country)
		if err != nil {
			return "", err // a *normalize.PhoneError: its message fits the number
		}
		return p, nil
	}
	return "", fmt.Errorf("has an unknown type %q", d.Type)
}

// option finds s among the options, ignoring case, and returns the
// definition's own spelling.
func (d Definition) option(s string) (string, bool) {
	s = strings.TrimSpace(s)
	for _, o := range d.Options {
		if strings.EqualFold(o, s) {
			return o, true
		}
	}
	return "", false
}

func (d Definition) optionList() string {
	q := make([]string, len(d.Options))
	for i, o := range d.Options {
		q[i] = strconv.Quote(o)
	}
	return strings.Join(q, ", ")
}

// Decode turns a stored value into the typed value the API shows (numbers
// as numbers, booleans as booleans, multiselects as lists).
func Decode(typ, stored string) any {
	switch typ {
	case "number":
		if f, err := strconv.ParseFloat(stored, 64); err == nil {
			return f
		}
	case "boolean":
		if b, err := strconv.ParseBool(stored); err == nil {
			return b
		}
	case "multiselect":
		var items []string
		if err := json.Unmarshal([]byte(stored), &items); err == nil {
			return items
		}
	}
	return stored
}

// ValidateDefinition checks a definition's own settings.
func ValidateDefinition(d Definition) map[string]string {
	errs := map[string]string{}
	if !slices.Contains(Types, d.Type) {
		errs["field_type"] = "must be one of " + strings.Join(Types, ", ")
		return errs
	}
	if d.Type == "select" || d.Type == "multiselect" {
		if len(d.Options) == 0 {
			errs["options"] = "a " + d.Type + " field needs a list of options"
		}
		seen := map[string]bool{}
		for _, o := range d.Options {
			k := strings.ToLower(strings.TrimSpace(o))
			if k == "" {
				errs["options"] = "options cannot be empty"
			} else if seen[k] {
				errs["options"] = fmt.Sprintf("option %q is listed twice", o)
			}
			seen[k] = true
		}
	}
	if d.Default != "" && errs["options"] == "" {
		if _, err := d.Canonical(d.Default, ""); err != nil {
			errs["default_value"] = "the default " + err.Error()
		}
	}
	return errs
}
