package textclean

import (
	"strings"
	"testing"
)

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

// Dirty (eight bytes at a time) answers what the byte loop answers, at every
// alignment of every control byte.
func TestDirtyMatchesTheByteLoop(t *testing.T) {
	for c := 0; c < 256; c++ {
		for n := 1; n <= 20; n++ {
			for at := 0; at < n; at++ {
				b := []byte("abcdefghijklmnopqrst"[:n])
				b[at] = byte(c)
				if got, want := Dirty(string(b)), dirtyBytes(string(b)); got != want {
					t.Fatalf("Dirty(%q) = %v, want %v", b, got, want)
				}
			}
		}
	}
}

func FuzzDirty(f *testing.F) {
	f.Add("plain <p>html</p>\r\n\tand more text")
	f.Add("é\x00ü漢\x07")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := Dirty(s), dirtyBytes(s); got != want {
			t.Fatalf("Dirty(%q) = %v, want %v", s, got, want)
		}
	})
}

// BenchmarkDirty: a 3 kB HTML part with a line break every 80 bytes (clean,
// so the whole part is read); the baseline of the same run is the byte loop.
//
//	go test ./services/textclean -run '^$' -bench Dirty
func BenchmarkDirty(b *testing.B) {
	line := strings.Repeat("<p>Hello Ada, the December news é</p> ", 3)[:79] + "\n"
	s := strings.Repeat(line, 40)
	b.Run("words", func(b *testing.B) {
		b.SetBytes(int64(len(s)))
		for b.Loop() {
			if Dirty(s) {
				b.Fatal("dirty")
			}
		}
	})
	b.Run("baseline-bytes", func(b *testing.B) {
		b.SetBytes(int64(len(s)))
		for b.Loop() {
			if dirtyBytes(s) {
				b.Fatal("dirty")
			}
		}
	})
}
