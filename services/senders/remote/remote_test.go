package remote

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
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
		ctx, w := Trace(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/send", strings.NewReader("x"))
		resp, err := http.DefaultTransport.RoundTrip(req)
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
