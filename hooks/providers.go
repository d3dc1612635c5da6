package hooks

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"regexp"
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
	errProvidersAdminOnly  = apperr.Forbidden("provider_settings_forbidden", "Only the workspace's owners and admins manage its sending providers")
	errProviderBody        = apperr.BadRequest(providers.CodeSettingsInvalid, `Send a JSON object of the provider's fields: {"from": "…", "rate_per_second"?: 0, "daily_limit"?: 0, …} (GET …/providers lists each provider's fields)`)
	errProviderTestBody    = apperr.BadRequest(providers.CodeTestInvalid, `Send {"to": "you@example.com"}`).With("fields", map[string]string{"to": "an email address"})
	errProviderSMSTest     = apperr.BadRequest(providers.CodeTestInvalid, `Send {"to": "+15551234567"}`).With("fields", map[string]string{"to": "a phone number in E.164"})
	errProviderDefaultBody = apperr.BadRequest(providers.CodeDefaultInvalid, `Send {"name": "outbox"|"smtp"|"mailgun"|…}`).With("fields", map[string]string{"name": "a provider's name"})
)

// providerTestTimeout bounds one test message.
const providerTestTimeout = 30 * time.Second

// ActionProviderTest is the audit action of a provider's test message.
const ActionProviderTest = "provider.test"

// registerProviders binds the sending providers' settings of a workspace
// (services/providers' registry: outbox, smtp, mailgun, gmail, microsoft365,
// twilio), the list and the default provider: owners and admins, key scope
// admin. Secrets are write-only (services/settings keeps them encrypted): no
// answer, log line or audit entry holds one. /providers/ai is its own, more specific route
// (hooks/ai.go): the mux sends "ai" there, every other name here.
func registerProviders(app core.App, crm *crmRoutes, now func() time.Time, popt providers.Options) {
	// the unsubscribe links of what these providers send (public, outside
	// /api/crm: hooks/unsubscribe.go)
	registerUnsubscribe(app, now)
	// their webhooks (public, signed: hooks/webhooks.go)
	registerWebhooks(app, now)
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
	view := func(app core.App, ws, name string) (map[string]any, error) {
		l, err := providers.Load(store.WithApp(app), ws, name)
		if err != nil {
			return nil, err
		}
		return l.View(providers.Default(app, ws) == name), nil
	}

	// the list: every provider's view and its schema (fields, hints, default
	// limits), the workspace's default
	crm.add(http.MethodGet, "/workspaces/{id}/providers", apikeys.ScopeAdmin, func(e *core.RequestEvent, c caller) error {
		ws := e.Request.PathValue("id")
		if _, err := c.Require(e.App, ws, tenancy.RoleAdmin, errProvidersAdminOnly); err != nil {
			return err
		}
		def := providers.Default(e.App, ws)
		items := []map[string]any{}
		for _, p := range providers.All() {
			l, err := providers.Load(store.WithApp(e.App), ws, p.Name)
			if err != nil {
				return err
			}
			v := l.View(def == p.Name)
			v["schema"] = providers.SchemaOf(p)
			items = append(items, v)
		}
		return e.JSON(http.StatusOK, map[string]any{"default": def, "items": items})
	})

	// the default provider of new campaigns: {"name": "mailgun"}
	crm.add(http.MethodPut, "/workspaces/{id}/providers/default", apikeys.ScopeAdmin, func(e *core.RequestEvent, c caller) error {
		ws := e.Request.PathValue("id")
		if _, err := c.Require(e.App, ws, tenancy.RoleAdmin, errProvidersAdminOnly); err != nil {
			return err
		}
		var in struct {
			Name string `json:"name"`
		}
		if err := e.BindBody(&in); err != nil || in.Name == "" {
			return errProviderDefaultBody
		}
		if err := providers.SetDefault(e.App, ws, in.Name, c.Actor); err != nil {
			return err
		}
		return e.JSON(http.StatusOK, map[string]any{"default": providers.Default(e.App, ws)})
	})

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
		channel := providers.Get(name).Channel
		var addr string
		if channel == "sms" {
			addr = strings.TrimSpace(in.To)
			if !e164.MatchString(addr) {
				return errProviderSMSTest
			}
		} else {
			to, err := mail.ParseAddress(strings.TrimSpace(in.To))
			if err != nil || len(in.To) > 320 {
				return errProviderTestBody
			}
			addr = to.Address
		}
		sender, _, err := providers.OpenWith(e.App, ws, name, popt)
		if err != nil {
			return err
		}
		defer sender.Close()
		ctx, cancel := context.WithTimeout(e.Request.Context(), providerTestTimeout)
		defer cancel()
		start := now()
		msg := providerTestMessage(ws, name, channel, addr, testMessageHost(e.App))
		res, sendErr := sender.Send(ctx, msg)
		latency := now().Sub(start)
		details := map[string]any{"provider": name, "to": addr, "ok": sendErr == nil}
		var lookup, lookupDetail string
		if sendErr != nil {
			details["error"] = sendErr.Error()
		} else {
			details["message_id"] = res.ProviderMessageID
			// may these credentials settle unknown rows? (the settings
			// form says so: a look-up needs read access, sending does not)
			lookup, lookupDetail = providers.ProbeLookup(ctx, sender, msg, start)
			details["lookup"] = lookup
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
		out := map[string]any{"provider": name, "to": addr, "message_id": res.ProviderMessageID,
			"latency_ms": latency.Milliseconds(), "lookup": lookup}
		if lookupDetail != "" {
			out["lookup_detail"] = lookupDetail
		}
		return e.JSON(http.StatusOK, out)
	})
}

// e164 is a test SMS's number.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// testMessageHost is the host of a test message's Message-ID (the
// Application URL's, as the engine's deliveries).
func testMessageHost(app core.App) string { return senders.MessageIDHost(app.Settings().Meta.AppURL) }

// providerTestMessage is a provider test's message; an email carries its
// own Message-ID, which the look-up probe then asks the provider about.
func providerTestMessage(ws, name, channel, to, host string) senders.Message {
	if channel == "sms" {
		return senders.Message{Workspace: ws, Channel: "sms", To: to, Test: true,
			Text: "pi-crm test message through the " + name + " provider: the set-up works."}
	}
	return senders.Message{
		Workspace: ws, Channel: "email", To: to, Test: true,
		Subject: "pi-crm test message (" + name + ")",
		Text:    "This is a test message from pi-crm, sent through the workspace's " + name + " provider.\n\nIf you can read it, the set-up works.\n",
		HTML: "<!doctype html><html><body><p>This is a test message from pi-crm, sent through the workspace's <b>" + name +
			"</b> provider.</p><p>If you can read it, the set-up works.</p></body></html>",
		Headers:   map[string]string{"X-PiCRM-Test": "1"},
		MessageID: "<test." + core.GenerateDefaultRandomId() + "@" + host + ">",
	}
}
