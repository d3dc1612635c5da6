package imports_test

import (
	"strings"
	"testing"

	"github.com/pi-crm/pi-crm/services/csvio"
	"github.com/pi-crm/pi-crm/services/imports"
	"github.com/pocketbase/dbx"
)

// warnings of a job's report: row → column|value|message. The report is
// spreadsheet-safe (+44 12 is written '+44 12): csvio.Restore reads it back.
func (f *fixture) warnings(rep [][]string) map[string]string {
	got := map[string]string{}
	for _, r := range rep {
		if r[2] == imports.RowPhoneDropped {
			got[r[0]] = r[1] + "|" + csvio.Restore(r[4]) + "|" + r[3]
		}
	}
	return got
}

// Issue 18: a Google Contacts export (its real headers, mapped by the
// presets) whose phones libphonenumber's range tables call invalid, or that
// cannot be read at all, imports every contact. A possible number is stored
// in E.164; an unreadable one is left out and reported as a phone_dropped
// warning with its row, column and value, counted on the job; a second
// phone column fills the field behind a dropped first one.
func TestGoogleExportKeepsEveryContact(t *testing.T) {
	for _, dry := range []bool{false, true} {
		f := newFixture(t)
		job, c := f.run("testdata/google_contacts_2024.csv", imports.Options{DryRun: dry})
		if job.GetString("status") != imports.StatusCompleted || c.Read != 5 || c.Created != 5 || c.Failed != 0 || c.Warnings != 2 {
			t.Fatalf("dry %v: status %s counts %+v report %v", dry, job.GetString("status"), c, f.report(job))
		}
		rep := f.report(job)
		got := f.warnings(rep)
		if len(rep) != 2 || len(got) != 2 {
			t.Fatalf("dry %v: report %q", dry, rep)
		}
		for row, want := range map[string][]string{
			"3": {"Phone 1 - Value|ask reception|", `"ask reception" is not a phone number`, "created without it"},
			"5": {"Phone 1 - Value|+44 12|", "too short for a phone number with country code +44"},
		} {
			for _, w := range want {
				if !strings.Contains(got[row], w) {
					t.Errorf("dry %v: row %s warning %q lacks %q", dry, row, got[row], w)
				}
			}
		}
		// the job record: counts.warnings and the sample with the values
		var stored imports.Counts
		_ = job.UnmarshalJSONField("counts", &stored)
		var sum struct {
			Errors int                `json:"errors"`
			Sample []imports.RowError `json:"sample"`
		}
		_ = job.UnmarshalJSONField("error_report", &sum)
		if stored.Warnings != 2 || sum.Errors != 0 || len(sum.Sample) != 2 || !sum.Sample[0].Warning || sum.Sample[0].Value != "ask reception" ||
			sum.Sample[0].Row != 3 || sum.Sample[0].Column != "Phone 1 - Value" || sum.Sample[0].Code != imports.RowPhoneDropped {
			t.Errorf("dry %v: job counts %+v error_report %+v", dry, stored, sum)
		}
		if dry {
			if n := f.count("contacts"); n != 0 {
				t.Errorf("the dry run wrote %d contacts", n)
			}
			continue
		}
		for email, want := range map[string]string{
			"olivia.bennett@example.co.uk": "Olivia|Bennett|olivia.bennett@example.co.uk|+447700900123|Bennett & Co|{}",
			"raj.patel@example.com":        "Raj|Patel|raj.patel@example.com|||{}",
			"wei.chen@example.com":         "Wei|Chen|wei.chen@example.com|+16505550100|Chen Imports|{}",
			"nadia.haddad@example.org":     "Nadia|Haddad|nadia.haddad@example.org|+442079460958||{}",
			"tom.okafor@example.com":       "Tom|Okafor|tom.okafor@example.com|||{}",
		} {
			if got := f.contact(email); got != want {
				t.Errorf("%s:\n got %q\nwant %q", email, got, want)
			}
		}
		// the audit entry counts the warnings too
		var details string
		_ = f.env.App.DB().Select("details").From("audit_logs").Where(dbx.HashExp{"entity_id": job.Id}).Row(&details)
		if !strings.Contains(details, `"warnings":2`) {
			t.Errorf("audit details %s", details)
		}
	}
}

// A matched contact keeps its stored phone when the file's cannot be read
// (upsert and update say "updated without it"); a row that fails for
// another reason, or has nothing but an unreadable phone, reports the phone
// among its errors (the row is not imported, so it is no warning); a custom
// field of type phone is left out like the primary phone, unless it is
// required.
func TestUnreadablePhones(t *testing.T) {
	f := newFixture(t)
	f.run("first_name,primary_email,primary_phone\nAda,ada@example.com,+44 20 7946 0958\n", imports.Options{})
	job, c := f.run("first_name,primary_email,primary_phone\nADA,ada@example.com,call me\n", imports.Options{Mode: imports.ModeUpsert})
	if c.Updated != 1 || c.Warnings != 1 || c.Failed != 0 {
		t.Fatalf("upsert: %+v %v", c, f.report(job))
	}
	if got := f.contact("ada@example.com"); got != "ADA||ada@example.com|+442079460958||{}" {
		t.Errorf("upserted %q", got)
	}
	if w := f.warnings(f.report(job))["2"]; !strings.Contains(w, "primary_phone|call me|") || !strings.Contains(w, "updated without it") {
		t.Errorf("upsert warning %q", w)
	}

	job, c = f.run("first_name,primary_email,primary_phone\nBad,not-an-email,call me\n,,12\nOk,ok@example.com,\n", imports.Options{})
	if c.Created != 1 || c.Failed != 2 || c.Warnings != 0 {
		t.Fatalf("failing rows: %+v %v", c, f.report(job))
	}
	got := map[string]string{}
	for _, r := range f.report(job) {
		got[r[0]] += r[1] + "/" + r[2] + ";"
	}
	if got["2"] != "primary_email/contact_invalid_email;primary_phone/contact_invalid_phone;" || got["3"] != "primary_phone/contact_invalid_phone;" {
		t.Errorf("report %v", got)
	}

	f.env.Create("custom_field_definitions", map[string]any{"user": f.owner.Id, "workspace": f.ws.Id, "field_name": "mobile", "label": "Mobile", "field_type": "phone"})
	f.env.Create("custom_field_definitions", map[string]any{"user": f.owner.Id, "workspace": f.ws.Id, "field_name": "fax", "label": "Fax",
		"field_type": "phone", "is_required": true})
	job, c = f.run("first_name,primary_email,mobile,fax\nCe,ce@example.com,+44 7700 900124,+1 415 555 0101\nDi,di@example.com,no mobile,+1 415 555 0102\nEd,ed@example.com,,nope\n",
		imports.Options{})
	if c.Created != 2 || c.Warnings != 1 || c.Failed != 1 {
		t.Fatalf("custom phones: %+v %v", c, f.report(job))
	}
	if got := f.contact("ce@example.com"); got != `Ce||ce@example.com|||{"fax":"+14155550101","mobile":"+447700900124"}` {
		t.Errorf("custom phones stored %q", got)
	}
	if got := f.contact("di@example.com"); got != `Di||di@example.com|||{"fax":"+14155550102"}` {
		t.Errorf("dropped custom phone %q", got)
	}
	rep := f.report(job)
	if w := f.warnings(rep)["3"]; !strings.Contains(w, "mobile|no mobile|") {
		t.Errorf("custom phone warning %q (report %v)", w, rep)
	}
	for _, r := range rep {
		if r[0] == "4" && (r[2] != imports.RowRequired || r[1] != "fax" || !strings.Contains(r[3], `"nope" is not a phone number`)) {
			t.Errorf("required phone that cannot be read: %q", r)
		}
	}
}
