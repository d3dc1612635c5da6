// Package load is a small closed-loop HTTP load generator: C workers each
// send a request, wait for the whole response, and send the next, for a
// fixed duration. Throughput is completed requests per second; latencies
// are per request, from send to the last byte of the body.
package load

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Request builds the n-th request of worker w.
type Request func(w, n int) (*http.Request, error)

// Result of one run.
type Result struct {
	Requests int
	Errors   int // transport errors and non-2xx answers
	FirstErr string
	Duration time.Duration
	P50, P99 time.Duration
}

// RPS is completed successful requests per second.
func (r Result) RPS() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Requests-r.Errors) / r.Duration.Seconds()
}

// Client returns an HTTP client keeping up to conns connections open to
// one host (the default keeps 2 and would reconnect constantly).
func Client(conns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = conns * 2
	t.MaxIdleConnsPerHost = conns * 2
	t.MaxConnsPerHost = conns
	return &http.Client{Transport: t, Timeout: 60 * time.Second}
}

// Run drives conns workers for d.
func Run(client *http.Client, conns int, d time.Duration, req Request) Result {
	var (
		mu       sync.Mutex
		all      []time.Duration
		errs     int
		firstErr string
		wg       sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1024)
			e, fe := 0, ""
			for n := 0; time.Now().Before(deadline); n++ {
				r, err := req(w, n)
				if err != nil {
					e++
					fe = err.Error()
					break
				}
				t := time.Now()
				resp, err := client.Do(r)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && (resp.StatusCode < 200 || resp.StatusCode > 299) {
						err = fmt.Errorf("%s %s: HTTP %d", r.Method, r.URL.Path, resp.StatusCode)
					}
				}
				lat = append(lat, time.Since(t))
				if err != nil {
					e++
					if fe == "" {
						fe = err.Error()
					}
				}
			}
			mu.Lock()
			all = append(all, lat...)
			errs += e
			if firstErr == "" {
				firstErr = fe
			}
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	res := Result{Requests: len(all), Errors: errs, FirstErr: firstErr, Duration: time.Since(start)}
	res.P50, res.P99 = Percentile(all, 50), Percentile(all, 99)
	return res
}

// Percentile returns the p-th percentile (nearest rank) of ds.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	i = max(0, min(i, len(s)-1))
	return s[i]
}
