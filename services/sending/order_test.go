package sending_test

import (
	"slices"
	"testing"

	"github.com/pi-crm/pi-crm/services/campaigns"
)

// The ledger is written (and so claimed and sent) in the order of the
// contacts' ids, with the same recipients, skips included, as
// campaigns.Recipients gives in creation order.
func TestLedgerIsInContactIDOrder(t *testing.T) {
	w := newWorld(t)
	w.contacts(60, map[int]bool{7: true})
	w.suppress("c3@example.com")
	camp := w.campaign("outbox")
	e := w.engine(nil, nil)
	w.drain(e, camp.Id, 10)

	var ledger []string
	if err := w.env.App.DB().NewQuery(`SELECT contact FROM campaign_deliveries WHERE campaign = {:c} ORDER BY rowid`).
		Bind(map[string]any{"c": camp.Id}).Column(&ledger); err != nil {
		t.Fatal(err)
	}
	if !slices.IsSorted(ledger) {
		t.Fatalf("ledger not in contact id order: %v", ledger)
	}
	var byCreation []string
	if err := campaigns.Recipients(w.env.App, w.ws.Id, campaigns.Segment{}, "email", func(r campaigns.Recipient) error {
		byCreation = append(byCreation, r.ContactID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if slices.IsSorted(byCreation) {
		t.Fatal("the contacts' creation order is their id order: the test shows nothing")
	}
	slices.Sort(byCreation)
	if !slices.Equal(ledger, byCreation) {
		t.Fatalf("ledger %v\nrecipients %v", ledger, byCreation)
	}
	if st := w.byStatus(camp.Id); st["sent"] != 58 || st["skipped"] != 2 {
		t.Fatalf("ledger %v", st)
	}
}
