package gen

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"
)

// CSVHeader is the import file's header: the original plan's 6 base fields
// (created_on, first_name, last_name, primary_email, primary_phone,
// company) and the 10 custom fields, named as their definitions.
func CSVHeader() []string {
	h := make([]string, 0, 6+len(Fields))
	h = append(h, "created_on", "first_name", "last_name", "primary_email", "primary_phone", "company")
	for _, f := range Fields {
		h = append(h, f.Name)
	}
	return h
}

// Kinds of dirty row, ~1% of the file. The first two are valid after the
// app's normalisation; the last three must be reported as row errors.
const (
	dirtyCase      = iota // mixed case and spaces around the email
	dirtyPhone            // national phone format "(212) 200-0012"
	dirtyRagged           // fewer columns than the header (missing values are empty)
	dirtyBadEmail         // not an email address
	dirtyBadNumber        // lead_score is not a number
	dirtyDuplicate        // same email as the previous row
	dirtyKinds
)

// csv writes N rows of people distinct from the main workspace's (another
// random stream), in the raw form a user's spreadsheet would have.
func (g *generator) csv(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w := csv.NewWriter(bw)
	header := CSVHeader()
	if err := w.Write(header); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(g.cfg.Seed, 2))
	row := make([]string, len(header))
	prevEmail := ""
	for i := 0; i < g.cfg.N; i++ {
		p := person(r, i, "")
		row[0] = baseTime.Add(time.Duration(i) * time.Second).Format("2006-01-02 15:04:05")
		row[1], row[2], row[3], row[4], row[5] = p.First, p.Last, p.Email, p.Phone, p.Company
		for j, fd := range Fields {
			row[6+j] = p.Custom[fd.Name]
		}
		out := row
		if r.IntN(100) == 0 {
			g.m.CSVDirtyRows++
			switch kind := r.IntN(dirtyKinds); kind {
			case dirtyCase:
				row[3] = "  " + strings.ToUpper(p.Email[:1]) + p.Email[1:] + " "
			case dirtyPhone:
				if p.Phone != "" {
					row[4] = fmt.Sprintf("(%s) %s-%s", p.Phone[2:5], p.Phone[5:8], p.Phone[8:])
				}
			case dirtyRagged:
				out = row[:len(row)-3]
			case dirtyBadEmail:
				row[3] = strings.Replace(p.Email, "@", "-at-", 1)
				g.m.CSVInvalidRows++
			case dirtyBadNumber:
				row[7] = "n/a"
				g.m.CSVInvalidRows++
			case dirtyDuplicate:
				if prevEmail != "" {
					row[3] = prevEmail
					g.m.CSVInvalidRows++
				}
			}
		}
		prevEmail = p.Email
		if err := w.Write(out); err != nil {
			return err
		}
	}
	g.m.CSVRows = g.cfg.N
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Close()
}
