package sending

import (
	"context"
	"errors"
)

// A campaign starts sending while its ledger is still being written: the
// ledger is written in batches by a goroutine of the pass, and the pass's
// loop claims the rows of each batch as it commits. Writing 100,000 rows
// takes a few seconds of the one writer, during which the renders and the
// sends had nothing to do on the other core.
//
// What a crash leaves is what it left before: the counters' "total", the
// mark of a whole ledger, is written only once the last batch is in
// (flushCounters leaves it out while writing[id] is set), so a restart
// writes the ledger again (INSERT OR IGNORE: the rows already there, sent or
// not, stay as they are) and sends the rest.
type materialising struct {
	batch chan struct{} // a batch committed (a signal, not a count)
	done  chan struct{} // closed when the goroutine has ended, err set
	err   error
	panic any // the writing's panic, raised again on the pass's goroutine
}

// startMaterialise starts writing c's ledger.
func (e *Engine) startMaterialise(ctx context.Context, c *campaign) *materialising {
	m := &materialising{batch: make(chan struct{}, 1), done: make(chan struct{})}
	e.setMaterialising(c.id, true)
	go func() {
		defer close(m.done)
		defer func() {
			// the pass's goroutine raises it again: a panic there pauses
			// the campaign with its reason (goSafe), as it did when the
			// ledger was written on that goroutine
			if v := recover(); v != nil {
				m.panic = v
				m.err = errors.New("writing the ledger panicked")
			}
		}()
		m.err = e.materialise(ctx, c, func() {
			select {
			case m.batch <- struct{}{}:
			default: // a signal is already waiting
			}
		})
	}()
	return m
}

// next waits for another batch (false) or the end of the writing (true),
// and answers the writing's error.
func (m *materialising) next() (bool, error) {
	select {
	case <-m.batch:
		return false, nil
	case <-m.done:
		m.raise()
		return true, m.err
	}
}

func (m *materialising) raise() {
	if m.panic != nil {
		panic(m.panic)
	}
}

// end waits until the writing has ended (a pass never returns while its
// ledger is being written) and joins its error to err. A nil m is a ledger
// that was whole already.
func (m *materialising) end(err error) error {
	if m == nil {
		return err
	}
	<-m.done
	m.raise()
	if m.err != nil && !errors.Is(err, m.err) {
		return errors.Join(err, m.err)
	}
	return err
}

func (e *Engine) setMaterialising(id string, on bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if on {
		e.writing[id] = true
	} else {
		delete(e.writing, id)
	}
}

func (e *Engine) isMaterialising(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.writing[id]
}
