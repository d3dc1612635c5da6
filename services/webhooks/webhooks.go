// Package webhooks takes the providers' event callbacks: Mailgun's signed
// events (HMAC-SHA256 of timestamp + token with the webhook signing key,
// fresh and never replayed) and Twilio's status callbacks and inbound
// messages (X-Twilio-Signature, checked with twilio-go's RequestValidator
// and the auth token). The signature is the only authentication: nothing is
// read or written before it holds, and a request that fails it changes
// nothing. Events update the campaign's delivery (found within the
// workspace only), add or lift suppressions and write timeline entries.
package webhooks

import (
	"time"

	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/providers"
	"github.com/pi-crm/pi-crm/services/settings"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"
)

// Errors a webhook answers.
var (
	ErrWorkspace = apperr.NotFound("webhook_workspace_not_found", "There is no such workspace")
	ErrSignature = apperr.Forbidden("webhook_signature_invalid", "The signature does not match")
	ErrStale     = apperr.Forbidden("webhook_signature_invalid", "The signature is older than 5 minutes, or was used before")
	ErrNoKey     = apperr.Forbidden("webhook_signature_invalid", "This workspace has no signing key for this provider")
	ErrMalformed = apperr.BadRequest("webhook_malformed", "The body is not a webhook of this provider")
)

// MaxAge is how old a Mailgun signature may be.
const MaxAge = 5 * time.Minute

// MaxBody bounds a webhook's body.
const MaxBody = 1 << 20

// Handler takes webhooks for app.
type Handler struct {
	app   core.App
	store *settings.Store
	now   func() time.Time
}

// New returns a handler over app with clock now.
func New(app core.App, now func() time.Time) *Handler {
	return &Handler{app: app, store: settings.New(app), now: now}
}

// config is the provider's stored configuration of workspace ws: 404 for
// a workspace that does not exist.
func (h *Handler) config(ws, provider string) (providers.Loaded, error) {
	if ws == "" {
		return providers.Loaded{}, ErrWorkspace
	}
	if _, err := h.app.FindRecordById("workspaces", ws); err != nil {
		return providers.Loaded{}, ErrWorkspace
	}
	return providers.Load(h.store, ws, provider)
}

// delivery is a campaign delivery of workspace ws, by id or by the
// provider's message id (nil: none).
func delivery(app core.App, ws, id, providerID string) (*deliveryRow, error) {
	var rows []deliveryRow
	q := app.DB().Select("d.id AS id", "d.status AS status", "d.contact AS contact", "d.channel AS channel", "d.address AS address", "c.id AS campaign").
		From("campaign_deliveries d").InnerJoin("campaigns c", dbx.NewExp("c.id = d.campaign")).
		Where(dbx.HashExp{"c.workspace": ws}).Limit(1)
	switch {
	case id != "":
		q = q.AndWhere(dbx.HashExp{"d.id": id})
	case providerID != "":
		q = q.AndWhere(dbx.HashExp{"d.provider_message_id": providerID})
	default:
		return nil, nil
	}
	if err := q.All(&rows); err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		if id != "" && providerID != "" {
			return delivery(app, ws, "", providerID)
		}
		return nil, nil
	}
	return &rows[0], nil
}

type deliveryRow struct {
	ID       string `db:"id"`
	Status   string `db:"status"`
	Contact  string `db:"contact"`
	Channel  string `db:"channel"`
	Address  string `db:"address"`
	Campaign string `db:"campaign"`
}

// update writes fields of delivery id (raw SQL by id, as the engine and the
// unsubscribe do: the engine may write the row's other fields meanwhile).
func update(tx core.App, id string, set map[string]any, onlyFrom ...string) error {
	set["updated"] = types.NowDateTime().String()
	where := dbx.And(dbx.HashExp{"id": id})
	if len(onlyFrom) > 0 {
		in := make([]any, len(onlyFrom))
		for i, s := range onlyFrom {
			in[i] = s
		}
		where = dbx.And(where, dbx.In("status", in...))
	}
	_, err := tx.DB().Update("campaign_deliveries", dbx.Params(set), where).Execute()
	return err
}

func dbTime(t time.Time) string {
	d, _ := types.ParseDateTime(t.UTC())
	return d.String()
}
