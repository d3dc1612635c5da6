// The undo journal: what the job created and what it overwrote, appended
// before each batch commits, so that undo can put every row back.

package imports

import (
	"encoding/json"
	"os"
)

// journalEntry is one line of the undo journal: one batch.
type journalEntry struct {
	Created []string       `json:"created,omitempty"`
	Updated []updatedEntry `json:"updated,omitempty"`
	// Assigned are list assignments the batch added to existing contacts.
	Assigned []string `json:"assigned,omitempty"`
	// Definitions are the custom field definitions the job created (the
	// journal's first line, written before they are): undo deletes those
	// no value uses any more.
	Definitions []string `json:"definitions,omitempty"`
}

type updatedEntry struct {
	ID   string            `json:"id"`
	Base map[string]string `json:"base,omitempty"`
	// Custom: field → [value, type] before the import, or null when unset.
	Custom map[string]*[2]string `json:"custom,omitempty"`
}

// appendJournal writes entry as one line of the undo journal, on disk
// before it returns.
func (e *engine) appendJournal(entry journalEntry) error {
	if err := os.MkdirAll(e.s.Dir(e.job.Id), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(e.s.journalPath(e.job.Id), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(entry)
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
