package mimemsg

import (
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
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
