package export

import (
	"encoding/json"
	"encoding/json/jsontext"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// copyReader fills the custom cells of an export row from a contact's read
// copy (a flat JSON object). It reads the object token by token with one
// reused decoder instead of decoding it into a map of interfaces per row,
// which was half of the export's CPU time; every cell comes out exactly as
// cell() would write the decoded value.
type copyReader struct {
	want map[string]int // field name → position in out
	out  []string
	src  strings.Reader
	dec  *jsontext.Decoder
	buf  []byte
}

func newCopyReader(want map[string]int, out []string) *copyReader {
	c := &copyReader{want: want, out: out}
	c.dec = jsontext.NewDecoder(&c.src)
	return c
}

func (c *copyReader) read(custom string) {
	for _, i := range c.want {
		c.out[i] = ""
	}
	if len(c.want) == 0 || custom == "" || custom == "{}" {
		return
	}
	if c.fast(custom) {
		return
	}
	for _, i := range c.want {
		c.out[i] = ""
	}
	c.src.Reset(custom)
	c.dec.Reset(&c.src)
	if err := c.fill(); err != nil {
		// not the flat object the services write: decode it the slow way
		var values map[string]any
		_ = json.Unmarshal([]byte(custom), &values)
		for name, i := range c.want {
			c.out[i] = cell(values[name])
		}
	}
}

// fast reads the common shape without a decoder: a flat object whose
// names and strings have no escapes and whose values are strings, numbers,
// booleans or null. Strings become substrings of custom (no copy). It
// returns false, having possibly filled some cells, for anything else.
func (c *copyReader) fast(s string) bool {
	i := 0
	ws := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
	}
	str := func() (string, bool) { // at a quote: the plain string after it
		j := i + 1
		for j < len(s) && s[j] != '"' {
			if s[j] == '\\' || s[j] < 0x20 {
				return "", false
			}
			j++
		}
		if j >= len(s) {
			return "", false
		}
		v := s[i+1 : j]
		i = j + 1
		return v, true
	}
	ws()
	if i >= len(s) || s[i] != '{' {
		return false
	}
	i++
	ws()
	if i < len(s) && s[i] == '}' {
		i++
		ws()
		return i == len(s)
	}
	for {
		if i >= len(s) || s[i] != '"' {
			return false
		}
		name, ok := str()
		if !ok {
			return false
		}
		ws()
		if i >= len(s) || s[i] != ':' {
			return false
		}
		i++
		ws()
		if i >= len(s) {
			return false
		}
		var v string
		switch b := s[i]; {
		case b == '"':
			if v, ok = str(); !ok {
				return false
			}
		case b == '-' || b >= '0' && b <= '9':
			j, plain := i, true
			for j < len(s) && (s[j] == '-' || s[j] == '+' || s[j] == '.' || s[j] == 'e' || s[j] == 'E' || s[j] >= '0' && s[j] <= '9') {
				plain = plain && s[j] >= '0' && s[j] <= '9'
				j++
			}
			lit := s[i:j]
			i = j
			if d := strings.TrimPrefix(lit, "-"); len(d) > 1 && d[0] == '0' && d[1] >= '0' && d[1] <= '9' {
				return false // a leading zero is not JSON
			}
			if plain && len(lit) <= 15 && (lit[0] != '0' || len(lit) == 1) {
				v = lit // a small integer: already as FormatFloat writes it
			} else {
				f, err := strconv.ParseFloat(lit, 64)
				if err != nil {
					return false
				}
				v = strconv.FormatFloat(f, 'f', -1, 64)
			}
		case b == '[':
			// a multiselect list: cell() writes it as json.Marshal does,
			// which is its stored text when that is compact and its strings
			// hold nothing Marshal escapes
			j := plainList(s, i)
			if j < 0 {
				return false
			}
			v, i = s[i:j], j
		case strings.HasPrefix(s[i:], "true"):
			v, i = "true", i+4
		case strings.HasPrefix(s[i:], "false"):
			v, i = "false", i+5
		case strings.HasPrefix(s[i:], "null"):
			v, i = "", i+4
		default:
			return false
		}
		if k, ok := c.want[name]; ok {
			c.out[k] = v
		}
		ws()
		if i >= len(s) {
			return false
		}
		if s[i] == '}' {
			i++
			ws()
			return i == len(s)
		}
		if s[i] != ',' {
			return false
		}
		i++
		ws()
	}
}

// plainList returns the end of the compact JSON list of strings that starts
// at s[i] ('['), or -1 when the list is not one json.Marshal would write the
// same: whitespace, a non-string element, or a string with a character
// Marshal escapes (quote, backslash, control characters, <, >, &, U+2028,
// U+2029).
func plainList(s string, i int) int {
	i++ // '['
	if i < len(s) && s[i] == ']' {
		return i + 1
	}
	for {
		if i >= len(s) || s[i] != '"' {
			return -1
		}
		i++
		for i < len(s) && s[i] != '"' {
			switch c := s[i]; {
			case c < 0x20, c == '\\', c == '<', c == '>', c == '&':
				return -1
			case c == 0xE2 && i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xA8 || s[i+2] == 0xA9):
				return -1
			}
			i++
		}
		if i >= len(s) {
			return -1
		}
		i++ // closing quote
		if i >= len(s) {
			return -1
		}
		switch s[i] {
		case ']':
			return i + 1
		case ',':
			i++
		default:
			return -1
		}
	}
}

func (c *copyReader) fill() error {
	if tok, err := c.dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return fmt.Errorf("not an object")
	}
	for c.dec.PeekKind() != '}' {
		name, err := c.dec.ReadValue()
		if err != nil || name.Kind() != '"' {
			return fmt.Errorf("bad name")
		}
		c.buf, err = jsontext.AppendUnquote(c.buf[:0], name)
		if err != nil {
			return err
		}
		v, err := c.dec.ReadValue()
		if err != nil {
			return err
		}
		i, ok := c.want[string(c.buf)]
		if !ok {
			continue
		}
		switch v.Kind() {
		case '"':
			s, err := jsontext.AppendUnquote(nil, v)
			if err != nil {
				return err
			}
			c.out[i] = string(s)
		case '0':
			f, err := strconv.ParseFloat(string(v), 64)
			if err != nil {
				return err
			}
			c.out[i] = strconv.FormatFloat(f, 'f', -1, 64)
		case 't':
			c.out[i] = "true"
		case 'f':
			c.out[i] = "false"
		case 'n':
			c.out[i] = ""
		default: // a multiselect list: as cell() writes it
			var x any
			if err := json.Unmarshal(v, &x); err != nil {
				return err
			}
			c.out[i] = cell(x)
		}
	}
	if _, err := c.dec.ReadToken(); err != nil {
		return err
	}
	if _, err := c.dec.ReadToken(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("data after the object")
	}
	return nil
}

// cell writes a typed custom value the way the importer reads it back.
func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}
