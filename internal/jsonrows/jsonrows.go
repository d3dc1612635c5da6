// Package jsonrows writes a batch of rows with one SQL statement: the rows
// are encoded as one JSON array of arrays, bound as a single parameter, and
// the statement reads them back with jsonb_each:
//
//	INSERT OR FAIL INTO t (a, b) SELECT value->>0, value->>1 FROM jsonb_each({:rows})
//	UPDATE OR FAIL t SET b = v.value->>1 FROM jsonb_each({:rows}) AS v WHERE t.id = v.value->>0
//
// Why: the bulk writers (an import's batch; a campaign's ledger and its
// timeline entries) otherwise run a prepared one-row statement per row, and
// under modernc.org/sqlite each execution costs a parameter map, the
// database/sql round (locks, argument conversion) and a C copy of every
// bound value: sending 100,000 messages to the SMTP sink, a third of the
// timeline inserts' time was that, not the B-tree. Multi-row VALUES cannot
// replace it: the driver binds parameter i by scanning the arguments from
// the start (O(params²)). The statements say OR FAIL (or OR IGNORE): on an
// error the statement stops where it is and the caller, which runs it in its
// transaction, rolls the whole batch back. That does not spare SQLite the
// statement journal of a multi-row statement inside a transaction (a copy of
// each page it changes, spilled to a temporary file past 64 KiB): SQLite
// keeps one for any statement that calls a function, since a function may
// raise an error midway, and ->> is one (a send's profile shows it under the
// ledger's UPDATE … FROM, docs/BENCHMARKS.md, 2026-12-03 10:20). A multi-row
// write that calls no function and says OR FAIL has none (the claim in
// services/sending, claimRows).
//
// jsonb_each, not json_each: it parses the text once and hands each row over
// as a JSONB blob, which ->> reads in place (json_each hands over text that
// every ->> parses again). It yields the array in order, so ids made in
// order stay clustered.
package jsonrows

import (
	"encoding/json/jsontext"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Batch buffers rows of a fixed number of columns.
type Batch struct {
	cols int
	buf  []byte
	n    int
}

// New makes a batch of rows of cols columns.
func New(cols int) *Batch {
	return &Batch{cols: cols, buf: []byte{'['}}
}

// Grow makes room for n more bytes, so that a batch whose size is known
// ahead is encoded without growing its buffer row by row.
func (b *Batch) Grow(n int) { b.buf = slices.Grow(b.buf, n) }

// Add buffers one row. A value is a string (invalid UTF-8 becomes U+FFFD,
// as in encoding/json), an int or an int64; ->> reads them back as TEXT and
// INTEGER.
func (b *Batch) Add(vals ...any) error {
	start := len(b.buf)
	if err := b.begin(len(vals)); err != nil {
		return err
	}
	for i, v := range vals {
		if i > 0 {
			b.buf = append(b.buf, ',')
		}
		switch v := v.(type) {
		case string:
			b.buf, _ = jsontext.AppendQuote(b.buf, v)
		case int:
			b.buf = strconv.AppendInt(b.buf, int64(v), 10)
		case int64:
			b.buf = strconv.AppendInt(b.buf, v, 10)
		default:
			b.buf = b.buf[:start]
			return fmt.Errorf("jsonrows: column %d: a %T", i, v)
		}
	}
	b.end()
	return nil
}

// AddStrings buffers one row of strings, as Add does without boxing each
// value (an import adds millions).
func (b *Batch) AddStrings(vals ...string) error {
	if err := b.begin(len(vals)); err != nil {
		return err
	}
	for i, v := range vals {
		if i > 0 {
			b.buf = append(b.buf, ',')
		}
		b.buf, _ = jsontext.AppendQuote(b.buf, v)
	}
	b.end()
	return nil
}

func (b *Batch) begin(n int) error {
	if n != b.cols {
		return fmt.Errorf("jsonrows: %d values for %d columns", n, b.cols)
	}
	if b.n > 0 {
		b.buf = append(b.buf, ',')
	}
	b.buf = append(b.buf, '[')
	return nil
}

func (b *Batch) end() {
	b.buf = append(b.buf, ']')
	b.n++
}

// Len is the number of rows buffered.
func (b *Batch) Len() int { return b.n }

// Take answers the buffered rows as the JSON text to bind and empties the
// batch (its buffer is reused).
func (b *Batch) Take() string {
	s := string(append(b.buf, ']'))
	b.buf, b.n = append(b.buf[:0], '['), 0
	return s
}

// Columns is "p->>0, p->>1, …" for n columns of a row p (value: the row of
// a plain jsonb_each; v.value when the table is aliased v).
func Columns(p string, n int) string {
	var s strings.Builder
	for i := range n {
		if i > 0 {
			s.WriteString(", ")
		}
		s.WriteString(p + "->>" + strconv.Itoa(i))
	}
	return s.String()
}
