package dbconfig

import (
	"container/list"
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
)

// Prepared statements kept per connection, by their SQL text.
//
// PocketBase runs every query through database/sql's DB.Query/Exec, which
// the sqlite driver answers by preparing the SQL, running it once and
// finalizing it. The same few hundred texts come back with every request
// (the auth token's record, a list's page and rule, a record's save), and
// parsing them was ~15% of the server's CPU under the bench's list loads
// (SQLite's parser and code generator; docs/BENCHMARKS.md, 2026-12-03
// 18:35). A connection here keeps the statements it prepared and runs a
// known text again by binding and stepping the kept statement, as SQLite's
// own sqlite3_prepare_v2 documentation intends; a schema change makes
// SQLite re-prepare a kept statement by itself at its next step.
//
// A kept statement serves one query at a time: while rows of it are open
// (a query inside the iteration of the same query), the text runs
// unprepared, as before. A statement that fails is finalized and dropped,
// so an error never leaves anything behind for the next caller. Texts over
// maxStmtSQL bytes (the import's multi-row inserts, scripts) are not kept:
// their programs are large and rarely repeat.

const (
	// stmtsPerConn bounds the statements a connection keeps (least recently
	// used out first). A kept statement holds its compiled program, a few
	// to a few tens of KB of SQLite's heap.
	stmtsPerConn = 32
	// maxStmtSQL is the longest SQL text kept.
	maxStmtSQL = 4096
)

// baseConn is what the wrapped driver's connections do; checked at connect.
type baseConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// baseStmt is what the wrapped driver's statements do.
type baseStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

// stmtConnector wraps a driver.Connector; its connections keep their
// prepared statements.
type stmtConnector struct {
	base driver.Connector
}

func (c stmtConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	bc, ok := conn.(baseConn)
	if !ok {
		_ = conn.Close()
		return nil, fmt.Errorf("dbconfig: the sqlite driver's connection (%T) lacks an interface the statement cache forwards", conn)
	}
	if err := withoutStat4(conn); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return &stmtConn{baseConn: bc, byText: map[string]*list.Element{}, lru: list.New()}, nil
}

func (c stmtConnector) Driver() driver.Driver { return c.base.Driver() }

// stmtConn is one connection and its kept statements. database/sql never
// uses a connection from two goroutines at once (its calls on a driver.Conn
// and on the Rows of it hold the connection's lock), so neither does this.
type stmtConn struct {
	baseConn
	byText map[string]*list.Element // of *keptStmt; front: most recent
	lru    *list.List
}

type keptStmt struct {
	text    string
	stmt    baseStmt
	busy    bool // rows of it are open
	dropped bool // evicted while busy: finalized when its rows close
}

// take returns the kept statement for text, preparing and keeping it if
// needed, or nil when text is not to be kept or its statement is busy.
func (c *stmtConn) take(ctx context.Context, text string) (*keptStmt, error) {
	if len(text) > maxStmtSQL {
		return nil, nil
	}
	if el, ok := c.byText[text]; ok {
		k := el.Value.(*keptStmt)
		if k.busy {
			return nil, nil
		}
		c.lru.MoveToFront(el)
		return k, nil
	}
	st, err := c.PrepareContext(ctx, text) // the driver's own: not overridden
	if err != nil {
		return nil, err
	}
	bs, ok := st.(baseStmt)
	if !ok {
		_ = st.Close()
		return nil, nil
	}
	k := &keptStmt{text: text, stmt: bs}
	c.byText[text] = c.lru.PushFront(k)
	for c.lru.Len() > stmtsPerConn {
		c.drop(c.lru.Back().Value.(*keptStmt))
	}
	return k, nil
}

// drop forgets k and finalizes it, or has its rows finalize it on close.
func (c *stmtConn) drop(k *keptStmt) {
	if el, ok := c.byText[k.text]; ok && el.Value == k {
		c.lru.Remove(el)
		delete(c.byText, k.text)
	}
	if k.busy {
		k.dropped = true
		return
	}
	_ = k.stmt.Close()
}

func (c *stmtConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	k, err := c.take(ctx, query)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return c.baseConn.QueryContext(ctx, query, args)
	}
	rows, err := k.stmt.QueryContext(ctx, args)
	if err != nil {
		c.drop(k)
		return nil, err
	}
	k.busy = true
	return &keptRows{base: rows, kept: k, conn: c}, nil
}

func (c *stmtConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	k, err := c.take(ctx, query)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return c.baseConn.ExecContext(ctx, query, args)
	}
	res, err := k.stmt.ExecContext(ctx, args)
	if err != nil {
		c.drop(k)
		return nil, err
	}
	return res, nil
}

// Close finalizes the kept statements first: sqlite3_close_v2 with
// statements left open keeps the database handle alive as a zombie, and the
// driver frees what finalizing them would need.
func (c *stmtConn) Close() error {
	var errs []error
	for el := c.lru.Front(); el != nil; el = el.Next() {
		if err := el.Value.(*keptStmt).stmt.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	c.lru.Init()
	clear(c.byText)
	errs = append(errs, c.baseConn.Close())
	return errors.Join(errs...)
}

// keptRows are the rows of a kept statement: closing them resets the
// statement (the driver's own rule for a prepared statement) and frees it
// for the next query of its text.
type keptRows struct {
	base driver.Rows
	kept *keptStmt
	conn *stmtConn
}

func (r *keptRows) Columns() []string              { return r.base.Columns() }
func (r *keptRows) Next(dest []driver.Value) error { return r.base.Next(dest) }

func (r *keptRows) Close() error {
	err := r.base.Close()
	k := r.kept
	k.busy = false
	switch {
	case k.dropped:
		_ = k.stmt.Close()
	case err != nil:
		r.conn.drop(k)
	}
	return err
}

// The column-type interfaces database/sql's ColumnTypes reads (PocketBase's
// SQL route uses it), forwarded when the driver's rows have them.

func (r *keptRows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.base.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *keptRows) ColumnTypeLength(i int) (int64, bool) {
	if t, ok := r.base.(driver.RowsColumnTypeLength); ok {
		return t.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *keptRows) ColumnTypeNullable(i int) (bool, bool) {
	if t, ok := r.base.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *keptRows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	if t, ok := r.base.(driver.RowsColumnTypePrecisionScale); ok {
		return t.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}

func (r *keptRows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.base.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}
