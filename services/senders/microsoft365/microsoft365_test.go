package microsoft365

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/internal/providerfake/graphfake"
	"github.com/pi-crm/pi-crm/services/senders"
)

func message(to string) senders.Message {
	return senders.Message{Workspace: "w1", CampaignID: "c1", DeliveryID: "d1", Channel: "email", To: to,
		Subject: "Grüße zum Frühlingsfest — 20 % Rabatt", Text: "Hallo Anna,\r\nbis bald.", HTML: "<p>Hallo <b>Anna</b>, bis bald.</p>",
		Headers: map[string]string{"List-Unsubscribe": "<https://crm.example/u/tok-1>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
			"X-PiCRM-Campaign": "c1"},
		MessageID: "d1.c1@crm.example"}
}

func kind(err error) string {
	var e *senders.Error
	switch {
	case err == nil:
		return "nil"
	case !errors.As(err, &e):
		return "plain"
	case e.Unknown:
		return "unknown"
	case e.Permanent:
		return "permanent"
	}
	return "temporary"
}

// Saved to Sent Items (the default): the client-credentials exchange at the
// fake login endpoint, then sendMail's MIME form, gzip-compressed by the
// SDK, whose base64 body is our multipart message with every header.
func TestSendMIME(t *testing.T) {
	f := graphfake.New(t)
	s := newSender(t, f, nil)
	m := message("Bob Builder <bob@example.org>")
	res, err := s.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(context.Background(), message("carol@example.org")); err != nil {
		t.Fatal(err)
	}
	if res.ProviderMessageID != "d1.c1@crm.example" || len(f.Sent()) != 2 {
		t.Fatalf("result %+v, %d sent", res, len(f.Sent()))
	}
	if f.Tokens() != 1 || f.Gzipped() != 2 {
		t.Errorf("%d token exchanges, %d gzipped bodies", f.Tokens(), f.Gzipped())
	}
	msg := f.Sent()[0].MIME
	if msg == nil {
		t.Fatal("not the MIME form")
	}
	h := msg.Header
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil || subject != m.Subject {
		t.Errorf("subject %q", subject)
	}
	for k, want := range map[string]string{
		"Message-Id": "<d1.c1@crm.example>", "List-Unsubscribe": "<https://crm.example/u/tok-1>",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click", "X-Picrm-Campaign": "c1",
		"From": "<news@shop.example>", "To": `"Bob Builder" <bob@example.org>`,
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	mt, params, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if mt != "multipart/alternative" {
		t.Fatalf("content type %q", h.Get("Content-Type"))
	}
	parts := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		parts[p.Header.Get("Content-Type")] = string(b)
	}
	if parts["text/plain; charset=utf-8"] != m.Text || parts["text/html; charset=utf-8"] != m.HTML {
		t.Errorf("parts %q", parts)
	}
}

// Not saved: sendMail's JSON form with saveToSentItems false, the HTML body,
// internetMessageId, and only the x- headers Graph accepts.
func TestSendJSON(t *testing.T) {
	f := graphfake.New(t)
	no := false
	s := newSender(t, f, &no)
	if _, err := s.Send(context.Background(), message("Bob <bob@example.org>")); err != nil {
		t.Fatal(err)
	}
	body := f.Sent()[0].JSON
	if body == nil || f.Gzipped() != 1 {
		t.Fatalf("not the JSON form (gzipped %d)", f.Gzipped())
	}
	if graphfake.Param(body, "saveToSentItems") != false {
		t.Errorf("saveToSentItems %v", body)
	}
	m := graphfake.Param(body, "message").(map[string]any)
	b := m["body"].(map[string]any)
	to := graphfake.AsList(m["toRecipients"])[0]["emailAddress"].(map[string]any)
	from := m["from"].(map[string]any)["emailAddress"].(map[string]any)
	if m["subject"] != message("").Subject || b["contentType"] != "html" || b["content"] != message("").HTML ||
		m["internetMessageId"] != "<d1.c1@crm.example>" || to["address"] != "bob@example.org" || to["name"] != "Bob" ||
		from["address"] != "news@shop.example" {
		t.Errorf("message %v", m)
	}
	hs := graphfake.AsList(m["internetMessageHeaders"])
	if len(hs) != 1 || hs[0]["name"] != "X-PiCRM-Campaign" || hs[0]["value"] != "c1" {
		t.Errorf("headers %v", hs)
	}
	r, err := s.Lookup(context.Background(), senders.Query{MessageID: "d1.c1@crm.example", To: "bob@example.org"})
	if err != nil || r.Outcome != senders.Undetermined || !strings.Contains(r.Reason, "save_to_sent_items") {
		t.Errorf("look-up without a copy: %+v %v", r, err)
	}
}

func TestSendErrors(t *testing.T) {
	f := graphfake.New(t)
	s := newSender(t, f, nil)
	cases := []struct {
		name   string
		answer func(w http.ResponseWriter, r *http.Request)
		kind   string
		after  time.Duration
	}{
		{"429 throttled", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "17")
			graphfake.Error(w, 429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.")
		}, "temporary", 17 * time.Second},
		{"503 Retry-After", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "5")
			graphfake.Error(w, 503, "ServiceUnavailable", "Service Unavailable")
		}, "temporary", 5 * time.Second},
		{"500", func(w http.ResponseWriter, r *http.Request) {
			graphfake.Error(w, 500, "InternalServerError", "oops")
		}, "temporary", 0},
		{"502 not JSON", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(502)
			_, _ = io.WriteString(w, "<html>bad gateway</html>")
		}, "temporary", 0},
		{"400 invalid recipient", func(w http.ResponseWriter, r *http.Request) {
			graphfake.Error(w, 400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
		}, "permanent", 0},
		{"403 no Mail.Send", func(w http.ResponseWriter, r *http.Request) {
			graphfake.Error(w, 403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
		}, "permanent", 0},
		{"connection dropped after the request", graphfake.Drop, "unknown", 0},
	}
	for _, c := range cases {
		f.SendNext(c.answer)
		_, err := s.Send(context.Background(), message("bob@example.org"))
		if kind(err) != c.kind {
			t.Errorf("%s: %v is %s, want %s", c.name, err, kind(err), c.kind)
			continue
		}
		if _, after := senders.Classify(err); after != c.after {
			t.Errorf("%s: retry after %v, want %v", c.name, after, c.after)
		}
	}
	if n := f.Calls("POST /v1.0/users/news@shop.example/sendMail"); n != len(cases) {
		t.Errorf("%d sendMail calls for %d sends: the SDK retried", n, len(cases))
	}
	// an unknown mailbox is permanent
	other, err := New(Config{TenantID: f.Tenant, ClientID: f.ClientID, ClientSecret: f.Secret, Sender: "nobody@shop.example",
		BaseURL: f.Srv.URL, HTTPClient: f.Srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Send(context.Background(), message("bob@example.org")); kind(err) != "permanent" || !strings.Contains(err.Error(), "ErrorInvalidUser") {
		t.Errorf("unknown mailbox: %v", err)
	}
	// a wrong secret: the token exchange refuses, permanently
	bad, err := New(Config{TenantID: f.Tenant, ClientID: f.ClientID, ClientSecret: "wrong", Sender: f.Mailbox,
		BaseURL: f.Srv.URL, HTTPClient: f.Srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Send(context.Background(), message("bob@example.org")); kind(err) != "permanent" || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Errorf("bad secret: %v (%s)", err, kind(err))
	}
	if strings.Contains(func() string { _, err := bad.Send(context.Background(), message("b@example.org")); return err.Error() }(), "wrong") {
		t.Error("the secret is in the error")
	}
	// gone: nothing written, temporary
	f.Srv.Close()
	if _, err := s.Send(context.Background(), message("bob@example.org")); kind(err) != "temporary" {
		t.Errorf("server gone: %v (%s)", err, kind(err))
	}
}

func TestNewChecksConfig(t *testing.T) {
	full := Config{TenantID: "t", ClientID: "c", ClientSecret: "s", Sender: "news@shop.example"}
	for name, edit := range map[string]func(*Config){
		"no tenant":  func(c *Config) { c.TenantID = "" },
		"no secret":  func(c *Config) { c.ClientSecret = " " },
		"no sender":  func(c *Config) { c.Sender = "" },
		"bad sender": func(c *Config) { c.Sender = "not a mailbox" },
		"bad base":   func(c *Config) { c.BaseURL = "ftp://x" },
	} {
		c := full
		edit(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	s, err := New(full)
	if err != nil || s.Name() != "microsoft365" || s.Channel() != "email" || s.Close() != nil {
		t.Fatal(err)
	}
	if l := DefaultLimits(); l.DailyLimit != 10000 || l.RatePerSecond*60 != 30 {
		t.Errorf("limits %+v", l)
	}
}

// Senders opened and used at once (one per workspace): run with -race.
func TestConcurrent(t *testing.T) {
	f := graphfake.New(t)
	done := make(chan error)
	for i := 0; i < 4; i++ {
		go func() {
			s, err := New(Config{TenantID: f.Tenant, ClientID: f.ClientID, ClientSecret: f.Secret, Sender: f.Mailbox,
				BaseURL: f.Srv.URL, HTTPClient: f.Srv.Client()})
			if err == nil {
				_, err = s.Send(context.Background(), message("bob@example.org"))
			}
			done <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	if len(f.Sent()) != 4 {
		t.Errorf("%d sent", len(f.Sent()))
	}
}
