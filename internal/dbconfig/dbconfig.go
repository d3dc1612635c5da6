// Package dbconfig sizes PocketBase's SQLite connection pools for a small
// box (DESIGN.md: a Raspberry Pi, measured on 2 cores): few read
// connections, each with a small page cache, and the single writer
// connection with PocketBase's own cache.
//
// Why (measured at 100k contacts, 32 concurrent HTTP connections, see
// docs/BENCHMARKS.md): PocketBase opens up to 120 read connections
// (core.DefaultDataMaxOpenConns) and keeps 15 idle, each with a 32 MB page
// cache (core.DefaultDBConnect). Under a list load every busy connection
// holds its own cache, schema and temporary b-trees: the server peaked at
// 304–365 MB listing contacts with their total through the collection API,
// and 155 MB through the search route. Beyond the cores, more connections
// add no throughput (the SQLite of modernc.org/sqlite is Go code, CPU-bound
// like the rest of the request), and with more busy connections than idle
// ones the pool closed and reopened connections under load (8% of the
// CPU: every new connection runs its pragmas and parses the schema again).
// The pages themselves stay in the OS page cache, so a small SQLite cache
// per reader costs a read() of a hot page, not a disk access.
//
// With ReadConns = 8 (all kept idle) and ReadCacheKB = 2 MB the same loads
// peaked at 98 MB and 58 MB with the same throughput (the route: 727 vs 762
// requests/s, p99 93 vs 125 ms; loaded box, within its noise).
//
// The trade-off: at most ReadConns queries read at once. A request that
// holds a read connection for long (a CSV export streams its rows to the
// client while it reads) makes the others queue; ReadConns slow export
// downloads at once would stall every read. No code path holds two read
// connections at a time (which could deadlock a small pool).
package dbconfig

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase"
	"github.com/pocketbase/pocketbase/core"
	"modernc.org/sqlite"
)

const (
	// ReadConns is the size of the read pool of data.db, all kept open.
	ReadConns = 8
	// ReadCacheKB is the page cache of each read connection.
	ReadCacheKB = 2000
	// WriteCacheKB is the page cache of the one writer connection. Half of
	// PocketBase's default: SQLite's page allocations (a 4 KB page plus its
	// header) land in modernc's allocator's 8 KB size class, so a full
	// cache holds twice its size in RSS. Importing 20,000 contacts into a
	// 100k-contact database: 8 MB 13.5 s / 94 MB peak RSS, 16 MB 10.4 s /
	// 105 MB, 32 MB 10.4–11.5 s / 121 MB, 64 MB 10.8 s / 184 MB.
	WriteCacheKB = 16000
	// AuxWriteCacheKB is the page cache of auxiliary.db's writer (PocketBase's
	// logs; the file stays a few MB): the read pool's size. With the data
	// writer's 16 MB, sending 100,000 messages to the SMTP sink
	// (bench/cmd/sendprof) peaked at RssAnon 112 MB (two runs); with 2 MB at
	// 93–95 MB (three runs), the rate and CPU time unchanged. Why a writer of a
	// 1.3 MB file costs that much is not established (modernc's allocator
	// keeps what it once mapped, so a cache's early allocations can pin pages
	// that later ones would have reused).
	AuxWriteCacheKB = ReadCacheKB
	// AuxFile is PocketBase's auxiliary database's file name.
	AuxFile = "auxiliary.db"
)

// pragmas are PocketBase's (core.DefaultDBConnect) with the cache size and
// temp_store FILE.
//
// Why FILE for the writer: a multi-row statement on contacts keeps a
// statement journal (a copy of every page it touches; see
// services/imports/bulk.go). With temp_store MEMORY SQLite keeps it in 1 KB
// chunks on its heap, which grew a 100k-row import's peak RSS by ~35 MB and
// cost mmap/munmap churn in modernc's allocator; with FILE it stays in memory
// up to 64 KB and then goes to an unlinked temporary file (the OS page cache;
// short-lived, so it rarely reaches the disk). Importing 20,000 contacts into
// a 100k-contact database: 8.8–9.6 s / 134 MB peak with MEMORY, 9.7 s / 97 MB
// with FILE.
//
// Why FILE for the read pool: a sort larger than the connection's cache
// spills to temporary files, and with MEMORY those are on the heap. The
// sending engine sorts a campaign's audience by id (100,000 ids and
// addresses for the bench campaign): sending 100,000 messages to the SMTP
// sink (bench/cmd/sendprof) peaked at RssAnon 94–95 MB with MEMORY and
// 83 MB with FILE (two runs each), CPU time the same. Sorts that fit in
// the cache (a page of search results, LIMIT's top-N) never touch a file.
func pragmas(cacheKB int) string {
	return fmt.Sprintf("?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=journal_size_limit(200000000)"+
		"&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)&_pragma=temp_store(FILE)&_pragma=cache_size(-%d)&_defensive=1", cacheKB)
}

// writerPragmas are the writer's own: a checkpoint every WALCheckpointPages
// pages of WAL instead of SQLite's 1,000.
//
// Why: a checkpoint copies the WAL's pages into the database file and syncs
// it. A batch of a campaign send (250 messages with their ledger rows and
// timeline entries) writes more than 1,000 pages, so with the default every
// commit was followed by a checkpoint, and the index pages every batch
// touches were copied and synced once per batch. Sending 100,000 messages to
// the outbox on the 100k data set (bench/cmd/sendprof, CPU time of the
// send): 44.6 s with 1,000 pages, 40.4 s with 10,000, the checkpoints' share
// 7.8 s → 4.2 s and fsync 3.4 s → 1.2 s. The WAL then grows to about 40 MB
// before it is checkpointed (journal_size_limit truncates it back); it is a
// file in the data directory, not memory.
const writerPragmas = "&_pragma=wal_autocheckpoint(" + walCheckpointPages + ")"

// walCheckpointPages is the writer's wal_autocheckpoint (see writerPragmas).
const walCheckpointPages = "10000"

// Apply sets the pool sizes and the connect function of cfg.
func Apply(cfg *pocketbase.Config) {
	cfg.DataMaxOpenConns = ReadConns
	cfg.DataMaxIdleConns = ReadConns
	cfg.DBConnect = Connect()
}

// Connect returns a core.DBConnectFunc that gives read pools the small
// cache and writer pools PocketBase's.
//
// PocketBase opens each database file twice per bootstrap, the read pool
// first and then the single-connection writer (core.BaseApp.initDataDB and
// initAuxDB), and the function cannot tell which it is asked for: it
// alternates per file, and TestPoolsGetTheirCaches checks the result on a
// bootstrapped app, so a PocketBase upgrade that changes the order fails a
// test instead of giving the writer the small cache.
func Connect() core.DBConnectFunc {
	var mu sync.Mutex
	opened := map[string]int{}
	return func(dbPath string) (*dbx.DB, error) {
		mu.Lock()
		n := opened[dbPath]
		opened[dbPath] = n + 1
		mu.Unlock()
		cache, extra := WriteCacheKB, writerPragmas
		if n%2 == 0 {
			cache, extra = ReadCacheKB, ""
		} else if filepath.Base(dbPath) == AuxFile {
			cache = AuxWriteCacheKB
		}
		return open(dbPath + pragmas(cache) + extra)
	}
}

// open is dbx.Open("sqlite", dsn) with connections that keep their prepared
// statements (stmtcache.go).
func open(dsn string) (*dbx.DB, error) {
	base, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return dbx.NewFromDB(sql.OpenDB(stmtConnector{base: base}), "sqlite"), nil
}
