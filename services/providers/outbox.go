package providers

import (
	"context"

	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/senders/outbox"
	"github.com/pocketbase/pocketbase/core"
)

// outboxProvider is the embedded default: nothing leaves the server, every
// message is a row members read. It needs no settings.
var outboxProvider = &Provider{
	Name: Outbox, Label: "Outbox (built in)", Channel: "email",
	Fields: []Field{
		fromEmail(false, "Any address: the outbox records it as the sender, nothing is sent"),
		rateField(0, "0 is unlimited: the outbox is a table in this server"),
		dailyField(0, "0 is unlimited"),
	},
	LimitsNote: "The outbox has no limits of its own.",
	Open: func(env Env, c Config) (senders.Sender, error) {
		return &defaults{TxSender: outbox.New(env.App, "email"), from: c.String("from")}, nil
	},
}

// defaults fills the provider's from address into messages that have none
// (the outbox records what a real send would carry) and stays a TxSender.
type defaults struct {
	senders.TxSender
	from string
}

func (d *defaults) fill(m senders.Message) senders.Message {
	if m.From == "" {
		m.From = d.from
	}
	return m
}

func (d *defaults) Send(ctx context.Context, m senders.Message) (senders.Result, error) {
	return d.TxSender.Send(ctx, d.fill(m))
}

func (d *defaults) SendTx(tx core.App, m senders.Message) (senders.Result, error) {
	return d.TxSender.SendTx(tx, d.fill(m))
}

// SendTxBatch keeps the wrapped sender's batch path (the engine's outbox
// batches), with the from address filled in.
func (d *defaults) SendTxBatch(tx core.App, ms []senders.Message) ([]senders.Result, []error) {
	filled := make([]senders.Message, len(ms))
	for i, m := range ms {
		filled[i] = d.fill(m)
	}
	if b, ok := d.TxSender.(senders.TxBatchSender); ok {
		return b.SendTxBatch(tx, filled)
	}
	results, errs := make([]senders.Result, len(ms)), make([]error, len(ms))
	for i, m := range filled {
		results[i], errs[i] = d.TxSender.SendTx(tx, m)
	}
	return results, errs
}
