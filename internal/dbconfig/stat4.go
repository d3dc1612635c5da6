package dbconfig

import (
	"database/sql/driver"
	"fmt"
	"reflect"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// withoutStat4 stops a connection of modernc.org/sqlite from planning with
// the sqlite_stat4 samples (the planner's SQLITE_Stat4 optimization off);
// sqlite_stat1's averages still plan every statement.
//
// Why: PocketBase's `PRAGMA optimize` gives the tables sqlite_stat4 samples
// (modernc builds SQLite with SQLITE_ENABLE_STAT4), and with samples SQLite
// estimates a statement's rows from the values bound to it: it marks the
// statement expired whenever a parameter it estimated with is bound again,
// so the next step parses and plans the whole statement anew. Every
// PocketBase query binds its values, so a kept statement (stmtcache.go)
// would be prepared again at nearly every use and keeping it would save
// nothing.
//
// Not SQLITE_DBCONFIG_ENABLE_QPSG, which also ends the re-planning: it
// makes SQLite ignore every bound value while planning, so a partial index
// (`WHERE status = 'scheduled'`) no longer serves `status = ?`, the form of
// every PocketBase filter and of dbx's HashExp. With only the samples off,
// the statements that need a value to plan (a partial index's condition, a
// LIKE pattern's prefix) still see it and are planned again for a new one,
// as SQLite intends; the rest are planned once.
//
// The driver has no option for it, so this reads the connection's SQLite
// handle from the driver's own fields (db, tls) and sets the connection's
// optimization mask through sqlite3_test_control, the interface SQLite's
// shell (`.testctrl optimizations`) uses; TestStat4SamplesAreOff fails if a
// driver upgrade moves the fields or the mask.
func withoutStat4(conn driver.Conn) error {
	flags, err := optimizationsOff(conn, nil)
	if err != nil {
		return err
	}
	want := flags | sqlite3.SQLITE_Stat4
	if flags, err = optimizationsOff(conn, &want); err == nil && flags != want {
		err = fmt.Errorf("dbconfig: SQLite kept the optimization mask %#x, not %#x", flags, want)
	}
	return err
}

// optimizationsOff returns the connection's mask of optimizations turned
// off (SQLITE_TESTCTRL_GETOPT), after setting it to *set when set is not nil
// (SQLITE_TESTCTRL_OPTIMIZATIONS).
func optimizationsOff(conn driver.Conn, set *uint32) (uint32, error) {
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
	if set != nil {
		if rc := sqlite3.Xsqlite3_test_control(t, sqlite3.SQLITE_TESTCTRL_OPTIMIZATIONS, libc.VaList(bp, h, *set)); rc != sqlite3.SQLITE_OK {
			return 0, fmt.Errorf("dbconfig: sqlite3_test_control(OPTIMIZATIONS) returned %d", rc)
		}
	}
	res := bp + 2*slot // the int SQLite writes the mask into
	if rc := sqlite3.Xsqlite3_test_control(t, sqlite3.SQLITE_TESTCTRL_GETOPT, libc.VaList(bp, h, res)); rc != sqlite3.SQLITE_OK {
		return 0, fmt.Errorf("dbconfig: sqlite3_test_control(GETOPT) returned %d", rc)
	}
	// res is libc.Xmalloc memory (the C heap, never moved by the GC); going
	// through unsafe.Add keeps vet's unsafeptr check, which cannot know that,
	// quiet without a directive
	return *(*uint32)(unsafe.Add(nil, res)), nil
}
