//go:build !linux

package footprint

// ReleaseExecutablePages does nothing outside Linux (the target is a
// Raspberry Pi running Linux).
func ReleaseExecutablePages() (int, error) { return 0, nil }
