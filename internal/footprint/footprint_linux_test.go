package footprint

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pi-crm/pi-crm/internal/testutil"
)

// executableMappingFlags reads /proc/self/smaps: the VmFlags of each
// read-only mapping of the executable, by its address range.
func executableMappingFlags(t *testing.T) map[string][]string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		t.Fatal(err)
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	current := ""
	sc := bufio.NewScanner(bytes.NewReader(smaps))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "VmFlags:"); ok {
			if current != "" {
				out[current] = strings.Fields(rest)
			}
			current = ""
			continue
		}
		if _, _, ok := readOnlyMappingOf(line, exe); ok {
			current = strings.Fields(line)[0]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func rssFileKB(t *testing.T) int {
	t.Helper()
	kb, err := testutil.StatusKB("RssFile")
	if err != nil {
		t.Fatal(err)
	}
	return kb
}

func TestReadOnlyMappingOf(t *testing.T) {
	exe := "/srv/pi-crm"
	for _, c := range []struct {
		line       string
		start, end uintptr
		ok         bool
	}{
		{"00400000-015ff000 r-xp 00000000 fe:00 123 /srv/pi-crm", 0x400000, 0x15ff000, true},
		{"015ff000-02e5f000 r--p 011ff000 fe:00 123 /srv/pi-crm", 0x15ff000, 0x2e5f000, true},
		{"02e5f000-03023000 rw-p 02a5f000 fe:00 123 /srv/pi-crm", 0, 0, false}, // writable: never dropped
		{"7fcd89f31000-7fcd8a087000 r-xp 00028000 fe:00 9 /usr/lib/libc.so.6", 0, 0, false},
		{"22dc8b000000-22dc8bc00000 rw-p 00000000 00:00 0", 0, 0, false},
		{"00400000-015ff000 r-xp 00000000 fe:00 123 /srv/pi-crm-old", 0, 0, false},
		{"zz-015ff000 r-xp 00000000 fe:00 123 /srv/pi-crm", 0, 0, false},
		{"015ff000-00400000 r-xp 00000000 fe:00 123 /srv/pi-crm", 0, 0, false},
	} {
		s, e, ok := readOnlyMappingOf(c.line, exe)
		if s != c.start || e != c.end || ok != c.ok {
			t.Errorf("%q: %x-%x %v, want %x-%x %v", c.line, s, e, ok, c.start, c.end, c.ok)
		}
	}
}

// The test binary's own text and read-only data leave its resident set, and
// the process goes on running from them (the pages come back as they are
// used); its writable data is kept.
func TestReleaseExecutablePages(t *testing.T) {
	before := rssFileKB(t)
	n, err := ReleaseExecutablePages()
	if err != nil {
		t.Fatal(err)
	}
	if n < 1<<20 {
		t.Fatalf("advised %d bytes of the executable's read-only mappings, want its text and rodata", n)
	}
	after := rssFileKB(t)
	if after >= before {
		t.Fatalf("RssFile %d kB before, %d kB after", before, after)
	}
	// no large folio of the page cache is mapped whole (2 MB at a fault)
	// into these mappings again: each carries "nh" (MADV_NOHUGEPAGE) and
	// "rr" (MADV_RANDOM)
	flags := executableMappingFlags(t)
	if len(flags) == 0 {
		t.Fatal("no read-only mapping of the executable in /proc/self/smaps")
	}
	for rng, f := range flags {
		if !slices.Contains(f, "nh") || !slices.Contains(f, "rr") {
			t.Errorf("mapping %s has VmFlags %v, want nh and rr among them", rng, f)
		}
	}
	// code and data still work: strings, maps, a formatted number
	m := map[string]int{}
	for i := range 1000 {
		m[strconv.Itoa(i)] = i
	}
	if m["999"] != 999 || !strings.Contains(strings.Repeat("ab", 3), "ba") {
		t.Fatal("the process does not run as before")
	}
	t.Logf("RssFile %d kB → %d kB (advised %d kB)", before, after, n/1024)
}
