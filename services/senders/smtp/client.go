package smtp

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/pi-crm/pi-crm/services/senders"
)

// client is one SMTP connection. It is written on net/textproto rather than
// go-smtp's client, which sends one command per round trip and dot-stuffs
// DATA byte by byte: it has neither PIPELINING (RFC 2920) nor CHUNKING (RFC
// 3030, its issue #81, open since 2019), and neither has the standard
// library's net/smtp. With both, a message is two round trips — the
// envelope (MAIL and RCPT in one write), then the message as built in one
// "BDAT <size> LAST" chunk — instead of four, and is written as it is. A
// server without them gets the classic exchange: a command at a time, DATA
// dot-stuffed.
//
// BDAT is sent only once RCPT is accepted, never pipelined behind it: RFC
// 3030 obliges a server to read and drop the chunk of a refused BDAT, but a
// server that fails to (go-smtp's own did until recently, its issue #315)
// would read the message as commands. What may follow a chunk in its write
// is the next message's envelope (sendChained): one round trip a message.
type client struct {
	bottom  net.Conn // the TCP connection (closing it ends a TLS one too)
	conn    net.Conn // the connection spoken on: TLS after STARTTLS
	r       *textproto.Reader
	w       *bufio.Writer
	ext     map[string]string // EHLO keywords (upper case) → their parameters
	timeout time.Duration
}

// ReplyError is a reply of the server refusing a command.
type ReplyError struct {
	Command string // the command refused, without its arguments ("RCPT")
	Code    int
	Message string
}

func (e *ReplyError) Error() string {
	return fmt.Sprintf("smtp: %s: %d %s", e.Command, e.Code, e.Message)
}

// writeBuffer holds a whole usual message, so that a chunk's command and
// its message leave in one write.
const writeBuffer = 32 << 10

func newClient(bottom, conn net.Conn, timeout time.Duration) *client {
	return &client{bottom: bottom, conn: conn, r: textproto.NewReader(bufio.NewReader(conn)),
		w: bufio.NewWriterSize(conn, writeBuffer), timeout: timeout}
}

// startClient reads the greeting, says EHLO, upgrades with STARTTLS when
// tlsCfg is set, and logs in when username is set.
func startClient(ctx context.Context, raw net.Conn, localName string, startTLS *tls.Config, username, password string, timeout time.Duration) (*client, error) {
	c := newClient(raw, raw, timeout)
	c.deadline(1)
	if _, err := c.expect("greeting", 2); err != nil {
		return nil, err
	}
	if err := c.hello(localName); err != nil {
		return nil, err
	}
	if startTLS != nil {
		if _, ok := c.ext["STARTTLS"]; !ok {
			return nil, senders.Permanent(fmt.Errorf("smtp: %s does not offer STARTTLS (set tls to \"tls\" for port 465, or \"none\")", raw.RemoteAddr()))
		}
		if err := c.command("STARTTLS", "STARTTLS", 2); err != nil {
			return nil, err
		}
		tc := tls.Client(raw, startTLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, err
		}
		*c = *newClient(raw, tc, timeout)
		c.deadline(1)
		if err := c.hello(localName); err != nil {
			return nil, err
		}
	}
	if username != "" {
		if err := c.auth(username, password); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// deadline bounds what follows by n command timeouts.
func (c *client) deadline(n int) {
	_ = c.conn.SetDeadline(time.Now().Add(time.Duration(n) * c.timeout))
}

// expect reads one reply and checks its class (2: 2xx, 3: 3xx).
func (c *client) expect(cmd string, class int) (string, error) {
	code, msg, err := c.r.ReadResponse(0)
	if err != nil {
		return "", err
	}
	if code/100 != class {
		return "", &ReplyError{Command: cmd, Code: code, Message: msg}
	}
	return msg, nil
}

// command writes one line and reads its reply.
func (c *client) command(name, line string, class int) error {
	if err := c.line(line); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	_, err := c.expect(name, class)
	return err
}

func (c *client) line(s string) error {
	if strings.ContainsAny(s, "\r\n") {
		return senders.Permanent(fmt.Errorf("smtp: a line break in %q", s))
	}
	_, err := c.w.WriteString(s + "\r\n")
	return err
}

func (c *client) hello(name string) error {
	if err := c.line("EHLO " + name); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	msg, err := c.expect("EHLO", 2)
	if err != nil {
		return err
	}
	c.ext = map[string]string{}
	for i, l := range strings.Split(msg, "\n") {
		if i == 0 { // the server's name
			continue
		}
		k, v, _ := strings.Cut(strings.TrimSpace(l), " ")
		c.ext[strings.ToUpper(k)] = v
	}
	return nil
}

func (c *client) auth(username, password string) error {
	mechs, ok := c.ext["AUTH"]
	if !ok {
		return senders.Permanent(fmt.Errorf("smtp: %s offers no AUTH, but a username is set", c.conn.RemoteAddr()))
	}
	if !strings.Contains(" "+strings.ToUpper(mechs)+" ", " PLAIN ") {
		return senders.Permanent(fmt.Errorf("smtp: %s offers AUTH %s, not PLAIN", c.conn.RemoteAddr(), mechs))
	}
	_, ir, err := sasl.NewPlainClient("", username, password).Start()
	if err != nil {
		return err
	}
	resp := base64.StdEncoding.EncodeToString(ir)
	if err := c.line("AUTH PLAIN " + resp); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	code, msg, err := c.r.ReadResponse(0)
	if err == nil && code == 334 { // a server that asks for the response after an empty challenge
		if err = c.line(resp); err == nil {
			err = c.w.Flush()
		}
		if err == nil {
			code, msg, err = c.r.ReadResponse(0)
		}
	}
	if err != nil {
		return err
	}
	if code/100 != 2 {
		return authError(&ReplyError{Command: "AUTH", Code: code, Message: msg})
	}
	return nil
}

// send runs one transaction. started reports whether the server accepted
// the envelope (from then on the transaction is underway and must not be
// repeated blindly). A reply lost after the whole message was written is
// senders.Unknown: the server may have taken it.
func (c *client) send(from, to string, msg []byte, utf8 bool) (started bool, err error) {
	if err := c.writeEnvelope(envelopeOf{from: from, to: to, size: len(msg), utf8: utf8}); err != nil {
		return false, err
	}
	if started, err := c.envelopeReplies(); err != nil {
		return started, err
	}
	c.deadline(2)
	if _, chunking := c.ext["CHUNKING"]; chunking {
		c.chunk(msg)
	} else {
		if err := c.command("DATA", "DATA", 3); err != nil {
			return true, err
		}
		dw := textproto.NewWriter(c.w).DotWriter()
		if _, err := dw.Write(msg); err != nil {
			return true, err
		}
		// Close writes the final "." and flushes; a failure stays in the
		// buffer's error, with what it left unwritten, for flushData
		_ = dw.Close()
	}
	if err := c.flushData(0); err != nil {
		return true, err
	}
	return true, c.dataReply()
}

// chains reports whether the server lets a message's chunk and the next
// message's envelope go in one write (sendChained): PIPELINING (RFC 2920)
// and CHUNKING (RFC 3030) both offered.
func (c *client) chains() bool {
	_, pipelining := c.ext["PIPELINING"]
	_, chunking := c.ext["CHUNKING"]
	return pipelining && chunking
}

// envelope writes MAIL FROM (with SMTPUTF8 and SIZE where they apply) and,
// with PIPELINING, RCPT TO behind it, unflushed; without PIPELINING it
// flushes MAIL and reads its reply first. envelopeReplies reads the rest.
func (c *client) envelope(e envelopeOf) error {
	mail, rcpt, err := c.envelopeLines(e)
	if err != nil {
		return err
	}
	_, _ = c.w.WriteString(mail)
	if _, pipelining := c.ext["PIPELINING"]; !pipelining {
		if err := c.w.Flush(); err != nil {
			return err
		}
		if _, err := c.expect("MAIL", 2); err != nil {
			return err
		}
	}
	_, err = c.w.WriteString(rcpt)
	return err
}

// envelopeLines are an envelope's MAIL and RCPT lines, CRLF included, or
// the permanent error that keeps it from being sent.
func (c *client) envelopeLines(e envelopeOf) (mail, rcpt string, err error) {
	mail = "MAIL FROM:<" + e.from + ">"
	if e.utf8 {
		if _, ok := c.ext["SMTPUTF8"]; !ok {
			return "", "", senders.Permanent(unsendable{errors.New("smtp: the server does not take non-ASCII addresses (no SMTPUTF8)")})
		}
		mail += " SMTPUTF8"
	}
	if _, ok := c.ext["SIZE"]; ok {
		mail += " SIZE=" + strconv.Itoa(e.size)
	}
	rcpt = "RCPT TO:<" + e.to + ">"
	for _, l := range []string{mail, rcpt} {
		if strings.ContainsAny(l, "\r\n") {
			return "", "", senders.Permanent(unsendable{fmt.Errorf("smtp: a line break in %q", l)})
		}
	}
	return mail + "\r\n", rcpt + "\r\n", nil
}

// unsendable is an envelope refused before anything of it was written: the
// connection is as good as before.
type unsendable struct{ error }

func (u unsendable) Unwrap() error { return u.error }

func isUnsendable(err error) bool {
	var u unsendable
	return errors.As(err, &u)
}

// envelopeReplies reads the replies to what envelope wrote (MAIL's too when
// pipelined). started: the server took MAIL, so a transaction is open.
func (c *client) envelopeReplies() (started bool, err error) {
	if _, pipelining := c.ext["PIPELINING"]; pipelining {
		_, mailErr := c.expect("MAIL", 2)
		var re *ReplyError
		if mailErr != nil && !errors.As(mailErr, &re) {
			return false, mailErr // the connection: RCPT's reply will not come
		}
		if _, rcptErr := c.expect("RCPT", 2); mailErr != nil || rcptErr != nil {
			if mailErr != nil {
				return false, mailErr
			}
			return true, rcptErr
		}
		return true, nil
	}
	if _, err := c.expect("RCPT", 2); err != nil {
		return true, err
	}
	return true, nil
}

// chunk writes msg as one BDAT LAST chunk, unflushed (the buffer's errors
// come back from its Flush).
func (c *client) chunk(msg []byte) {
	_, _ = c.w.WriteString("BDAT " + strconv.Itoa(len(msg)) + " LAST\r\n")
	_, _ = c.w.Write(msg)
}

// dataReply reads the reply to a message's data. A server accepts the
// message at the end of its data, so a connection lost (or a timeout) while
// it answers may leave it accepted: senders.Unknown.
func (c *client) dataReply() error {
	if _, err := c.expect("DATA", 2); err != nil {
		var re *ReplyError
		if !errors.As(err, &re) {
			return senders.Unknown(err)
		}
		return err
	}
	return nil
}

// envelopeOf is a message's envelope, for sendChained.
type envelopeOf struct {
	from, to string
	size     int
	utf8     bool
}

// sendChained sends a message whose envelope is already written and flushed
// (by writeEnvelope, or by the sendChained before it), on a server that chains:
// it reads the envelope's replies and only then, when both were accepted,
// writes the message as one chunk with the next message's envelope behind
// it in the same write (when next is not nil), and reads the chunk's reply.
// That is one round trip a message instead of send's two. The chunk still
// never goes out before its own recipient is accepted (see client), so a
// server that would misread a refused chunk never gets one.
//
// started is send's; chained reports that next's envelope went out, so its
// replies are pending (the next sendChained, or abandonChain, reads them).
func (c *client) sendChained(msg []byte, next *envelopeOf) (started, chained bool, err error) {
	c.deadline(1)
	if started, err := c.envelopeReplies(); err != nil {
		return started, false, err
	}
	var mail, rcpt string
	if next != nil {
		// an envelope that cannot be sent is not chained: its message goes
		// the plain way, which reports why
		if mail, rcpt, err = c.envelopeLines(*next); err != nil {
			next = nil
		}
	}
	c.deadline(2)
	c.chunk(msg)
	if next != nil {
		_, _ = c.w.WriteString(mail)
		_, _ = c.w.WriteString(rcpt)
	}
	behind := 0
	if next != nil {
		behind = len(mail) + len(rcpt)
	}
	if err := c.flushData(behind); err != nil {
		return true, false, err
	}
	return true, next != nil, c.dataReply()
}

// flushData flushes the end of a message's data, with behind bytes of the
// next envelope after it. A failed write may still have written all of the
// data (only the envelope behind it missing, or a write that wrote every
// byte and failed anyway), and the server may then have the message:
// senders.Unknown. bufio.Writer keeps what it could not write, so only
// when that reaches into the data is the message certainly incomplete (a
// plain error: the server cannot have taken it). An error while the data
// was being written, before this flush, leaves nothing to tell by and
// counts as possibly sent too.
func (c *client) flushData(behind int) error {
	err := c.w.Flush()
	if err != nil && c.w.Buffered() <= behind {
		return senders.Unknown(err)
	}
	return err
}

// writeEnvelope writes and flushes an envelope, bounded by one command
// timeout: send's first step, and the first envelope of a chain.
func (c *client) writeEnvelope(e envelopeOf) error {
	c.deadline(1)
	if err := c.envelope(e); err != nil {
		return err
	}
	return c.w.Flush()
}

// abandonChain reads the replies to an envelope written ahead and resets
// its transaction, so that the connection can serve another message.
func (c *client) abandonChain() error {
	c.deadline(1)
	if _, err := c.envelopeReplies(); err != nil {
		var re *ReplyError
		if !errors.As(err, &re) {
			return err
		}
	}
	return c.reset()
}

// reset ends a refused transaction, keeping the connection.
func (c *client) reset() error {
	c.deadline(1)
	return c.command("RSET", "RSET", 2)
}

// quit says goodbye and closes.
func (c *client) quit() {
	c.deadline(1)
	_ = c.command("QUIT", "QUIT", 2)
	c.close()
}

func (c *client) close() { _ = c.bottom.Close() }
