// Package normalize holds the canonical forms of a contact's email and phone,
// shared by the contacts service and custom values of type email and phone (a
// leaf package: the contacts service builds on custom values, so they cannot
// import it).
package normalize

import (
	"errors"
	"strings"

	"github.com/pocketbase/ozzo-validation/v4/is"
)

// DefaultCountry is used for phone numbers without a country code when the
// workspace has not chosen one.
const DefaultCountry = "US"

var errEmail = errors.New("is not a valid email address")

// Email returns raw trimmed and lower-cased. Addresses are compared
// case-insensitively by every mail system that matters to a small business,
// so two spellings of one address are one person (and one duplicate).
// An empty input stays empty (no email).
func Email(raw string) (string, error) {
	s := strings.ToLower(strings.TrimSpace(raw))
	if s == "" {
		return "", nil
	}
	// the same check as PocketBase's email field, so a value accepted here is
	// never refused later by the collection's own validation
	if err := is.EmailFormat.Validate(s); err != nil || strings.ContainsAny(s, " <>") {
		return "", errEmail
	}
	return s, nil
}
