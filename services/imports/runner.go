package imports

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
)

// Runner runs import jobs in the background: at most one job per workspace
// at a time, and at most `workers` jobs at once overall (SQLite has one
// writer; more parallel jobs would only queue on it and use memory).
//
// It is injected into the service so tests can Wait for the jobs they
// started instead of sleeping.
type Runner struct {
	slots chan struct{}
	mu    sync.Mutex
	busy  map[string]bool
	wg    sync.WaitGroup
}

// NewRunner returns a runner with the given number of workers (min 1).
func NewRunner(workers int) *Runner {
	if workers < 1 {
		workers = 1
	}
	return &Runner{slots: make(chan struct{}, workers), busy: map[string]bool{}}
}

// Start runs fn in a goroutine unless a job with the same key (workspace)
// is queued or running; it reports whether fn was started. fn waits for a
// free worker slot before it runs.
func (r *Runner) Start(key string, fn func()) bool {
	r.mu.Lock()
	if r.busy[key] {
		r.mu.Unlock()
		return false
	}
	r.busy[key] = true
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer func() {
			r.mu.Lock()
			delete(r.busy, key)
			r.mu.Unlock()
			r.wg.Done()
		}()
		r.slots <- struct{}{}
		defer func() { <-r.slots }()
		// the last net: a panic in a job (the service's own recover marks
		// the job failed) never takes the server down with it, and the
		// workspace's slot is freed
		defer func() {
			if p := recover(); p != nil {
				slog.Error("import runner: a job panicked", "key", key, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			}
		}()
		fn()
	}()
	return true
}

// Busy reports whether a job with key is queued or running.
func (r *Runner) Busy(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.busy[key]
}

// Wait blocks until every started job has finished.
func (r *Runner) Wait() { r.wg.Wait() }
