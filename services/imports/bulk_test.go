package imports

import (
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pocketbase/dbx"
	_ "modernc.org/sqlite"
)

func TestIDGenSortedUniqueValid(t *testing.T) {
	g := newIDGen()
	valid := regexp.MustCompile(`^[a-z0-9]{15}$`)
	seen := map[string]bool{}
	var ids []string
	for i := 0; i < 5000; i++ {
		id := g.next()
		if !valid.MatchString(id) {
			t.Fatalf("id %q is not a PocketBase id", id)
		}
		if seen[id] {
			t.Fatalf("id %q twice", id)
		}
		seen[id] = true
		ids = append(ids, id)
	}
	if !slices.IsSorted(ids) {
		t.Fatal("ids of one job do not sort in the order they were made")
	}
	// the tail is random: two generators never share a prefix run by design,
	// and ids of one run differ beyond the counter
	if ids[0][10:] == ids[1][10:] && ids[1][10:] == ids[2][10:] {
		t.Fatalf("tails look constant: %v", ids[:3])
	}
	other := newIDGen().next()
	if other[:5] == ids[0][:5] && other[5:10] == ids[0][5:10] && other[10:] == ids[0][10:] {
		t.Fatal("two jobs made the same first id")
	}

	// the counter runs out: a new prefix starts a new sorted run
	g.n = idCounterMax - 1
	last := g.next()
	if last[idPrefixLen:idPrefixLen+idCounterLen] != "zzzzz" {
		t.Fatalf("last counter %q", last)
	}
	next := g.next()
	if next[idPrefixLen:idPrefixLen+idCounterLen] != "00000" || !valid.MatchString(next) {
		t.Fatalf("after rollover %q", next)
	}
}

func testDB(t *testing.T) *dbx.DB {
	db, err := dbx.Open("sqlite", t.TempDir()+"/t.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, q := range []string{
		"CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL, k TEXT NOT NULL, v TEXT NOT NULL DEFAULT '')",
		"CREATE UNIQUE INDEX t_k ON t (k)",
	} {
		if _, err := db.NewQuery(q).Execute(); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func TestMultiInsertChunksAndUpserts(t *testing.T) {
	db := testDB(t)
	// 3 columns: 33 rows per statement; 100 rows = 3 full chunks + 1 row
	err := db.Transactional(func(tx *dbx.Tx) error {
		m := newMultiInsert(tx, "t", []string{"id", "k", "v"}, "")
		defer m.close()
		if m.per != 33 {
			t.Fatalf("rows per statement %d", m.per)
		}
		for i := 0; i < 100; i++ {
			if err := m.add(strings.Repeat("x", i%3)+string(rune('a'+i%26))+strconv.Itoa(i), "k"+strconv.Itoa(i), "v"+strconv.Itoa(i)); err != nil {
				return err
			}
		}
		return m.flush()
	})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	_ = db.NewQuery("SELECT count(*) FROM t WHERE v = 'v' || substr(k, 2)").Row(&n)
	if n != 100 {
		t.Fatalf("%d rows with their own values, want 100", n)
	}
	// an upsert tail updates the conflicting rows
	err = db.Transactional(func(tx *dbx.Tx) error {
		m := newMultiInsert(tx, "t", []string{"id", "k", "v"}, " ON CONFLICT (k) DO UPDATE SET v = excluded.v")
		defer m.close()
		for i := 0; i < 40; i++ {
			if err := m.add("new"+strconv.Itoa(i), "k"+strconv.Itoa(i), "changed"); err != nil {
				return err
			}
		}
		return m.flush()
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.NewQuery("SELECT count(*) FROM t WHERE v = 'changed'").Row(&n)
	if n != 40 {
		t.Fatalf("%d rows changed, want 40", n)
	}
}

// INSERT OR FAIL keeps the rows before a failing one within the statement;
// the batch's transaction must then roll back all of it.
func TestMultiInsertFailureRollsBackTheBatch(t *testing.T) {
	db := testDB(t)
	boom := errors.New("rolled back")
	err := db.Transactional(func(tx *dbx.Tx) error {
		m := newMultiInsert(tx, "t", []string{"id", "k", "v"}, "")
		defer m.close()
		for i := 0; i < 50; i++ {
			k := "k" + strconv.Itoa(i)
			if i == 45 {
				k = "k3" // a duplicate in the last, shorter statement
			}
			if err := m.add("id"+strconv.Itoa(i), k, ""); err != nil {
				return errors.Join(boom, err)
			}
		}
		if err := m.flush(); err != nil {
			return errors.Join(boom, err)
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the batch's", err)
	}
	wantRolledBack(t, db, err, "")
}

// wantRolledBack checks that err is a unique violation and that no row
// matching where ("" for all) is left.
func wantRolledBack(t *testing.T, db *dbx.DB, err error, where string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), "UNIQUE") {
		t.Fatalf("err = %v, want the unique violation", err)
	}
	q := "SELECT count(*) FROM t"
	if where != "" {
		q += " WHERE " + where
	}
	var n int
	_ = db.NewQuery(q).Row(&n)
	if n != 0 {
		t.Fatalf("%d rows left after the failed write, want 0", n)
	}
}

// Values come back from the JSON rows exactly as they went in, in order.
func TestJSONInsertKeepsValuesExactly(t *testing.T) {
	db := testDB(t)
	vals := []string{"", "plain", `quote " and \ backslash`, "new\nline\r\ttab", "ctl \x01\x1f\x7f", "ünïcödé 😀 中文",
		`{"json": [1, 2]}`, "=1+2", "  spaces  ", "null", "1e5", "true", "a\xffb"}
	err := db.Transactional(func(tx *dbx.Tx) error {
		j := newJSONInsert(tx, "t", []string{"id", "k", "v"})
		for i, v := range vals {
			if err := j.add("id"+strconv.Itoa(i), "k"+strconv.Itoa(i), v); err != nil {
				return err
			}
		}
		return j.flush()
	})
	if err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		ID  string `db:"id"`
		V   string `db:"v"`
		Typ string `db:"typ"`
	}
	if err := db.NewQuery("SELECT id, v, typeof(v) AS typ FROM t ORDER BY rowid").All(&rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(vals) {
		t.Fatalf("%d rows, want %d", len(rows), len(vals))
	}
	for i, r := range rows {
		want := vals[i]
		if i == len(vals)-1 {
			want = "a\ufffdb" // invalid UTF-8 replaced, as encoding/json does
		}
		if r.ID != "id"+strconv.Itoa(i) || r.V != want || r.Typ != "text" {
			t.Errorf("row %d: got %s %q (%s), want %q as text", i, r.ID, r.V, r.Typ, want)
		}
	}
	// a failing row fails the statement; the caller's transaction undoes it
	err = db.Transactional(func(tx *dbx.Tx) error {
		j := newJSONInsert(tx, "t", []string{"id", "k", "v"})
		_ = j.add("new1", "knew1", "")
		_ = j.add("new2", "k3", "") // k is unique
		return j.flush()
	})
	wantRolledBack(t, db, err, "id LIKE 'new%'")
}

func TestIDGenRowNumbers(t *testing.T) {
	g := newIDGen()
	var ids []string
	for _, row := range []int{2, 3, 7, 1000, 59_999_999} {
		id := g.forRow(row)
		if got, ok := g.rowOf(id); !ok || got != row {
			t.Fatalf("row %d: id %s reads back as %d %v", row, id, got, ok)
		}
		ids = append(ids, id)
	}
	if !slices.IsSorted(ids) {
		t.Fatalf("ids of growing rows do not sort: %v", ids)
	}
	if _, ok := newIDGen().rowOf(ids[0]); ok {
		t.Fatal("another job's generator read a row number from this job's id")
	}
	// a row number that does not fit: an id all the same, without one
	if id := g.forRow(idCounterMax); len(id) != 15 {
		t.Fatalf("id %q", id)
	}
}
