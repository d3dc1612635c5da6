package hooks

import "github.com/pocketbase/pocketbase/core"

// withinTransaction runs the rest of a record's execute chain and fn in one
// transaction, so a hook's extra writes commit or roll back with the record.
//
// e.App is put back afterwards: the after-success events (realtime broadcast
// among them) read it, and on the finished transaction's app they would wait
// for a commit that already happened and never fire.
func withinTransaction(e *core.RecordEvent, fn func(tx core.App) error) error {
	outer := e.App
	err := outer.RunInTransaction(func(tx core.App) error {
		e.App = tx
		if err := e.Next(); err != nil {
			return err
		}
		return fn(tx)
	})
	e.App = outer
	return err
}
