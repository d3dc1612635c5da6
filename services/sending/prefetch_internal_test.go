package sending

import (
	"fmt"
	"testing"

	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/templates"
)

// A prefetched message is used only for a row whose fresh state (read in
// the writer's transaction) is the one it was rendered from: a contact
// suppressed or deleted since is skipped, a row whose attempt moved on is
// rendered again, rows the prefetcher never read are rendered, and the
// rows at or before the claimed batch are dropped from what is kept.
func TestPrefetchedMessagesFollowTheFreshRow(t *testing.T) {
	compiled, err := templates.Compile(templates.Source{Channel: "email", Subject: "Hi {{first_name}}", HTML: "<p>Hi {{first_name}}</p>", Text: "Hi"}, templates.Fields{})
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{opt: Options{Links: placeholderLinks{}}}
	c := &campaign{id: "camp00000000001", ws: "ws0000000000001", channel: "email", name: "C"}
	p := &prepared{compiled: compiled, host: "h"}
	contact := func(name string) *templates.ContactColumns {
		return &templates.ContactColumns{ID: "k", FirstName: name}
	}
	fresh := []row{
		{ID: "r1", Contact: "k1", Address: "a1@x", rowid: 1, present: true, contact: contact("Fresh")},                   // prefetched, unchanged
		{ID: "r2", Contact: "k2", Address: "a2@x", rowid: 2, present: true, contact: contact("Fresh"), suppressed: true}, // unsubscribed since
		{ID: "r3", Contact: "k3", Address: "a3@x", rowid: 3},                                                             // contact deleted since
		{ID: "r4", Contact: "k4", Address: "a4@x", rowid: 4, Attempts: 1, present: true, contact: contact("Fresh")},      // attempt moved on
		{ID: "r5", Contact: "k5", Address: "a5@x", rowid: 5, present: true, contact: contact("Fresh")},                   // never prefetched
	}
	stale := map[string]prerendered{}
	for _, r := range append(fresh[:4:4], row{ID: "r9", Address: "a9@x", rowid: 9}, row{ID: "r0", Address: "a0@x", rowid: 0}) {
		old := r
		old.Attempts, old.suppressed, old.present, old.contact = 0, false, true, contact("Old")
		stale[r.ID] = prerendered{o: outcome{row: old, subject: "Hi Old"}, m: &senders.Message{DeliveryID: r.ID, Subject: "Hi Old"}}
	}
	f := &prefetched{batches: make(chan map[string]prerendered, 1)}
	f.batches <- stale
	close(f.batches)
	outcomes, msgs, err := f.use(nil, e, c, p, fresh, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ skip, subject string }{{"", "Hi Old"}, {"suppressed", ""}, {"contact_deleted", ""}, {"", "Hi Fresh"}, {"", "Hi Fresh"}}
	for i, w := range want {
		got := ""
		if msgs[i] != nil {
			got = msgs[i].Subject
		}
		if outcomes[i].skip != w.skip || got != w.subject || outcomes[i].row.ID != fresh[i].ID {
			t.Errorf("row %s: skip %q subject %q, want %q %q", fresh[i].ID, outcomes[i].skip, got, w.skip, w.subject)
		}
	}
	if outcomes[0].row.Attempts != fresh[0].Attempts || outcomes[0].row.contact != fresh[0].contact {
		t.Errorf("a prefetched outcome keeps the stale row: %+v", outcomes[0].row)
	}
	if _, ok := f.carry["r9"]; !ok || len(f.carry) != 1 {
		t.Errorf("kept after the batch: %v (want only r9, past the batch)", f.carry)
	}
}

// A remote claim counts the attempt as it marks the rows "sending": the
// rows it hands over are one attempt past what the prefetcher read while
// they were queued, and that alone must not throw the prefetched messages
// away (it did: every remote message was rendered twice, the second time on
// the writer's goroutine). A row two attempts on is still rendered again.
func TestPrefetchedMessagesSurviveARemoteClaim(t *testing.T) {
	compiled, err := templates.Compile(templates.Source{Channel: "email", Subject: "Hi {{first_name}}", HTML: "<p>Hi</p>", Text: "Hi"}, templates.Fields{})
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{opt: Options{Links: placeholderLinks{}}}
	c := &campaign{id: "camp00000000001", ws: "ws0000000000001", channel: "email", name: "C"}
	p := &prepared{compiled: compiled, host: "h"}
	now := &templates.ContactColumns{ID: "k", FirstName: "Fresh"}
	claimed := []row{
		{ID: "r1", Contact: "k1", Address: "a1@x", rowid: 1, Attempts: 1, present: true},               // read at 0, claimed: 1 (a remote claim reads no columns)
		{ID: "r2", Contact: "k2", Address: "a2@x", rowid: 2, Attempts: 2, present: true, contact: now}, // retried since it was read
	}
	f := &prefetched{batches: make(chan map[string]prerendered, 1)}
	read := map[string]prerendered{}
	for _, r := range claimed {
		old := r
		old.Attempts = 0
		read[r.ID] = prerendered{o: outcome{row: old, subject: "Hi Old"}, m: &senders.Message{DeliveryID: r.ID, Subject: "Hi Old"}}
	}
	f.batches <- read
	close(f.batches)
	outcomes, msgs, err := f.use(nil, e, c, p, claimed, 1)
	if err != nil {
		t.Fatal(err)
	}
	if msgs[0] == nil || msgs[0].Subject != "Hi Old" || outcomes[0].row.Attempts != 1 {
		t.Errorf("the claimed row's prefetched message was not used: %+v %+v", msgs[0], outcomes[0].row)
	}
	if msgs[1] == nil || msgs[1].Subject != "Hi Fresh" {
		t.Errorf("a row retried since it was read kept its old message: %+v", msgs[1])
	}
}

// A render cut off by the time limit is retried; any other render failure
// fails the row.
func TestRenderTimeoutIsRetried(t *testing.T) {
	if permanent, _ := senders.Classify(renderError(fmt.Errorf("render: %w", templates.ErrRenderTimeout))); permanent {
		t.Fatal("a render timeout fails the row")
	}
	if permanent, _ := senders.Classify(renderError(templates.ErrOutputTooLarge)); !permanent {
		t.Fatal("an oversized render is retried")
	}
}
