package csvio

import (
	"bytes"
	"strings"
	"testing"
)

// Cells (and headers) are read without NUL and other control characters,
// and written without them.
func TestControlCharactersStripped(t *testing.T) {
	r, err := NewReader(strings.NewReader("na\x00me,notes\nAd\x00a,\"two\r\nlines\ttab\x01\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Header[0] != "name" {
		t.Fatalf("header %q", r.Header)
	}
	rec, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if rec[0] != "Ada" || rec[1] != "two\nlines\ttab" {
		t.Fatalf("row %q", rec)
	}
	var buf bytes.Buffer
	w, _ := NewWriter(&buf)
	_ = w.Write([]string{"a\x00b", "c\x1bd"})
	_ = w.Flush()
	if got := buf.String(); got != "\xef\xbb\xbfab,cd\r\n" {
		t.Fatalf("written %q", got)
	}
}
