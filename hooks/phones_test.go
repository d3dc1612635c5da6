package hooks_test

import (
	"net/http"
	"strings"
	"testing"
)

// The collection API (the JS SDK, the UI) stores a phone number that is
// possible for its country though libphonenumber's range tables call it
// invalid (issue 18), and stays strict otherwise with a message that fits
// the number: one written with its country code is never told to add one.
func TestRESTPhonePossibleAndMessages(t *testing.T) {
	f := newCRM(t)
	c := mustStatus(t, f.post(t, "outsider", map[string]any{"workspace": f.x.Id, "primary_phone": "+44 7700 900123"}), 200, "")
	if c["primary_phone"] != "+447700900123" {
		t.Fatalf("phone = %v", c["primary_phone"])
	}
	for raw, want := range map[string]string{
		"+44 12":        "too short for a phone number with country code +44",
		"12345":         "too short for a phone number in US: if it is a number of another country, write it with its country code",
		"555-0100":      "has no area code",
		"call me later": `"call me later" is not a phone number`,
	} {
		bad := mustStatus(t, f.post(t, "outsider", map[string]any{"workspace": f.x.Id, "primary_phone": raw}), 400, "contact_invalid_phone")
		fe, _ := dataOf(bad)["primary_phone"].(map[string]any)
		msg, _ := fe["message"].(string)
		if !strings.Contains(msg, want) {
			t.Errorf("%q: message %q, want it to say %q", raw, msg, want)
		}
		if strings.HasPrefix(raw, "+") && strings.Contains(msg, "write it with its country code") {
			t.Errorf("%q has a country code, yet: %q", raw, msg)
		}
	}
	// a custom field of type phone: the same normaliser, the same words
	res := f.env.Do(http.MethodPost, "/api/collections/custom_field_definitions/records", f.tok["outsider"],
		map[string]any{"user": f.outsider.Id, "workspace": f.x.Id, "field_name": "mobile", "label": "Mobile", "field_type": "phone"})
	mustStatus(t, res, 200, "")
	ok := mustStatus(t, f.post(t, "outsider", map[string]any{"workspace": f.x.Id, "first_name": "M", "custom": map[string]any{"mobile": "+44 7700 900125"}}), 200, "")
	if cu, _ := ok["custom"].(map[string]any); cu["mobile"] != "+447700900125" {
		t.Errorf("custom phone %v", ok["custom"])
	}
	bad := f.post(t, "outsider", map[string]any{"workspace": f.x.Id, "first_name": "N", "custom": map[string]any{"mobile": "+44 12"}})
	if bad.Status != 400 || !strings.Contains(string(bad.Body), "too short for a phone number with country code +44") {
		t.Errorf("custom phone refused with %d %s", bad.Status, bad.Body)
	}
}
