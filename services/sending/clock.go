package sending

import (
	"math"
	"sync"
	"time"
)

// Clock is the engine's time: now and timers. Tests drive a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// RealClock is the wall clock.
type RealClock struct{}

// Now is time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// After is time.After.
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// bucket is a token bucket: rate tokens a second, at most burst held.
// A rate of 0 is unlimited.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64, now time.Time) *bucket {
	burst := math.Max(1, rate)
	return &bucket{rate: rate, burst: burst, tokens: burst, last: now}
}

// take takes up to n tokens; with none available it says how long until
// the next one.
func (b *bucket) take(now time.Time, n int) (int, time.Duration) {
	if b == nil || b.rate <= 0 {
		return n, 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.After(b.last) {
		b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
	}
	// a whole batch (at most the burst) at a time: fewer, fuller batches
	want := min(n, int(math.Floor(b.burst)))
	if b.tokens < float64(want) {
		need := float64(want) - b.tokens
		return 0, time.Duration(math.Ceil(need / b.rate * float64(time.Second)))
	}
	b.tokens -= float64(want)
	return want, 0
}

// give returns tokens taken but not used.
func (b *bucket) give(n int) {
	if b == nil || b.rate <= 0 || n <= 0 {
		return
	}
	b.mu.Lock()
	b.tokens = math.Min(b.burst, b.tokens+float64(n))
	b.mu.Unlock()
}
