// Package templates is the one place where contact data becomes a message:
// the personalisation language, its check at save time, the sandboxed
// renderer, the HTML-to-text part and SMS segment counting.
//
// The language is Go's template syntax with names of our own: a placeholder is
// a bare name ({{first_name}}, {{custom.tier}}), functions come from a small
// map (default, upper, lower, title, date, eq, ne, and, or, not) and the only
// control structure is if/else. Templates are parsed by Go's own parser
// (text/template/parse) and checked node by node against an allow-list, so
// nothing outside the map and the contact's own values can be reached: no
// methods, no variables, no range/with/define/template (nothing loops or
// recurses), no printf. HTML bodies are executed by html/template (escaped by
// context), subjects, text and SMS bodies by text/template (not escaped).
package templates

import (
	"fmt"
	"strings"
	"time"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"
)

// Variable is a placeholder a template may use.
type Variable struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	Type  string `json:"type"`
}

// Variables are the placeholders of every workspace: the contact's base
// fields and the links the sender fills in. Custom fields come as
// custom.<name> (WorkspaceFields).
var Variables = []Variable{
	{Name: "first_name", Label: "First name", Type: "text"},
	{Name: "last_name", Label: "Last name", Type: "text"},
	{Name: "full_name", Label: "Full name", Type: "text"},
	{Name: "email", Label: "Email", Type: "email"},
	{Name: "phone", Label: "Phone", Type: "phone"},
	{Name: "company", Label: "Company", Type: "text"},
	{Name: "unsubscribe_url", Label: "Unsubscribe link (filled in by the sender)", Type: "url"},
}

// Function is a function of the language, as the docs and the UI show it.
type Function struct {
	Name        string `json:"name"`
	Usage       string `json:"usage"`
	Description string `json:"description"`
	// arity is the number of arguments with the piped value (-2: two or more).
	arity int
}

// Functions are every function a template may call.
var Functions = []Function{
	{Name: "default", Usage: `{{first_name | default "there"}}`, Description: "the fallback when the value is empty", arity: 2},
	{Name: "upper", Usage: `{{company | upper}}`, Description: "UPPER CASE", arity: 1},
	{Name: "lower", Usage: `{{email | lower}}`, Description: "lower case", arity: 1},
	{Name: "title", Usage: `{{first_name | title}}`, Description: "Title Case", arity: 1},
	{Name: "date", Usage: `{{custom.renewal | date "2 January 2006"}}`, Description: "formats a date with Go's reference date (2 January 2006); the named layouts short, long and iso work too", arity: 2},
	{Name: "eq", Usage: `{{if eq custom.tier "gold"}}…{{end}}`, Description: "equal (compared as text)", arity: 2},
	{Name: "ne", Usage: `{{if ne custom.tier "gold"}}…{{end}}`, Description: "not equal (compared as text)", arity: 2},
	{Name: "and", Usage: `{{if and first_name company}}…{{end}}`, Description: "all are set", arity: -2},
	{Name: "or", Usage: `{{or custom.nickname first_name}}`, Description: "the first that is set", arity: -2},
	{Name: "not", Usage: `{{if not custom.vip}}…{{end}}`, Description: "negation", arity: 1},
}

func functionByName(name string) (Function, bool) {
	for _, f := range Functions {
		if f.Name == name {
			return f, true
		}
	}
	return Function{}, false
}

// Bool is a boolean custom value: true in an {{if}}, written "yes" or "no".
type Bool bool

func (b Bool) String() string {
	if b {
		return "yes"
	}
	return "no"
}

// List is a multiselect custom value: true in an {{if}} when not empty,
// written "a, b".
type List []string

func (l List) String() string { return strings.Join(l, ", ") }

var titleCaser = cases.Title(language.Und)

// funcs is the whole function map. Every function takes any value and never
// fails, so a checked template cannot fail at send time because of data.
// and, or and not are text/template's builtins; eq and ne replace the
// builtins, which fail on values of different kinds (5 against "5").
var funcs = map[string]any{
	"default": func(fallback any, v any) any {
		if empty(v) {
			return fallback
		}
		return v
	},
	"upper": func(v any) string { return strings.ToUpper(text(v)) },
	"lower": func(v any) string { return strings.ToLower(text(v)) },
	"title": func(v any) string { return titleCaser.String(text(v)) },
	"date":  formatDate,
	"eq":    func(a, b any) bool { return comparable(a) == comparable(b) },
	"ne":    func(a, b any) bool { return comparable(a) != comparable(b) },
}

func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}

func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(x) == ""
	case List:
		return len(x) == 0
	}
	return false
}

// comparable is a value as eq compares it: booleans as true/false (so
// eq custom.vip true works), everything else as its text.
func comparable(v any) string {
	switch x := v.(type) {
	case Bool:
		if x {
			return "true"
		}
		return "false"
	case bool:
		if x {
			return "true"
		}
		return "false"
	}
	return text(v)
}

var namedLayouts = map[string]string{"short": "02/01/2006", "long": "2 January 2006", "iso": "2006-01-02"}

// formatDate formats a date value (stored as YYYY-MM-DD, or an RFC 3339
// timestamp) with layout; a value that is not a date is written unchanged.
func formatDate(layout any, v any) string {
	s := strings.TrimSpace(text(v))
	if s == "" {
		return ""
	}
	l := text(layout)
	if named, ok := namedLayouts[l]; ok {
		l = named
	}
	for _, in := range []string{"2006-01-02", time.RFC3339, "2006-01-02 15:04:05.000Z"} {
		if t, err := time.Parse(in, s); err == nil {
			return t.Format(l)
		}
	}
	return s
}
