package imports

import (
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"strings"

	"github.com/pi-crm/pi-crm/internal/jsonrows"
	"github.com/pocketbase/dbx"
)

// The write path of an import batch: multi-row INSERT statements and
// clustered record ids. Both exist because a profile of the one-row-at-a-time
// writer showed most of the time in SQLite's B-tree inserts and the per
// statement overhead around them (13 statements per contact).

// idAlphabet is PocketBase's id alphabet (^[a-z0-9]+$) in byte order, so that
// counters written with it sort as numbers.
const idAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

const (
	idPrefixLen  = 5
	idCounterLen = 5
	idRandLen    = 15 - idPrefixLen - idCounterLen
	idCounterMax = 36 * 36 * 36 * 36 * 36
)

// idGen makes the 15-character ids of the records a job inserts:
// a random prefix per job, a counter, and a random tail. Ids of one job sort
// in the order they were made, so the primary-key index and every index led
// by a contact id (custom_fields (contact, field_name), list assignments,
// timeline) take appends at one spot of the B-tree instead of random inserts
// spread over the whole index, which is what made large imports slow once
// the indexes outgrew the page cache. The random tail (36^5 values, from a
// ChaCha8 stream seeded by crypto/rand) keeps a neighbour's id unguessable;
// ids are not secrets anyway (API rules guard every record).
type idGen struct {
	prefix [idPrefixLen]byte
	n      int
	rnd    *mrand.ChaCha8
	buf    [15]byte
}

func newIDGen() *idGen {
	var seed [32]byte
	_, _ = rand.Read(seed[:]) // never fails on Linux (crypto/rand panics rather than return short)
	g := &idGen{rnd: mrand.NewChaCha8(seed)}
	g.newPrefix()
	return g
}

func (g *idGen) newPrefix() {
	for i := range g.prefix {
		g.prefix[i] = idAlphabet[g.rnd.Uint64()%36]
	}
	g.n = 0
}

// forRow makes the id of the contact created from CSV row row: the counter
// is the row number (rows only grow, so the ids still sort in the order they
// were made), which rowOf reads back.
func (g *idGen) forRow(row int) string {
	if row < 0 || row >= idCounterMax || g.n > row {
		return g.next() // no room for the row number: an id without it
	}
	g.n = row
	return g.next()
}

// rowOf is the row number in an id forRow made, and whether id is one.
func (g *idGen) rowOf(id string) (int, bool) {
	if len(id) != 15 || id[:idPrefixLen] != string(g.prefix[:]) {
		return 0, false
	}
	n := 0
	for _, c := range id[idPrefixLen : idPrefixLen+idCounterLen] {
		d := strings.IndexRune(idAlphabet, c)
		if d < 0 {
			return 0, false
		}
		n = n*36 + d
	}
	return n, true
}

func (g *idGen) next() string {
	if g.n == idCounterMax {
		g.newPrefix() // 60M ids from one prefix; a new one starts another run
	}
	copy(g.buf[:], g.prefix[:])
	n := g.n
	for i := idPrefixLen + idCounterLen - 1; i >= idPrefixLen; i-- {
		g.buf[i] = idAlphabet[n%36]
		n /= 36
	}
	r := g.rnd.Uint64()
	for i := idPrefixLen + idCounterLen; i < 15; i++ {
		g.buf[i] = idAlphabet[r%36]
		r /= 36
	}
	g.n++
	return string(g.buf[:])
}

// paramsPerInsert is the number of bound parameters a multi-row statement
// aims at (SQLite allows 32766). The driver (modernc.org/sqlite) binds
// parameter i by scanning the argument list from the start, so binding costs
// O(params²) per statement: at 2,560 parameters that scan took a third of
// the import's CPU. About 100 parameters keep it small while still saving
// most of the per-statement overhead.
const paramsPerInsert = 100

// multiInsert buffers rows for one table and writes them with multi-row
// INSERT statements: a prepared one for full chunks (reused for the whole
// transaction), a one-off statement for the last, shorter chunk.
type multiInsert struct {
	db     dbx.Builder
	head   string // INSERT OR FAIL INTO t (cols) VALUES
	tail   string // ON CONFLICT … (or "")
	cols   int
	per    int
	full   *dbx.Query
	params dbx.Params
	names  []string // p0, p1, …: parameter names by position
	n      int      // rows buffered
}

// newMultiInsert prepares multi-row inserts into table. Without a tail
// (an ON CONFLICT clause) the statement is INSERT OR FAIL: a multi-row
// statement that may abort half-way makes SQLite copy every page it touches
// to a statement journal first, so that it can undo just that statement,
// which cost an eighth of the import's CPU. FAIL stops at the failing row
// without that undo; the caller rolls the whole batch transaction back on any
// error, so nothing is half-applied either way. An upsert (tail) keeps the
// default, as its UPDATE part may abort.
func newMultiInsert(db dbx.Builder, table string, cols []string, tail string) *multiInsert {
	per := max(1, paramsPerInsert/len(cols))
	verb := "INSERT OR FAIL INTO "
	if tail != "" {
		verb = "INSERT INTO "
	}
	m := &multiInsert{db: db, head: verb + table + " (" + strings.Join(cols, ", ") + ") VALUES ",
		tail: tail, cols: len(cols), per: per, params: make(dbx.Params, per*len(cols))}
	m.names = make([]string, per*len(cols))
	for i := range m.names {
		m.names[i] = fmt.Sprintf("p%d", i)
	}
	return m
}

func (m *multiInsert) sql(rows int) string {
	var b strings.Builder
	b.Grow(len(m.head) + len(m.tail) + rows*m.cols*8)
	b.WriteString(m.head)
	k := 0
	for r := 0; r < rows; r++ {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for c := 0; c < m.cols; c++ {
			if c > 0 {
				b.WriteByte(',')
			}
			b.WriteString("{:")
			b.WriteString(m.names[k])
			b.WriteByte('}')
			k++
		}
		b.WriteByte(')')
	}
	b.WriteString(m.tail)
	return b.String()
}

// add buffers one row (len(vals) == number of columns) and writes a full
// chunk.
func (m *multiInsert) add(vals ...any) error {
	base := m.n * m.cols
	for i, v := range vals {
		m.params[m.names[base+i]] = v
	}
	m.n++
	if m.n < m.per {
		return nil
	}
	if m.full == nil {
		m.full = m.db.NewQuery(m.sql(m.per)).Prepare()
	}
	m.n = 0
	_, err := m.full.Bind(m.params).Execute()
	return err
}

// flush writes the buffered rows.
func (m *multiInsert) flush() error {
	if m.n == 0 {
		return nil
	}
	rows := m.n
	m.n = 0
	params := make(dbx.Params, rows*m.cols)
	for _, k := range m.names[:rows*m.cols] {
		params[k] = m.params[k]
	}
	_, err := m.db.NewQuery(m.sql(rows)).Bind(params).Execute()
	return err
}

func (m *multiInsert) close() {
	if m.full != nil {
		_ = m.full.Close()
	}
}

// jsonInsert writes all the rows it is given in one statement, from a JSON
// array of rows bound as one parameter (internal/jsonrows):
//
//	INSERT OR FAIL INTO t (a, b) SELECT value->>0, value->>1 FROM jsonb_each({:rows})
//
// It is for tables whose multi-row inserts get a statement journal: SQLite
// copies every page a statement touches first, so that the statement alone
// can be undone, whenever the statement writes several rows and may abort,
// which a trigger with an upsert or an index over a function (the contacts'
// value indexes) makes possible. The copies cost per statement and page
// (and under modernc each copy is a malloc in 1 KB chunks whose slabs are
// mmapped and unmapped again per statement): at 10 contacts a statement they
// were a quarter of an import's CPU. One statement per batch copies each page
// once. Encoding rows as JSON and reading them back cost a few percent
// (jsonb_each rather than json_each: 1 CPU-s of a 100k-row import,
// docs/BENCHMARKS.md 2026-12-02).
type jsonInsert struct {
	db   dbx.Builder
	sql  string
	rows *jsonrows.Batch
}

func newJSONInsert(db dbx.Builder, table string, cols []string) *jsonInsert {
	// jsonb_each yields the array in order: ids made in order stay clustered
	q := "INSERT OR FAIL INTO " + table + " (" + strings.Join(cols, ", ") + ") SELECT " +
		jsonrows.Columns("value", len(cols)) + " FROM jsonb_each({:rows})"
	return &jsonInsert{db: db, sql: q, rows: jsonrows.New(len(cols))}
}

// add buffers one row of strings (invalid UTF-8 becomes U+FFFD; csvio
// hands over valid UTF-8 already).
func (j *jsonInsert) add(vals ...string) error { return j.rows.AddStrings(vals...) }

// flush writes the buffered rows in one statement.
func (j *jsonInsert) flush() error {
	if j.rows.Len() == 0 {
		return nil
	}
	_, err := j.db.NewQuery(j.sql).Bind(dbx.Params{"rows": j.rows.Take()}).Execute()
	return err
}
