package dbconfig

import (
	"sync"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// CheckpointEvery is how often the checkpointer copies the WAL into the
// database file.
const CheckpointEvery = 250 * time.Millisecond

// Checkpointer copies the data database's WAL into the database file on a
// goroutine of its own (a PASSIVE checkpoint on a read-pool connection,
// which waits for no reader or writer), so that the one writer does not do
// it in the middle of its work. Two checkpoints never run at once: one that
// meets this one running gives up busy instead of waiting. The writer's, at
// its bound, is tried again at its next commit; PocketBase's
// wal_checkpoint(TRUNCATE) after a backup's VACUUM INTO and at night then
// leaves the WAL file its size (journal_size_limit still bounds it), which
// neither needs: the backup copies the database with VACUUM INTO.
//
// Why: SQLite's automatic checkpoint runs in the connection whose commit
// crossed wal_autocheckpoint, so every 10,000 pages the writer stopped to
// read those pages back from the WAL and write them into the database file,
// while nothing else wrote. The writer is what a campaign send to the outbox
// and an import are bound by; on two cores the checkpoint can run beside
// it. Sending 100,000 messages to the outbox on the 100k data set on disk
// (bench/cmd/sendprof, alternating runs): see docs/BENCHMARKS.md,
// 2026-12-03 14:00.
//
// The writer's own wal_autocheckpoint stays, raised to
// WriterAutocheckpointPages, as the bound on the WAL: a checkpoint done
// beside the writer rarely ends exactly when the writer begins a
// transaction, and only then can the writer start the WAL over; when the WAL
// reaches the bound the writer checkpoints what is left (little, the
// checkpointer having done the rest) and the WAL restarts.
type Checkpointer struct {
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// StartCheckpointer checkpoints db's main database every `every` until Stop.
// A failed or busy checkpoint (another one running, the database closed
// under it) is simply tried again at the next tick: the WAL stays correct
// whether or not it is copied, and the writer's bound still holds.
func StartCheckpointer(db dbx.Builder, every time.Duration) *Checkpointer {
	c := &Checkpointer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
				_, _ = db.NewQuery("PRAGMA main.wal_checkpoint(PASSIVE)").Execute()
			}
		}
	}()
	return c
}

// Stop ends the checkpointer and waits for a checkpoint under way.
func (c *Checkpointer) Stop() {
	c.once.Do(func() { close(c.stop) })
	<-c.done
}

// RegisterCheckpointer runs a Checkpointer on app's data database from each
// bootstrap to the app's end (the server, and the CLI's commands: an import
// is a long writer too). Apps bootstrapped before this call (the tests' apps)
// keep the writer's own checkpoints at the bound.
func RegisterCheckpointer(app core.App) {
	var (
		mu      sync.Mutex
		running *Checkpointer
	)
	swap := func(next *Checkpointer) {
		mu.Lock()
		prev := running
		running = next
		mu.Unlock()
		if prev != nil {
			prev.Stop()
		}
	}
	app.OnBootstrap().BindFunc(func(e *core.BootstrapEvent) error {
		if err := e.Next(); err != nil {
			return err
		}
		swap(StartCheckpointer(e.App.ConcurrentDB(), CheckpointEvery))
		return nil
	})
	app.OnTerminate().BindFunc(func(e *core.TerminateEvent) error {
		swap(nil)
		return e.Next()
	})
}
