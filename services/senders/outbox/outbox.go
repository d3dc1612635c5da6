// Package outbox is the embedded default sender: a message is a row of
// outbox_messages, written in the caller's transaction (a senders.TxSender),
// so the engine marks the ledger row sent in the same commit. The unique
// index on outbox_messages.delivery makes a second message for one delivery
// impossible: a retried commit fails instead of doubling.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/seqid"
	"github.com/pi-crm/pi-crm/services/textclean"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"
)

// Name is the provider name campaigns use for the outbox.
const Name = "outbox"

// Sender writes outbox_messages rows. It holds no connection of its own:
// Send writes on the app it was made with, SendTx on the given transaction.
type Sender struct {
	app     core.App
	channel string
	ids     *seqid.Generator // a campaign writes its messages by the thousand: ids in order (see seqid)
}

var _ senders.TxSender = (*Sender)(nil)

// New returns the outbox sender of channel ("email" or "sms") writing on app.
func New(app core.App, channel string) *Sender {
	if channel == "" {
		channel = "email"
	}
	return &Sender{app: app, channel: channel, ids: seqid.New(nil)}
}

// Name is "outbox".
func (s *Sender) Name() string { return Name }

// Channel is the channel the sender was made for.
func (s *Sender) Channel() string { return s.channel }

// Close does nothing: the outbox holds no resources.
func (s *Sender) Close() error { return nil }

// Send stores m on the sender's app (its own implicit transaction).
func (s *Sender) Send(ctx context.Context, m senders.Message) (senders.Result, error) {
	if err := ctx.Err(); err != nil {
		return senders.Result{}, err
	}
	return s.SendTx(s.app, m)
}

// ErrNoRecipient is returned for a message without an address.
var ErrNoRecipient = senders.Permanent(errors.New("outbox: the message has no recipient"))

// SendTx stores m as one outbox_messages row on tx; the result's provider
// message id is the row's id. A test send (m.Test) has no delivery.
func (s *Sender) SendTx(tx core.App, m senders.Message) (senders.Result, error) {
	res, errs := s.SendTxBatch(tx, []senders.Message{m})
	return res[0], errs[0]
}

const insertSQL = `INSERT INTO outbox_messages (id, workspace, campaign, delivery, contact, "to", subject, html, text, headers, test, created, updated)
	VALUES ({:id}, {:ws}, {:campaign}, {:delivery}, {:contact}, {:to}, {:subject}, {:html}, {:text}, {:headers}, {:test}, {:now}, {:now})`

// SendTxBatch stores every message of ms on tx with one prepared
// statement (a batch of the engine is one transaction).
func (s *Sender) SendTxBatch(tx core.App, ms []senders.Message) ([]senders.Result, []error) {
	results := make([]senders.Result, len(ms))
	errs := make([]error, len(ms))
	var q *dbx.Query
	now := types.NowDateTime().String()
	for i, m := range ms {
		if strings.TrimSpace(m.To) == "" {
			errs[i] = ErrNoRecipient
			continue
		}
		headers, err := json.Marshal(Headers(m))
		if err != nil {
			errs[i] = senders.Permanent(err)
			continue
		}
		delivery := m.DeliveryID
		if m.Test {
			delivery = ""
		}
		if q == nil {
			q = tx.DB().NewQuery(insertSQL).Prepare()
			defer q.Close()
		}
		id := s.ids.ID()
		_, err = q.Bind(dbx.Params{
			"id": id, "ws": m.Workspace, "campaign": m.CampaignID, "delivery": delivery, "contact": m.ContactID,
			"to": textclean.String(m.To), "subject": textclean.String(m.Subject), "html": textclean.String(m.HTML),
			"text": textclean.String(m.Text), "headers": string(headers), "test": m.Test, "now": now,
		}).Execute()
		if err != nil {
			errs[i] = err
			continue
		}
		results[i] = senders.Result{ProviderMessageID: id}
	}
	return results, errs
}

// Headers are the headers a real send of m would carry: m.Headers plus the
// envelope fields that are set.
func Headers(m senders.Message) map[string]string {
	h := make(map[string]string, len(m.Headers)+5)
	for k, v := range m.Headers {
		h[k] = v
	}
	set := func(k, v string) {
		if v != "" {
			h[k] = v
		}
	}
	set("To", m.To)
	set("From", m.From)
	set("Reply-To", m.ReplyTo)
	set("Subject", m.Subject)
	set("Message-ID", m.MessageID)
	return h
}
