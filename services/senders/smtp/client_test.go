package smtp_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/senders/smtp"
)

// scripted is an SMTP server that writes down the exchange as it happened:
// the commands in order, the message bytes received, and whether MAIL and
// RCPT arrived together. It answers MAIL only once it holds RCPT when it
// offers PIPELINING, so a client that waits for MAIL's reply before it
// sends RCPT hangs (and fails on its timeout) instead of passing.
type scripted struct {
	ln     net.Listener
	ext    []string
	refuse map[string]int // RCPT address → reply code
	// refuseData: the chunk of a message to this address gets this reply;
	// dropData: the connection closes once that message's chunk is read,
	// unanswered
	refuseData map[string]int
	dropData   map[string]bool
	mu         sync.Mutex
	commands   []string
	data       [][]byte
}

func startScripted(t *testing.T, ext ...string) *scripted {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scripted{ln: ln, ext: ext, refuse: map[string]int{}, refuseData: map[string]int{}, dropData: map[string]bool{}}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *scripted) has(ext string) bool {
	for _, e := range s.ext {
		if e == ext {
			return true
		}
	}
	return false
}

func (s *scripted) note(cmd string) {
	s.mu.Lock()
	s.commands = append(s.commands, cmd)
	s.mu.Unlock()
}

func (s *scripted) serve(c net.Conn) {
	defer func() { _ = c.Close() }()
	r := bufio.NewReader(c)
	say := func(line string) { _, _ = io.WriteString(c, line+"\r\n") }
	say("220 scripted ready")
	var pendingMail, rcptBuffered, afterChunk bool
	var rcpt string
	ok := true
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return
		}
		l = strings.TrimRight(l, "\r\n")
		verb := strings.ToUpper(strings.Fields(l + " x")[0])
		switch verb {
		case "EHLO":
			s.note("EHLO")
			lines := append([]string{"scripted"}, s.ext...)
			for i, e := range lines {
				sep := "-"
				if i == len(lines)-1 {
					sep = " "
				}
				say("250" + sep + e)
			}
		case "MAIL":
			// [chained]: it came in the write of the chunk before it
			s.note(l + map[bool]string{true: " [chained]", false: ""}[afterChunk])
			afterChunk = false
			ok = true
			if s.has("PIPELINING") {
				pendingMail, rcptBuffered = true, r.Buffered() > 0 // answered with RCPT's
				continue
			}
			say("250 ok")
		case "RCPT":
			together := pendingMail && rcptBuffered
			s.note(l + map[bool]string{true: " [pipelined]", false: ""}[together])
			if pendingMail {
				say("250 ok")
				pendingMail = false
			}
			addr := strings.TrimSuffix(strings.TrimPrefix(l, "RCPT TO:<"), ">")
			rcpt = addr
			if code := s.refuse[addr]; code != 0 {
				ok = false
				say(strconv.Itoa(code) + " no such user")
				continue
			}
			say("250 ok")
		case "BDAT":
			s.note(l)
			f := strings.Fields(l)
			n, _ := strconv.Atoi(f[1])
			b := make([]byte, n)
			if _, err := io.ReadFull(r, b); err != nil {
				return
			}
			afterChunk = r.Buffered() > 0
			if !ok {
				say("554 no valid recipients")
				continue
			}
			if s.dropData[rcpt] {
				s.mu.Lock()
				s.data = append(s.data, b)
				s.mu.Unlock()
				return
			}
			if code := s.refuseData[rcpt]; code != 0 {
				say(strconv.Itoa(code) + " message refused")
				continue
			}
			s.mu.Lock()
			s.data = append(s.data, b)
			s.mu.Unlock()
			say("250 queued")
		case "DATA":
			s.note("DATA")
			say("354 go on")
			var b strings.Builder
			for {
				dl, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if dl == ".\r\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(dl, ".")) // undo the dot-stuffing
			}
			s.mu.Lock()
			s.data = append(s.data, []byte(b.String()))
			s.mu.Unlock()
			say("250 queued")
		case "RSET":
			afterChunk = false
			s.note("RSET")
			say("250 ok")
		case "QUIT":
			say("221 bye")
			return
		default:
			s.note(l)
			say("502 unknown")
		}
	}
}

func (s *scripted) sender(t *testing.T) *smtp.Sender {
	t.Helper()
	addr := s.ln.Addr().(*net.TCPAddr)
	snd, err := smtp.New(smtp.Config{Host: "127.0.0.1", Port: addr.Port, TLS: smtp.TLSNone, From: "news@shop.example",
		Concurrency: 1, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = snd.Close() })
	return snd
}

func (s *scripted) exchange() ([]string, [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...), append([][]byte(nil), s.data...)
}

// dotted is a message whose text has lines that begin with a dot, which
// DATA must stuff and BDAT must not.
func dotted(to string) senders.Message {
	m := message(to)
	m.Text = ".hidden line\n..two dots\nend\n"
	return m
}

// A server with PIPELINING and CHUNKING gets MAIL and RCPT in one write and
// the message as one BDAT LAST chunk, byte for byte what the classic
// exchange delivers after its dot-stuffing is undone.
func TestPipeliningAndChunking(t *testing.T) {
	chunked := startScripted(t, "PIPELINING", "CHUNKING", "SIZE 1000000")
	classic := startScripted(t)
	for _, s := range []*scripted{chunked, classic} {
		snd := s.sender(t)
		for i := range 2 {
			if _, err := snd.Send(context.Background(), dotted(fmt.Sprintf("r%d@example.org", i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	cmds, data := chunked.exchange()
	if len(cmds) != 7 || cmds[0] != "EHLO" || !strings.HasPrefix(cmds[1], "MAIL FROM:<news@shop.example> SIZE=") ||
		cmds[2] != "RCPT TO:<r0@example.org> [pipelined]" || !strings.HasPrefix(cmds[3], "BDAT ") || !strings.HasSuffix(cmds[3], " LAST") ||
		cmds[5] != "RCPT TO:<r1@example.org> [pipelined]" {
		t.Fatalf("pipelined exchange: %q", cmds)
	}
	if size := strings.TrimPrefix(cmds[1], "MAIL FROM:<news@shop.example> SIZE="); "BDAT "+size+" LAST" != cmds[3] {
		t.Errorf("SIZE and the chunk differ: %q, %q", cmds[1], cmds[3])
	}
	ccmds, cdata := classic.exchange()
	if want := []string{"EHLO", "MAIL FROM:<news@shop.example>", "RCPT TO:<r0@example.org>", "DATA",
		"MAIL FROM:<news@shop.example>", "RCPT TO:<r1@example.org>", "DATA"}; strings.Join(ccmds, "|") != strings.Join(want, "|") {
		t.Fatalf("classic exchange: %q", ccmds)
	}
	if len(data) != 2 || len(cdata) != 2 {
		t.Fatalf("messages: %d chunked, %d classic", len(data), len(cdata))
	}
	for i := range data {
		// the Date header is the send's time: compare what follows it
		a, b := string(data[i]), string(cdata[i])
		a, b = a[strings.Index(a, "\r\nFrom:"):], b[strings.Index(b, "\r\nFrom:"):]
		if !strings.Contains(a, "\r\n.hidden line") {
			t.Errorf("the chunk lost the leading dot: %q", a)
		}
		if !sameButBoundary(a, b) {
			t.Errorf("chunked and classic messages differ:\n%s\n---\n%s", a, b)
		}
	}
}

// sameButBoundary: two builds of one message differ only in their MIME
// boundary (random per message).
func sameButBoundary(a, b string) bool {
	boundary := func(s string) string {
		i := strings.Index(s, `boundary="`)
		if i < 0 {
			return ""
		}
		s = s[i+len(`boundary="`):]
		return s[:strings.IndexByte(s, '"')]
	}
	return strings.ReplaceAll(a, boundary(a), "B") == strings.ReplaceAll(b, boundary(b), "B")
}

// A recipient refused in a pipelined envelope: no chunk is sent, the
// transaction is reset, the error is the RCPT's (permanent for 550), and the
// connection goes on to the next message.
func TestPipelinedRecipientRefused(t *testing.T) {
	s := startScripted(t, "PIPELINING", "CHUNKING")
	s.refuse["gone@example.org"] = 550
	snd := s.sender(t)
	_, err := snd.Send(context.Background(), dotted("gone@example.org"))
	if perm, _ := senders.Classify(err); err == nil || !perm || !strings.Contains(err.Error(), "RCPT: 550") {
		t.Fatalf("refused recipient: %v (permanent %v)", err, perm)
	}
	if _, err := snd.Send(context.Background(), dotted("here@example.org")); err != nil {
		t.Fatal(err)
	}
	cmds, data := s.exchange()
	want := []string{"EHLO", "MAIL FROM:<news@shop.example>", "RCPT TO:<gone@example.org> [pipelined]", "RSET",
		"MAIL FROM:<news@shop.example>", "RCPT TO:<here@example.org> [pipelined]"}
	if len(cmds) != 7 || strings.Join(cmds[:6], "|") != strings.Join(want, "|") || !strings.HasPrefix(cmds[6], "BDAT ") {
		t.Fatalf("exchange: %q", cmds)
	}
	if len(data) != 1 {
		t.Errorf("%d messages stored, want 1", len(data))
	}
}
