package providers

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"github.com/pi-crm/pi-crm/services/apperr"
)

// Input is the body of PUT …/providers/{name}: field name → JSON value.
// An omitted plain field takes its default; an omitted secret keeps the
// stored one, "" removes it.
type Input map[string]json.RawMessage

// Validate checks in for provider name: the plain configuration to store
// and the secrets to change (settings.Store.Put), or 400
// provider_settings_invalid with a message per field in data.fields.
func Validate(name string, in Input) (map[string]any, map[string]string, error) {
	p := Get(name)
	if p == nil {
		return nil, nil, ErrUnknown(name)
	}
	bad := map[string]string{}
	plain := map[string]any{}
	secrets := map[string]string{}
	known := map[string]bool{}
	for _, f := range p.Fields {
		known[f.Name] = true
		raw, present := in[f.Name]
		if present && string(raw) == "null" {
			present = false
		}
		if f.Secret() {
			if !present {
				continue
			}
			v, ok := f.decode(raw)
			if !ok {
				bad[f.Name] = "a string (\"\" removes the stored value)"
				continue
			}
			s := v.(string)
			if s != "" && f.Check != nil {
				if msg := f.Check(s); msg != "" {
					bad[f.Name] = msg
				}
			}
			secrets[f.Name] = s
			continue
		}
		var v any
		if present {
			var ok bool
			if v, ok = f.decode(raw); !ok {
				bad[f.Name] = f.typeMessage()
				continue
			}
			if f.Kind == KindText || f.Kind == KindSelect {
				if v == "" {
					present = false
				}
			}
		}
		v = f.normal(v, present)
		plain[f.Name] = v
		if v == "" || v == nil {
			if f.Required {
				bad[f.Name] = requiredMessage(f)
			}
			continue
		}
		if f.Kind == KindSelect && !slices.Contains(f.Options, v.(string)) {
			bad[f.Name] = f.typeMessage()
			continue
		}
		if f.Check != nil && (present || f.Default != nil) {
			if msg := f.Check(v); msg != "" {
				bad[f.Name] = msg
			}
		}
	}
	for k := range in {
		if !known[k] {
			bad[k] = "the " + name + " provider takes only " + strings.Join(fieldNames(p), ", ")
		}
	}
	c := Config{Plain: plain, Secrets: secrets}
	if len(bad) == 0 {
		if p.Derive != nil {
			p.Derive(c)
		}
		if p.Check != nil {
			p.Check(c, bad)
		}
	}
	if len(bad) > 0 {
		return nil, nil, apperr.BadRequest(CodeSettingsInvalid, "Check the "+name+" settings: "+firstProblem(p, bad)).With("fields", bad)
	}
	if len(secrets) == 0 {
		secrets = nil
	}
	return plain, secrets, nil
}

func requiredMessage(f Field) string {
	if f.Hint != "" {
		return "required: " + f.Hint
	}
	return "required"
}

func fieldNames(p *Provider) []string {
	out := make([]string, 0, len(p.Fields))
	for _, f := range p.Fields {
		out = append(out, f.Name)
	}
	return out
}

// firstProblem names the first field (in the form's order) with a problem.
func firstProblem(p *Provider, bad map[string]string) string {
	for _, f := range p.Fields {
		if m, ok := bad[f.Name]; ok {
			return f.Name + ": " + m
		}
	}
	keys := slices.Sorted(maps.Keys(bad))
	return keys[0] + ": " + bad[keys[0]]
}
