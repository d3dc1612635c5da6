package gmail

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"

	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/senders/remote"
)

// Reasons Google gives for a 403 or 429 that passes with time (the Gmail
// API's "Resolve errors": usage limits), as opposed to a refusal.
var retryableReasons = map[string]bool{
	"rateLimitExceeded":     true,
	"userRateLimitExceeded": true,
	"quotaExceeded":         true,
	"dailyLimitExceeded":    true,
	"backendError":          true,
}

// classify maps a failed call for the engine:
//   - the token exchange refused (a revoked refresh token, a service account
//     whose delegation or scope is missing, a wrong key): permanent; the
//     token endpoint down or throttling: temporary;
//   - 429, a usage-limit reason, 5xx or 408: temporary, with Retry-After;
//   - any other answer (400 invalidArgument: a refused address or message,
//     401 bad credentials, 403 forbidden, 404 unknown user): permanent;
//   - no answer: unknown once the request was written, else temporary.
func (s *Sender) classify(err error, written *remote.Written) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		code, retryAfter := 0, ""
		if re.Response != nil {
			code, retryAfter = re.Response.StatusCode, re.Response.Header.Get("Retry-After")
		}
		e := fmt.Errorf("gmail: token exchange refused (%d %s): %w", code, tokenErrorCode(re), err)
		if code == http.StatusTooManyRequests || code >= 500 {
			return senders.Temporary(e, remote.RetryAfter(retryAfter, s.now()))
		}
		return senders.Permanent(e)
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		e := fmt.Errorf("gmail: %w", err)
		after := remote.RetryAfter(ge.Header.Get("Retry-After"), s.now())
		switch {
		case ge.Code == http.StatusTooManyRequests, ge.Code >= 500, ge.Code == http.StatusRequestTimeout:
			return senders.Temporary(e, after)
		case ge.Code == http.StatusForbidden && hasReason(ge, retryableReasons):
			return senders.Temporary(e, after)
		}
		return senders.Permanent(e)
	}
	return remote.TransportError(fmt.Errorf("gmail: %w", err), written)
}

func hasReason(ge *googleapi.Error, reasons map[string]bool) bool {
	for _, it := range ge.Errors {
		if reasons[it.Reason] {
			return true
		}
	}
	return false
}

// tokenErrorCode is RFC 6749's error code of a refused exchange (the JWT
// flow leaves ErrorCode empty and only keeps the body).
func tokenErrorCode(re *oauth2.RetrieveError) string {
	if re.ErrorCode != "" {
		return re.ErrorCode
	}
	var body struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(re.Body, &body)
	return body.Error
}

// scopeMissing reports whether err says the credentials may not read mail:
// a 403 for insufficient scopes, gmail.metadata asked to search, or a token
// exchange refused because the delegation lacks the scope asked for.
func scopeMissing(err error) bool {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code == http.StatusForbidden && !hasReason(ge, retryableReasons)
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		switch tokenErrorCode(re) {
		case "unauthorized_client", "access_denied", "invalid_scope":
			return true
		}
	}
	return false
}
