package campaigns_test

import (
	"testing"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/campaigns"
)

// A snapshot reads back with the hash it was stored with; a changed one
// does not.
func TestSnapshotHashRoundTripAndTamper(t *testing.T) {
	env := testutil.New(t)
	u, _ := env.User("o@example.com")
	ws := env.Workspace("W", u, nil)
	snap := campaigns.Snapshot{Channel: "email", Provider: "outbox", Segment: campaigns.Segment{ListsAny: []string{"l1"}},
		Template: campaigns.SnapshotTemplate{Subject: "Hi <b>{{first_name}}</b> & co", BodyHTML: "<p>x</p>"}}
	hash, err := snap.Hash()
	if err != nil {
		t.Fatal(err)
	}
	rec := env.Create("campaigns", map[string]any{"workspace": ws.Id, "name": "C", "type": "email", "status": "approved",
		"snapshot": snap, "snapshot_hash": hash})
	stored, _ := env.App.FindRecordById("campaigns", rec.Id)
	got, err := campaigns.LoadSnapshot(stored)
	if err != nil || got.Template.Subject != snap.Template.Subject {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	got.Template.Subject = "changed"
	stored.Set("snapshot", got)
	if _, err := campaigns.LoadSnapshot(stored); err != campaigns.ErrSnapshotTampered {
		t.Fatalf("tampered snapshot: %v", err)
	}
}
