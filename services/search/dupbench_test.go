package search_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/services/duplicates"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// warmDuplicates brings the fixture's found groups up to date (the raw
// fixture inserts leave every group dirty, as a bulk import does) and logs
// what that one-off rebuild cost.
func warmDuplicates(b *testing.B, svc *duplicates.Service, ws string) {
	start := time.Now()
	if _, err := svc.Duplicates(ws, 1, 1); err != nil {
		b.Fatal(err)
	}
	b.Logf("first read after the bulk fixture (full group rebuild): %v", time.Since(start))
}

// the last page: the worst offset
func BenchmarkDuplicatesPageLast(b *testing.B) {
	_, ws := benchFixture(b)
	svc := duplicates.NewService(benchApp)
	warmDuplicates(b, svc, ws)
	first, err := svc.Duplicates(ws, 1, 50)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := svc.Duplicates(ws, first.TotalPages, 50)
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Items) == 0 {
			b.Fatal("empty last page")
		}
	}
}

// an edit that creates (then removes) a duplicate before every read: the
// read pays for bringing the changed groups up to date
func BenchmarkDuplicatesPageAfterEdit(b *testing.B) {
	_, ws := benchFixture(b)
	svc := duplicates.NewService(benchApp)
	warmDuplicates(b, svc, ws)
	app := benchAppForTest()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// contact 1 takes contact 0's name and company (a same_name_company
		// group appears), then its own back (it goes)
		first, last := firstNames[0], lastName(0)
		if i%2 == 1 {
			first = firstNames[1]
		}
		if _, err := app.DB().NewQuery(`UPDATE contacts SET first_name = {:f}, last_name = {:l}, company = 'Company 0' WHERE id = 'c00000000000001'`).
			Bind(dbx.Params{"f": first, "l": last}).Execute(); err != nil {
			b.Fatal(err)
		}
		if _, err := svc.Duplicates(ws, 1, 50); err != nil {
			b.Fatal(err)
		}
	}
}

// The write-side cost of the match keys: raw contact inserts into the 100k
// workspace, 100 a transaction (as an import chunk; REST writes one), with
// the triggers, with them dropped, and with them again (so the order of the
// runs shows). The difference of the µs/contact figures is the extra cost
// per contact.
func BenchmarkContactInsert(b *testing.B) {
	const perTx = 100
	benchFixture(b)
	app := benchAppForTest()
	seq := 0
	for _, keys := range []bool{true, false, true} {
		name := "with_match_keys"
		if keys {
			for _, q := range duplicates.MatchSchema() { // IF NOT EXISTS: the triggers back
				if _, err := app.DB().NewQuery(q).Execute(); err != nil {
					b.Fatal(err)
				}
			}
		} else {
			name = "without_match_keys"
			for _, q := range duplicates.DropMatchSchema()[:6] { // the triggers only
				if _, err := app.DB().NewQuery(q).Execute(); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				err := app.RunInTransaction(func(tx core.App) error {
					ins := tx.DB().NewQuery(`INSERT INTO contacts (id, workspace, first_name, last_name, primary_email, primary_phone, company, created, updated)
						VALUES ({:id}, {:ws}, {:f}, {:l}, {:e}, {:p}, {:c}, '2025-01-01 00:00:00.000Z', '2025-01-01 00:00:00.000Z')`).Prepare()
					defer ins.Close()
					for j := 0; j < perTx; j++ {
						seq++
						if _, err := ins.Bind(dbx.Params{"id": fmt.Sprintf("n%014d", seq), "ws": benchWS, "f": firstNames[seq%len(firstNames)],
							"l": lastName(seq * 7), "e": fmt.Sprintf("new%d@dom%d.com", seq, seq%500), "p": fmt.Sprintf("+1416%07d", seq),
							"c": fmt.Sprintf("Company %d", seq%3000)}).Execute(); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*perTx), "µs/contact")
		})
	}
	for _, q := range duplicates.MatchSchema() { // the triggers back (IF NOT EXISTS)
		if _, err := app.DB().NewQuery(q).Execute(); err != nil {
			b.Fatal(err)
		}
	}
}

func benchAppForTest() core.App { return benchApp }
