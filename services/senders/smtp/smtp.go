// Package smtp is the SMTP sender: one rendered message per delivery over a
// small pool of kept-open connections (STARTTLS, implicit TLS or none, AUTH
// PLAIN), each message multipart/alternative text + HTML with RFC 2047
// encoded words where a header is not ASCII.
//
// The transport is our own small client (client.go, on net/textproto)
// rather than PocketBase's tools/mailer or go-smtp's client: the mailer
// (mailyak) dials, authenticates and quits for every message, takes no CA
// pool for STARTTLS, and hands back errors without their SMTP code, which
// the engine's retries need (4xx temporary, 5xx permanent); go-smtp's client
// has neither PIPELINING nor CHUNKING (see client.go). The message itself is written with the
// standard library (mime, mime/multipart, mime/quotedprintable).
package smtp

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/senders/mimemsg"
)

// Name is the provider's name.
const Name = "smtp"

// TLS modes.
const (
	TLSNone     = "none"     // plain SMTP (a relay on the LAN)
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS, required (port 587)
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
)

// DefaultPort is the usual port of a TLS mode.
func DefaultPort(mode string) int {
	switch mode {
	case TLSImplicit:
		return 465
	case TLSNone:
		return 25
	default:
		return 587
	}
}

// Config is what a connection needs.
type Config struct {
	Host     string
	Port     int
	TLS      string // TLSNone, TLSStartTLS (default), TLSImplicit
	Username string // "" : no AUTH
	Password string
	From     string // "Name <addr>" or addr: the From header and envelope sender when a message has none
	ReplyTo  string

	// Concurrency is the number of connections kept (and sends at once); ≥ 1.
	Concurrency int
	// TLSConfig is the base TLS configuration (nil: the system's roots). Tests
	// pass one with their own RootCAs; ServerName is set from Host.
	TLSConfig *tls.Config
	// Timeout bounds each SMTP command and the dial (0: 30 s).
	Timeout time.Duration
	// LocalName is the name said in EHLO (""; the From domain).
	LocalName string
	// IdleCheck: a connection idle longer than this is checked with RSET
	// before it is reused (0: 10 s).
	IdleCheck time.Duration
}

// Sender is the SMTP sender. It is safe for concurrent use; at most
// Concurrency sends run at once, each on a connection of its own.
type Sender struct {
	cfg     Config
	addr    string
	tls     *tls.Config
	from    *mail.Address
	replyTo *mail.Address

	slots chan struct{}
	idle  chan *conn

	mu     sync.Mutex
	closed bool
}

type conn struct {
	c        *client
	raw      net.Conn
	lastUsed time.Time
}

// New checks cfg and returns a sender; it dials nothing until the first Send.
func New(cfg Config) (*Sender, error) {
	if cfg.Host == "" {
		return nil, errors.New("smtp: no host")
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	switch cfg.TLS {
	case TLSNone, TLSStartTLS, TLSImplicit:
	default:
		return nil, fmt.Errorf("smtp: tls must be none, starttls or tls, not %q", cfg.TLS)
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort(cfg.TLS)
	}
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.IdleCheck <= 0 {
		cfg.IdleCheck = 10 * time.Second
	}
	s := &Sender{cfg: cfg, addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
		slots: make(chan struct{}, cfg.Concurrency), idle: make(chan *conn, cfg.Concurrency)}
	if cfg.From != "" {
		a, err := mail.ParseAddress(cfg.From)
		if err != nil {
			return nil, fmt.Errorf("smtp: from %q: %w", cfg.From, err)
		}
		s.from = a
	}
	if cfg.ReplyTo != "" {
		a, err := mail.ParseAddress(cfg.ReplyTo)
		if err != nil {
			return nil, fmt.Errorf("smtp: reply_to %q: %w", cfg.ReplyTo, err)
		}
		s.replyTo = a
	}
	if cfg.TLSConfig != nil {
		s.tls = cfg.TLSConfig.Clone()
	} else {
		s.tls = &tls.Config{}
	}
	if s.tls.ServerName == "" {
		s.tls.ServerName = cfg.Host
	}
	if s.tls.MinVersion == 0 {
		s.tls.MinVersion = tls.VersionTLS12
	}
	if s.cfg.LocalName == "" {
		s.cfg.LocalName = "localhost"
		if s.from != nil {
			if d := domainOf(s.from.Address); d != "" {
				s.cfg.LocalName = d
			}
		}
	}
	return s, nil
}

// Name is "smtp".
func (s *Sender) Name() string { return Name }

// Channel is "email".
func (s *Sender) Channel() string { return "email" }

// Close quits every idle connection; connections in use are closed when
// their send ends. Later sends fail.
func (s *Sender) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	for {
		select {
		case c := <-s.idle:
			c.quit()
		default:
			return nil
		}
	}
}

var errClosed = errors.New("smtp: sender closed")

var messageBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// putMessageBuffer keeps buffers of usual messages only: one huge message
// must not stay in the pool.
func putMessageBuffer(b *bytes.Buffer) {
	if b.Cap() <= 256<<10 {
		messageBuffers.Put(b)
	}
}

// Send delivers m: MAIL FROM the from address, RCPT TO m.To, DATA the
// message. The result's ProviderMessageID is the Message-ID (without angle
// brackets). Errors are classified for the engine: an SMTP 4xx answer or a
// network failure is senders.Temporary, a 5xx answer (an unknown user, a
// refused login) or a message that cannot be built is senders.Permanent.
func (s *Sender) Send(ctx context.Context, m senders.Message) (senders.Result, error) {
	p, err := s.prepare(m)
	if err != nil {
		return senders.Result{}, err
	}
	defer p.free()
	if err := s.takeSlot(ctx); err != nil {
		return senders.Result{}, err
	}
	defer func() { <-s.slots }()
	return s.sendHeld(ctx, p)
}

// prepared is a message built for the wire.
type prepared struct {
	env envelopeOf
	id  string // its Message-ID, without angle brackets
	msg []byte
	buf *bytes.Buffer
}

// prepare builds m: the message lives until its transaction has written it,
// and its buffer is then kept for the next send (free; a message is a
// send's largest allocation).
func (s *Sender) prepare(m senders.Message) (*prepared, error) {
	env, err := mimemsg.EnvelopeOf("smtp", m, s.from, s.replyTo)
	if err != nil {
		return nil, err
	}
	buf := messageBuffers.Get().(*bytes.Buffer)
	msg, err := build(buf, m, env.From, env.To, env.ReplyTo, env.ID, time.Now())
	if err != nil {
		putMessageBuffer(buf)
		return nil, senders.Permanent(err)
	}
	utf8 := !isASCII(env.From.Address) || !isASCII(env.To.Address)
	return &prepared{env: envelopeOf{from: env.From.Address, to: env.To.Address, size: len(msg), utf8: utf8},
		id: env.ID, msg: msg, buf: buf}, nil
}

func (p *prepared) free() { putMessageBuffer(p.buf) }

// takeSlot waits for one of the Concurrency sends.
func (s *Sender) takeSlot(ctx context.Context) error {
	select {
	case s.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return senders.Temporary(ctx.Err(), 0)
	}
}

// sendHeld is Send once its slot is taken.
func (s *Sender) sendHeld(ctx context.Context, p *prepared) (senders.Result, error) {
	for attempt := 0; ; attempt++ {
		c, reused, err := s.get(ctx)
		if err != nil {
			return senders.Result{}, classify(err)
		}
		stop := context.AfterFunc(ctx, func() { _ = c.raw.Close() })
		started, err := c.send(p.env.from, p.env.to, p.msg, p.env.utf8)
		interrupted := !stop()
		if err != nil && interrupted {
			err = errors.Join(ctx.Err(), err)
		}
		if err == nil {
			s.put(c)
			return senders.Result{ProviderMessageID: p.id}, nil
		}
		if isUnsendable(err) && !interrupted { // nothing went out: neither the connection nor another one can help
			s.put(c)
			return senders.Result{}, err
		}
		s.keepAfterRefusal(c, err, interrupted)
		// a kept connection the server had dropped (or closes with 421):
		// nothing of the message was sent yet, so once more on a new one
		var se *ReplyError
		isReply := errors.As(err, &se)
		if reused && !started && attempt == 0 && !interrupted && (!isReply || se.Code == 421) && !senders.IsUnknown(err) {
			continue
		}
		return senders.Result{}, classify(err)
	}
}

// keepAfterRefusal puts c back after a failed transaction when the server
// refused the message and the connection is still good once reset; it
// closes it otherwise (the connection failed, the outcome is unknown, the
// server closes with 421, or the context cut it).
func (s *Sender) keepAfterRefusal(c *conn, err error, interrupted bool) {
	var se *ReplyError
	if !senders.IsUnknown(err) && errors.As(err, &se) && !interrupted && se.Code != 421 && c.c.reset() == nil {
		s.put(c)
		return
	}
	c.close()
}

// SendChain sends ms in order over one connection (senders.ChainSender),
// each message's envelope written behind the message before it
// (client.sendChained): one round trip a message instead of two, which
// halves the wait on every message over a real network, and the system
// calls and wake-ups of both ends over loopback. A server without
// PIPELINING and CHUNKING, and the messages after a refusal or a lost
// connection, get Send's exchange one by one. done is told each message's
// outcome as it is known, in order; when it answers false no further
// message is sent (nor its data written) and SendChain returns.
func (s *Sender) SendChain(ctx context.Context, ms []senders.Message, done func(i int, r senders.Result, err error) bool) {
	if len(ms) == 0 {
		return
	}
	if err := s.takeSlot(ctx); err != nil {
		for i := range ms {
			if !done(i, senders.Result{}, err) {
				return
			}
		}
		return
	}
	defer func() { <-s.slots }()
	preps := make([]*prepared, len(ms))
	errs := make([]error, len(ms))
	defer func() {
		for _, p := range preps {
			if p != nil {
				p.free()
			}
		}
	}()
	prep := func(i int) {
		if preps[i] == nil && errs[i] == nil {
			preps[i], errs[i] = s.prepare(ms[i])
		}
	}
	// tell is done, once message i's buffer is back in the pool
	tell := func(i int, r senders.Result, err error) bool {
		if preps[i] != nil {
			preps[i].free()
			preps[i] = nil
		}
		return done(i, r, err)
	}
	// one by one from i on: Send's exchange
	plain := func(i int) {
		for ; i < len(ms); i++ {
			prep(i)
			var r senders.Result
			err := errs[i]
			if err == nil {
				r, err = s.sendHeld(ctx, preps[i])
			}
			if !tell(i, r, err) {
				return
			}
		}
	}
	prep(0)
	if errs[0] != nil {
		if tell(0, senders.Result{}, errs[0]) {
			plain(1)
		}
		return
	}
	c, reused, err := s.get(ctx)
	if err != nil {
		plain(0) // Send's connection, and its errors, message by message
		return
	}
	if !c.c.chains() || len(ms) == 1 {
		s.put(c)
		plain(0)
		return
	}
	stop := context.AfterFunc(ctx, func() { _ = c.raw.Close() })
	if err := c.c.writeEnvelope(preps[0].env); err != nil {
		stop()
		if isUnsendable(err) && ctx.Err() == nil {
			s.put(c) // nothing of it was written
		} else {
			c.close()
		}
		plain(0) // message 0 the plain way, which reports or retries it as Send does
		return
	}
	// at each turn message i's envelope is out and its replies are due
	for i := 0; ; i++ {
		var next *envelopeOf
		if i+1 < len(ms) {
			if prep(i + 1); errs[i+1] == nil {
				next = &preps[i+1].env
			}
		}
		started, chained, err := c.c.sendChained(preps[i].msg, next)
		if err == nil {
			more := tell(i, senders.Result{ProviderMessageID: preps[i].id}, nil)
			switch {
			case chained && more:
				continue
			case chained: // told to stop: the envelope written ahead is withdrawn
				stop()
				if c.c.abandonChain() == nil {
					s.put(c)
				} else {
					c.close()
				}
			default: // i was the last, or the next one cannot be chained
				stop()
				s.put(c)
				if more {
					plain(i + 1)
				}
			}
			return
		}
		stop()
		interrupted := ctx.Err() != nil
		if interrupted {
			err = errors.Join(ctx.Err(), err)
		}
		var se *ReplyError
		isReply := errors.As(err, &se)
		if !started && !interrupted && (!isReply || se.Code == 421) && (reused || i > 0) {
			// the server dropped (or closes with 421) a connection that had
			// served: nothing of message i went out, so the plain way dials
			// again for it, as Send does
			c.close()
			plain(i)
			return
		}
		if isReply && se.Code != 421 && !interrupted {
			// refused: the connection is good once what was written ahead is
			// answered and the transaction reset
			settle := c.c.reset
			if chained {
				settle = c.c.abandonChain
			}
			if settle() == nil {
				s.put(c)
			} else {
				c.close()
			}
		} else {
			c.close()
		}
		if tell(i, senders.Result{}, classify(err)) {
			plain(i + 1)
		}
		return
	}
}

// get takes an idle connection (checked when it idled long) or dials one.
func (s *Sender) get(ctx context.Context) (*conn, bool, error) {
	for {
		select {
		case c := <-s.idle:
			if time.Since(c.lastUsed) > s.cfg.IdleCheck {
				if err := c.c.reset(); err != nil {
					c.close()
					continue
				}
			}
			return c, true, nil
		default:
		}
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return nil, false, senders.Permanent(errClosed)
		}
		c, err := s.dial(ctx)
		return c, false, err
	}
}

func (s *Sender) put(c *conn) {
	c.lastUsed = time.Now()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		c.quit()
		return
	}
	select {
	case s.idle <- c:
	default:
		c.quit()
	}
}

// dial connects, says EHLO, upgrades with STARTTLS when asked and logs in.
func (s *Sender) dial(ctx context.Context) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	d := &net.Dialer{}
	var raw net.Conn
	var err error
	if s.cfg.TLS == TLSImplicit {
		raw, err = (&tls.Dialer{NetDialer: d, Config: s.tls}).DialContext(ctx, "tcp", s.addr)
	} else {
		raw, err = d.DialContext(ctx, "tcp", s.addr)
	}
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
	defer stop()
	var startTLS *tls.Config
	if s.cfg.TLS == TLSStartTLS {
		startTLS = s.tls
	}
	c, err := startClient(ctx, raw, s.cfg.LocalName, startTLS, s.cfg.Username, s.cfg.Password, s.cfg.Timeout)
	if err != nil {
		_ = raw.Close()
		if ctx.Err() != nil {
			return nil, errors.Join(ctx.Err(), err)
		}
		return nil, err
	}
	return &conn{c: c, raw: raw, lastUsed: time.Now()}, nil
}

// send runs one transaction (client.send).
func (c *conn) send(from, to string, msg []byte, utf8 bool) (started bool, err error) {
	return c.c.send(from, to, msg, utf8)
}

func (c *conn) quit() { c.c.quit() }

func (c *conn) close() { c.c.close() }

// ---------------------------------------------------------------------------
// errors

// classify turns a transport error into the engine's classes.
func classify(err error) error {
	var se *senders.Error
	if errors.As(err, &se) {
		return err
	}
	var smtpErr *ReplyError
	if errors.As(err, &smtpErr) {
		if smtpErr.Code >= 500 {
			return senders.Permanent(err)
		}
		return senders.Temporary(err, 0)
	}
	var verify *tls.CertificateVerificationError
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	if errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) {
		// the server's certificate does not check: a set-up to fix, not a
		// moment to wait out
		return senders.Permanent(fmt.Errorf("smtp: the server's TLS certificate is not trusted: %w", err))
	}
	return senders.Temporary(err, 0)
}

// authError: a refused login is permanent whatever its code (535, or a 454
// "temporary authentication failure" is the one exception).
func authError(err error) error {
	var smtpErr *ReplyError
	if errors.As(err, &smtpErr) && smtpErr.Code >= 400 && smtpErr.Code < 500 {
		return senders.Temporary(fmt.Errorf("smtp: login: %w", err), 0)
	}
	if errors.As(err, &smtpErr) {
		return senders.Permanent(fmt.Errorf("smtp: login refused (check username and password): %w", err))
	}
	return err
}

// ---------------------------------------------------------------------------

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
