package mimemsg

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/pi-crm/pi-crm/services/senders"
)

// Envelope is what a message's header block is written from: its parsed
// addresses and its Message-ID (without angle brackets).
type Envelope struct {
	From, To, ReplyTo *mail.Address
	ID                string
}

// EnvelopeOf reads m's addresses as every MIME sender does: From is m.From,
// else from (the provider's configured sender); Reply-To m.ReplyTo, else
// replyTo (nil: none); the Message-ID m.MessageID, else a fresh one under
// the From domain. An address that does not parse, or no From at all, is a
// permanent error naming the field, after provider ("smtp: to …").
func EnvelopeOf(provider string, m senders.Message, from, replyTo *mail.Address) (Envelope, error) {
	e := Envelope{From: from, ReplyTo: replyTo}
	var err error
	if m.From != "" {
		if e.From, err = mail.ParseAddress(m.From); err != nil {
			return Envelope{}, senders.Permanent(fmt.Errorf("%s: from %q: %w", provider, m.From, err))
		}
	}
	if e.From == nil {
		return Envelope{}, senders.Permanent(errors.New(provider + ": no from address"))
	}
	if e.To, err = mail.ParseAddress(m.To); err != nil {
		return Envelope{}, senders.Permanent(fmt.Errorf("%s: to %q: %w", provider, m.To, err))
	}
	if m.ReplyTo != "" {
		if e.ReplyTo, err = mail.ParseAddress(m.ReplyTo); err != nil {
			return Envelope{}, senders.Permanent(fmt.Errorf("%s: reply_to %q: %w", provider, m.ReplyTo, err))
		}
	}
	if e.ID = strings.Trim(strings.TrimSpace(m.MessageID), "<>"); e.ID == "" {
		e.ID = NewMessageID(e.From.Address)
	}
	return e, nil
}
