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
// would read the message as commands.
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
	mail := "MAIL FROM:<" + from + ">"
	if utf8 {
		if _, ok := c.ext["SMTPUTF8"]; !ok {
			return false, senders.Permanent(errors.New("smtp: the server does not take non-ASCII addresses (no SMTPUTF8)"))
		}
		mail += " SMTPUTF8"
	}
	if _, ok := c.ext["SIZE"]; ok {
		mail += " SIZE=" + strconv.Itoa(len(msg))
	}
	_, pipelining := c.ext["PIPELINING"]
	c.deadline(1)
	if err := c.line(mail); err != nil {
		return false, err
	}
	if !pipelining {
		if err := c.w.Flush(); err != nil {
			return false, err
		}
		if _, err := c.expect("MAIL", 2); err != nil {
			return false, err
		}
	}
	if err := c.line("RCPT TO:<" + to + ">"); err != nil {
		return false, err
	}
	if err := c.w.Flush(); err != nil {
		return false, err
	}
	if pipelining {
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
	} else if _, err := c.expect("RCPT", 2); err != nil {
		return true, err
	}

	c.deadline(2)
	if _, chunking := c.ext["CHUNKING"]; chunking {
		if _, err := c.w.WriteString("BDAT " + strconv.Itoa(len(msg)) + " LAST\r\n"); err != nil {
			return true, err
		}
		if _, err := c.w.Write(msg); err != nil {
			return true, err
		}
	} else {
		if err := c.command("DATA", "DATA", 3); err != nil {
			return true, err
		}
		dw := textproto.NewWriter(c.w).DotWriter()
		if _, err := dw.Write(msg); err != nil {
			return true, err
		}
		// Close writes the final "." (and flushes)
		if err := dw.Close(); err != nil {
			return true, err
		}
	}
	if err := c.w.Flush(); err != nil {
		return true, err
	}
	// a server accepts the message at the end of its data, so a connection
	// lost (or a timeout) while it answers may leave it accepted
	if _, err := c.expect("DATA", 2); err != nil {
		var re *ReplyError
		if !errors.As(err, &re) {
			return true, senders.Unknown(err)
		}
		return true, err
	}
	return true, nil
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
