package backups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/pi-crm/pi-crm/services/apperr"
)

// LockFileName is the file in the data directory that a running server holds
// an exclusive flock(2) on. The kernel drops the lock when the process ends,
// however it ends (SIGKILL, a power cut and a reboot included), so a stale
// file never blocks anything: "locked" always means "a live process holds it".
// A pid file would need a liveness guess, and PocketBase itself holds no lock.
const LockFileName = "pi-crm.lock"

// ErrDataDirInUse is returned when another process holds the data directory:
// a server, or a restore under way.
var ErrDataDirInUse = apperr.Conflict("data_dir_in_use",
	"another pi-crm process (a server, or a restore) holds this data directory ("+LockFileName+")")

// Lock is a held lock on a data directory.
type Lock struct{ f *os.File }

// Acquire takes the data directory's lock without waiting: ErrDataDirInUse
// when another process (or another Acquire in this one: flock locks belong to
// the open file, not the process) holds it.
func Acquire(dataDir string) (*Lock, error) {
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dataDir, LockFileName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the data directory's lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrDataDirInUse
		}
		return nil, fmt.Errorf("lock the data directory: %w", err)
	}
	return &Lock{f: f}, nil
}

// Release drops the lock (closing the file drops it; the file stays).
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
