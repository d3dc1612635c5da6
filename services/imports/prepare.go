// The validation stage: each CSV row becomes a prepared contact (normalised
// base fields, typed custom values) or lines of the error report.

package imports

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pi-crm/pi-crm/services/contacts"
	"github.com/pi-crm/pi-crm/services/csvio"
)

// prepared is a parsed and validated row.
type prepared struct {
	row    int
	base   [5]string
	custom []customValue
	errs   []RowError
	// dropped: phone numbers that cannot be read, left out of the row; they
	// are reported as warnings once the row is imported (decide)
	dropped []droppedPhone
	empty   bool
}

// droppedPhone is a phone value left out of a row: where it was, what it
// was, why it cannot be read, and the error it is when the row fails anyway.
type droppedPhone struct {
	column, value, reason, code string
	field                       string // a custom field's name; "" for the primary phone
}

// prepare reads one row: mapping, normalisation, validation. It runs on the
// parser goroutine and touches no shared state.
func (e *engine) prepare(row int, rec []string) prepared {
	p := prepared{row: row, empty: true}
	fail := func(col, code, msg string) {
		p.errs = append(p.errs, RowError{Row: row, Column: col, Code: code, Message: msg})
	}
	for i := len(e.cols); i < len(rec); i++ {
		if strings.TrimSpace(rec[i]) != "" {
			fail("", RowExtraCells, fmt.Sprintf("the row has %d cells but the header only %d: a value may contain an unquoted delimiter", len(rec), len(e.cols)))
			break
		}
	}
	var full string
	cells := 0 // the row's non-empty imported cells
	for i, c := range e.cols {
		if i >= len(rec) {
			break // a short (ragged) row: the missing cells are empty
		}
		v := strings.TrimSpace(csvio.Restore(rec[i]))
		if v == "" || c.target.Kind == csvio.KindIgnore {
			continue
		}
		p.empty = false
		cells++
		switch c.target.Kind {
		case csvio.KindFullName:
			full = v
		case csvio.KindBase:
			if p.base[c.base] != "" {
				continue // several columns for one field (Phone 1, Phone 2): the first filled one wins
			}
			switch c.base {
			case iEmail:
				n, err := contacts.NormalizeEmail(v)
				if err != nil {
					fail(c.header, RowInvalidEmail, fmt.Sprintf("%q is not a valid email address", v))
					continue
				}
				v = n
			case iPhone:
				n, err := contacts.NormalizePhone(v, e.country)
				if err != nil {
					// left out, not the row's end: a later phone column
					// (Phone 2 - Value) may still fill the field
					p.dropped = append(p.dropped, droppedPhone{column: c.header, value: v, reason: err.Error(), code: RowInvalidPhone})
					continue
				}
				v = n
			default:
				if n := utf8.RuneCountInString(v); n > maxLen[c.base] {
					fail(c.header, RowTooLong, fmt.Sprintf("%s is %d characters long; at most %d fit", c.target.Field, n, maxLen[c.base]))
					continue
				}
			}
			p.base[c.base] = v
		case csvio.KindCustom:
			d := e.defs[c.target.Field]
			cv, err := d.Canonical(v, e.country)
			if err != nil {
				if d.Type == "phone" {
					p.dropped = append(p.dropped, droppedPhone{column: c.header, value: v, reason: d.Name + " " + err.Error(),
						code: RowCustomInvalid, field: d.Name})
					continue
				}
				fail(c.header, RowCustomInvalid, d.Name+" "+err.Error())
				continue
			}
			p.custom = append(p.custom, customValue{d.Name, cv, d.Type})
		}
	}
	if full != "" && p.base[iFirst] == "" && p.base[iLast] == "" {
		first, last := full, ""
		if i := strings.LastIndexByte(full, ' '); i > 0 {
			first, last = strings.TrimSpace(full[:i]), full[i+1:]
		}
		if utf8.RuneCountInString(first) > 100 || utf8.RuneCountInString(last) > 100 {
			fail("", RowTooLong, "the name is longer than 100 characters")
		}
		p.base[iFirst], p.base[iLast] = first, last
	}
	// a row that fails anyway, or has nothing but phones that cannot be
	// read (no contact to import without them), reports them as errors:
	// they are among what to fix before importing it again
	if len(p.dropped) > 0 && (len(p.errs) > 0 || cells == len(p.dropped)) {
		for _, d := range p.dropped {
			fail(d.column, d.code, d.reason)
		}
		p.dropped = nil
	}
	return p
}

// reportDropped reports the phones left out of a row that is imported (a
// created contact, or a matched one: updated or unchanged) as warnings.
func (e *engine) reportDropped(p *prepared, create bool) error {
	for _, d := range p.dropped {
		what := "the contact was created without it"
		if !create {
			what = "the contact was updated without it (its stored value stays)"
		}
		if err := e.reportWarning(RowError{Row: p.row, Column: d.column, Code: RowPhoneDropped,
			Message: d.reason + "; " + what, Value: d.value, Warning: true}); err != nil {
			return err
		}
	}
	return nil
}

func (e *engine) reportRow(errs ...RowError) error {
	for _, re := range errs {
		e.nErrors++
		if n := len(e.sample) - e.nSampleW; n < maxSample {
			e.addSample(re)
		}
		if err := e.writeReport(re); err != nil {
			return err
		}
	}
	return nil
}

// reportWarning writes one warning line and counts it: the sample keeps
// maxSample warnings besides maxSample errors, so a file of many warnings
// still shows its errors.
func (e *engine) reportWarning(w RowError) error {
	e.counts.Warnings++
	if e.nSampleW < maxSample {
		e.nSampleW++
		e.addSample(w)
	}
	return e.writeReport(w)
}

func (e *engine) addSample(re RowError) {
	e.sample = append(e.sample, RowError{Row: re.Row, Column: truncate(re.Column, maxSampleChars),
		Code: re.Code, Message: truncate(re.Message, maxSampleChars), Value: truncate(re.Value, maxSampleChars), Warning: re.Warning})
}

func (e *engine) writeReport(re RowError) error {
	return e.report.Write([]string{strconv.Itoa(re.Row), re.Column, re.Code, re.Message, re.Value})
}
