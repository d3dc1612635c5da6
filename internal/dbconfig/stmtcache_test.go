package dbconfig

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// oneConn opens a database through open (the statement cache) and returns
// one connection of it, so that every statement below runs on the same
// kept set.
func oneConn(t *testing.T) (*sql.DB, *sql.Conn) {
	t.Helper()
	db, err := open(filepath.Join(t.TempDir(), "data.db") + pragmas(ReadCacheKB))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	conn, err := db.DB().Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	exec(t, conn, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)")
	for i := 1; i <= 3; i++ {
		exec(t, conn, "INSERT INTO t (v) VALUES (?)", fmt.Sprint("v", i))
	}
	return db.DB(), conn
}

func exec(t *testing.T, conn *sql.Conn, q string, args ...any) {
	t.Helper()
	if _, err := conn.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// kept reports the texts the connection keeps and whether each is busy.
func kept(t *testing.T, conn *sql.Conn) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	if err := conn.Raw(func(dc any) error {
		c := dc.(*stmtConn)
		if len(c.byText) != c.lru.Len() {
			t.Fatalf("map %d, list %d", len(c.byText), c.lru.Len())
		}
		for el := c.lru.Front(); el != nil; el = el.Next() {
			k := el.Value.(*keptStmt)
			out[k.text] = k.busy
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func values(t *testing.T, conn *sql.Conn, q string, args ...any) []string {
	t.Helper()
	rows, err := conn.QueryContext(context.Background(), q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

const sel = "SELECT v FROM t WHERE id >= ? ORDER BY id"

func TestKeptStatementRunsAgainWithNewArguments(t *testing.T) {
	_, conn := oneConn(t)
	if got := strings.Join(values(t, conn, sel, 1), ","); got != "v1,v2,v3" {
		t.Fatal(got)
	}
	if busy, ok := kept(t, conn)[sel]; !ok || busy {
		t.Fatalf("kept %v", kept(t, conn))
	}
	// the kept statement, its bindings cleared and rebound
	if got := strings.Join(values(t, conn, sel, 3), ","); got != "v3" {
		t.Fatal(got)
	}
	if got := values(t, conn, sel, 9); len(got) != 0 {
		t.Fatal(got)
	}
}

func TestSameTextInsideItsOwnRows(t *testing.T) {
	_, conn := oneConn(t)
	values(t, conn, sel, 1) // kept
	rows, err := conn.QueryContext(context.Background(), sel, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !kept(t, conn)[sel] {
		t.Fatal("the kept statement is not marked busy while its rows are open")
	}
	var outer, inner []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		if outer = append(outer, v); len(outer) > 3 {
			t.Fatalf("the outer rows restarted: %v", outer) // reset under them
		}
		// the same text while the kept statement is being stepped: it
		// must run apart, or it would reset the outer iteration
		inner = append(inner, strings.Join(values(t, conn, sel, 2), ","))
		exec(t, conn, "UPDATE t SET v = v WHERE id >= ?", 99)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(outer, ",") != "v1,v2,v3" || strings.Join(inner, "|") != "v2,v3|v2,v3|v2,v3" {
		t.Fatalf("outer %v inner %v", outer, inner)
	}
	if kept(t, conn)[sel] {
		t.Fatal("still busy after its rows closed")
	}
}

func TestSchemaChangeReachesAKeptStatement(t *testing.T) {
	_, conn := oneConn(t)
	const star = "SELECT * FROM t WHERE id = ?"
	cols := func() []string {
		rows, err := conn.QueryContext(context.Background(), star, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		c, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if got := strings.Join(cols(), ","); got != "id,v" {
		t.Fatal(got)
	}
	exec(t, conn, "ALTER TABLE t ADD COLUMN w TEXT DEFAULT 'x'")
	if got := strings.Join(cols(), ","); got != "id,v,w" {
		t.Fatalf("after ALTER TABLE: %s", got)
	}
	// a table dropped under a kept statement: an error, and nothing kept
	values(t, conn, "SELECT w FROM t")
	exec(t, conn, "ALTER TABLE t DROP COLUMN w")
	if _, err := conn.QueryContext(context.Background(), "SELECT w FROM t"); err == nil {
		t.Fatal("a dropped column still answers")
	}
	if _, ok := kept(t, conn)["SELECT w FROM t"]; ok {
		t.Fatal("a failing statement stayed kept")
	}
}

func TestFailedStatementIsDroppedAndTheTextWorksAgain(t *testing.T) {
	_, conn := oneConn(t)
	const ins = "INSERT INTO t (v) VALUES (?)"
	exec(t, conn, ins, "v4")
	if _, err := conn.ExecContext(context.Background(), ins, "v1"); err == nil || !strings.Contains(err.Error(), "UNIQUE") {
		t.Fatalf("duplicate insert: %v", err)
	}
	if _, ok := kept(t, conn)[ins]; ok {
		t.Fatal("the failed statement stayed kept")
	}
	exec(t, conn, ins, "v5")
	if got := strings.Join(values(t, conn, sel, 4), ","); got != "v4,v5" {
		t.Fatal(got)
	}
	// a rolled-back transaction leaves kept statements usable
	tx, err := conn.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ins, "v6"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	exec(t, conn, ins, "v7")
	if got := strings.Join(values(t, conn, sel, 4), ","); got != "v4,v5,v7" {
		t.Fatal(got)
	}
}

func TestKeptSetIsBounded(t *testing.T) {
	_, conn := oneConn(t)
	// a busy statement pushed out of the set: finalized when its rows close
	rows, err := conn.QueryContext(context.Background(), sel, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range stmtsPerConn + 8 {
		values(t, conn, fmt.Sprintf("SELECT v FROM t WHERE id = %d", i))
	}
	k := kept(t, conn)
	if len(k) != stmtsPerConn {
		t.Fatalf("%d kept, want %d", len(k), stmtsPerConn)
	}
	if _, ok := k[sel]; ok {
		t.Fatal("the least recently used statement was not pushed out")
	}
	n := 0
	for rows.Next() {
		n++
	}
	if err := rows.Close(); err != nil || n != 3 {
		t.Fatalf("rows of a pushed-out statement: %d, %v", n, err)
	}
	// a text longer than the limit runs but is not kept
	long := sel + strings.Repeat(" ", maxStmtSQL)
	if got := strings.Join(values(t, conn, long, 2), ","); got != "v2,v3" {
		t.Fatal(got)
	}
	if _, ok := kept(t, conn)[long]; ok {
		t.Fatal("a long text was kept")
	}
}

func TestCanceledQueryLeavesNothingBusy(t *testing.T) {
	_, conn := oneConn(t)
	values(t, conn, sel, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := conn.QueryContext(ctx, sel, 1); err == nil {
		t.Fatal("a canceled context ran")
	}
	if kept(t, conn)[sel] {
		t.Fatal("busy after a canceled query")
	}
	if got := strings.Join(values(t, conn, sel, 3), ","); got != "v3" {
		t.Fatal(got)
	}
}

// reprepares is SQLite's count of how often the kept statement for text
// was prepared again (SQLITE_STMTSTATUS_REPREPARE), read from the driver's
// statement and connection fields as stat4.go reads the connection's.
func reprepares(t *testing.T, conn *sql.Conn, text string) int32 {
	t.Helper()
	var n int32
	if err := conn.Raw(func(dc any) error {
		c := dc.(*stmtConn)
		el, ok := c.byText[text]
		if !ok {
			t.Fatalf("%q is not kept", text)
		}
		st := reflect.ValueOf(el.Value.(*keptStmt).stmt).Elem().FieldByName("pstmt")
		tls := reflect.ValueOf(c.baseConn).Elem().FieldByName("tls")
		n = sqlite3.Xsqlite3_stmt_status((*libc.TLS)(unsafe.Pointer(tls.Pointer())), uintptr(st.Uint()), sqlite3.SQLITE_STMTSTATUS_REPREPARE, 0)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestKeptStatementIsNotPlannedAgainForItsValues(t *testing.T) {
	_, conn := oneConn(t)
	if err := conn.Raw(func(dc any) error {
		off, err := optimizationsOff(dc.(*stmtConn).baseConn, nil)
		if err == nil && off&sqlite3.SQLITE_Stat4 == 0 {
			t.Errorf("the stat4 samples plan: optimizations off %#x", off)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// sqlite_stat4 samples of a skewed column, as PRAGMA optimize leaves
	// them: without the guarantee SQLite plans `k = ?` for each bound value
	exec(t, conn, "CREATE TABLE s (id INTEGER PRIMARY KEY, k TEXT, u TEXT)")
	exec(t, conn, "CREATE INDEX s_k ON s (k)")
	exec(t, conn, "CREATE INDEX s_u ON s (u)")
	exec(t, conn, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
		INSERT INTO s (k, u) SELECT CASE WHEN i % 100 = 0 THEN 'rare' || i ELSE 'big' END, 'u' || (i % 7) FROM n`)
	// samples as an ANALYZE with stat4 on left them (an older pi-crm's, or
	// another tool's); this connection's own ANALYZE gathers none
	setStat4 := func(on bool) {
		t.Helper()
		if err := conn.Raw(func(dc any) error {
			off, err := optimizationsOff(dc.(*stmtConn).baseConn, nil)
			if err != nil {
				return err
			}
			off = off &^ sqlite3.SQLITE_Stat4
			if !on {
				off |= sqlite3.SQLITE_Stat4
			}
			_, err = optimizationsOff(dc.(*stmtConn).baseConn, &off)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	setStat4(true)
	exec(t, conn, "ANALYZE")
	setStat4(false)
	var samples int
	if err := conn.QueryRowContext(context.Background(), "SELECT count(*) FROM sqlite_stat4").Scan(&samples); err != nil || samples == 0 {
		t.Fatalf("no stat4 samples (%d, %v)", samples, err)
	}
	const q = "SELECT count(*) FROM s WHERE k = ? AND u = ?"
	for i, k := range []string{"big", "rare100", "big", "rare200", "big"} {
		var n int
		if err := conn.QueryRowContext(context.Background(), q, k, "u1").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if i == 0 && n == 0 {
			t.Fatal("no rows counted")
		}
	}
	if n := reprepares(t, conn, q); n != 0 {
		t.Fatalf("the kept statement was prepared again %d times for its values", n)
	}
}

// A partial index still serves a bound value its condition holds for (what
// QPSG would have stopped: PocketBase binds every filter's values), and the
// kept statement answers right for a value it does not hold for.
func TestPartialIndexServesABoundValue(t *testing.T) {
	_, conn := oneConn(t)
	exec(t, conn, "CREATE TABLE c (id INTEGER PRIMARY KEY, status TEXT, at INTEGER)")
	exec(t, conn, "CREATE INDEX c_due ON c (status, at) WHERE status = 'scheduled'")
	exec(t, conn, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
		INSERT INTO c (status, at) SELECT CASE WHEN i % 50 = 0 THEN 'scheduled' ELSE 'sent' END, 1000 - i FROM n`)
	exec(t, conn, "ANALYZE")
	const plan = "EXPLAIN QUERY PLAN SELECT id FROM c WHERE status = ? AND at < ? ORDER BY at"
	rows, err := conn.QueryContext(context.Background(), plan, "scheduled", 2000)
	if err != nil {
		t.Fatal(err)
	}
	var details []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		details = append(details, detail)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(details, "; "); !strings.Contains(got, "INDEX c_due") {
		t.Fatalf("the partial index is not used for a bound value: %s", got)
	}
	const q = "SELECT count(*) FROM c WHERE status = ? AND at < ?"
	for _, c := range []struct {
		status string
		want   int
	}{{"scheduled", 10}, {"sent", 490}, {"scheduled", 10}} {
		var n int
		if err := conn.QueryRowContext(context.Background(), q, c.status, 2000).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != c.want {
			t.Fatalf("%s: %d rows, want %d", c.status, n, c.want)
		}
	}
}
