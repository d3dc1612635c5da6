// Package textclean is pi-crm's one rule for control characters in text:
// U+0000 (NUL) and the other C0 control characters except
// tab, line feed and carriage return are removed from every text
// value before it is stored, whether it comes through the API (record
// hooks), custom values (customfields) or an import (csvio), and from every
// cell an export writes.
//
// Strip rather than refuse: these characters are never meant (no keyboard
// types them; they come from binary junk, broken exports or probes), they
// break other tools that read the data (C strings end at NUL, CSV and
// terminal output garble), and an import of 10,000 rows should not lose a
// row to an invisible byte. Removing them silently keeps every visible
// character, so the one rule is the same for the API and for imports; it is
// documented in README.md.
package textclean

// allowed reports whether the control byte b (< 0x20) is kept.
func allowed(b byte) bool { return b == '\t' || b == '\n' || b == '\r' }

// Dirty reports whether s holds a character String removes.
func Dirty(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 && !allowed(b) {
			return true
		}
	}
	return false
}

// String returns s without NUL and the other C0 control characters except
// tab, line feed and carriage return. A clean s is returned as it is (no
// copy). Working on bytes is safe: in UTF-8 no byte below 0x80 is part of a
// multi-byte character.
func String(s string) string {
	if !Dirty(s) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x20 || allowed(c) {
			b = append(b, c)
		}
	}
	return string(b)
}

// Value cleans the strings of v: a string, or the strings of a []any or
// []string (a multiselect value); anything else is returned as it is.
func Value(v any) any {
	switch x := v.(type) {
	case string:
		return String(x)
	case []any:
		for i, e := range x {
			if s, ok := e.(string); ok {
				x[i] = String(s)
			}
		}
		return x
	case []string:
		for i, s := range x {
			x[i] = String(s)
		}
		return x
	}
	return v
}
