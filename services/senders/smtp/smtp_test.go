package smtp_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/senders/smtp"
	"github.com/pi-crm/pi-crm/services/senders/smtp/smtptest"
)

const (
	user = "mailer@example.com"
	pass = "s3cret-pass"
)

func newSender(t *testing.T, srv *smtptest.Server, mode string, mut func(*smtp.Config)) *smtp.Sender {
	t.Helper()
	cfg := smtp.Config{Host: srv.Host, Port: srv.Port, TLS: mode, Username: user, Password: pass,
		From: "Ünïcode Shop <news@shop.example>", ReplyTo: "help@shop.example", Concurrency: 2,
		TLSConfig: srv.ClientTLS(), Timeout: 5 * time.Second}
	if mut != nil {
		mut(&cfg)
	}
	s, err := smtp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func message(to string) senders.Message {
	return senders.Message{Workspace: "ws", CampaignID: "c1", DeliveryID: "d1", ContactID: "k1", Channel: "email", To: to,
		Subject: "Grüße aus Köln — 20 % Rabatt bis Sonntag, nur für Stammkundinnen und Stammkunden 🎉",
		HTML:    "<p>Hallo Jürgen,</p><p>unser Angebot … <a href=\"https://x.example/u/t\">Abmelden</a></p>",
		Text:    "Hallo Jürgen,\n\nunser Angebot …\n\nAbmelden: https://x.example/u/t\n",
		Headers: map[string]string{"List-Unsubscribe": "<https://crm.example/u/tok>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
			"X-PiCRM-Campaign": "c1"},
		MessageID: "d1.c1@shop.example"}
}

type parsed struct {
	msg   *mail.Message
	parts map[string]string // content type → decoded body
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	if !bytes.Contains(data, []byte("\r\n")) || bytes.Contains(bytes.ReplaceAll(data, []byte("\r\n"), nil), []byte("\n")) {
		t.Error("the message has bare LF line ends")
	}
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	p := parsed{msg: msg, parts: map[string]string{}}
	if mt != "multipart/alternative" {
		t.Fatalf("content type %s", mt)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(part)
		if err != nil {
			t.Fatal(err)
		}
		p.parts[part.Header.Get("Content-Type")] = string(b)
	}
	return p
}

// STARTTLS with the test's CA, AUTH PLAIN, the message as received: headers,
// the decoded non-ASCII subject and display name, both parts, envelope.
func TestSendStartTLS(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: "starttls", Username: user, Password: pass})
	s := newSender(t, srv, smtp.TLSStartTLS, nil)
	m := message("anna@example.org")
	res, err := s.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if res.ProviderMessageID != "d1.c1@shop.example" {
		t.Errorf("provider message id %q", res.ProviderMessageID)
	}
	got := srv.Messages()
	if len(got) != 1 {
		t.Fatalf("%d messages", len(got))
	}
	r := got[0]
	if !r.TLS || r.User != user || r.From != "news@shop.example" || len(r.To) != 1 || r.To[0] != "anna@example.org" {
		t.Fatalf("envelope %+v", r)
	}
	p := parse(t, r.Data)
	h := p.msg.Header
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(h.Get("Subject"))
	if err != nil || subject != m.Subject {
		t.Errorf("subject %q (%v) from %q", subject, err, h.Get("Subject"))
	}
	if !strings.HasPrefix(h.Get("Subject"), "=?utf-8?q?") {
		t.Errorf("subject not RFC 2047 encoded: %q", h.Get("Subject"))
	}
	for _, line := range strings.Split(string(r.Data[:bytes.Index(r.Data, []byte("\r\n\r\n"))]), "\r\n") {
		if len(line) > 998 {
			t.Errorf("header line of %d characters", len(line))
		}
	}
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "Ünïcode Shop" || from[0].Address != "news@shop.example" {
		t.Errorf("from %v %v (%q)", from, err, h.Get("From"))
	}
	if to, _ := h.AddressList("To"); len(to) != 1 || to[0].Address != "anna@example.org" {
		t.Errorf("to %v", to)
	}
	if rt, _ := h.AddressList("Reply-To"); len(rt) != 1 || rt[0].Address != "help@shop.example" {
		t.Errorf("reply-to %v", rt)
	}
	if h.Get("Message-Id") != "<d1.c1@shop.example>" || h.Get("Mime-Version") != "1.0" {
		t.Errorf("message-id %q mime %q", h.Get("Message-Id"), h.Get("Mime-Version"))
	}
	if _, err := h.Date(); err != nil {
		t.Errorf("date: %v", err)
	}
	for k, v := range m.Headers {
		if h.Get(k) != v {
			t.Errorf("header %s = %q, want %q", k, h.Get(k), v)
		}
	}
	if p.parts["text/plain; charset=utf-8"] != strings.ReplaceAll(m.Text, "\n", "\r\n") {
		t.Errorf("text part %q", p.parts["text/plain; charset=utf-8"])
	}
	if p.parts["text/html; charset=utf-8"] != m.HTML {
		t.Errorf("html part %q", p.parts["text/html; charset=utf-8"])
	}
	if len(p.parts) != 2 {
		t.Errorf("parts %v", p.parts)
	}
}

// Implicit TLS (port 465 style); no Message-ID given: one is made under the
// from domain, a new one per delivery.
func TestSendImplicitTLSMessageID(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: "tls", Username: user, Password: pass})
	s := newSender(t, srv, smtp.TLSImplicit, nil)
	ids := map[string]bool{}
	for i := 0; i < 3; i++ {
		m := message("bob@example.org")
		m.MessageID = ""
		res, err := s.Send(context.Background(), m)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(res.ProviderMessageID, "@shop.example") || ids[res.ProviderMessageID] {
			t.Errorf("message id %q (seen: %v)", res.ProviderMessageID, ids)
		}
		ids[res.ProviderMessageID] = true
	}
	for _, r := range srv.Messages() {
		msg, err := mail.ReadMessage(bytes.NewReader(r.Data))
		if err != nil || !r.TLS {
			t.Fatal(err)
		}
		if id := strings.Trim(msg.Header.Get("Message-Id"), "<>"); !ids[id] {
			t.Errorf("received message id %q not among %v", id, ids)
		}
	}
	if srv.Sessions() != 1 {
		t.Errorf("three sends used %d connections, want 1 kept open", srv.Sessions())
	}
}

// A 4xx answer is temporary, a 5xx permanent; the connection stays usable
// after either (RSET), and a wrong password is permanent.
func TestErrorClasses(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: "starttls", Username: user, Password: pass})
	s := newSender(t, srv, smtp.TLSStartTLS, func(c *smtp.Config) { c.Concurrency = 1 })
	srv.Answer("busy@example.org", 450, "mailbox busy, try later")
	srv.Answer("nobody@example.org", 550, "no such user")

	_, err := s.Send(context.Background(), message("busy@example.org"))
	if perm, _ := senders.Classify(err); err == nil || perm || !strings.Contains(err.Error(), "450") {
		t.Errorf("450: %v (permanent %v)", err, perm)
	}
	_, err = s.Send(context.Background(), message("nobody@example.org"))
	if perm, _ := senders.Classify(err); err == nil || !perm || !strings.Contains(err.Error(), "550") {
		t.Errorf("550: %v (permanent %v)", err, perm)
	}
	if _, err := s.Send(context.Background(), message("ok@example.org")); err != nil {
		t.Fatal(err)
	}
	if srv.Sessions() != 1 || len(srv.Messages()) != 1 {
		t.Errorf("sessions %d messages %d", srv.Sessions(), len(srv.Messages()))
	}

	bad := newSender(t, srv, smtp.TLSStartTLS, func(c *smtp.Config) { c.Password = "wrong" })
	_, err = bad.Send(context.Background(), message("ok@example.org"))
	if perm, _ := senders.Classify(err); err == nil || !perm || !strings.Contains(err.Error(), "login refused") {
		t.Errorf("bad password: %v (permanent %v)", err, perm)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("the error names the password: %v", err)
	}
}

// A certificate the sender does not trust (no test CA: the system roots)
// fails permanently and sends nothing; so does STARTTLS against a server
// that does not offer it.
func TestUntrustedCertificate(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: "starttls", Username: user, Password: pass})
	s := newSender(t, srv, smtp.TLSStartTLS, func(c *smtp.Config) { c.TLSConfig = nil })
	_, err := s.Send(context.Background(), message("ok@example.org"))
	if perm, _ := senders.Classify(err); err == nil || !perm {
		t.Errorf("untrusted: %v (permanent %v)", err, perm)
	}
	plain := smtptest.Start(t, smtptest.Options{TLS: "none"})
	s = newSender(t, plain, smtp.TLSStartTLS, func(c *smtp.Config) { c.Username = "" })
	_, err = s.Send(context.Background(), message("ok@example.org"))
	if perm, _ := senders.Classify(err); err == nil || !perm || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("no STARTTLS: %v (permanent %v)", err, perm)
	}
	if len(srv.Messages())+len(plain.Messages()) != 0 {
		t.Error("a message went out")
	}
}

// A refused connection is temporary; a kept connection the server dropped
// is replaced without losing the message.
func TestNetworkErrors(t *testing.T) {
	s, err := smtp.New(smtp.Config{Host: "127.0.0.1", Port: 1, TLS: smtp.TLSNone, From: "a@b.example", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Send(context.Background(), message("x@example.org"))
	if perm, _ := senders.Classify(err); err == nil || perm {
		t.Errorf("refused connection: %v (permanent %v)", err, perm)
	}

	srv := smtptest.Start(t, smtptest.Options{TLS: "none"})
	s = newSender(t, srv, smtp.TLSNone, func(c *smtp.Config) { c.Username = ""; c.Concurrency = 1 })
	if _, err := s.Send(context.Background(), message("one@example.org")); err != nil {
		t.Fatal(err)
	}
	srv.CloseConnections()
	if _, err := s.Send(context.Background(), message("two@example.org")); err != nil {
		t.Fatalf("after the server dropped the connection: %v", err)
	}
	if n := len(srv.Messages()); n != 2 || srv.Sessions() != 2 {
		t.Errorf("messages %d sessions %d", n, srv.Sessions())
	}
	// a cancelled context: temporary, nothing sent
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Send(ctx, message("three@example.org")); err == nil || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// A reply lost after the final "." (here: the send's timeout while the
// server, which has stored the message, is slow to answer) is an unknown
// outcome, not a failure to retry: retrying would send it twice.
func TestLostReplyIsUnknown(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: "none", HangAfterData: time.Second})
	s := newSender(t, srv, smtp.TLSNone, func(c *smtp.Config) { c.Username = ""; c.Concurrency = 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := s.Send(ctx, message("once@example.org"))
	if !senders.IsUnknown(err) {
		t.Fatalf("want an unknown outcome, got %v", err)
	}
	if perm, _ := senders.Classify(err); perm {
		t.Errorf("unknown classified permanent")
	}
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("server has %d messages", n)
	}
}

// Header injection and unparseable addresses are refused before anything is
// sent (permanent).
func TestRefusedMessages(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: "none"})
	s := newSender(t, srv, smtp.TLSNone, func(c *smtp.Config) { c.Username = "" })
	for name, mut := range map[string]func(*senders.Message){
		"header CRLF":  func(m *senders.Message) { m.Headers["X-Evil"] = "a\r\nBcc: victim@example.org" },
		"header name":  func(m *senders.Message) { m.Headers["X Evil:"] = "a" },
		"bad to":       func(m *senders.Message) { m.To = "not an address" },
		"to with CRLF": func(m *senders.Message) { m.To = "a@example.org\r\nRCPT TO:<b@example.org>" },
		"bad from":     func(m *senders.Message) { m.From = "nope" },
		"bad reply-to": func(m *senders.Message) { m.ReplyTo = "nope" },
	} {
		m := message("ok@example.org")
		mut(&m)
		_, err := s.Send(context.Background(), m)
		if perm, _ := senders.Classify(err); err == nil || !perm {
			t.Errorf("%s: %v (permanent %v)", name, err, perm)
		}
	}
	// a subject with a line break is one line; the From header cannot be
	// replaced through Headers
	m := message("ok@example.org")
	m.Subject = "Hello\r\nBcc: victim@example.org"
	m.Headers["From"] = "evil@example.org"
	if _, err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(srv.Messages()[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("Bcc") != "" || msg.Header.Get("Subject") != "Hello Bcc: victim@example.org" || !strings.Contains(msg.Header.Get("From"), "news@shop.example") {
		t.Errorf("headers %v", msg.Header)
	}
}

// Only one part: no multipart.
func TestSinglePart(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: "none"})
	s := newSender(t, srv, smtp.TLSNone, func(c *smtp.Config) { c.Username = "" })
	m := message("ok@example.org")
	m.HTML = ""
	m.Subject = "Plain"
	if _, err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(srv.Messages()[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("Content-Type") != "text/plain; charset=utf-8" || msg.Header.Get("Subject") != "Plain" {
		t.Errorf("%v", msg.Header)
	}
}

// Concurrency: many sends at once use at most Concurrency connections, and
// each message arrives once.
func TestPool(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: "starttls", Username: user, Password: pass})
	s := newSender(t, srv, smtp.TLSStartTLS, func(c *smtp.Config) { c.Concurrency = 3 })
	var wg sync.WaitGroup
	errs := make(chan error, 60)
	for i := 0; i < 60; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			m := message(fmt.Sprintf("r%d@example.org", i))
			m.MessageID = ""
			_, err := s.Send(context.Background(), m)
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, r := range srv.Messages() {
		seen[r.To[0]] = true
	}
	if len(seen) != 60 || len(srv.Messages()) != 60 {
		t.Errorf("%d distinct of %d", len(seen), len(srv.Messages()))
	}
	if n := srv.Sessions(); n > 3 || srv.AuthAttempts() != n {
		t.Errorf("sessions %d auth %d (concurrency 3)", n, srv.AuthAttempts())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(context.Background(), message("late@example.org")); err == nil {
		t.Error("send after close")
	}
}

// BenchmarkSend: messages per second to the in-process server over one
// kept connection (no TLS), for a feel of the sender's own cost.
func BenchmarkSend(b *testing.B) {
	srv := smtptest.Start(b, smtptest.Options{TLS: "none"})
	s, err := smtp.New(smtp.Config{Host: srv.Host, Port: srv.Port, TLS: smtp.TLSNone, From: "news@shop.example", Concurrency: 4})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	m := message("bench@example.org")
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Send(context.Background(), m); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
