package seqid

import (
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/tools/security"
)

var shape = regexp.MustCompile(`^[a-z0-9]{15}$`)

// A stopped clock (a test's fake clock) still gives increasing, unique ids
// in PocketBase's shape, past the sequence slots of one millisecond.
func TestIDsIncreaseOnAStoppedClock(t *testing.T) {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	g := New(func() time.Time { return at })
	prev := ""
	seen := map[string]bool{}
	for i := range 2*seqMax + 10 {
		id := g.ID()
		if !shape.MatchString(id) {
			t.Fatalf("id %d %q is not 15 of [a-z0-9]", i, id)
		}
		if id[:timeLen+seqLen] <= prev {
			t.Fatalf("id %d %q does not sort after %q", i, id, prev)
		}
		if seen[id] {
			t.Fatalf("id %q made twice", id)
		}
		seen[id] = true
		prev = id[:timeLen+seqLen]
	}
}

// A clock that steps back does not make ids go back.
func TestIDsIncreaseWhenTheClockStepsBack(t *testing.T) {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	g := New(func() time.Time { return at })
	a := g.ID()
	at = at.Add(-time.Hour)
	b := g.ID()
	at = at.Add(2 * time.Hour)
	c := g.ID()
	if !(a < b && b < c) {
		t.Fatalf("ids out of order: %q %q %q", a, b, c)
	}
}

// The time part is the millisecond: ids made later sort later, whatever
// their random parts, and the order holds across goroutines.
func TestIDsFollowTheClockAndAreSafeConcurrently(t *testing.T) {
	g := New(nil)
	ids := make(chan string, 8000)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				ids <- g.ID()
			}
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		if seen[id] {
			t.Fatalf("id %q made twice", id)
		}
		seen[id] = true
	}
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	later := New(func() time.Time { return at }).ID()
	if earlier := New(func() time.Time { return at.Add(-time.Millisecond) }).ID(); earlier >= later {
		t.Fatalf("an id of an earlier millisecond %q sorts after %q", earlier, later)
	}
	if got := New(func() time.Time { return epoch }).ID()[:timeLen]; got != "00000000" {
		t.Fatalf("the epoch's time part = %q", got)
	}
}

// BenchmarkID: one id; the baseline of the same run is the random part as
// PocketBase makes it (crypto/rand, what New used before).
//
//	go test ./services/seqid -run '^$' -bench ID
func BenchmarkID(b *testing.B) {
	b.Run("seqid", func(b *testing.B) {
		g := New(nil)
		b.ReportAllocs()
		for b.Loop() {
			_ = g.ID()
		}
	})
	b.Run("baseline-crypto-rand-part", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = security.RandomStringWithAlphabet(randLen, alphabet)
		}
	})
}
