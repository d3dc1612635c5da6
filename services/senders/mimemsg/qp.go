package mimemsg

// appendQP appends s quoted-printable encoded to dst, byte for byte what
// mime/quotedprintable.Writer (Binary false) writes and then Close
// flushes: lines of at most 76 characters ending in soft breaks, "=",
// controls and 8-bit bytes as =XX, a space or tab before a line end
// encoded, CR, LF and CRLF as CRLF. The Writer handles one byte per call
// through its line buffer and an io.Writer; a 5 kB HTML part cost as much
// as building the rest of the message (TestAppendQPMatchesTheWriter and
// FuzzAppendQP compare both).
func appendQP(dst []byte, s string) []byte {
	e := qpEncoder{out: dst, start: len(dst)}
	for i := 0; i < len(s); {
		// a run of bytes written as they are, copied a line's room at a time
		j := i
		for j < len(s) && qpPlain[s[j]] {
			j++
		}
		if j > i {
			e.cr = false
		}
		for i < j {
			room := lineMax - 1 - e.col()
			if room == 0 {
				e.softBreak()
				room = lineMax - 1
			}
			n := min(room, j-i)
			e.out = append(e.out, s[i:i+n]...)
			i += n
		}
		if i == len(s) {
			break
		}
		if b := s[i]; b == '\n' || b == '\r' {
			e.literal(b)
		} else {
			e.encode(b)
		}
		i++
	}
	e.encodeTrailingSpace()
	return e.out
}

// qpPlain: the bytes written as they are within a line (printable ASCII but
// "=", space and tab; a space or tab is encoded only when it ends a line,
// encodeTrailingSpace).
var qpPlain = func() (t [256]bool) {
	for b := '!'; b <= '~'; b++ {
		t[b] = b != '='
	}
	t[' '], t['\t'] = true, true
	return t
}()

// lineMax is the Writer's line length (RFC 2045: 76 characters).
const lineMax = 76

type qpEncoder struct {
	out   []byte
	start int  // where the current line starts in out
	cr    bool // the last literal byte was a CR (a LF after it is the same line end)
}

func (e *qpEncoder) col() int { return len(e.out) - e.start }

func (e *qpEncoder) crlf() {
	e.out = append(e.out, '\r', '\n')
	e.start = len(e.out)
}

func (e *qpEncoder) softBreak() {
	e.out = append(e.out, '=')
	e.crlf()
}

func (e *qpEncoder) encode(b byte) {
	if lineMax-1-e.col() < 3 {
		e.softBreak()
	}
	e.out = append(e.out, '=', upperHex[b>>4], upperHex[b&0x0f])
}

func (e *qpEncoder) literal(b byte) {
	if b == '\n' || b == '\r' {
		if e.cr && b == '\n' {
			e.cr = false
			return
		}
		if b == '\r' {
			e.cr = true
		}
		e.encodeTrailingSpace()
		e.crlf()
		return
	}
	if e.col() == lineMax-1 {
		e.softBreak()
	}
	e.out = append(e.out, b)
	e.cr = false
}

// encodeTrailingSpace encodes a space or tab that ends the line.
func (e *qpEncoder) encodeTrailingSpace() {
	if e.col() == 0 {
		return
	}
	if b := e.out[len(e.out)-1]; b == ' ' || b == '\t' {
		e.out = e.out[:len(e.out)-1]
		e.encode(b)
	}
}

const upperHex = "0123456789ABCDEF"
