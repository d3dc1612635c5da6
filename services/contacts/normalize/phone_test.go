package normalize

import (
	"errors"
	"strings"
	"testing"
)

// Numbers libphonenumber's range tables call invalid but whose length is
// possible for their country are stored (issue 18: +44 7700 900123 lost a
// whole contact); what still cannot be stored says why, in the words that
// fit the number.
func TestPhone(t *testing.T) {
	for _, c := range []struct{ raw, country, want string }{
		{"+44 7700 900123", "US", "+447700900123"}, // possible, not "valid" in the metadata
		{"+44 20 7946 0958", "US", "+442079460958"},
		{"07700 900123", "GB", "+447700900123"},
		{"0044 7700 900123", "DE", "+447700900123"}, // 00 is the international prefix in Germany
		{"011 44 7700 900123", "US", "+447700900123"},
		{"415 555 0100", "", "+14155550100"},
		{"(555) 010-0100", "US", "+15550100100"}, // an unassigned area code: possible
		{"  +49 30 1234567 ", "US", "+49301234567"},
		{"", "US", ""},
		{"   ", "US", ""},
	} {
		got, err := Phone(c.raw, c.country)
		if err != nil || got != c.want {
			t.Errorf("Phone(%q, %q) = %q, %v; want %q", c.raw, c.country, got, err, c.want)
		}
	}
	for _, c := range []struct {
		raw, country string
		reason       PhoneReason
		explicit     bool
		msg          []string // parts of the message
		not          string   // a part the message must not have
	}{
		{"+44 12", "US", PhoneTooShort, true, []string{`"+44 12"`, "too short", "country code +44"}, "write it with its country code"},
		{"+44 77009001234567", "US", PhoneTooLong, true, []string{"too long", "+44"}, "write it with its country code"},
		{"123", "US", PhoneTooShort, false, []string{`"123"`, "too short", "in US", "write it with its country code"}, ""},
		{"12", "GB", PhoneTooShort, false, []string{"in GB"}, ""},
		{"555-0100", "US", PhoneLocalOnly, false, []string{"no area code"}, ""},
		{"+1 555 0100", "US", PhoneLocalOnly, true, []string{"lacks the area code", "+1"}, ""},
		{"not a phone", "US", PhoneNotANumber, false, []string{`"not a phone" is not a phone number`}, "country code"},
		{"+999 1234567", "US", PhoneUnknownCountryCode, false, []string{"no country has"}, ""},
		{"12345678901234567890", "US", PhoneTooLong, false, []string{"too long"}, ""},
	} {
		got, err := Phone(c.raw, c.country)
		var pe *PhoneError
		if !errors.As(err, &pe) {
			t.Errorf("Phone(%q, %q) = %q, %v; want a PhoneError", c.raw, c.country, got, err)
			continue
		}
		if pe.Reason != c.reason || pe.Explicit != c.explicit {
			t.Errorf("Phone(%q): reason %d explicit %v, want %d %v", c.raw, pe.Reason, pe.Explicit, c.reason, c.explicit)
		}
		for _, m := range c.msg {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("Phone(%q): message %q lacks %q", c.raw, err, m)
			}
		}
		if c.not != "" && strings.Contains(err.Error(), c.not) {
			t.Errorf("Phone(%q): message %q says %q", c.raw, err, c.not)
		}
	}
}

func BenchmarkPhone(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := Phone("+442070000123", "US"); err != nil {
			b.Fatal(err)
		}
	}
}
