package gmail

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

	"github.com/pi-crm/pi-crm/internal/providerfake/gmailfake"
	"github.com/pi-crm/pi-crm/services/senders"
)

func message(to string) senders.Message {
	return senders.Message{Workspace: "w1", CampaignID: "c1", DeliveryID: "d1", Channel: "email", To: to,
		Subject: "Grüße zum Frühlingsfest — 20 % Rabatt", Text: "Hallo Anna,\nbis bald.", HTML: "<p>Hallo <b>Anna</b>, bis bald.</p>",
		Headers: map[string]string{"List-Unsubscribe": "<https://crm.example/u/tok-1>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
			"X-PiCRM-Campaign": "c1"},
		MessageID: "d1.c1@crm.example"}
}

func newServiceAccount(t *testing.T, f *gmailfake.Fake) *Sender {
	t.Helper()
	s, err := New(Config{ServiceAccountJSON: f.ServiceAccountJSON(), DelegatedUser: "anna@shop.example", BaseURL: f.Srv.URL,
		HTTPClient: f.Srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return s
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

// A service account with domain-wide delegation: the JWT-bearer exchange at
// the token endpoint (claims and RS256 signature checked by the fake), then
// users.messages.send whose raw decodes to our multipart message.
func TestSendServiceAccount(t *testing.T) {
	f := gmailfake.New(t)
	s := newServiceAccount(t, f)
	m := message("Bob Builder <bob@example.org>")
	res, err := s.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(context.Background(), message("carol@example.org")); err != nil {
		t.Fatal(err)
	}
	if len(f.Sent()) != 2 || res.ProviderMessageID != f.Sent()[0].ID {
		t.Fatalf("sent %d, result %+v", len(f.Sent()), res)
	}
	// one exchange for both sends, asking for gmail.send only, as the delegated user
	if n := f.Calls("POST /token"); n != 1 || len(f.Claims()) != 1 {
		t.Fatalf("%d token exchanges", n)
	}
	c := f.Claims()[0]
	if c["sub"] != "anna@shop.example" || c["scope"] != ScopeSend || c["aud"] != gmailfake.TokenURI {
		t.Errorf("claims %v", c)
	}

	msg := f.Sent()[0].Msg
	h := msg.Header
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil || subject != m.Subject || !strings.HasPrefix(h.Get("Subject"), "=?utf-8?q?") {
		t.Errorf("subject %q → %q (%v)", h.Get("Subject"), subject, err)
	}
	for k, want := range map[string]string{
		"Message-Id": "<d1.c1@crm.example>", "List-Unsubscribe": "<https://crm.example/u/tok-1>",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click", "X-Picrm-Campaign": "c1",
		"From": "<anna@shop.example>", "To": `"Bob Builder" <bob@example.org>`, "Mime-Version": "1.0",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
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
	// quoted-printable writes the text's line breaks as CRLF, as RFC 5322 wants
	if parts["text/plain; charset=utf-8"] != strings.ReplaceAll(m.Text, "\n", "\r\n") || parts["text/html; charset=utf-8"] != m.HTML || len(parts) != 2 {
		t.Errorf("parts %q", parts)
	}
	if !strings.Contains(string(f.Sent()[0].Raw), "\r\n\r\n") {
		t.Error("no CRLF header end")
	}
}

// An OAuth client's refresh token: the refresh grant with the client's id and
// secret; a revoked token is permanent.
func TestSendRefreshToken(t *testing.T) {
	f := gmailfake.New(t)
	s, err := New(Config{ClientID: f.ClientID, ClientSecret: f.ClientSecret, RefreshToken: f.RefreshToken,
		From: "Shop <news@shop.example>", BaseURL: f.Srv.URL + "/", HTTPClient: f.Srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(context.Background(), message("bob@example.org")); err != nil {
		t.Fatal(err)
	}
	if got := f.Sent()[0].Msg.Header.Get("From"); got != `"Shop" <news@shop.example>` {
		t.Errorf("from %q", got)
	}
	revoked, err := New(Config{ClientID: f.ClientID, ClientSecret: f.ClientSecret, RefreshToken: "1//revoked",
		From: "news@shop.example", BaseURL: f.Srv.URL, HTTPClient: f.Srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = revoked.Send(context.Background(), message("bob@example.org"))
	if kind(err) != "permanent" || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("revoked: %v", err)
	}
}

// A service account whose delegation lacks gmail.send cannot send: permanent.
func TestSendDelegationMissing(t *testing.T) {
	f := gmailfake.New(t)
	f.Grant(ScopeReadonly)
	_, err := newServiceAccount(t, f).Send(context.Background(), message("bob@example.org"))
	if kind(err) != "permanent" || !strings.Contains(err.Error(), "unauthorized_client") {
		t.Errorf("%v", err)
	}
}

func TestSendErrors(t *testing.T) {
	f := gmailfake.New(t)
	s := newServiceAccount(t, f)
	cases := []struct {
		name   string
		answer func(w http.ResponseWriter, r *http.Request)
		kind   string
		after  time.Duration
	}{
		{"429 Retry-After", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "30")
			gmailfake.Error(w, 429, "RESOURCE_EXHAUSTED", "rateLimitExceeded", "User-rate limit exceeded.")
		}, "temporary", 30 * time.Second},
		{"403 userRateLimitExceeded", func(w http.ResponseWriter, r *http.Request) {
			gmailfake.Error(w, 403, "PERMISSION_DENIED", "userRateLimitExceeded", "User Rate Limit Exceeded")
		}, "temporary", 0},
		{"500", func(w http.ResponseWriter, r *http.Request) {
			gmailfake.Error(w, 500, "INTERNAL", "backendError", "Backend Error")
		}, "temporary", 0},
		{"503 Retry-After date", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", time.Now().Add(2*time.Minute).UTC().Format(http.TimeFormat))
			gmailfake.Error(w, 503, "UNAVAILABLE", "backendError", "The service is currently unavailable.")
		}, "temporary", 2 * time.Minute},
		{"400 invalidArgument", func(w http.ResponseWriter, r *http.Request) {
			gmailfake.Error(w, 400, "INVALID_ARGUMENT", "invalidArgument", "Invalid To header")
		}, "permanent", 0},
		{"401", func(w http.ResponseWriter, r *http.Request) {
			gmailfake.Error(w, 401, "UNAUTHENTICATED", "authError", "Invalid Credentials")
		}, "permanent", 0},
		{"403 forbidden", func(w http.ResponseWriter, r *http.Request) {
			gmailfake.Error(w, 403, "PERMISSION_DENIED", "forbidden", "Delegation denied for anna@shop.example")
		}, "permanent", 0},
		{"connection dropped after the request", gmailfake.Drop, "unknown", 0},
	}
	for _, c := range cases {
		f.SendNext(c.answer)
		_, err := s.Send(context.Background(), message("bob@example.org"))
		if kind(err) != c.kind {
			t.Errorf("%s: %v is %s, want %s", c.name, err, kind(err), c.kind)
			continue
		}
		if _, after := senders.Classify(err); after.Round(time.Second) != c.after && (c.after < time.Minute || after < c.after-2*time.Second) {
			t.Errorf("%s: retry after %v, want %v", c.name, after, c.after)
		}
	}
	if len(f.Sent()) != 0 {
		t.Errorf("%d stored", len(f.Sent()))
	}

	// a refused address is refused before any call; a server that is gone
	// received nothing: temporary, not unknown
	if _, err := s.Send(context.Background(), message("not an address")); kind(err) != "permanent" {
		t.Errorf("bad address: %v", err)
	}
	f.Srv.Close()
	if _, err := s.Send(context.Background(), message("bob@example.org")); kind(err) != "temporary" {
		t.Errorf("server gone: %v (%s)", err, kind(err))
	}
}

func TestNewChecksConfig(t *testing.T) {
	f := gmailfake.New(t)
	for name, cfg := range map[string]Config{
		"nothing":       {},
		"no user":       {ServiceAccountJSON: f.ServiceAccountJSON()},
		"bad json":      {ServiceAccountJSON: "{", DelegatedUser: "a@b.example"},
		"no secret":     {ClientID: "x", RefreshToken: "y"},
		"both":          {ServiceAccountJSON: f.ServiceAccountJSON(), DelegatedUser: "a@b.example", RefreshToken: "y"},
		"bad base_url":  {ClientID: "x", ClientSecret: "s", RefreshToken: "y", BaseURL: "ftp://x"},
		"bad from":      {ClientID: "x", ClientSecret: "s", RefreshToken: "y", From: "not an address"},
		"relative base": {ClientID: "x", ClientSecret: "s", RefreshToken: "y", BaseURL: "/gmail"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	s, err := New(Config{ClientID: "x", ClientSecret: "s", RefreshToken: "y"})
	if err != nil || s.Name() != "gmail" || s.Channel() != "email" || s.Close() != nil {
		t.Errorf("%v", err)
	}
	if l := DefaultLimits(); l.DailyLimit != 2000 || l.RatePerSecond*60 != 150 {
		t.Errorf("limits %+v", l)
	}
}
