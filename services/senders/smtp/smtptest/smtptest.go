// Package smtptest runs a real SMTP server (github.com/emersion/go-smtp) on
// 127.0.0.1 for tests: STARTTLS or implicit TLS with a certificate made for
// the test (its CA in Server.RootCAs), AUTH PLAIN, chosen answers per
// recipient (a 4xx, a 5xx), and every received message kept.
package smtptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// Options of a server.
type Options struct {
	TLS      string // "none", "starttls" (default) or "tls"
	Username string // "": no login required
	Password string
	// HangAfterData: the server stores a message, then waits this long
	// before it answers (a reply lost or late: the client cannot know)
	HangAfterData time.Duration
}

// Message is one received message.
type Message struct {
	From     string
	To       []string
	Data     []byte
	TLS      bool   // the session was encrypted
	User     string // who logged in
	Received time.Time
}

// Server is a running server, closed with the test.
type Server struct {
	Host    string
	Port    int
	RootCAs *x509.CertPool // trusts the server's certificate

	opts Options
	srv  *gosmtp.Server

	mu       sync.Mutex
	messages []Message
	answers  map[string]*gosmtp.SMTPError
	authTry  int
	drop     int
	conns    map[*gosmtp.Conn]bool
}

// Start runs a server until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.TLS == "" {
		opts.TLS = "starttls"
	}
	cert, pool := certificate(t)
	s := &Server{Host: "127.0.0.1", RootCAs: pool, opts: opts, answers: map[string]*gosmtp.SMTPError{}, conns: map[*gosmtp.Conn]bool{}}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.conns[c] = true
		return &session{s: s, conn: c, epoch: s.drop}, nil
	}))
	srv.Domain = "smtptest.local"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 10 << 20
	srv.AllowInsecureAuth = opts.TLS == "none"
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = quiet{}
	if opts.TLS != "none" {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	var l net.Listener
	var err error
	if opts.TLS == "tls" {
		l, err = tls.Listen("tcp", "127.0.0.1:0", srv.TLSConfig)
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	s.Port = l.Addr().(*net.TCPAddr).Port
	s.srv = srv
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// ClientTLS is a client configuration that trusts the server.
func (s *Server) ClientTLS() *tls.Config {
	return &tls.Config{RootCAs: s.RootCAs, MinVersion: tls.VersionTLS12}
}

// Answer makes RCPT TO addr answer code (e.g. 450 or 550) with msg; code 0
// removes the answer.
func (s *Server) Answer(addr string, code int, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == 0 {
		delete(s.answers, addr)
		return
	}
	enh := gosmtp.EnhancedCode{code / 100, 1, 1}
	s.answers[addr] = &gosmtp.SMTPError{Code: code, EnhancedCode: enh, Message: msg}
}

// Messages are the messages received so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Sessions is the number of connections the server accepted (a STARTTLS
// upgrade stays one).
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// AuthAttempts is the number of AUTH exchanges.
func (s *Server) AuthAttempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authTry
}

// CloseConnections drops every open connection (the server keeps listening):
// a kept-open client connection is then dead.
func (s *Server) CloseConnections() {
	// sessions opened before drop their connection at their next MAIL
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop++
}

type session struct {
	s     *Server
	conn  *gosmtp.Conn
	from  string
	to    []string
	user  string
	epoch int
}

func (se *session) dropped() bool {
	se.s.mu.Lock()
	defer se.s.mu.Unlock()
	if se.epoch != se.s.drop {
		_ = se.conn.Conn().Close()
		return true
	}
	return false
}

func (se *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (se *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		se.s.mu.Lock()
		se.s.authTry++
		se.s.mu.Unlock()
		if username != se.s.opts.Username || password != se.s.opts.Password || se.s.opts.Username == "" {
			return gosmtp.ErrAuthFailed
		}
		se.user = username
		return nil
	}), nil
}

func (se *session) Mail(from string, _ *gosmtp.MailOptions) error {
	if se.dropped() {
		return errors.New("dropped")
	}
	if se.s.opts.Username != "" && se.user == "" {
		return gosmtp.ErrAuthRequired
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	se.s.mu.Lock()
	a := se.s.answers[to]
	se.s.mu.Unlock()
	if a != nil {
		return a
	}
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := se.conn.TLSConnectionState()
	se.s.mu.Lock()
	defer se.s.mu.Unlock()
	se.s.messages = append(se.s.messages, Message{From: se.from, To: append([]string(nil), se.to...), Data: b,
		TLS: isTLS, User: se.user, Received: time.Now()})
	if d := se.s.opts.HangAfterData; d > 0 {
		se.s.mu.Unlock()
		time.Sleep(d)
		se.s.mu.Lock()
	}
	return nil
}

func (se *session) Reset() { se.from, se.to = "", nil }

func (se *session) Logout() error { return nil }

type quiet struct{}

func (quiet) Printf(string, ...any) {}
func (quiet) Println(...any)        {}

// certificate makes a self-signed certificate for 127.0.0.1 and localhost.
func certificate(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
