package remote

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/services/senders"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"7":                             7 * time.Second,
		"0":                             0,
		"-3":                            0,
		"soon":                          0,
		"Tue, 01 Dec 2026 10:02:00 GMT": 2 * time.Minute,
		"Tue, 01 Dec 2026 09:00:00 GMT": 0,
	} {
		if got := RetryAfter(v, now); got != want {
			t.Errorf("%q: %v, want %v", v, got, want)
		}
	}
}

// A server that reads the request then drops the connection: the request
// was written, so the outcome is unknown; a refused connection wrote
// nothing, so it is temporary.
func TestTransportError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			_, _ = c.Read(buf)
			_ = c.Close()
		}
	}()
	post := func(addr string) error {
		ctx, w := Track(context.Background())
		// a request through another transport with the same context is not counted
		other, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/token", strings.NewReader("x"))
		if resp, err := http.DefaultTransport.RoundTrip(other); err == nil {
			_ = resp.Body.Close()
		}
		if w.Yes() {
			t.Fatal("a request outside Transport counted")
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/send", strings.NewReader("x"))
		resp, err := Transport{}.RoundTrip(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			t.Fatal("no error")
		}
		return TransportError(err, w)
	}
	if err := post(ln.Addr().String()); !senders.IsUnknown(err) {
		t.Errorf("dropped after write: %v, want unknown", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	err = post(addr)
	var se *senders.Error
	if !errors.As(err, &se) || se.Unknown || se.Permanent {
		t.Errorf("refused: %v, want temporary", err)
	}
}

// An error answer the SDK could not parse (a gateway's HTML page) is
// classified by the status the transport saw.
func TestTransportErrorByStatus(t *testing.T) {
	for status, want := range map[int]string{502: "temporary", 429: "temporary", 400: "permanent"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(status)
		}))
		ctx, w := Track(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader("x"))
		resp, err := Transport{}.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		srv.Close()
		err = TransportError(errors.New("content type text/html has no parser"), w)
		var se *senders.Error
		got := "temporary"
		if errors.As(err, &se) && se.Permanent {
			got = "permanent"
		} else if errors.As(err, &se) && se.Unknown {
			got = "unknown"
		}
		if got != want || w.Status() != status {
			t.Errorf("%d: %s (status %d), want %s", status, got, w.Status(), want)
		}
	}
}
