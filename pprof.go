//go:build pprof

package main

import (
	"log"
	"net"
	"net/http"
	_ "net/http/pprof" // the profiling handlers, on their own listener below
	"os"
)

// A binary built with -tags pprof serves net/http/pprof on the address in
// PICRM_PPROF (e.g. 127.0.0.1:6060), for profiling the server under the
// bench's load: `go tool pprof http://127.0.0.1:6060/debug/pprof/profile?seconds=20`.
// Release builds carry none of it.
func init() {
	addr := os.Getenv("PICRM_PPROF")
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatalf("pprof: %v", err)
	}
	go func() { _ = http.Serve(ln, nil) }() //nolint:gosec // a local profiling build only
}
