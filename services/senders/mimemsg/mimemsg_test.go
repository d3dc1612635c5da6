package mimemsg

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/services/senders"
)

func addr(t *testing.T, s string) *mail.Address {
	t.Helper()
	a, err := mail.ParseAddress(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// The message parses back: our headers, an RFC 2047 subject, two
// alternative parts with their texts.
func TestBuildParsesBack(t *testing.T) {
	m := senders.Message{Subject: "Grüße aus Köln, zum Frühlingsfest mit viel längerem Betreff als eine Zeile",
		Text: "Hallo Anna", HTML: "<p>Hallo <b>Anna</b></p>",
		Headers: map[string]string{"List-Unsubscribe": "<https://crm.example/u/t>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click", "from": "evil@example.org"}}
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	b, err := Build(m, addr(t, "Shop <news@shop.example>"), addr(t, "anna@example.org"), nil, "abc@shop.example", now)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\r\n") {
		if len(line) > 998 {
			t.Fatalf("line of %d characters", len(line))
		}
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil || subject != m.Subject {
		t.Errorf("subject %q (%v)", subject, err)
	}
	if h.Get("Message-Id") != "<abc@shop.example>" || h.Get("From") != `"Shop" <news@shop.example>` ||
		h.Get("List-Unsubscribe") != "<https://crm.example/u/t>" || h.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		t.Errorf("headers %v", h)
	}
	if d, err := h.Date(); err != nil || !d.Equal(now) {
		t.Errorf("date %v %v", d, err)
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q %v", mt, err)
	}
	r := multipart.NewReader(msg.Body, params["boundary"])
	got := map[string]string{}
	for {
		p, err := r.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p)
		got[p.Header.Get("Content-Type")] = string(body)
	}
	if got["text/plain; charset=utf-8"] != m.Text || got["text/html; charset=utf-8"] != m.HTML {
		t.Errorf("parts %v", got)
	}
}

// A header value with a line break or a bad name is refused.
func TestBuildRefusesInjection(t *testing.T) {
	for name, h := range map[string]map[string]string{
		"crlf": {"X-Evil": "a\r\nBcc: victim@example.org"},
		"name": {"X Evil:": "a"},
	} {
		_, err := Build(senders.Message{Text: "x", Headers: h}, addr(t, "a@b.example"), addr(t, "c@d.example"), nil, "i@b.example", time.Now())
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestNewMessageID(t *testing.T) {
	a, b := NewMessageID("news@shop.example"), NewMessageID("news@shop.example")
	if a == b || !strings.HasSuffix(a, "@shop.example") || len(a) != 32+len("@shop.example") {
		t.Errorf("%q %q", a, b)
	}
	if !strings.HasSuffix(NewMessageID("nodomain"), "@pi-crm.invalid") {
		t.Error("no domain")
	}
}

// The parts are written as mime/multipart's Writer writes them.
func TestAlternativeAsMultipartWrites(t *testing.T) {
	text, html := "Hallo Anna, = und ü\nzweite Zeile", `<p style="x">Hallo <b>Anna</b></p>`
	var want bytes.Buffer
	mw := multipart.NewWriter(&want)
	boundary := newBoundary()
	if err := mw.SetBoundary(boundary); err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]string{{"text/plain; charset=utf-8", text}, {"text/html; charset=utf-8", html}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {p[0]}, "Content-Transfer-Encoding": {"quoted-printable"}})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(appendQP(nil, p[1]))
	}
	_ = mw.Close()
	var got bytes.Buffer
	writeAlternative(&got, boundary, text, html)
	if got.String() != want.String() {
		t.Errorf("got\n%q\nwant\n%q", got.String(), want.String())
	}
	if a, b := newBoundary(), newBoundary(); a == b || len(a) != 60 {
		t.Errorf("boundaries %q %q", a, b)
	}
}

// A campaign's message as the SMTP sender builds it, into a reused buffer.
func BenchmarkBuild(b *testing.B) {
	html := strings.Repeat(`<p style="margin:0">Hallo Anna, = hier ist unser Angebot für Dezember.</p>`, 40)
	m := senders.Message{Subject: "Angebote für Dezember", HTML: html, Text: strings.Repeat("Hallo Anna, hier ist unser Angebot.\n", 40),
		Headers: map[string]string{"List-Unsubscribe": "<https://crm.example/u/t>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}}
	from, _ := mail.ParseAddress("Shop <news@shop.example>")
	to, _ := mail.ParseAddress("anna@example.org")
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		if _, err := BuildInto(&buf, m, from, to, nil, "abc@shop.example", now); err != nil {
			b.Fatal(err)
		}
	}
}
