// The options of an import, as a request gives them: the "options" JSON,
// and (for HTML forms, curl -F and FormData) the same options as multipart
// fields of their own. Every option a request names is either applied or
// refused with a code: none is ignored (issue 18: a mode=upsert field ran in
// create mode).

package imports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/pi-crm/pi-crm/services/apperr"
)

// OptionNames are the keys of the options JSON, and the multipart fields
// that may give them one by one.
var OptionNames = []string{"mode", "mapping", "auto_map", "list", "dry_run"}

// ParseOptions decodes and checks options JSON ("" = defaults). A key it
// does not know is refused (import_option_unknown), not ignored.
func ParseOptions(raw []byte) (Options, error) {
	var o Options
	if len(raw) > MaxOptionsBytes {
		return o, apperr.BadRequest(CodeInvalidOptions, fmt.Sprintf("options are %d bytes of JSON; at most %d are read", len(raw), MaxOptionsBytes))
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(raw, &keys); err != nil {
			return o, apperr.BadRequest(CodeInvalidOptions, "options must be a JSON object: {mode, mapping, auto_map, list, dry_run}: "+err.Error())
		}
		if err := knownKeys(keys, "options"); err != nil {
			return o, err
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return o, apperr.BadRequest(CodeInvalidOptions, "options must be JSON: {mode, mapping, auto_map, list, dry_run}: "+err.Error())
		}
	}
	if o.Mode == "" {
		o.Mode = ModeCreate
	}
	if !slices.Contains(Modes, o.Mode) {
		return o, apperr.BadRequest(CodeInvalidOptions, fmt.Sprintf("mode %q is not one of create, update, upsert, skip_existing", o.Mode))
	}
	if n := countNewFields(o); n > MaxNewFields {
		return o, tooManyNewFields(n)
	}
	return o, nil
}

func knownKeys(keys map[string]json.RawMessage, where string) error {
	var unknown []string
	for k := range keys {
		if !slices.Contains(OptionNames, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return unknownOption(unknown[0], fmt.Sprintf("%s has %q, which is not an import option (they are: %s)", where, unknown[0],
		strings.Join(OptionNames, ", ")))
}

func unknownOption(name, msg string) error {
	return apperr.BadRequest(CodeOptionUnknown, msg).With("field", name)
}

// UnknownField is the error for a multipart field the import route does
// not read (neither "file", "options" nor an option name).
func UnknownField(name string) error {
	return unknownOption(name, fmt.Sprintf("the multipart field %q is not an import option: send \"file\" (the CSV), "+
		"\"options\" (JSON) and, as fields of their own if you like, %s", name, strings.Join(OptionNames, ", ")))
}

// FormOptions reads the options of a multipart request: raw is the
// "options" part (may be empty), fields the option fields given on their
// own (name → values in order; names from OptionNames). A field's value is
// what its JSON value would be: mode and list plain text, dry_run and
// auto_map true or false (1 or 0), mapping a JSON object. The result is
// checked as one options JSON (ParseOptions: the same rules and limits); an
// option given both ways, or twice, with different values is refused with
// import_option_conflict.
func FormOptions(raw []byte, fields map[string][]string) (Options, error) {
	merged := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(raw)) > 0 && len(raw) <= MaxOptionsBytes {
		if err := json.Unmarshal(raw, &merged); err != nil {
			return Options{}, apperr.BadRequest(CodeInvalidOptions, "options must be a JSON object: {mode, mapping, auto_map, list, dry_run}: "+err.Error())
		}
	} else if len(raw) > MaxOptionsBytes {
		return ParseOptions(raw) // its size error
	}
	if merged == nil { // options: null
		merged = map[string]json.RawMessage{}
	}
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names) // one order of errors whatever the map's
	for _, name := range names {
		if !slices.Contains(OptionNames, name) {
			return Options{}, UnknownField(name)
		}
		var val json.RawMessage
		for i, s := range fields[name] {
			v, err := fieldJSON(name, s)
			if err != nil {
				return Options{}, err
			}
			if i > 0 && !sameJSON(val, v) {
				return Options{}, conflict(name, fmt.Sprintf("the field %q is given %d times with different values: send it once", name, len(fields[name])))
			}
			val = v
		}
		if have, ok := merged[name]; ok && !sameJSON(have, val) {
			return Options{}, conflict(name, fmt.Sprintf("%q is given in options (%s) and as a field (%s) with different values: send it one way, or the same value both ways",
				name, truncate(string(have), 200), truncate(string(val), 200)))
		}
		merged[name] = val
	}
	if len(merged) == 0 {
		return ParseOptions(nil)
	}
	b, err := json.Marshal(merged)
	if err != nil {
		return Options{}, err
	}
	return ParseOptions(b)
}

func conflict(name, msg string) error {
	return apperr.BadRequest(CodeOptionConflict, msg).With("field", name)
}

// fieldJSON turns the text of option field name into its JSON value.
func fieldJSON(name, s string) (json.RawMessage, error) {
	switch name {
	case "dry_run", "auto_map":
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true", "1":
			return json.RawMessage("true"), nil
		case "false", "0":
			return json.RawMessage("false"), nil
		}
		return nil, apperr.BadRequest(CodeInvalidOptions, fmt.Sprintf("the field %s is %q: write true or false", name, truncate(s, 100))).With("field", name)
	case "mapping":
		t := bytes.TrimSpace([]byte(s))
		var m map[string]json.RawMessage
		if len(t) == 0 || t[0] != '{' || json.Unmarshal(t, &m) != nil {
			return nil, apperr.BadRequest(CodeInvalidOptions,
				`the field mapping must be a JSON object of column → field, e.g. {"E-mail 1 - Value":"primary_email","Notes":"new:text"}`).With("field", name)
		}
		return json.RawMessage(t), nil
	}
	b, _ := json.Marshal(s) // mode, list: text
	return b, nil
}

// sameJSON compares two JSON values by what they say, not how they are
// spelled (spacing, key order).
func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}
