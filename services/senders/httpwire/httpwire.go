// Package httpwire is what the remote senders share around their SDKs'
// HTTP: a transport that replaces the scheme and host of every call (a
// config's base_url: a regional host, a proxy, a test server), the
// Retry-After of a refused call (the SDKs' errors drop the response's
// headers), and the reading of an HTTP outcome into the engine's classes
// (services/senders: temporary, permanent, unknown).
package httpwire

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultTimeout bounds one API call when the caller gives no client.
const DefaultTimeout = 30 * time.Second

// Client is an HTTP client over next (nil: a fresh default transport)
// whose every request goes to base's scheme and host when base is set
// (path and query kept), recording each response's status and Retry-After
// into the request's Capture (WithCapture) or, for an SDK that sends with
// a context of its own (twilio-go), into fallback when not nil.
func Client(base string, next *http.Client, fallback *Capture) (*http.Client, error) {
	var target *url.URL
	if base != "" {
		u, err := url.Parse(base)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("base_url %q: a scheme and host, such as https://proxy.example", base)
		}
		target = u
	}
	c := &http.Client{Timeout: DefaultTimeout}
	var rt http.RoundTripper = http.DefaultTransport.(*http.Transport).Clone()
	if next != nil {
		cp := *next
		c = &cp
		if next.Transport != nil {
			rt = next.Transport
		}
	}
	c.Transport = &transport{target: target, next: rt, fallback: fallback}
	return c, nil
}

type transport struct {
	target   *url.URL
	next     http.RoundTripper
	fallback *Capture
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.target != nil {
		req = req.Clone(req.Context())
		req.URL.Scheme, req.URL.Host = t.target.Scheme, t.target.Host
		req.Host = t.target.Host
	}
	res, err := t.next.RoundTrip(req)
	c, ok := req.Context().Value(captureKey{}).(*Capture)
	if !ok {
		c = t.fallback
	}
	if c != nil {
		c.mu.Lock()
		c.status, c.retryAfter = 0, 0
		c.mu.Unlock()
		if err == nil {
			c.mu.Lock()
			c.status = res.StatusCode
			c.retryAfter = RetryAfter(res.Header.Get("Retry-After"), time.Now())
			c.mu.Unlock()
		}
	}
	return res, err
}

type captureKey struct{}

// Capture holds what the transport saw of the last response of a call.
type Capture struct {
	mu         sync.Mutex
	status     int
	retryAfter time.Duration
}

// WithCapture returns ctx carrying a fresh Capture.
func WithCapture(ctx context.Context) (context.Context, *Capture) {
	c := &Capture{}
	return context.WithValue(ctx, captureKey{}, c), c
}

// Reset forgets the last response (before a call through a fallback).
func (c *Capture) Reset() {
	c.mu.Lock()
	c.status, c.retryAfter = 0, 0
	c.mu.Unlock()
}

// RetryAfter is the last response's Retry-After (0: none).
func (c *Capture) RetryAfter() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.retryAfter
}

// Status is the last response's status (0: no response).
func (c *Capture) Status() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// RetryAfter reads a Retry-After value (seconds or an HTTP date) at now;
// 0 when absent or unreadable, at most an hour.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return max(0, min(d, time.Hour))
}

// Class is how an HTTP status or a transport error is retried.
type Class int

const (
	// Sent is a 2xx.
	Sent Class = iota
	// Retry: 429, 5xx, 408, a connection that never carried the request.
	Retry
	// Refused: any other 4xx (the request, the address or the credentials).
	Refused
	// Unknown: the request may have been taken (a timeout or a connection
	// lost after it was written): not to be sent again blindly.
	Unknown
)

// ClassOfStatus is the class of an HTTP status.
func ClassOfStatus(status int) Class {
	switch {
	case status >= 200 && status < 300:
		return Sent
	case status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500:
		return Retry
	default:
		return Refused
	}
}

// ClassOfError is the class of an error that carries no HTTP status: a
// dial or DNS failure never reached the provider (Retry); a timeout or a
// connection lost later may have (Unknown).
func ClassOfError(err error) Class {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return Retry
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return Retry
	}
	return Unknown
}
