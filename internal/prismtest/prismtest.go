// Package prismtest runs Stoplight Prism (e2e/node_modules/.bin/prism,
// pinned in e2e/package.json) as a mock of a provider's trimmed OpenAPI
// document (e2e/specs) for the Go tests of the senders: the real SDK sends
// to it, Prism checks each request against the provider's document and
// answers the document's example. A request the document rejects carries an
// sl-violations header in the answer (or is Prism's own 422), which the SDK
// never shows, so Start puts a recording proxy in front and the test asserts
// on Violations.
//
// A missing Prism fails the test (make test-go runs npm ci in e2e/ first);
// PICRM_SKIP_PRISM=1 skips instead, said in the test's output.
package prismtest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a running Prism behind a recording proxy.
type Server struct {
	// URL is the proxy's base URL (scheme and host): a sender's base_url.
	URL string

	mu         sync.Mutex
	violations []string
	requests   []string
	received   []Request
}

// Request is one request the proxy passed to Prism, with its body, and
// Prism's status.
type Request struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
	Status              int
}

// Received are the requests so far, with their bodies (what the provider
// would have received: a test looks for our delivery id in them).
func (s *Server) Received() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.received...)
}

type bodyKey struct{}

// Violations are the sl-violations headers of the answers so far (with the
// request's method and path).
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.violations...)
}

// Requests are "METHOD path status" of each request so far.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// root is the repository's root (this file is internal/prismtest/prismtest.go).
func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Start serves spec (a file name in e2e/specs, or PICRM_SPECS) until the
// test ends.
func Start(t *testing.T, spec string) *Server {
	t.Helper()
	bin := filepath.Join(root(), "e2e", "node_modules", ".bin", "prism")
	dir := os.Getenv("PICRM_SPECS")
	if dir == "" {
		dir = filepath.Join(root(), "e2e", "specs")
	}
	specPath := filepath.Join(dir, spec)
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("PICRM_SKIP_PRISM") == "1" {
			t.Skipf("PICRM_SKIP_PRISM=1: prism (%s) is not installed", bin)
		}
		t.Fatalf("prism is not installed (%s): run `cd e2e && npm ci` (make test-go does), or PICRM_SKIP_PRISM=1 to skip", bin)
	}
	if _, err := os.Stat(specPath); err != nil {
		t.Fatalf("the spec %s is missing: %v", specPath, err)
	}
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "mock", "-h", "127.0.0.1", "-p", fmt.Sprint(port), specPath)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting prism: %v", err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	var log strings.Builder
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		once := sync.Once{}
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "Prism is listening") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		t.Fatalf("prism did not start in 60 s:\n%s", log.String())
	}
	target, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", port))
	s := &Server{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(res *http.Response) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.requests = append(s.requests, fmt.Sprintf("%s %s %d", res.Request.Method, res.Request.URL.Path, res.StatusCode))
		body, _ := res.Request.Context().Value(bodyKey{}).([]byte)
		s.received = append(s.received, Request{Method: res.Request.Method, Path: res.Request.URL.Path, Query: res.Request.URL.RawQuery,
			Header: res.Request.Header.Clone(), Body: body, Status: res.StatusCode})
		if v := res.Header.Get("sl-violations"); v != "" {
			s.violations = append(s.violations, res.Request.Method+" "+res.Request.URL.Path+": "+v)
		} else if res.StatusCode == http.StatusUnprocessableEntity {
			// Prism's own "invalid request" (no such answer in the spec):
			// the violations are in the body
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil {
				return err
			}
			res.Body = io.NopCloser(bytes.NewReader(body))
			s.violations = append(s.violations, res.Request.Method+" "+res.Request.URL.Path+": "+string(body))
		}
		return nil
	}
	// the body is read here and handed on: ModifyResponse sees the request
	// after it was sent
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), bodyKey{}, body)))
	}))
	t.Cleanup(front.Close)
	s.URL = front.URL
	return s
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
