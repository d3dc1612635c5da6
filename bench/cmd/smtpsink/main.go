// Command smtpsink is a zero-latency SMTP server for the send benchmark
// (`make bench`): it accepts every sender and recipient on 127.0.0.1 without
// TLS or login, reads and discards each message's data, and counts what it
// received. listmonk's reference measurement (issue 14) used such a sink.
//
//	smtpsink [-addr 127.0.0.1:0] [-status 127.0.0.1:0]
//
// On start it prints one line to stdout:
//
//	smtp 127.0.0.1:PORT status http://127.0.0.1:PORT
//
// GET on the status address answers {"messages", "recipients", "bytes",
// "sessions", "open"} as JSON; SIGINT or SIGTERM prints the same counts to
// stdout and exits.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// counts are what the sink received.
type counts struct {
	Messages   atomic.Int64
	Recipients atomic.Int64
	Bytes      atomic.Int64
	Sessions   atomic.Int64
	Open       atomic.Int64
}

func (c *counts) snapshot() map[string]int64 {
	return map[string]int64{"messages": c.Messages.Load(), "recipients": c.Recipients.Load(), "bytes": c.Bytes.Load(),
		"sessions": c.Sessions.Load(), "open": c.Open.Load()}
}

type session struct {
	c   *counts
	rcp int64
}

func (s *session) Mail(string, *gosmtp.MailOptions) error { return nil }
func (s *session) Rcpt(string, *gosmtp.RcptOptions) error { s.rcp++; return nil }
func (s *session) Reset()                                 { s.rcp = 0 }
func (s *session) Logout() error {
	s.c.Open.Add(-1)
	return nil
}

func (s *session) Data(r io.Reader) error {
	n, err := io.Copy(io.Discard, r)
	if err != nil {
		return err
	}
	s.c.Bytes.Add(n)
	s.c.Recipients.Add(s.rcp)
	s.c.Messages.Add(1)
	s.rcp = 0
	return nil
}

type quiet struct{}

func (quiet) Printf(string, ...any) {}
func (quiet) Println(...any)        {}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "SMTP listen address")
	status := flag.String("status", "127.0.0.1:0", "HTTP status listen address (empty: none)")
	flag.Parse()

	c := &counts{}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) {
		c.Sessions.Add(1)
		c.Open.Add(1)
		return &session{c: c}, nil
	}))
	srv.Domain = "smtpsink.local"
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.MaxMessageBytes = 64 << 20
	srv.MaxRecipients = 0
	srv.AllowInsecureAuth = true
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = quiet{}

	l, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "smtpsink:", err)
		os.Exit(1)
	}
	go func() { _ = srv.Serve(l) }()

	statusURL := "-"
	if *status != "" {
		sl, err := net.Listen("tcp", *status)
		if err != nil {
			fmt.Fprintln(os.Stderr, "smtpsink:", err)
			os.Exit(1)
		}
		statusURL = "http://" + sl.Addr().String()
		h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(c.snapshot())
		})
		go func() { _ = (&http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}).Serve(sl) }()
	}
	fmt.Printf("smtp %s status %s\n", l.Addr(), statusURL)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	_ = srv.Close()
	b, _ := json.Marshal(c.snapshot())
	fmt.Println(string(b))
}
