package hooks

import (
	"net/http"
	"strconv"
	"time"

	"github.com/pi-crm/pi-crm/services/apikeys"
	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/campaigns"
	"github.com/pi-crm/pi-crm/services/providers"
	"github.com/pi-crm/pi-crm/services/tenancy"
	"github.com/pocketbase/pocketbase/core"
)

// registerCampaignHooks fills the defaults of a new campaign before it is
// validated (every campaign starts as a draft, made by whoever created it)
// and keeps its invariants on every save (services/campaigns.PrepareEdit).
func registerCampaignHooks(app core.App) {
	app.OnRecordCreateRequest("campaigns").BindFunc(func(e *core.RecordRequestEvent) error {
		if c := callerOf(e.RequestEvent); c.UserID != "" && e.Record.GetString("created_by") == "" && !e.HasSuperuserAuth() {
			e.Record.Set("created_by", c.UserID)
		}
		return e.Next()
	})
	app.OnRecordCreate("campaigns").BindFunc(func(e *core.RecordEvent) error {
		if e.Record.GetString("status") == "" {
			e.Record.Set("status", "draft")
		}
		if err := campaigns.PrepareEdit(e.App, e.Record); err != nil {
			return err
		}
		return e.Next()
	})
	app.OnRecordUpdate("campaigns").BindFunc(func(e *core.RecordEvent) error {
		if err := campaigns.PrepareEdit(e.App, e.Record); err != nil {
			return err
		}
		return e.Next()
	})
	// The delete rule refuses a campaign the engine is working on (members
	// get PocketBase's 404, as for any row they may not delete); superusers
	// bypass rules, so the dashboard gets the refusal here, with its reason.
	// A workspace's deletion still takes its campaigns (a cascade is no
	// request).
	app.OnRecordDeleteRequest("campaigns").BindFunc(func(e *core.RecordRequestEvent) error {
		switch st := e.Record.GetString("status"); st {
		case "sending", "paused", "scheduled":
			return apperr.Conflict("campaign_delete_active",
				"The campaign is "+st+": cancel it before deleting it (deleting would take its delivery ledger with it)").
				With("status", st)
		}
		return e.Next()
	})
}

// actionScopes: approving, rejecting, scheduling, starting and resuming a
// send need campaigns:send; submit, pause and cancel campaigns:write (a key
// that may not send may still stop a send).
var actionScopes = map[string]string{
	campaigns.ActionSubmit: apikeys.ScopeCampaignsWrite, campaigns.ActionPause: apikeys.ScopeCampaignsWrite,
	campaigns.ActionResume: apikeys.ScopeCampaignsSend, campaigns.ActionCancel: apikeys.ScopeCampaignsWrite,
	campaigns.ActionApprove: apikeys.ScopeCampaignsSend, campaigns.ActionReject: apikeys.ScopeCampaignsSend,
	campaigns.ActionSchedule: apikeys.ScopeCampaignsSend, campaigns.ActionSend: apikeys.ScopeCampaignsSend,
}

// registerCampaigns adds the lifecycle's routes (one per action of the
// transition table) and the audience; it returns the lifecycle so the
// engine can be named as its kicker.
func registerCampaigns(app core.App, crm *crmRoutes, now func() time.Time) *campaigns.Service {
	svc := campaigns.NewService(app, now, nil, providers.Default)
	for action, scope := range actionScopes {
		crm.add(http.MethodPost, "/campaigns/{id}/"+action, scope, func(e *core.RequestEvent, c caller) error {
			var in campaigns.Input
			if e.Request.ContentLength != 0 {
				if err := e.BindBody(&in); err != nil {
					return apperr.BadRequest(campaigns.CodeActionInvalid, `Send {"notes": "…"} to approve or reject, {"at": RFC 3339, "timezone": IANA} to schedule, or nothing`)
				}
			}
			rec, err := svc.Act(campaigns.Who{UserID: c.UserID, Actor: c.Actor, Reaches: c.Reaches}, e.Request.PathValue("id"), action, in)
			if err != nil {
				return err
			}
			return e.JSON(http.StatusOK, rec)
		})
	}
	crm.add(http.MethodGet, "/campaigns/{id}/audience", apikeys.ScopeCampaignsRead, func(e *core.RequestEvent, c caller) error {
		rec, err := e.App.FindRecordById("campaigns", e.Request.PathValue("id"))
		if err != nil {
			return campaignNotFound
		}
		ws := rec.GetString("workspace")
		if _, err := c.Require(e.App, ws, tenancy.RoleViewer, nil); err != nil {
			if err == tenancy.ErrWorkspaceNotFound {
				return campaignNotFound
			}
			return err
		}
		if !c.Allows(apikeys.ScopeContactsRead) {
			return scopeMissing(apikeys.ScopeContactsRead) // the sample names contacts
		}
		sample := 20
		if v := e.Request.URL.Query().Get("sample"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return apperr.BadRequest(campaigns.CodeSegmentInvalid, "sample: a number of contacts, 0 to 100")
			}
			sample = n
		}
		seg, err := campaigns.ParseSegment(rec.GetString("segment"))
		if err != nil {
			return err
		}
		a, err := campaigns.CountAudience(e.App, ws, seg, rec.GetString("type"), sample)
		if err != nil {
			return err
		}
		return e.JSON(http.StatusOK, a)
	})
	return svc
}

var campaignNotFound = apperr.NotFound(campaigns.CodeNotFound, "no such campaign")
