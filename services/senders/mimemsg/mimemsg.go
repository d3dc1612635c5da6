// Package mimemsg writes one rendered message as RFC 5322 / MIME bytes:
// multipart/alternative text + HTML (or the one part there is), quoted-
// printable, CRLF line ends, RFC 2047 encoded words where a header is not
// ASCII, and the message's own headers (List-Unsubscribe, …) after checks
// that keep a header from being injected or replacing a structural one.
// The SMTP sender sends these bytes as they are; the Gmail sender base64url-
// encodes them into users.messages.send's raw; the Microsoft 365 sender
// posts them base64-encoded to sendMail's MIME form.
package mimemsg

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"net/mail"
	"net/textproto"
	"sort"
	"strings"
	"time"

	"github.com/pi-crm/pi-crm/services/senders"
)

// structural headers are written by build itself; a message's Headers
// cannot replace them
var structural = map[string]bool{
	"Date": true, "From": true, "To": true, "Cc": true, "Bcc": true, "Reply-To": true, "Subject": true,
	"Message-Id": true, "Mime-Version": true, "Content-Type": true, "Content-Transfer-Encoding": true,
	"Sender": true, "Return-Path": true,
}

// Build writes the message into a buffer of its own: headers, then
// multipart/alternative text and HTML (or the one part there is),
// quoted-printable, CRLF line ends. id is the Message-ID without angle
// brackets; m.From, m.To and m.ReplyTo are not read (the caller parsed them
// into from, to and replyTo; nil replyTo: no Reply-To).
func Build(m senders.Message, from, to, replyTo *mail.Address, id string, now time.Time) ([]byte, error) {
	return BuildInto(new(bytes.Buffer), m, from, to, replyTo, id, now)
}

// BuildInto is Build writing into buf (reset first): the message is buf's
// bytes, valid until buf is reused. The SMTP sender keeps its buffers in a
// pool between sends.
func BuildInto(buf *bytes.Buffer, m senders.Message, from, to, replyTo *mail.Address, id string, now time.Time) ([]byte, error) {
	buf.Reset()
	b := buf
	// quoted-printable adds a soft line break every 75 characters and
	// escapes "=" (frequent in HTML attributes): about a tenth more
	b.Grow((len(m.HTML)+len(m.Text))*9/8 + 2048)
	header := func(name, value string) {
		b.WriteString(name)
		b.WriteString(": ")
		b.WriteString(value)
		b.WriteString("\r\n")
	}
	header("Date", now.Format(time.RFC1123Z))
	header("From", from.String())
	header("To", to.String())
	if replyTo != nil {
		header("Reply-To", replyTo.String())
	}
	header("Subject", encodeText(oneLine(m.Subject)))
	header("Message-ID", "<"+id+">")
	header("MIME-Version", "1.0")

	names := make([]string, 0, len(m.Headers))
	for k := range m.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		name := textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(k))
		if structural[name] {
			continue
		}
		if !validHeaderName(name) {
			return nil, fmt.Errorf("message: header name %q is not allowed", k)
		}
		v := m.Headers[k]
		if strings.ContainsAny(v, "\r\n") {
			return nil, fmt.Errorf("message: header %s holds a line break", name)
		}
		header(name, encodeText(v))
	}

	parts := 0
	if m.Text != "" {
		parts++
	}
	if m.HTML != "" {
		parts++
	}
	if parts < 2 {
		typ, body := "text/plain; charset=utf-8", m.Text
		if m.HTML != "" {
			typ, body = "text/html; charset=utf-8", m.HTML
		}
		header("Content-Type", typ)
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		b.Write(appendQP(b.AvailableBuffer(), body))
		b.WriteString("\r\n")
		return b.Bytes(), nil
	}

	// the parts go straight after the headers: the boundary is known
	// before anything is written (one buffer, sized once, not a second one
	// grown from nothing and copied — that was half of a send's allocations)
	boundary := newBoundary()
	header("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	writeAlternative(b, boundary, m.Text, m.HTML)
	return b.Bytes(), nil
}

// writeAlternative writes the two parts and the closing delimiter as
// mime/multipart's Writer does (TestAlternativeAsMultipartWrites holds it
// to that), without the Writer: its CreatePart sorts and formats each part's
// header through fmt, a third of building a message.
func writeAlternative(b *bytes.Buffer, boundary, text, html string) {
	for i, p := range [2]struct{ typ, content string }{
		{"text/plain; charset=utf-8", text},
		{"text/html; charset=utf-8", html},
	} {
		if i > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString("--")
		b.WriteString(boundary)
		b.WriteString("\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Type: ")
		b.WriteString(p.typ)
		b.WriteString("\r\n\r\n")
		// encoded straight into b's spare room
		b.Write(appendQP(b.AvailableBuffer(), p.content))
	}
	b.WriteString("\r\n--")
	b.WriteString(boundary)
	b.WriteString("--\r\n")
}

// newBoundary is a boundary as mime/multipart makes one: 30 random bytes in
// hex. It must not occur in the parts; quoted-printable cannot make it
// appear, and nobody can guess it to write it into a contact's field.
func newBoundary() string {
	var r [30]byte
	_, _ = rand.Read(r[:])
	return hex.EncodeToString(r[:])
}

// encodeText is an unstructured header's value: as it is when ASCII, else
// RFC 2047 encoded words (Q, UTF-8), folded between the words so no line
// passes 78 characters.
func encodeText(s string) string {
	if isASCII(s) {
		return s
	}
	enc := mime.QEncoding.Encode("utf-8", s)
	return strings.ReplaceAll(enc, "?= =?", "?=\r\n =?")
}

func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// validHeaderName: RFC 5322 field names (printable ASCII without ':').
func validHeaderName(s string) bool {
	if s == "" || len(s) > 76 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

// NewMessageID returns a fresh Message-ID (without angle brackets) under the
// domain of addr.
func NewMessageID(addr string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	d := ""
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		d = addr[i+1:]
	}
	if d == "" {
		d = "pi-crm.invalid"
	}
	return hex.EncodeToString(b[:]) + "@" + d
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
