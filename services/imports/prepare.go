// The validation stage: each CSV row becomes a prepared contact (normalised
// base fields, typed custom values) or lines of the error report.

package imports

import (
	"fmt"
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
	empty  bool
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
	for i, c := range e.cols {
		if i >= len(rec) {
			break // a short (ragged) row: the missing cells are empty
		}
		v := strings.TrimSpace(csvio.Restore(rec[i]))
		if v == "" || c.target.Kind == csvio.KindIgnore {
			continue
		}
		p.empty = false
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
					fail(c.header, RowInvalidPhone, fmt.Sprintf("%q is not a valid phone number in %s: write it with its country code", v, e.country))
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
	return p
}

func (e *engine) reportRow(errs ...RowError) error {
	for _, re := range errs {
		e.nErrors++
		if len(e.sample) < 20 {
			e.sample = append(e.sample, RowError{Row: re.Row, Column: truncate(re.Column, maxSampleChars),
				Code: re.Code, Message: truncate(re.Message, maxSampleChars)})
		}
		if err := e.report.Write([]string{fmt.Sprint(re.Row), re.Column, re.Code, re.Message}); err != nil {
			return err
		}
	}
	return nil
}
