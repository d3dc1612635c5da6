package insights_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/pocketbase/pocketbase/core"
)

var (
	emailLike = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.]+`)
	phoneLike = regexp.MustCompile(`\+\d{7,15}`)
)

// AssertNoPersonalData fails when text holds anything shaped like an email
// address or an E.164 phone number, or any contact's email, phone or last
// name stored in app (of every workspace).
func AssertNoPersonalData(t *testing.T, text string, app core.App) {
	t.Helper()
	if m := emailLike.FindString(text); m != "" {
		t.Errorf("an email address in the text: %q", m)
	}
	if m := phoneLike.FindString(text); m != "" {
		t.Errorf("a phone number in the text: %q", m)
	}
	var rows []struct {
		Email string `db:"primary_email"`
		Phone string `db:"primary_phone"`
		Last  string `db:"last_name"`
	}
	if err := app.DB().NewQuery("SELECT primary_email, primary_phone, last_name FROM contacts").All(&rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		for _, v := range []string{r.Email, r.Phone, r.Last} {
			if v != "" && strings.Contains(text, v) {
				t.Errorf("contact data %q in the text", v)
			}
		}
	}
}
