package dbconfig_test

import (
	"testing"

	"github.com/pi-crm/pi-crm/internal/dbconfig"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase"
)

func cacheSize(t *testing.T, b dbx.Builder) int {
	t.Helper()
	var n int
	if err := b.NewQuery("PRAGMA cache_size").Row(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// The read pools get the small cache and the writers PocketBase's, on both
// files, also after a second bootstrap (a backup restore bootstraps again).
func TestPoolsGetTheirCaches(t *testing.T) {
	cfg := pocketbase.Config{DefaultDataDir: t.TempDir()}
	dbconfig.Apply(&cfg)
	app := pocketbase.NewWithConfig(cfg)
	for round := 0; round < 2; round++ {
		if round > 0 {
			if err := app.ClearBootstrap(); err != nil {
				t.Fatal(err)
			}
		}
		if err := app.Bootstrap(); err != nil {
			t.Fatal(err)
		}
		for name, got := range map[string][2][2]int{
			"data.db": {{cacheSize(t, app.ConcurrentDB()), cacheSize(t, app.NonconcurrentDB())},
				{-dbconfig.ReadCacheKB, -dbconfig.WriteCacheKB}},
			dbconfig.AuxFile: {{cacheSize(t, app.AuxConcurrentDB()), cacheSize(t, app.AuxNonconcurrentDB())},
				{-dbconfig.ReadCacheKB, -dbconfig.AuxWriteCacheKB}},
		} {
			if got[0] != got[1] {
				t.Fatalf("round %d, %s: cache_size read pool %d, writer %d; want %d and %d", round, name, got[0][0], got[0][1],
					got[1][0], got[1][1])
			}
		}
		// statement journals and sorts larger than the cache go to files, on
		// the writer and the readers alike
		var readTemp, writeTemp int
		_ = app.ConcurrentDB().NewQuery("PRAGMA temp_store").Row(&readTemp)
		_ = app.NonconcurrentDB().NewQuery("PRAGMA temp_store").Row(&writeTemp)
		if readTemp != 1 || writeTemp != 1 {
			t.Fatalf("round %d: temp_store read pool %d, writer %d; want 1 (FILE) for both", round, readTemp, writeTemp)
		}
		// the writer checkpoints every 10,000 pages of WAL, the readers
		// (which never write) keep SQLite's default
		var readCk, writeCk int
		_ = app.ConcurrentDB().NewQuery("PRAGMA wal_autocheckpoint").Row(&readCk)
		_ = app.NonconcurrentDB().NewQuery("PRAGMA wal_autocheckpoint").Row(&writeCk)
		if readCk != 1000 || writeCk != 10000 {
			t.Fatalf("round %d: wal_autocheckpoint read pool %d, writer %d; want 1000 and 10000", round, readCk, writeCk)
		}
		if s := app.ConcurrentDB().(*dbx.DB).DB().Stats(); s.MaxOpenConnections != dbconfig.ReadConns {
			t.Fatalf("read pool max open %d, want %d", s.MaxOpenConnections, dbconfig.ReadConns)
		}
	}
	if err := app.ClearBootstrap(); err != nil {
		t.Fatal(err)
	}
}
