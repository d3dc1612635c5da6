package smtp

import (
	"bytes"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/services/senders"
)

// brokenConn takes limit bytes, then fails every write (after writing what
// still fits, as a TCP connection does when it breaks mid-write); reads
// answer from replies.
type brokenConn struct {
	net.Conn
	limit   int
	written bytes.Buffer
	replies *strings.Reader
}

var errBroken = errors.New("connection reset by peer")

func (c *brokenConn) Write(p []byte) (int, error) {
	room := c.limit - c.written.Len()
	if room >= len(p) {
		return c.written.Write(p)
	}
	c.written.Write(p[:max(0, room)])
	return max(0, room), errBroken
}

func (c *brokenConn) Read(p []byte) (int, error)       { return c.replies.Read(p) }
func (c *brokenConn) SetDeadline(time.Time) error      { return nil }
func (c *brokenConn) SetReadDeadline(time.Time) error  { return nil }
func (c *brokenConn) SetWriteDeadline(time.Time) error { return nil }
func (c *brokenConn) Close() error                     { return nil }
func (c *brokenConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }

// A write that breaks after the whole chunk went out, with the next
// envelope behind it unwritten: the server may have the message, so it is
// unknown, never retried; one that breaks inside the chunk is a plain
// failure (the server cannot have taken a part of a chunk).
func TestChainedWriteBrokenAfterTheChunk(t *testing.T) {
	msg := bytes.Repeat([]byte("hello\r\n"), 100)
	chunkEnd := len("BDAT "+strconv.Itoa(len(msg))+" LAST\r\n") + len(msg)
	next := &envelopeOf{from: "a@shop.example", to: "b@example.org", size: 10}
	for _, tc := range []struct {
		name    string
		limit   int
		unknown bool
	}{
		{"all of the chunk written", chunkEnd, true},
		{"the chunk and part of the envelope", chunkEnd + 5, true},
		{"part of the chunk", chunkEnd / 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := &brokenConn{limit: tc.limit, replies: strings.NewReader("250 ok\r\n250 ok\r\n")}
			c := newClient(conn, conn, time.Second)
			c.ext = map[string]string{"PIPELINING": "", "CHUNKING": ""}
			started, chained, err := c.sendChained(msg, next)
			if !started || chained || err == nil {
				t.Fatalf("started %v chained %v err %v", started, chained, err)
			}
			if senders.IsUnknown(err) != tc.unknown {
				t.Fatalf("unknown %v, want %v: %v", senders.IsUnknown(err), tc.unknown, err)
			}
		})
	}
}
