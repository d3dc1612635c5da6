package hooks

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/pi-crm/pi-crm/services/apikeys"
	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/providers"
	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/settings"
	"github.com/pi-crm/pi-crm/services/tenancy"
	"github.com/pocketbase/pocketbase/core"
)

var (
	errProvidersAdminOnly = apperr.Forbidden("provider_settings_forbidden", "Only the workspace's owners and admins manage its sending providers")
	errProviderBody       = apperr.BadRequest(providers.CodeSettingsInvalid, `Send {"from": "…", "rate_per_second"?: 0, "daily_limit"?: 0} (smtp adds "host", "port", "tls": "none"|"starttls"|"tls", "username", "password", "reply_to")`)
	errProviderTestBody   = apperr.BadRequest(providers.CodeTestInvalid, `Send {"to": "you@example.com"}`).With("fields", map[string]string{"to": "an email address"})
)

// providerTestTimeout bounds one test message.
const providerTestTimeout = 30 * time.Second

// ActionProviderTest is the audit action of a provider's test message.
const ActionProviderTest = "provider.test"

// registerProviders binds the sending providers' settings (outbox, smtp) of a
// workspace: owners and admins, key scope admin. The SMTP password is
// write-only (services/settings keeps it encrypted): no answer, log line or
// audit entry holds it. /providers/ai is its own, more specific route
// (hooks/ai.go): the mux sends "ai" there, every other name here.
func registerProviders(app core.App, crm *crmRoutes, now func() time.Time) {
	// the unsubscribe links of what these providers send (public, outside
	// /api/crm: hooks/unsubscribe.go)
	registerUnsubscribe(app, now)
	store := settings.New(app)

	access := func(e *core.RequestEvent, c caller) (string, string, error) {
		ws := e.Request.PathValue("id")
		if _, err := c.Require(e.App, ws, tenancy.RoleAdmin, errProvidersAdminOnly); err != nil {
			return "", "", err
		}
		name := e.Request.PathValue("name")
		if !providers.Known(name) {
			return "", "", apperr.NotFound(providers.CodeUnknown, "There is no sending provider \""+name+"\": use one of "+
				strings.Join(providers.Names, ", ")).With("provider", name).With("providers", providers.Names)
		}
		return ws, name, nil
	}
	view := func(app core.App, ws, name string) (providers.View, error) {
		l, err := providers.Load(store.WithApp(app), ws, name)
		if err != nil {
			return providers.View{}, err
		}
		return l.View(providers.Default(app, ws) == name), nil
	}

	crm.add(http.MethodGet, "/workspaces/{id}/providers/{name}", apikeys.ScopeAdmin, func(e *core.RequestEvent, c caller) error {
		ws, name, err := access(e, c)
		if err != nil {
			return err
		}
		v, err := view(e.App, ws, name)
		if err != nil {
			return err
		}
		return e.JSON(http.StatusOK, v)
	})

	crm.add(http.MethodPut, "/workspaces/{id}/providers/{name}", apikeys.ScopeAdmin, func(e *core.RequestEvent, c caller) error {
		ws, name, err := access(e, c)
		if err != nil {
			return err
		}
		var in providers.Input
		if err := e.BindBody(&in); err != nil {
			return errProviderBody
		}
		st, secrets, err := providers.Validate(name, in)
		if err != nil {
			return err
		}
		if err := store.Put(ws, name, st, secrets, c.Actor); err != nil {
			return err
		}
		v, err := view(e.App, ws, name)
		if err != nil {
			return err
		}
		return e.JSON(http.StatusOK, v)
	})

	crm.add(http.MethodPost, "/workspaces/{id}/providers/{name}/test", apikeys.ScopeAdmin, func(e *core.RequestEvent, c caller) error {
		ws, name, err := access(e, c)
		if err != nil {
			return err
		}
		var in struct {
			To string `json:"to"`
		}
		if err := e.BindBody(&in); err != nil {
			return errProviderTestBody
		}
		to, err := mail.ParseAddress(strings.TrimSpace(in.To))
		if err != nil || len(in.To) > 320 {
			return errProviderTestBody
		}
		sender, _, err := providers.Open(e.App, ws, name)
		if err != nil {
			return err
		}
		defer sender.Close()
		ctx, cancel := context.WithTimeout(e.Request.Context(), providerTestTimeout)
		defer cancel()
		start := now()
		res, sendErr := sender.Send(ctx, providerTestMessage(ws, name, to.Address))
		latency := now().Sub(start)
		details := map[string]any{"provider": name, "to": to.Address, "ok": sendErr == nil}
		if sendErr != nil {
			details["error"] = sendErr.Error()
		} else {
			details["message_id"] = res.ProviderMessageID
		}
		if err := audit.Log(e.App, audit.Entry{Actor: c.Actor, Workspace: ws, Action: ActionProviderTest,
			EntityType: "system_settings", EntityID: settings.KeyPrefix + name, Details: details}, now()); err != nil {
			return err
		}
		if sendErr != nil {
			permanent, _ := senders.Classify(sendErr)
			var coded *apperr.Error
			if errors.As(sendErr, &coded) {
				return coded
			}
			return apperr.New(http.StatusBadGateway, providers.CodeTestFailed, "The test message was not sent: "+sendErr.Error()).
				With("provider", name).With("error", sendErr.Error()).With("permanent", permanent)
		}
		return e.JSON(http.StatusOK, map[string]any{"provider": name, "to": to.Address, "message_id": res.ProviderMessageID,
			"latency_ms": latency.Milliseconds()})
	})
}

func providerTestMessage(ws, name, to string) senders.Message {
	return senders.Message{
		Workspace: ws, Channel: "email", To: to, Test: true,
		Subject: "pi-crm test message (" + name + ")",
		Text:    "This is a test message from pi-crm, sent through the workspace's " + name + " provider.\n\nIf you can read it, the set-up works.\n",
		HTML: "<!doctype html><html><body><p>This is a test message from pi-crm, sent through the workspace's <b>" + name +
			"</b> provider.</p><p>If you can read it, the set-up works.</p></body></html>",
		Headers: map[string]string{"X-PiCRM-Test": "1"},
	}
}
