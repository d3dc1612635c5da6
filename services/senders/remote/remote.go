// Package remote holds what the HTTP API senders (gmail, microsoft365)
// share to classify a failed call for the engine: whether the request had
// been written when the connection failed (then the provider may have the
// message: senders.Unknown, never a blind retry) and the provider's
// Retry-After.
package remote

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pi-crm/pi-crm/services/senders"
)

// Written reports whether a request was written in full on the wire, and
// the status of the answer when one came.
type Written struct {
	ok     atomic.Bool
	status atomic.Int32
}

// Yes reports whether the whole request was written.
func (w *Written) Yes() bool { return w.ok.Load() }

// Status is the HTTP status of the last answer (0: none).
func (w *Written) Status() int { return int(w.status.Load()) }

type writtenKey struct{}

// Track returns ctx marked so that a request made with it through Transport
// records on w when it has been written in full. Only Transport looks at the
// mark: an SDK's token exchange, made with the same context through another
// client, is not counted (a written token request says nothing about the
// message).
func Track(ctx context.Context) (context.Context, *Written) {
	w := &Written{}
	return context.WithValue(ctx, writtenKey{}, w), w
}

// Transport is the API calls' transport: it hooks an httptrace on the
// requests whose context Track marked.
type Transport struct {
	Base http.RoundTripper // nil: http.DefaultTransport
}

// RoundTrip implements http.RoundTripper.
func (t Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	w, ok := req.Context().Value(writtenKey{}).(*Written)
	if !ok {
		return base.RoundTrip(req)
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				w.ok.Store(true)
			}
		},
	}))
	resp, err := base.RoundTrip(req)
	if resp != nil {
		w.status.Store(int32(resp.StatusCode))
	}
	return resp, err
}

// TransportError classifies an error that came with no HTTP answer (a
// refused or lost connection, a timeout, a cancelled context): once the
// request was written the provider may have acted on it, so the outcome is
// unknown; before that nothing reached it and a retry is safe.
//
// An SDK that could not read an error answer (an HTML page from a gateway)
// hands back a plain error: the status the transport saw classifies it —
// 429, 408 and 5xx temporary, any other refusal permanent.
func TransportError(err error, w *Written) error {
	if s := w.statusOrZero(); s >= 300 {
		if s == http.StatusTooManyRequests || s == http.StatusRequestTimeout || s >= 500 {
			return senders.Temporary(err, 0)
		}
		return senders.Permanent(err)
	}
	if w != nil && w.Yes() {
		return senders.Unknown(err)
	}
	return senders.Temporary(err, 0)
}

// RetryAfter reads a Retry-After value: delay-seconds or an HTTP-date
// (RFC 9110 §10.2.3); 0 when absent, unreadable or past.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	for _, layout := range []string{time.RFC1123, time.RFC850, time.ANSIC} {
		if t, err := time.Parse(layout, v); err == nil {
			if d := t.Sub(now); d > 0 {
				return d.Round(time.Second)
			}
			return 0
		}
	}
	return 0
}

// IsContext reports whether err is the caller's context ending.
func IsContext(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

func (w *Written) statusOrZero() int {
	if w == nil {
		return 0
	}
	return w.Status()
}
