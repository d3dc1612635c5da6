package csvio

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
)

// Target kinds: where a column's values go.
const (
	KindBase     = "base"     // a contact base field
	KindFullName = "fullname" // "Name": split into first and last name when those are empty
	KindCustom   = "custom"   // an existing custom field
	KindNew      = "new"      // a custom field the import defines
	KindIgnore   = "ignore"
)

// Target is where one column goes.
type Target struct {
	Kind    string   `json:"kind"`
	Field   string   `json:"field,omitempty"`
	Type    string   `json:"type,omitempty"`  // KindNew: the new field's type
	Label   string   `json:"label,omitempty"` // KindNew: the new field's label
	Options []string `json:"options,omitempty"`
}

// BaseFields a column may map to.
var BaseFields = []string{"first_name", "last_name", "primary_email", "primary_phone", "company"}

// aliases maps a normalised header (lower case, letters and digits only) to
// a base field. They cover our own export, common spellings, and the
// headers of Google Contacts (old and new) and Outlook CSV exports.
var aliases = map[string]string{}

func init() {
	for field, names := range map[string][]string{
		"first_name": {"first_name", "firstname", "first", "given name", "givenname", "forename", "vorname", "prénom"},
		"last_name":  {"last_name", "lastname", "last", "surname", "family name", "familyname", "nachname", "nom"},
		"primary_email": {"primary_email", "email", "e-mail", "email address", "e-mail address", "mail",
			"e-mail 1 - value", "email 1 - value", "e-mail 2 - value", "e-mail 2 address", "e-mail 3 address"},
		"primary_phone": {"primary_phone", "phone", "phone number", "telephone", "tel", "mobile", "mobile phone", "cell",
			"phone 1 - value", "phone 2 - value", "primary phone", "business phone", "home phone", "business phone 2", "home phone 2"},
		"company": {"company", "organization", "organisation", "organization 1 - name", "organization name", "company name", "business", "firma", "société", "empresa"},
	} {
		for _, n := range names {
			aliases[Key(n)] = field
		}
	}
	for _, n := range []string{"name", "full name", "fullname", "display name", "contact name"} {
		aliases[Key(n)] = KindFullName
	}
}

// Key normalises a header for matching: lower case, letters and digits only.
func Key(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// CustomField is what mapping needs to know of an existing custom field.
type CustomField struct{ Name, Label string }

// AutoTarget maps a header by name: a base field by its own name, else an
// existing custom field (by field name or label), else a base field by alias
// or preset, else ignore. The workspace's own field comes before an alias: a
// "Mobile" column goes to a custom field named mobile where there is one, not
// to the primary phone (where, behind a filled "Phone" column, it would have
// been dropped).
func AutoTarget(header string, custom []CustomField) Target {
	k := Key(header)
	for _, f := range BaseFields {
		if Key(f) == k {
			return Target{Kind: KindBase, Field: f}
		}
	}
	for _, c := range custom {
		if Key(c.Name) == k || (c.Label != "" && Key(c.Label) == k) {
			return Target{Kind: KindCustom, Field: c.Name}
		}
	}
	if f, ok := aliases[k]; ok {
		if f == KindFullName {
			return Target{Kind: KindFullName}
		}
		return Target{Kind: KindBase, Field: f}
	}
	return Target{Kind: KindIgnore}
}

// ParseTarget reads a mapping value given by a user: a JSON string
// ("first_name", "ignore", "tier", "custom:tier", "new:date" or
// "new:date:Birthday") or an object {"kind":"new","field":…,"type":…,"label":…,"options":[…]}.
// header names the new field when the value does not.
func ParseTarget(raw json.RawMessage, header string) (Target, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return ParseTargetString(s, header)
	}
	var t Target
	if err := json.Unmarshal(raw, &t); err != nil {
		return t, fmt.Errorf("column %q: a mapping is a field name or an object {kind, field, type, label}", header)
	}
	if t.Kind == KindNew && t.Field == "" {
		t.Field = FieldName(header)
	}
	if t.Kind == KindNew && t.Label == "" {
		t.Label = header
	}
	return t, nil
}

// ParseTargetString reads the string form of a mapping (also the CLI's
// --map col=VALUE).
func ParseTargetString(s, header string) (Target, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "" || s == "ignore" || s == "-":
		return Target{Kind: KindIgnore}, nil
	case s == "name" || s == KindFullName:
		return Target{Kind: KindFullName}, nil
	case strings.HasPrefix(s, "new:"):
		parts := strings.SplitN(s, ":", 4)
		t := Target{Kind: KindNew, Type: parts[1], Field: FieldName(header), Label: header}
		if len(parts) > 2 && parts[2] != "" {
			t.Label = parts[2]
			t.Field = FieldName(parts[2])
		}
		if len(parts) > 3 {
			for _, o := range strings.Split(parts[3], "|") {
				if o = strings.TrimSpace(o); o != "" {
					t.Options = append(t.Options, o)
				}
			}
		}
		return t, nil
	}
	for _, f := range BaseFields {
		if s == f {
			return Target{Kind: KindBase, Field: f}, nil
		}
	}
	s = strings.TrimPrefix(strings.TrimPrefix(s, "custom:"), "custom.")
	return Target{Kind: KindCustom, Field: s}, nil
}

// FieldName turns a header into a custom field name (^[a-z][a-z0-9_]*$).
func FieldName(h string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(h) {
		switch {
		case r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			if b.Len() == 0 && unicode.IsDigit(r) {
				b.WriteString("f_")
			}
			b.WriteRune(r)
			under = false
		case b.Len() > 0 && !under:
			b.WriteByte('_')
			under = true
		}
	}
	s := strings.TrimRight(b.String(), "_")
	if s == "" {
		s = "field"
	}
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}
