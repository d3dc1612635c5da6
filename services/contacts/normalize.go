package contacts

import "github.com/pi-crm/pi-crm/services/contacts/normalize"

// DefaultCountry is used for phone numbers without a country code when the
// workspace has not chosen one.
const DefaultCountry = normalize.DefaultCountry

// NormalizeEmail returns raw trimmed and lower-cased (normalize.Email).
func NormalizeEmail(raw string) (string, error) { return normalize.Email(raw) }

// NormalizePhone returns raw in E.164 (normalize.Phone).
func NormalizePhone(raw, country string) (string, error) { return normalize.Phone(raw, country) }
