package hooks

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pi-crm/pi-crm/services/webhooks"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
)

// registerWebhooks binds the providers' webhooks: public routes (no login,
// no API key: the provider's signature is the only authentication, checked
// by services/webhooks before anything is read or written), outside the
// /api/crm route group that requires a caller.
//
//	POST /api/crm/webhooks/mailgun/{workspace}  Mailgun's JSON events
//	POST /api/crm/webhooks/twilio/{workspace}   Twilio's status callbacks and inbound messages (form)
func registerWebhooks(app core.App, now func() time.Time) {
	h := webhooks.New(app, now)
	app.OnServe().Bind(&hook.Handler[*core.ServeEvent]{
		Func: func(se *core.ServeEvent) error {
			se.Router.POST("/api/crm/webhooks/mailgun/{workspace}", func(e *core.RequestEvent) error {
				body, err := io.ReadAll(http.MaxBytesReader(e.Response, e.Request.Body, webhooks.MaxBody))
				if err != nil {
					return webhooks.ErrMalformed
				}
				if err := h.Mailgun(e.Request.PathValue("workspace"), body); err != nil {
					return err
				}
				return e.JSON(http.StatusOK, map[string]any{"ok": true})
			})
			se.Router.POST("/api/crm/webhooks/twilio/{workspace}", func(e *core.RequestEvent) error {
				body, err := io.ReadAll(http.MaxBytesReader(e.Response, e.Request.Body, webhooks.MaxBody))
				if err != nil {
					return webhooks.ErrMalformed
				}
				form, err := url.ParseQuery(string(body))
				if err != nil {
					return webhooks.ErrMalformed
				}
				// the URL Twilio signed: the Application URL with this path
				public := strings.TrimRight(strings.TrimSpace(e.App.Settings().Meta.AppURL), "/") + e.Request.URL.RequestURI()
				if _, err := h.Twilio(e.Request.PathValue("workspace"), public, form, e.Request.Header.Get("X-Twilio-Signature")); err != nil {
					if errors.Is(err, webhooks.ErrSignature) {
						e.App.Logger().Warn("twilio webhook: bad signature", "workspace", e.Request.PathValue("workspace"))
					}
					return err
				}
				// an empty TwiML answer: no reply message
				e.Response.Header().Set("Content-Type", "text/xml")
				e.Response.WriteHeader(http.StatusOK)
				_, err = io.WriteString(e.Response, `<?xml version="1.0" encoding="UTF-8"?><Response></Response>`)
				return err
			})
			return se.Next()
		},
	})
}
