package jsonrows_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/pi-crm/pi-crm/internal/jsonrows"
	_ "modernc.org/sqlite"
)

// Rows written through a batch come back from SQLite's jsonb_each in order,
// with their types (TEXT, INTEGER), quotes, non-ASCII text and invalid
// UTF-8 (U+FFFD) intact; an UPDATE … FROM reads them as an INSERT does; a
// row of the wrong width or an unsupported value is refused and leaves the
// batch as it was.
func TestRowsRoundTripThroughJSONBEach(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (seq INTEGER PRIMARY KEY, id TEXT, n INTEGER, s TEXT)`); err != nil {
		t.Fatal(err)
	}
	b := jsonrows.New(3)
	if err := b.Add("a", 1); err == nil {
		t.Fatal("a row of 2 values in a batch of 3 columns was taken")
	}
	if err := b.Add("a", 1, 2.5); err == nil {
		t.Fatal("a float was taken")
	}
	if b.Len() != 0 {
		t.Fatalf("refused rows left %d rows", b.Len())
	}
	want := []struct {
		id string
		n  int64
		s  string
	}{{"a", 1, `say "hi", \ ok`}, {"b", -7, "Zoë 日本"}, {"c", 1 << 40, "bad \xff byte"}}
	// an int, an int and an int64
	for _, err := range []error{b.Add(want[0].id, int(want[0].n), want[0].s), b.Add(want[1].id, int(want[1].n), want[1].s),
		b.Add(want[2].id, want[2].n, want[2].s)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	q := `INSERT INTO t (id, n, s) SELECT ` + jsonrows.Columns("value", 3) + ` FROM jsonb_each(?)`
	if _, err := db.Exec(q, b.Take()); err != nil {
		t.Fatal(err)
	}
	if b.Len() != 0 {
		t.Fatal("Take left rows in the batch")
	}
	if err := b.AddStrings("b", "x", "updated"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE t SET s = v.value->>2 FROM jsonb_each(?) AS v WHERE t.id = v.value->>0`, b.Take()); err != nil {
		t.Fatal(err)
	}
	want[1].s = "updated"
	want[2].s = "bad \uFFFD byte"
	rows, err := db.Query(`SELECT id, typeof(n), n, s FROM t ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	i := 0
	for ; rows.Next(); i++ {
		var id, typ, s string
		var n int64
		if err := rows.Scan(&id, &typ, &n, &s); err != nil {
			t.Fatal(err)
		}
		if id != want[i].id || typ != "integer" || n != want[i].n || s != want[i].s {
			t.Errorf("row %d: %q %s %d %q, want %+v", i, id, typ, n, s, want[i])
		}
	}
	if i != len(want) {
		t.Fatalf("%d rows, want %d", i, len(want))
	}
}
