// Package footprint keeps the server's resident set to the pages it uses.
//
// Most of an idle server's RSS is its own executable: of a 46 MB binary,
// about 30 MB of text and read-only data are resident after start-up
// (start-up runs every package's init, spread over the whole text, and
// the kernel maps 64 KB around each page fault, "fault-around"), against
// 12 MB of heap and SQLite caches. Those pages are clean copies of the
// file; most are never touched again once the server runs.
package footprint

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// ReleaseExecutablePages tells the kernel not to map the executable's
// read-only mappings with huge pages (MADV_NOHUGEPAGE: where the page cache
// holds the file in 2 MB folios, a fault otherwise maps all 2 MB; measured:
// 24 MB of rodata resident at idle), that they
// (text, read-only data) are read at random, and drops the pages faulted so
// far from this process's page tables (MADV_DONTNEED; they stay in the page
// cache, and the next access maps them again, a minor fault). Writable
// mappings are never touched: dropping those would lose their contents.
// It returns how many bytes of mappings it advised.
func ReleaseExecutablePages() (int, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return 0, err
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	total := 0
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		start, end, ok := readOnlyMappingOf(sc.Text(), exe)
		if !ok {
			continue
		}
		for _, advice := range []uintptr{unix.MADV_NOHUGEPAGE, unix.MADV_RANDOM, unix.MADV_DONTNEED} {
			if _, _, errno := unix.Syscall(unix.SYS_MADVISE, start, end-start, advice); errno != 0 {
				return total, fmt.Errorf("madvise %x-%x: %w", start, end, errno)
			}
		}
		total += int(end - start)
	}
	return total, sc.Err()
}

// readOnlyMappingOf parses one line of /proc/self/maps ("start-end perms
// offset dev inode path") and answers the range when it maps path without
// write permission.
func readOnlyMappingOf(line, path string) (start, end uintptr, ok bool) {
	f := bytes.Fields([]byte(line))
	if len(f) < 6 || string(f[5]) != path || len(f[1]) < 2 || f[1][1] != '-' {
		return 0, 0, false
	}
	rng := bytes.SplitN(f[0], []byte("-"), 2)
	if len(rng) != 2 {
		return 0, 0, false
	}
	s, err1 := strconv.ParseUint(string(rng[0]), 16, 64)
	e, err2 := strconv.ParseUint(string(rng[1]), 16, 64)
	if err1 != nil || err2 != nil || e <= s {
		return 0, 0, false
	}
	return uintptr(s), uintptr(e), true
}
