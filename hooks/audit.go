package hooks

import (
	"time"

	"github.com/pi-crm/pi-crm/services/apikeys"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/tenancy"
	"github.com/pocketbase/pocketbase/core"
)

// auditor logs every change of a domain record in the transaction that makes
// it. It hooks the model layer, not the API, so REST, batch, custom routes,
// other hooks, the CLI and cascades are all covered by the same code; the API
// layer only adds who asked (attached to the record before it is saved).
type auditor struct {
	app core.App
	now func() time.Time
}

// audited: every collection of ours except the log itself (PocketBase's
// system collections — superusers, MFAs, OTPs, auth origins — have their own).
func audited(rec *core.Record) bool {
	c := rec.Collection()
	return !c.System && c.Name != audit.Collection && !audit.Skipped(rec)
}

func actorOf(e *core.RequestEvent) audit.Actor {
	a := audit.Actor{IP: e.RealIP()}
	if k, ok := e.Get(eventKeyAPIKey).(*apikeys.Key); ok {
		// e.Auth is the key's principal record; the person is its user
		a.UserID = k.User.Id
		a.APIKeyID = k.ID
	} else if e.Auth != nil {
		a.UserID = e.Auth.Id
	}
	return a
}

func registerAudit(app core.App, a *auditor) {
	// who: attach the API caller to the record before the model hooks run
	attach := func(e *core.RecordRequestEvent) error {
		audit.Attach(e.Record, actorOf(e.RequestEvent))
		return e.Next()
	}
	app.OnRecordCreateRequest().BindFunc(attach)
	app.OnRecordUpdateRequest().BindFunc(attach)
	app.OnRecordDeleteRequest().BindFunc(attach)

	app.OnRecordCreateExecute().BindFunc(func(e *core.RecordEvent) error {
		if !audited(e.Record) {
			return e.Next()
		}
		return withinTransaction(e, func(tx core.App) error {
			return a.log(tx, e.Record, audit.ActionCreate, map[string]any{"after": audit.Snapshot(e.Record)})
		})
	})

	app.OnRecordUpdateExecute().BindFunc(func(e *core.RecordEvent) error {
		if !audited(e.Record) {
			return e.Next()
		}
		before, after, pw := audit.Diff(e.Record)
		action := audit.ActionUpdate
		if pw {
			action = audit.ActionPasswordChange
		}
		return withinTransaction(e, func(tx core.App) error {
			return a.log(tx, e.Record, action, map[string]any{"before": before, "after": after})
		})
	})

	app.OnRecordDeleteExecute().BindFunc(func(e *core.RecordEvent) error {
		if !audited(e.Record) {
			return e.Next()
		}
		// the workspace is resolved before the delete: a custom value's
		// contact may be going away in the same cascade
		ws := tenancy.WorkspaceOf(e.App, e.Record)
		snapshot := audit.Snapshot(e.Record)
		return withinTransaction(e, func(tx core.App) error {
			return a.logIn(tx, e.Record, ws, audit.ActionDelete, map[string]any{"before": snapshot})
		})
	})

	app.OnRecordAuthWithPasswordRequest().BindFunc(func(e *core.RecordAuthWithPasswordRequestEvent) error {
		err := e.Next()
		if err != nil {
			a.authEvent(e.RequestEvent, audit.ActionLoginFailed, "", map[string]any{"identity": e.Identity, "collection": e.Collection.Name})
		} else if e.Record != nil {
			a.authEvent(e.RequestEvent, audit.ActionLogin, e.Record.Id, map[string]any{"collection": e.Collection.Name})
		}
		return err
	})

	// retention: the only way entries ever leave the log
	app.Cron().MustAdd("picrm_audit_retention", "30 3 * * *", func() {
		defer func() {
			if r := recover(); r != nil {
				app.Logger().Error("audit retention job panicked", "panic", r)
			}
		}()
		n, err := audit.Prune(app, a.now())
		if err != nil {
			app.Logger().Error("audit retention failed", "error", err)
			return
		}
		app.Logger().Info("audit retention", "deleted", n)
	})
}

func (a *auditor) log(tx core.App, rec *core.Record, action string, details map[string]any) error {
	return a.logIn(tx, rec, tenancy.WorkspaceOf(tx, rec), action, details)
}

func (a *auditor) logIn(tx core.App, rec *core.Record, ws, action string, details map[string]any) error {
	return audit.Log(tx, audit.Entry{
		Actor:      audit.ActorOf(rec),
		Workspace:  ws,
		Action:     action,
		EntityType: rec.Collection().Name,
		EntityID:   rec.Id,
		Details:    details,
	}, a.now())
}

// authEvent logs an event that changes no record (a login, a refused key).
// A failure to log is reported but does not change the answer to the client.
func (a *auditor) authEvent(e *core.RequestEvent, action, userID string, details map[string]any) {
	actor := actorOf(e)
	if userID != "" {
		actor.UserID = userID
	}
	err := audit.Log(a.app, audit.Entry{Actor: actor, Action: action, EntityType: "auth", Details: details}, a.now())
	if err != nil {
		a.app.Logger().Error("audit: auth event not logged", "action", action, "error", err)
	}
}
