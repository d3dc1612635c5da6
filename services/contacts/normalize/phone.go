package normalize

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// PhoneReason is why a phone number cannot be stored.
type PhoneReason int

// The reasons, from libphonenumber's parse errors and length checks.
const (
	PhoneNotANumber         PhoneReason = iota // no phone number can be read from it
	PhoneUnknownCountryCode                    // it starts with a calling code no country has
	PhoneTooShort
	PhoneTooLong
	PhoneBadLength // between the lengths numbers of its country have, but none of them
	PhoneLocalOnly // a local number without its area code: it has no E.164 form
)

// PhoneError is a phone number that cannot be stored. Its message says what
// is wrong with this number, so callers show it as it is.
type PhoneError struct {
	Raw     string // as given, trimmed
	Country string // the country a number without a country code is read in
	// Explicit: the number was written with a country code of its own
	// (+44, 0044, or a country code without the +), which CountryCode holds
	Explicit    bool
	CountryCode int32
	Reason      PhoneReason
}

func (e *PhoneError) Error() string {
	q := fmt.Sprintf("%q", e.Raw)
	if e.Explicit {
		cc := fmt.Sprintf("+%d", e.CountryCode)
		switch e.Reason {
		case PhoneTooShort:
			return q + " is too short for a phone number with country code " + cc
		case PhoneTooLong:
			return q + " is too long for a phone number with country code " + cc
		case PhoneBadLength:
			return q + " does not have the length of a phone number with country code " + cc
		case PhoneLocalOnly:
			return q + " lacks the area code a phone number with country code " + cc + " needs"
		}
	}
	switch e.Reason {
	case PhoneUnknownCountryCode:
		return q + " starts with a country code that no country has"
	case PhoneTooShort, PhoneTooLong, PhoneBadLength:
		what := map[PhoneReason]string{PhoneTooShort: "too short", PhoneTooLong: "too long", PhoneBadLength: "of the wrong length"}[e.Reason]
		return fmt.Sprintf("%s is %s for a phone number in %s: if it is a number of another country, write it with its country code, e.g. +44 20 7946 0958", q, what, e.Country)
	case PhoneLocalOnly:
		return q + " has no area code: write the number in full, with its area code or its country code"
	}
	return q + " is not a phone number"
}

// Phone returns raw in E.164 (+14155550100), or a *PhoneError. A number
// without a country code is read as a number of country (ISO 3166
// alpha-2; "" is DefaultCountry).
//
// A number is accepted when its length is possible for its country
// (libphonenumber's IsPossibleNumber), not only when its range tables
// call it valid: they lag behind new ranges (+44 7700 900123 is a real
// mobile number they call invalid), and a CRM that refuses a number a
// person really has loses it. A local number without its area code is
// "possible" to libphonenumber too, but it has no E.164 form: refused.
func Phone(raw, country string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", nil
	}
	if country == "" {
		country = DefaultCountry
	}
	num, err := phonenumbers.Parse(s, country)
	if err != nil {
		return "", parseError(s, country, err)
	}
	if r := phonenumbers.IsPossibleNumberWithReason(num); r != phonenumbers.IS_POSSIBLE {
		return "", lengthError(s, country, num, r)
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

func parseError(s, country string, err error) *PhoneError {
	e := &PhoneError{Raw: s, Country: country, Reason: PhoneNotANumber}
	switch {
	case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
		e.Reason = PhoneUnknownCountryCode
	case errors.Is(err, phonenumbers.ErrNumTooLong):
		e.Reason = PhoneTooLong
	case errors.Is(err, phonenumbers.ErrTooShortNSN), errors.Is(err, phonenumbers.ErrTooShortAfterIDD):
		e.Reason = PhoneTooShort
	}
	return e
}

// lengthError is only built for a number that is refused: the second parse
// (which keeps how the country code was given) costs nothing on the path of
// the numbers that are stored.
func lengthError(s, country string, num *phonenumbers.PhoneNumber, r phonenumbers.ValidationResult) *PhoneError {
	e := &PhoneError{Raw: s, Country: country, CountryCode: num.GetCountryCode(), Reason: PhoneBadLength}
	switch r {
	case phonenumbers.TOO_SHORT:
		e.Reason = PhoneTooShort
	case phonenumbers.TOO_LONG:
		e.Reason = PhoneTooLong
	case phonenumbers.IS_POSSIBLE_LOCAL_ONLY:
		e.Reason = PhoneLocalOnly
	case phonenumbers.INVALID_COUNTRY_CODE:
		e.Reason = PhoneUnknownCountryCode
	}
	if kept, err := phonenumbers.ParseAndKeepRawInput(s, country); err == nil {
		e.Explicit = kept.GetCountryCodeSource() != phonenumbers.PhoneNumber_FROM_DEFAULT_COUNTRY
	}
	return e
}
