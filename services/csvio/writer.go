package csvio

import (
	"encoding/csv"
	"io"
	"strings"

	"github.com/pi-crm/pi-crm/services/textclean"
)

// formulaStart are the first characters that make a spreadsheet treat a cell
// as a formula (OWASP "CSV injection").
const formulaStart = "=+-@\t\r"

func triggers(s string) bool {
	return s != "" && strings.ContainsRune(formulaStart, rune(s[0]))
}

// Neutralize prefixes a cell a spreadsheet would run as a formula with a
// single quote, which spreadsheets display but do not evaluate. A cell that
// already starts with quotes followed by such a character gets one more, so
// that Restore gives back exactly the original value (export → import is
// lossless).
func Neutralize(s string) string {
	if triggers(strings.TrimLeft(s, "'")) {
		return "'" + s
	}
	return s
}

// Restore undoes Neutralize: one leading quote is removed when what follows
// the quotes would be a formula.
func Restore(s string) string {
	if strings.HasPrefix(s, "'") && triggers(strings.TrimLeft(s, "'")) {
		return s[1:]
	}
	return s
}

// Writer writes neutralised CSV rows (comma-separated, CRLF line ends as
// RFC 4180 and spreadsheets expect, UTF-8 with a BOM so Excel reads accents).
type Writer struct {
	w   *csv.Writer
	buf []string
}

// NewWriter returns a writer on w and writes the BOM.
func NewWriter(w io.Writer) (*Writer, error) {
	if _, err := w.Write([]byte{0xEF, 0xBB, 0xBF}); err != nil {
		return nil, err
	}
	c := csv.NewWriter(w)
	c.UseCRLF = true
	return &Writer{w: c}, nil
}

// Write writes one row, neutralising every cell and stripping control
// characters (services/textclean) a value stored before that rule may hold.
func (w *Writer) Write(row []string) error {
	w.buf = w.buf[:0]
	for _, c := range row {
		w.buf = append(w.buf, Neutralize(textclean.String(c)))
	}
	return w.w.Write(w.buf)
}

// Flush flushes buffered rows and returns any write error.
func (w *Writer) Flush() error {
	w.w.Flush()
	return w.w.Error()
}
