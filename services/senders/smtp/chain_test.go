package smtp_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/pi-crm/pi-crm/services/senders"
)

// told is what SendChain's done heard, in order.
type told struct {
	i   int
	id  string
	err error
}

// chain sends ms through SendChain, answering more while keep(i) says so.
func chain(t *testing.T, s *scripted, keep func(i int) bool, to ...string) []told {
	t.Helper()
	ms := make([]senders.Message, len(to))
	for i, a := range to {
		ms[i] = dotted(a)
	}
	var got []told
	s.sender(t).SendChain(context.Background(), ms, func(i int, r senders.Result, err error) bool {
		got = append(got, told{i, r.ProviderMessageID, err})
		return keep == nil || keep(i)
	})
	return got
}

func addresses(n int) []string {
	to := make([]string, n)
	for i := range to {
		to[i] = fmt.Sprintf("r%d@example.org", i)
	}
	return to
}

// A chain to a server with PIPELINING and CHUNKING: each message's envelope
// goes in the write of the chunk before it, every chunk only after its own
// RCPT was accepted, one connection, every message once and told in order.
func TestChainSendsEachEnvelopeBehindTheChunkBefore(t *testing.T) {
	s := startScripted(t, "PIPELINING", "CHUNKING", "SIZE 1000000")
	got := chain(t, s, nil, addresses(3)...)
	if len(got) != 3 {
		t.Fatalf("told %d of 3: %+v", len(got), got)
	}
	for i, g := range got {
		if g.i != i || g.err != nil || g.id == "" {
			t.Fatalf("told %d: %+v", i, g)
		}
	}
	cmds, data := s.exchange()
	want := []string{"EHLO", "MAIL", "RCPT TO:<r0@example.org> [pipelined]", "BDAT",
		"MAIL [chained]", "RCPT TO:<r1@example.org> [pipelined]", "BDAT",
		"MAIL [chained]", "RCPT TO:<r2@example.org> [pipelined]", "BDAT"}
	if len(cmds) != len(want) {
		t.Fatalf("exchange: %q", cmds)
	}
	for i, c := range cmds {
		w := want[i]
		switch {
		case strings.HasPrefix(w, "MAIL"):
			if !strings.HasPrefix(c, "MAIL FROM:<news@shop.example> SIZE=") || strings.HasSuffix(c, "[chained]") != strings.HasSuffix(w, "[chained]") {
				t.Fatalf("command %d: %q, want %s (exchange %q)", i, c, w, cmds)
			}
		case w == "BDAT":
			if !strings.HasPrefix(c, "BDAT ") || !strings.HasSuffix(c, " LAST") {
				t.Fatalf("command %d: %q (exchange %q)", i, c, cmds)
			}
		case c != w:
			t.Fatalf("command %d: %q, want %q (exchange %q)", i, c, w, cmds)
		}
	}
	if len(data) != 3 {
		t.Fatalf("%d messages stored", len(data))
	}
	for i, d := range data {
		if !strings.Contains(string(d), fmt.Sprintf("To: <r%d@example.org>", i)) && !strings.Contains(string(d), fmt.Sprintf("r%d@example.org", i)) {
			t.Errorf("message %d is not to r%d", i, i)
		}
	}
}

// A recipient refused in the middle of a chain: its chunk is never sent,
// its error is RCPT's, the transaction is reset and the rest still go.
func TestChainRecipientRefused(t *testing.T) {
	s := startScripted(t, "PIPELINING", "CHUNKING")
	s.refuse["r1@example.org"] = 550
	got := chain(t, s, nil, addresses(3)...)
	if len(got) != 3 || got[0].err != nil || got[2].err != nil {
		t.Fatalf("told %+v", got)
	}
	if perm, _ := senders.Classify(got[1].err); !perm || !strings.Contains(got[1].err.Error(), "RCPT: 550") {
		t.Fatalf("the refused recipient: %v", got[1].err)
	}
	cmds, data := s.exchange()
	joined := strings.Join(cmds, "|")
	if !strings.Contains(joined, "RCPT TO:<r1@example.org> [pipelined]|RSET|MAIL") || strings.Count(joined, "BDAT") != 2 {
		t.Fatalf("exchange: %q", cmds)
	}
	if len(data) != 2 {
		t.Fatalf("%d messages stored, want 2", len(data))
	}
}

// A chunk refused in the middle of a chain (the envelope after it already
// written): that message's error, the next envelope answered and reset,
// and the rest go, each once.
func TestChainChunkRefused(t *testing.T) {
	s := startScripted(t, "PIPELINING", "CHUNKING")
	s.refuseData["r1@example.org"] = 554
	got := chain(t, s, nil, addresses(4)...)
	if len(got) != 4 || got[0].err != nil || got[2].err != nil || got[3].err != nil {
		t.Fatalf("told %+v", got)
	}
	if perm, _ := senders.Classify(got[1].err); !perm || !strings.Contains(got[1].err.Error(), "554") {
		t.Fatalf("the refused message: %v", got[1].err)
	}
	_, data := s.exchange()
	if len(data) != 3 {
		t.Fatalf("%d messages stored, want 3", len(data))
	}
}

// done answering false stops the chain: the envelope written ahead is
// withdrawn (RSET, no chunk), and the connection serves the next send.
func TestChainStopsWhenTold(t *testing.T) {
	s := startScripted(t, "PIPELINING", "CHUNKING")
	snd := s.sender(t)
	var got []told
	ms := []senders.Message{dotted("r0@example.org"), dotted("r1@example.org"), dotted("r2@example.org")}
	snd.SendChain(context.Background(), ms, func(i int, r senders.Result, err error) bool {
		got = append(got, told{i, r.ProviderMessageID, err})
		return false
	})
	if len(got) != 1 || got[0].err != nil {
		t.Fatalf("told %+v", got)
	}
	if _, err := snd.Send(context.Background(), dotted("r9@example.org")); err != nil {
		t.Fatal(err)
	}
	cmds, data := s.exchange()
	joined := strings.Join(cmds, "|")
	if !strings.Contains(joined, "RCPT TO:<r1@example.org> [pipelined]|RSET|MAIL") || strings.Count(joined, "BDAT") != 2 ||
		strings.Count(joined, "EHLO") != 1 || strings.Contains(joined, "r2@") {
		t.Fatalf("exchange: %q", cmds)
	}
	if len(data) != 2 {
		t.Fatalf("%d messages stored, want 2", len(data))
	}
}

// The connection lost after a chunk was written, unanswered: that message
// is unknown (the server may have it; here it does), and the message whose
// envelope went behind it — nothing of its data sent — goes on a new
// connection, once.
func TestChainLostReply(t *testing.T) {
	s := startScripted(t, "PIPELINING", "CHUNKING")
	s.dropData["r1@example.org"] = true
	got := chain(t, s, nil, addresses(3)...)
	if len(got) != 3 || got[0].err != nil || got[2].err != nil || !senders.IsUnknown(got[1].err) {
		t.Fatalf("told %+v", got)
	}
	cmds, data := s.exchange()
	if n := strings.Count(strings.Join(cmds, "|"), "EHLO"); n != 2 {
		t.Fatalf("%d connections, want 2: %q", n, cmds)
	}
	if len(data) != 3 {
		t.Fatalf("%d messages stored, want 3", len(data))
	}
	n := 0
	for _, d := range data {
		if strings.Contains(string(d), "r2@example.org") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("r2 stored %d times", n)
	}
}

// Without PIPELINING and CHUNKING a chain is Send's exchange, message by
// message.
func TestChainWithoutTheExtensions(t *testing.T) {
	s := startScripted(t)
	got := chain(t, s, nil, addresses(2)...)
	if len(got) != 2 || got[0].err != nil || got[1].err != nil {
		t.Fatalf("told %+v", got)
	}
	cmds, data := s.exchange()
	if want := "EHLO|MAIL FROM:<news@shop.example>|RCPT TO:<r0@example.org>|DATA|MAIL FROM:<news@shop.example>|RCPT TO:<r1@example.org>|DATA"; strings.Join(cmds, "|") != want {
		t.Fatalf("exchange: %q", cmds)
	}
	if len(data) != 2 {
		t.Fatalf("%d messages stored", len(data))
	}
}

// An envelope the server cannot take (a non-ASCII address without its
// SMTPUTF8) is refused before anything is written, alone or in a chain: a
// permanent error, and the connection goes on serving (one EHLO).
func TestUnsendableEnvelopeKeepsTheConnection(t *testing.T) {
	s := startScripted(t, "PIPELINING", "CHUNKING")
	snd := s.sender(t)
	_, err := snd.Send(context.Background(), dotted("jürgen@example.org"))
	if perm, _ := senders.Classify(err); !perm || !strings.Contains(err.Error(), "SMTPUTF8") {
		t.Fatalf("non-ASCII address: %v", err)
	}
	got := chain(t, s, nil, "r0@example.org", "jürgen@example.org", "r2@example.org")
	if len(got) != 3 || got[0].err != nil || got[1].err == nil || got[2].err != nil {
		t.Fatalf("told %+v", got)
	}
	cmds, data := s.exchange()
	joined := strings.Join(cmds, "|")
	if strings.Count(joined, "EHLO") != 2 || strings.Contains(joined, "jürgen") || len(data) != 2 {
		// two senders (Send's, chain's), one connection each
		t.Fatalf("exchange %q, %d messages", cmds, len(data))
	}
}
