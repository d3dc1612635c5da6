// Package commlog writes a contact's timeline (communication_logs).
package commlog

import (
	"time"

	"github.com/pocketbase/pocketbase/core"
)

// Writer writes timeline entries. now is the clock.
type Writer struct {
	now func() time.Time
}

// NewWriter returns a writer using now (nil: time.Now).
func NewWriter(now func() time.Time) *Writer {
	if now == nil {
		now = time.Now
	}
	return &Writer{now: now}
}

// System records a server-written ("system", "internal") entry on the
// timeline of contact contactID, on tx: the transaction of the change it
// describes, so an entry exists exactly when its change does.
func (w *Writer) System(tx core.App, workspaceID, contactID, content string) error {
	col, err := tx.FindCachedCollectionByNameOrId("communication_logs")
	if err != nil {
		return err
	}
	rec := core.NewRecord(col)
	rec.Set("workspace", workspaceID)
	rec.Set("contact", contactID)
	rec.Set("type", "system")
	rec.Set("direction", "internal")
	rec.Set("content", content)
	rec.Set("timestamp", w.now().UTC())
	return tx.Save(rec)
}
