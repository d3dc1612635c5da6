package textclean

import "testing"

func TestString(t *testing.T) {
	for in, want := range map[string]string{
		"":                 "",
		"plain":            "plain",
		"a\x00b":           "ab",
		"\x00\x01\x1f":     "",
		"tab\there\r\nnew": "tab\there\r\nnew",
		"é\x00ü漢\x07":      "éü漢",
		"\x7f stays":       "\x7f stays",
	} {
		if got := String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
	if v := Value([]any{"a\x00", 1.0}).([]any); v[0] != "a" || v[1] != 1.0 {
		t.Errorf("Value: %v", v)
	}
}
