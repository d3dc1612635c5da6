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
//
// It looks at eight bytes at a time and only at the bytes of a word that
// holds one below 0x20: every rendered message (3 kB of HTML and its text)
// is cleaned inside the writer's transaction of a campaign send, where the
// byte loop was 0.4 of 17 CPU-s of the outbox's batches at 100,000 messages.
func Dirty(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		b := s[i : i+8]
		w := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		if hasBelow0x20(w) && dirtyBytes(b) {
			return true
		}
	}
	return dirtyBytes(s[i:])
}

// hasBelow0x20 reports whether a byte of w is below 0x20 (Hacker's Delight's
// "has less than": exact for a bound of at most 0x80).
func hasBelow0x20(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	return (w-ones*0x20)&^w&highs != 0
}

// dirtyBytes is Dirty one byte at a time.
func dirtyBytes(s string) bool {
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
