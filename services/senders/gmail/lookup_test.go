package gmail

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/internal/providerfake/gmailfake"
	"github.com/pi-crm/pi-crm/services/senders"
)

func query(m senders.Message, since time.Time) senders.Query {
	return senders.Query{Workspace: m.Workspace, CampaignID: m.CampaignID, DeliveryID: m.DeliveryID, MessageID: m.MessageID,
		Channel: "email", To: m.To, Since: since}
}

// sendSome stores a message to bob with Message-ID d1.c1@crm.example; the
// look-ups below then ask for it and for messages never sent.
func sendSome(t *testing.T, f *gmailfake.Fake) (since time.Time, sentID string) {
	t.Helper()
	since = time.Now().Add(-time.Second)
	s := newServiceAccount(t, f)
	res, err := s.Send(context.Background(), message("bob@example.org"))
	if err != nil {
		t.Fatal(err)
	}
	return since, res.ProviderMessageID
}

// later is a look-up's clock, past every attempt's SettleDelay.
func later() time.Time { return time.Now().Add(10 * time.Minute) }

func lookupSender(t *testing.T, f *gmailfake.Fake) *Sender {
	t.Helper()
	s, err := New(Config{ServiceAccountJSON: f.ServiceAccountJSON(), DelegatedUser: "anna@shop.example", BaseURL: f.Srv.URL,
		HTTPClient: f.Srv.Client(), Now: later})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func lookup(t *testing.T, s *Sender, q senders.Query) senders.LookupResult {
	t.Helper()
	res, err := s.Lookup(context.Background(), q)
	if err != nil {
		t.Fatalf("lookup %s: %v", q.MessageID, err)
	}
	return res
}

// With gmail.readonly: rfc822msgid: finds the message; a Message-ID never
// sent to a recipient who got nothing since is NotFound; one whose
// recipient did get a message since is Undetermined.
func TestLookupReadonly(t *testing.T) {
	f := gmailfake.New(t)
	f.Grant(ScopeSend, ScopeReadonly, ScopeMetadata)
	since, id := sendSome(t, f)
	s := lookupSender(t, f)

	m := message("bob@example.org")
	if r := lookup(t, s, query(m, since)); r.Outcome != senders.Found || r.ProviderMessageID != id {
		t.Errorf("sent one: %+v", r)
	}
	other := message("carol@example.org")
	other.MessageID = "<d2.c1@crm.example>"
	if r := lookup(t, s, query(other, since)); r.Outcome != senders.NotFound {
		t.Errorf("never sent: %+v", r)
	}
	toBob := message("bob@example.org")
	toBob.MessageID = "d3.c1@crm.example"
	if r := lookup(t, s, query(toBob, since)); r.Outcome != senders.Undetermined || !strings.Contains(r.Reason, "bob@example.org") {
		t.Errorf("another to bob since: %+v", r)
	}
	// bob's message was before this attempt began: NotFound
	if r := lookup(t, s, query(toBob, time.Now().Add(2*time.Minute))); r.Outcome != senders.NotFound {
		t.Errorf("bob before: %+v", r)
	}
	// an attempt younger than SettleDelay is not declared NotFound
	if r := lookup(t, newServiceAccount(t, f), query(other, time.Now())); r.Outcome != senders.Undetermined || !strings.Contains(r.Reason, "later") {
		t.Errorf("too recent: %+v", r)
	}
	// only gmail.readonly was asked for (the first scope that works)
	for _, c := range f.Claims()[1:] {
		if c["scope"] != ScopeReadonly {
			t.Errorf("look-up asked for %v", c["scope"])
		}
	}
	if f.Calls("GET /gmail/v1/users/me/messages/"+id) != 0 {
		t.Error("readonly look-up read a message")
	}
}

// With gmail.metadata only (a service account's delegation, or a refresh
// token consented with it): the Sent folder is read message by message.
func TestLookupMetadataOnly(t *testing.T) {
	f := gmailfake.New(t)
	f.Grant(ScopeSend, ScopeMetadata)
	since, id := sendSome(t, f)

	sa := lookupSender(t, f)
	rt, err := New(Config{ClientID: f.ClientID, ClientSecret: f.ClientSecret, RefreshToken: f.RefreshToken,
		From: "news@shop.example", BaseURL: f.Srv.URL, HTTPClient: f.Srv.Client(), Now: later})
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*Sender{"service account": sa, "refresh token": rt} {
		if r := lookup(t, s, query(message("bob@example.org"), since)); r.Outcome != senders.Found || r.ProviderMessageID != id {
			t.Errorf("%s: sent one: %+v", name, r)
		}
		other := message("carol@example.org")
		other.MessageID = "d2.c1@crm.example"
		if r := lookup(t, s, query(other, since)); r.Outcome != senders.NotFound {
			t.Errorf("%s: never sent: %+v", name, r)
		}
		toBob := message("bob@example.org")
		toBob.MessageID = "d3.c1@crm.example"
		if r := lookup(t, s, query(toBob, since)); r.Outcome != senders.Undetermined {
			t.Errorf("%s: another to bob: %+v", name, r)
		}
	}
	if f.Calls("GET /gmail/v1/users/me/messages/"+id) == 0 {
		t.Error("no message read")
	}
}

// Credentials that may only send: Undetermined with the scope to grant, no
// error, for a service account (the exchange refused) and a refresh token
// (403 insufficient scopes).
func TestLookupNoPermission(t *testing.T) {
	f := gmailfake.New(t)
	since, _ := sendSome(t, f) // gmail.send only
	sa := lookupSender(t, f)
	rt, err := New(Config{ClientID: f.ClientID, ClientSecret: f.ClientSecret, RefreshToken: f.RefreshToken,
		From: "news@shop.example", BaseURL: f.Srv.URL, HTTPClient: f.Srv.Client(), Now: later})
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*Sender{"service account": sa, "refresh token": rt} {
		r, err := s.Lookup(context.Background(), query(message("bob@example.org"), since))
		if err != nil || r.Outcome != senders.Undetermined || r.Reason != ReasonNoReadScope || !r.NoReadPermission || !strings.Contains(r.Reason, "gmail.readonly") {
			t.Errorf("%s: %+v %v", name, r, err)
		}
	}
	// the service account asked for each read scope once, and was refused
	var asked []string
	for _, c := range f.Claims() {
		asked = append(asked, c["scope"].(string))
	}
	if strings.Join(asked, " ") != ScopeSend+" "+ScopeReadonly+" "+ScopeMetadata {
		t.Errorf("asked %v", asked)
	}
}

// A Gmail failure during a look-up is an error (try again later), and the
// row stays undetermined meanwhile; a delivery without a Message-ID cannot
// be looked up.
func TestLookupFailures(t *testing.T) {
	f := gmailfake.New(t)
	f.Grant(ScopeSend, ScopeReadonly)
	s := newServiceAccount(t, f)
	q := query(message("bob@example.org"), time.Now())
	q.MessageID = ""
	if r, err := s.Lookup(context.Background(), q); err != nil || r.Outcome != senders.Undetermined {
		t.Errorf("no id: %+v %v", r, err)
	}
	srv := f.Srv
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			f.Serve(w, r)
			return
		}
		gmailfake.Error(w, 503, "UNAVAILABLE", "backendError", "The service is currently unavailable.")
	})
	r, err := s.Lookup(context.Background(), query(message("bob@example.org"), time.Now()))
	if err == nil || r.Outcome != senders.Undetermined {
		t.Errorf("503: %+v %v", r, err)
	}
}
