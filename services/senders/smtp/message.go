package smtp

import (
	"bytes"
	"net/mail"
	"time"

	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/senders/mimemsg"
)

// build writes the message into buf with the builder the Gmail and
// Microsoft 365 senders share (services/senders/mimemsg), so every email
// provider sends the same bytes for the same message.
func build(buf *bytes.Buffer, m senders.Message, from, to, replyTo *mail.Address, id string, now time.Time) ([]byte, error) {
	return mimemsg.BuildInto(buf, m, from, to, replyTo, id, now)
}
