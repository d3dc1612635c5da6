// Package remote holds what the HTTP API senders (gmail, microsoft365)
// share to classify a failed call for the engine: whether the request had
// been written when the connection failed (then the provider may have the
// message: senders.Unknown, never a blind retry) and the provider's
// Retry-After.
package remote

import (
	"context"
	"errors"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pi-crm/pi-crm/services/senders"
)

// Written reports whether a request was written in full on the wire.
type Written struct{ ok atomic.Bool }

// Yes reports whether the whole request was written.
func (w *Written) Yes() bool { return w.ok.Load() }

// Trace returns ctx with an httptrace hook that records on w when a request
// made with it has been written in full. An SDK passes the request's context
// down to net/http, so the hook sees the API call itself; a token exchange
// the SDK makes first runs under the token source's own context and is not
// counted.
func Trace(ctx context.Context) (context.Context, *Written) {
	w := &Written{}
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				w.ok.Store(true)
			}
		},
	}), w
}

// TransportError classifies an error that came with no HTTP answer (a
// refused or lost connection, a timeout, a cancelled context): once the
// request was written the provider may have acted on it, so the outcome is
// unknown; before that nothing reached it and a retry is safe.
func TransportError(err error, w *Written) error {
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
