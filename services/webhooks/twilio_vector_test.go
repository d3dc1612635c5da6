package webhooks_test

import (
	"encoding/json"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/providers"
	"github.com/pi-crm/pi-crm/services/settings"
	"github.com/pi-crm/pi-crm/services/webhooks"
)

// Twilio's documented example (twilio-go's request_validator_test, from
// Twilio's "Webhooks security" page): auth token 12345, the URL
// https://mycompany.com/myapp.php?foo=1&bar=2 and these parameters sign to
// vOEb5UThFn24KEfnOFLQY2AE5FY=. The vector passes the signature (the body,
// neither a status nor a message, is then malformed: 400, not 403); one
// changed parameter or another token fails it.
func TestTwilioDocumentedVector(t *testing.T) {
	env := testutil.New(t)
	owner, _ := env.User("owner@example.com")
	ws := env.Workspace("W", owner, nil)
	raw := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	st, secrets, err := providers.Validate("twilio", providers.Input{"account_sid": raw("AC0123456789abcdef0123456789abcdef"),
		"auth_token": raw("12345"), "from_number": raw("+15017122661")})
	if err != nil {
		t.Fatal(err)
	}
	if err := settings.New(env.App).Put(ws.Id, "twilio", st, secrets, audit.Actor{}); err != nil {
		t.Fatal(err)
	}
	h := webhooks.New(env.App, time.Now)
	const u = "https://mycompany.com/myapp.php?foo=1&bar=2"
	form := url.Values{"Digits": {"1234"}, "CallSid": {"CA1234567890ABCDE"}, "To": {"+18005551212"}, "Caller": {"+14158675309"},
		"From": {"+14158675309"}, "ReasonConferenceEnded": {"test"}, "Reason": {"Participant"}}
	if _, err := h.Twilio(ws.Id, u, form, "vOEb5UThFn24KEfnOFLQY2AE5FY="); !errors.Is(err, webhooks.ErrMalformed) {
		t.Errorf("the documented vector: %v, want malformed (signature accepted)", err)
	}
	form.Set("Digits", "1235")
	if _, err := h.Twilio(ws.Id, u, form, "vOEb5UThFn24KEfnOFLQY2AE5FY="); !errors.Is(err, webhooks.ErrSignature) {
		t.Errorf("a changed parameter: %v", err)
	}
}
