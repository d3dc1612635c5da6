package microsoft365

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/internal/providerfake/graphfake"
	"github.com/pi-crm/pi-crm/services/senders"
)

func query(m senders.Message, since time.Time) senders.Query {
	return senders.Query{Workspace: m.Workspace, CampaignID: m.CampaignID, DeliveryID: m.DeliveryID, MessageID: m.MessageID,
		Channel: "email", To: m.To, Since: since}
}

// Sent Items by internetMessageId: found; a Message-ID never sent to a
// recipient who got nothing since: NotFound; another message to the same
// recipient since: Undetermined; an attempt younger than SettleDelay:
// Undetermined.
func TestLookup(t *testing.T) {
	f := graphfake.New(t)
	s := newSender(t, f, nil) // its clock is 10 minutes ahead: past SettleDelay
	since := time.Now().Add(-time.Second)
	if _, err := s.Send(context.Background(), message("bob@example.org")); err != nil {
		t.Fatal(err)
	}
	look := func(q senders.Query) senders.LookupResult {
		t.Helper()
		r, err := s.Lookup(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := look(query(message("bob@example.org"), since)); r.Outcome != senders.Found || r.ProviderMessageID != "d1.c1@crm.example" {
		t.Errorf("sent: %+v", r)
	}
	other := message("carol@example.org")
	other.MessageID = "<d2.c1@crm.example>"
	if r := look(query(other, since)); r.Outcome != senders.NotFound {
		t.Errorf("never sent: %+v", r)
	}
	toBob := message("bob@example.org")
	toBob.MessageID = "d3'x@crm.example" // a quote, escaped in $filter
	if r := look(query(toBob, since)); r.Outcome != senders.Undetermined || !strings.Contains(r.Reason, "bob@example.org") {
		t.Errorf("another to bob: %+v", r)
	}
	if r := look(query(toBob, time.Now().Add(3*time.Minute))); r.Outcome != senders.NotFound {
		t.Errorf("bob before the attempt: %+v", r)
	}
	if r := look(query(other, time.Now().Add(8*time.Minute))); r.Outcome != senders.Undetermined || !strings.Contains(r.Reason, "later") {
		t.Errorf("too recent: %+v", r)
	}
}

// Without Mail.ReadBasic.All: Undetermined with the permission to grant,
// no error. A Graph failure: an error, to try again later.
func TestLookupNoPermission(t *testing.T) {
	f := graphfake.New(t)
	f.SetCanRead(false)
	s := newSender(t, f, nil)
	r, err := s.Lookup(context.Background(), query(message("bob@example.org"), time.Now().Add(-time.Hour)))
	if err != nil || r.Outcome != senders.Undetermined || r.Reason != ReasonNoReadPermission || !r.NoReadPermission || !strings.Contains(r.Reason, "Mail.ReadBasic") {
		t.Errorf("%+v %v", r, err)
	}
	f.Srv.Close()
	r, err = s.Lookup(context.Background(), query(message("bob@example.org"), time.Now().Add(-time.Hour)))
	if err == nil || r.Outcome != senders.Undetermined {
		t.Errorf("gone: %+v %v", r, err)
	}
}
