package dbconfig

import (
	"database/sql/driver"
	"fmt"
	"reflect"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// enableQPSG turns on SQLite's query planner stability guarantee
// (SQLITE_DBCONFIG_ENABLE_QPSG) on a connection of modernc.org/sqlite.
//
// Why: PocketBase's `PRAGMA optimize` gives the tables sqlite_stat4 samples,
// and with samples SQLite plans a statement for the values bound to it: it
// marks the statement expired whenever a parameter it planned with is
// bound again, so the next step parses and plans the whole statement anew
// (sqlite3_prepare_v2's documentation). Every PocketBase query binds its
// values, so a kept statement (stmtcache.go) would be prepared again at each
// use and keeping it would save nothing. With the guarantee, SQLite plans
// from the statistics without looking at bound values, once per statement.
//
// The driver has no option for it, so this reads the connection's SQLite
// handle from the driver's own fields (db, tls); TestQPSGIsOn fails if a
// driver upgrade moves them.
func enableQPSG(conn driver.Conn) error {
	on, err := qpsg(conn, 1)
	if err == nil && on != 1 {
		err = fmt.Errorf("dbconfig: SQLite did not take ENABLE_QPSG")
	}
	return err
}

// qpsg calls sqlite3_db_config(ENABLE_QPSG) with onoff (1 on, 0 off, -1
// leave as is) and returns the setting after the call.
func qpsg(conn driver.Conn, onoff int32) (int32, error) {
	v := reflect.ValueOf(conn)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return 0, fmt.Errorf("dbconfig: unexpected sqlite connection type %T", conn)
	}
	s := v.Elem()
	db, tls := s.FieldByName("db"), s.FieldByName("tls")
	if !db.IsValid() || db.Kind() != reflect.Uintptr || !tls.IsValid() || tls.Type() != reflect.TypeFor[*libc.TLS]() {
		return 0, fmt.Errorf("dbconfig: the sqlite connection %T has no db and tls fields", conn)
	}
	h := uintptr(db.Uint())
	t := (*libc.TLS)(unsafe.Pointer(tls.Pointer()))
	if h == 0 || t == nil {
		return 0, fmt.Errorf("dbconfig: the sqlite connection is closed")
	}
	const slot = 8 // libc.VaList's stride per argument
	bp := libc.Xmalloc(t, 2*slot+4)
	if bp == 0 {
		return 0, fmt.Errorf("dbconfig: out of memory")
	}
	defer libc.Xfree(t, bp)
	res := bp + 2*slot // the int SQLite writes the setting into
	if rc := sqlite3.Xsqlite3_db_config(t, h, sqlite3.SQLITE_DBCONFIG_ENABLE_QPSG, libc.VaList(bp, onoff, res)); rc != sqlite3.SQLITE_OK {
		return 0, fmt.Errorf("dbconfig: sqlite3_db_config(ENABLE_QPSG) returned %d", rc)
	}
	return *(*int32)(unsafe.Pointer(res)), nil //nolint:govet // res is libc.Xmalloc memory (the C heap), which the GC never moves
}
