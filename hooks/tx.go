package hooks

import (
	"github.com/pocketbase/pocketbase/core"
)

// inTx runs fn in a transaction with e.App switched to it; fn calls e.Next()
// itself, so it can work both before and after the record's own write, and
// its extra writes commit or roll back with the record.
//
// e.App is put back afterwards: the after-success events (realtime broadcast
// among them) read it, and on the finished transaction's app they would wait
// for a commit that already happened and never fire.
func inTx(e *core.RecordEvent, fn func(tx core.App) error) error {
	outer := e.App
	err := outer.RunInTransaction(func(tx core.App) error {
		e.App = tx
		return fn(tx)
	})
	e.App = outer
	return err
}

// withinTransaction is inTx for hooks that only add writes after the record's own.
func withinTransaction(e *core.RecordEvent, fn func(tx core.App) error) error {
	return inTx(e, func(tx core.App) error {
		if err := e.Next(); err != nil {
			return err
		}
		return fn(tx)
	})
}
