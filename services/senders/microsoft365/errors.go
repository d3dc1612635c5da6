package microsoft365

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/senders/remote"
)

// apiError is what kiota returns for a Graph answer that is not 2xx: the
// OData error (which embeds abs.ApiError) or a bare abs.ApiError.
type apiError interface {
	error
	GetStatusCode() int
	GetResponseHeaders() *abs.ResponseHeaders
}

// classify maps a failed call for the engine:
//   - the token exchange refused (a wrong secret, an unknown app or
//     tenant): permanent; the login endpoint throttling or down: temporary;
//   - Graph throttling (429, 503) or another 5xx: temporary, with
//     Retry-After;
//   - any other answer (400 ErrorInvalidRecipients, 401, 403
//     ErrorAccessDenied: no Mail.Send, 404 an unknown mailbox): permanent;
//   - no answer: unknown once the request was written, else temporary.
func (s *Sender) classify(err error, written *remote.Written) error {
	var af *azidentity.AuthenticationFailedError
	if errors.As(err, &af) {
		code, after := 0, ""
		if af.RawResponse != nil {
			code, after = af.RawResponse.StatusCode, af.RawResponse.Header.Get("Retry-After")
		}
		e := fmt.Errorf("microsoft365: token exchange refused (%d): %w", code, err)
		if code == 0 || code == http.StatusTooManyRequests || code >= 500 {
			// 0: no answer from the login endpoint; nothing reached Graph
			return senders.Temporary(e, remote.RetryAfter(after, s.now()))
		}
		return senders.Permanent(e)
	}
	var ae apiError
	if errors.As(err, &ae) {
		e := fmt.Errorf("microsoft365: %d %s", ae.GetStatusCode(), describe(err))
		after := ""
		if h := ae.GetResponseHeaders(); h != nil {
			if v := h.Get("Retry-After"); len(v) > 0 {
				after = v[0]
			}
		}
		code := ae.GetStatusCode()
		if code == http.StatusTooManyRequests || code >= 500 || code == http.StatusRequestTimeout {
			return senders.Temporary(e, remote.RetryAfter(after, s.now()))
		}
		return senders.Permanent(e)
	}
	return remote.TransportError(fmt.Errorf("microsoft365: %w", err), written)
}

// describe is the OData error's code and message ("ErrorInvalidRecipients:
// At least one recipient is not valid…"), else the error's text.
func describe(err error) string {
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) {
		if main := oe.GetErrorEscaped(); main != nil {
			code, msg := "", ""
			if main.GetCode() != nil {
				code = *main.GetCode()
			}
			if main.GetMessage() != nil {
				msg = *main.GetMessage()
			}
			return code + ": " + msg
		}
	}
	return err.Error()
}

// statusOf is a Graph answer's status (0: none).
func statusOf(err error) int {
	var ae apiError
	if errors.As(err, &ae) {
		return ae.GetStatusCode()
	}
	return 0
}
