// Package csvio reads and writes contact CSV files: encoding and delimiter
// detection, header mapping (with Google Contacts and Outlook presets) and
// spreadsheet-safe writing. It knows nothing about the database.
package csvio

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/pi-crm/pi-crm/services/textclean"
	"golang.org/x/text/encoding/charmap"
)

// ErrEmpty is returned for a file without a header row.
var ErrEmpty = errors.New("the file is empty: the first row must name the columns")

// sniffSize is how much of the file is looked at to choose the delimiter.
const sniffSize = 64 << 10

// Reader streams the rows of a CSV file. It never holds more than one row
// (plus bufio's buffer) in memory, whatever the file size.
type Reader struct {
	csv       *csv.Reader
	Header    []string
	Delimiter rune
	// Row is the spreadsheet row number of the last record returned by Next
	// (the header is row 1), which is what a user sees when they open the file.
	Row int
	// Recoded counts cells read as Windows-1252 because they were not UTF-8.
	Recoded int
}

// NewReader reads the header of src and prepares to stream the rest. It
// accepts UTF-8 with or without a byte order mark, falls back to
// Windows-1252 cell by cell (Excel's "CSV" on Windows writes it), CRLF or LF
// line ends, quoted fields with embedded newlines and delimiters, ragged rows,
// and chooses the delimiter among ',', ';' and tab from the header line.
func NewReader(src io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(src, sniffSize)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3)
	}
	head, err := br.Peek(sniffSize)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	r := &Reader{Delimiter: DetectDelimiter(head)}
	c := csv.NewReader(br)
	c.Comma = r.Delimiter
	c.FieldsPerRecord = -1 // ragged rows are read as they are; the importer pads or reports
	c.LazyQuotes = true    // a stray quote inside a field is kept, not a fatal parse error
	c.ReuseRecord = true
	r.csv = c
	header, err := r.Next()
	if errors.Is(err, io.EOF) {
		return nil, ErrEmpty
	}
	if err != nil {
		return nil, err
	}
	r.Header = make([]string, len(header))
	for i, h := range header {
		r.Header[i] = strings.TrimSpace(h)
	}
	// trailing empty header cells (a spreadsheet's extra separators) are not columns
	for len(r.Header) > 0 && r.Header[len(r.Header)-1] == "" {
		r.Header = r.Header[:len(r.Header)-1]
	}
	if len(r.Header) == 0 {
		return nil, ErrEmpty
	}
	return r, nil
}

// Next returns the next record (valid until the following call) or io.EOF.
// Blank lines are skipped by encoding/csv and do not count as rows.
func (r *Reader) Next() ([]string, error) {
	rec, err := r.csv.Read()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("CSV syntax error at line %d: %v", pe.Line, pe.Err)
		}
		return nil, err
	}
	r.Row++
	for i, f := range rec {
		if !utf8.ValidString(f) {
			if s, err := charmap.Windows1252.NewDecoder().String(f); err == nil {
				f = s
				r.Recoded++
			}
		}
		// NUL and other control characters are stripped (services/textclean,
		// the rule of every text field): the importer writes cells by raw SQL,
		// past the record hooks that apply it elsewhere
		rec[i] = textclean.String(f)
	}
	return rec, nil
}

// DetectDelimiter picks ',', ';' or tab: whichever occurs most often outside
// quotes in the first line of head (ties go to ',').
func DetectDelimiter(head []byte) rune {
	counts := map[byte]int{}
	inQuote := false
	for _, b := range head {
		if b == '"' {
			inQuote = !inQuote
			continue
		}
		if inQuote {
			continue
		}
		if b == '\n' || b == '\r' {
			break
		}
		if b == ',' || b == ';' || b == '\t' {
			counts[b]++
		}
	}
	best := byte(',')
	for _, d := range []byte{';', '\t'} {
		if counts[d] > counts[best] {
			best = d
		}
	}
	return rune(best)
}
