package hooks

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/pi-crm/pi-crm/services/apikeys"
	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/campaigns"
	"github.com/pi-crm/pi-crm/services/providers"
	"github.com/pi-crm/pi-crm/services/sending"
	"github.com/pi-crm/pi-crm/services/tenancy"
	"github.com/pi-crm/pi-crm/services/unsubscribe"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
)

// sendingStoreKey holds the app's engine in app.Store() (SendingEngine).
const sendingStoreKey = "pi-crm.sending.engine"

// SendingEngine is the engine Register started with app (nil before), for
// tests to wait on or stop.
func SendingEngine(app core.App) *sending.Engine {
	e, _ := app.Store().Get(sendingStoreKey).(*sending.Engine)
	return e
}

var errSendViewer = apperr.Forbidden("campaign_forbidden", "viewers cannot send or retry campaigns")

// registerSending builds the sending engine (the lifecycle's kicker, its
// scheduler loop calling StartDue), starts it when the app serves and stops
// it when the app terminates; and the retry and test-send routes.
func registerSending(app core.App, crm *crmRoutes, lifecycle *campaigns.Service, now func() time.Time, popt providers.Options) {
	// the workspace's providers (outbox, smtp) and signed unsubscribe links
	// under the Application URL
	opt := sending.Options{Scheduler: lifecycle, Open: providers.Opener(popt), Links: unsubscribe.NewLinks(app)}
	if now != nil {
		opt.Clock = nowClock{now}
	}
	eng := sending.NewEngine(app, opt)
	lifecycle.SetKicker(eng)
	app.Store().Set(sendingStoreKey, eng)
	app.OnServe().Bind(&hook.Handler[*core.ServeEvent]{
		Func: func(se *core.ServeEvent) error {
			if err := eng.Start(); err != nil {
				return err
			}
			return se.Next()
		},
	})
	app.OnTerminate().BindFunc(func(e *core.TerminateEvent) error {
		eng.Stop()
		return e.Next()
	})

	campaignFor := func(e *core.RequestEvent, c caller) (*core.Record, error) {
		rec, err := e.App.FindRecordById("campaigns", e.Request.PathValue("id"))
		if err != nil {
			return nil, campaignNotFound
		}
		if _, err := c.Require(e.App, rec.GetString("workspace"), tenancy.RoleEditor, errSendViewer); err != nil {
			if errors.Is(err, tenancy.ErrWorkspaceNotFound) {
				return nil, campaignNotFound
			}
			return nil, err
		}
		return rec, nil
	}

	crm.add(http.MethodPost, "/campaigns/{id}/retry", apikeys.ScopeCampaignsSend, func(e *core.RequestEvent, c caller) error {
		rec, err := campaignFor(e, c)
		if err != nil {
			return err
		}
		var in struct {
			Statuses []string `json:"statuses"`
		}
		if err := e.BindBody(&in); err != nil {
			return apperr.BadRequest(sending.CodeRetryInvalid, `Send {"statuses": ["failed", "unknown"]}`)
		}
		n, err := eng.Retry(c.Actor, rec, in.Statuses)
		if err != nil {
			return err
		}
		rec, err = e.App.FindRecordById("campaigns", rec.Id)
		if err != nil {
			return err
		}
		return e.JSON(http.StatusOK, map[string]any{"requeued": n, "campaign": rec})
	})

	crm.add(http.MethodPost, "/campaigns/{id}/test", apikeys.ScopeCampaignsWrite, func(e *core.RequestEvent, c caller) error {
		rec, err := campaignFor(e, c)
		if err != nil {
			return err
		}
		var in struct {
			Addresses []string `json:"addresses"`
			Contact   string   `json:"contact"`
		}
		if err := e.BindBody(&in); err != nil {
			return apperr.BadRequest(sending.CodeTestSendInvalid, `Send {"addresses": ["…"], "contact": "id"}`)
		}
		var contact *core.Record
		if in.Contact != "" {
			contact, err = e.App.FindRecordById("contacts", in.Contact)
			if err != nil || contact.GetString("workspace") != rec.GetString("workspace") {
				return apperr.NotFound("contact_not_found", "no such contact in the campaign's workspace")
			}
		}
		ctx, cancel := context.WithTimeout(e.Request.Context(), time.Minute)
		defer cancel()
		res, err := eng.SendTest(ctx, c.Actor, rec, in.Addresses, contact)
		if err != nil {
			return err
		}
		return e.JSON(http.StatusOK, map[string]any{"sent": res})
	})
}

// nowClock is the configured clock's now with real timers.
type nowClock struct{ now func() time.Time }

func (c nowClock) Now() time.Time                         { return c.now() }
func (c nowClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
