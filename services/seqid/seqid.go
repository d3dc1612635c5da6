// Package seqid makes record ids that sort in the order they were made, for
// the rows the server writes by the thousand (a campaign's ledger, its outbox
// messages, their timeline entries).
//
// Why: PocketBase's ids are random, so every row written lands on a random
// leaf page of its table's primary-key index (and of any index on a column
// holding such an id, like outbox_messages.delivery). A batch of 250 rows then
// dirties ~250 pages of each index, and every one of them is written to the
// WAL at commit and again at the checkpoint; on a data set larger than the
// page cache each is also read first. An id that grows with time puts the
// rows of a batch on the last pages of those indexes instead.
//
// An id is PocketBase's shape (15 characters of [a-z0-9], what the `id`
// field's pattern accepts): 8 characters of milliseconds since 2020 in base 36
// (enough until the year 2109), 3 of a sequence within the millisecond, and 4
// random ones, so that ids from two processes in the same millisecond
// (46,656 slots) still rarely meet (a unique key refuses the one that does).
// The time part reveals when the row was made, which its `created` field says
// anyway; the rules, not the id, decide who reads it.
package seqid

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
	timeLen  = 8
	seqLen   = 3
	randLen  = 4
	// Len is the length of an id, PocketBase's default.
	Len = timeLen + seqLen + randLen
	// the sequence slots of one millisecond: 36^3
	seqMax = 36 * 36 * 36
)

// epoch is where the time part starts: 36^8 ms from it is 2109.
var epoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// Generator makes ids in increasing order: each one sorts after the one
// before it, also when the clock stands still or steps back (a fake clock in
// a test, NTP): it then counts on from the last millisecond it used. Safe for
// concurrent use.
type Generator struct {
	now func() time.Time

	mu      sync.Mutex
	lastMs  int64
	lastSeq int
}

// New returns a generator reading the time from now (nil: time.Now) and the
// random part from math/rand/v2's generator (ChaCha8, seeded by the runtime
// from the OS).
//
// Why not crypto/rand (PocketBase's security.RandomStringWithAlphabet): the
// random part only keeps two processes' ids of the same millisecond apart;
// it guards nothing, since the id is no secret (the rules decide who reads a
// row). crypto/rand.Int allocated big.Ints for each character: 0.78 of 27.6
// CPU-s of a 100,000-message outbox send (bench/cmd/sendprof), for 300,000
// ids.
func New(now func() time.Time) *Generator {
	if now == nil {
		now = time.Now
	}
	return &Generator{now: now}
}

// ID answers the next id.
func (g *Generator) ID() string {
	ms := max(0, g.now().Sub(epoch).Milliseconds())
	g.mu.Lock()
	switch {
	case ms > g.lastMs:
		g.lastMs, g.lastSeq = ms, 0
	case g.lastSeq+1 < seqMax:
		g.lastSeq++
	default: // the millisecond is full: borrow the next one
		g.lastMs, g.lastSeq = g.lastMs+1, 0
	}
	ms, seq := g.lastMs, g.lastSeq
	g.mu.Unlock()

	var b strings.Builder
	b.Grow(Len)
	pad(&b, strconv.FormatInt(ms, 36), timeLen)
	pad(&b, strconv.FormatInt(int64(seq), 36), seqLen)
	for range randLen {
		b.WriteByte(alphabet[rand.IntN(len(alphabet))])
	}
	return b.String()
}

// pad writes s left-padded with zeros to n characters (the last n when
// longer, which the time part reaches only after 2109).
func pad(b *strings.Builder, s string, n int) {
	if len(s) > n {
		s = s[len(s)-n:]
	}
	for range n - len(s) {
		b.WriteByte('0')
	}
	b.WriteString(s)
}
