package mimemsg

import (
	"bytes"
	"mime/quotedprintable"
	"strings"
	"testing"
)

func writerQP(t testing.TB, s string) string {
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	if _, err := w.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

var qpCases = []string{
	"", "plain", "a=b", "tab\tend\t", "space at end ", "space before LF \nnext", "CR\rLF\nCRLF\r\nLFCR\n\r",
	"\r\x01\n", "Zoë — 東京 \xff\x00", strings.Repeat("x", 75), strings.Repeat("x", 76), strings.Repeat("x", 74) + "=é",
	strings.Repeat("y", 73) + " \n", strings.Repeat("=", 100), strings.Repeat("a b\t", 40),
	`<p style="font-family:Arial,sans-serif;font-size:15px;line-height:1.5;color:#333">Lorem ipsum dolor sit amet</p>` + "\n",
}

// appendQP writes what mime/quotedprintable.Writer writes, after other
// bytes already in the buffer too.
func TestAppendQPMatchesTheWriter(t *testing.T) {
	for _, s := range qpCases {
		if got, want := string(appendQP(nil, s)), writerQP(t, s); got != want {
			t.Fatalf("%q:\n got %q\nwant %q", s, got, want)
		}
		if got := string(appendQP([]byte("Header: x\r\n"), s)); got != "Header: x\r\n"+writerQP(t, s) {
			t.Fatalf("%q after a prefix: %q", s, got)
		}
	}
}

func FuzzAppendQP(f *testing.F) {
	for _, s := range qpCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(appendQP(nil, s)), writerQP(t, s); got != want {
			t.Fatalf("%q:\n got %q\nwant %q", s, got, want)
		}
	})
}

// A 5 kB HTML part, the size of the bench's campaign message.
func BenchmarkAppendQP(b *testing.B) {
	html := strings.Repeat(qpCases[len(qpCases)-1], 40)
	buf := make([]byte, 0, 2*len(html))
	b.SetBytes(int64(len(html)))
	for b.Loop() {
		buf = appendQP(buf[:0], html)
	}
}
