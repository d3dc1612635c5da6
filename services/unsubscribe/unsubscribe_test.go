package unsubscribe_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/pi-crm/pi-crm/services/unsubscribe"
	"github.com/pocketbase/pocketbase/tests"
)

// Tokens: compact and URL-safe, round trip, any change refused; another
// data directory (another key) refuses them too; the URL needs meta.appURL.
func TestTokens(t *testing.T) {
	app, err := tests.NewTestApp(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer app.Cleanup()
	l := unsubscribe.NewLinks(app)
	c := unsubscribe.Claims{Workspace: "ws0000000000001", Contact: "ct0000000000001", Campaign: "cp0000000000001", Channel: "email"}
	tok, err := l.Token(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) > 80 || !regexp.MustCompile(`^[A-Za-z0-9._-]+$`).MatchString(tok) {
		t.Errorf("token %q (%d)", tok, len(tok))
	}
	if got, err := l.Parse(tok); err != nil || got != c {
		t.Fatalf("%+v %v", got, err)
	}
	for i := range tok {
		b := []byte(tok)
		b[i] ^= 1
		if _, err := l.Parse(string(b)); !errors.Is(err, unsubscribe.ErrInvalid) {
			t.Errorf("changed byte %d accepted: %s", i, b)
		}
	}
	sms := c
	sms.Channel, sms.Campaign = "sms", ""
	if tok2, err := l.Token(sms); err != nil || strings.Contains(tok2, ".e.") {
		t.Fatalf("%s %v", tok2, err)
	} else if got, err := l.Parse(tok2); err != nil || got != sms {
		t.Fatalf("%+v %v", got, err)
	}
	for _, bad := range []unsubscribe.Claims{{Workspace: "ws", Contact: "c", Channel: "fax"}, {Workspace: "a.b", Contact: "c", Channel: "email"}, {Contact: "c", Channel: "email"},
		{Workspace: "WS", Contact: "c", Channel: "email"}, {Workspace: "w", Contact: strings.Repeat("c", 33), Channel: "email"}, {Workspace: "w", Contact: "c", Campaign: "x-y", Channel: "email"}} {
		if _, err := l.Token(bad); err == nil {
			t.Errorf("%+v signed", bad)
		}
	}

	other, err := tests.NewTestApp(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Cleanup()
	if _, err := unsubscribe.NewLinks(other).Parse(tok); !errors.Is(err, unsubscribe.ErrInvalid) {
		t.Errorf("another server's key accepted the token: %v", err)
	}

	s := app.Settings()
	s.Meta.AppURL = ""
	if _, err := l.URL(c.Workspace, c.Contact, c.Campaign, "email"); err == nil {
		t.Error("a URL without meta.appURL")
	}
	s.Meta.AppURL = "https://crm.example.org/"
	u, err := l.URL(c.Workspace, c.Contact, c.Campaign, "email")
	if err != nil || u != "https://crm.example.org/u/"+tok {
		t.Errorf("%s %v", u, err)
	}
}
