package mimemsg

import (
	"net/mail"
	"strings"
	"testing"

	"github.com/pi-crm/pi-crm/services/senders"
)

// The configured From and Reply-To stand unless the message has its own; a
// bad address is a permanent error naming the provider and the field; an
// empty Message-ID gets a fresh one under the From domain.
func TestEnvelopeOf(t *testing.T) {
	shop := &mail.Address{Name: "Shop", Address: "news@shop.example"}
	e, err := EnvelopeOf("smtp", senders.Message{To: "Ada <ada@example.com>", MessageID: "<d1.c1@crm.example>"}, shop, nil)
	if err != nil || e.From != shop || e.To.Address != "ada@example.com" || e.ReplyTo != nil || e.ID != "d1.c1@crm.example" {
		t.Fatalf("%+v %v", e, err)
	}
	e, err = EnvelopeOf("gmail", senders.Message{To: "ada@example.com", From: "Other <o@other.example>", ReplyTo: "help@shop.example"}, shop, nil)
	if err != nil || e.From.Address != "o@other.example" || e.ReplyTo.Address != "help@shop.example" || !strings.HasSuffix(e.ID, "@other.example") {
		t.Fatalf("%+v %v", e, err)
	}
	for _, tc := range []struct {
		m    senders.Message
		from *mail.Address
		want string
	}{
		{senders.Message{To: "not an address"}, shop, "smtp: to"},
		{senders.Message{To: "a@b.c", From: "bad <"}, shop, "smtp: from"},
		{senders.Message{To: "a@b.c", ReplyTo: "@@"}, shop, "smtp: reply_to"},
		{senders.Message{To: "a@b.c"}, nil, "smtp: no from address"},
	} {
		_, err := EnvelopeOf("smtp", tc.m, tc.from, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v", tc.m, err)
		}
		if permanent, _ := senders.Classify(err); !permanent {
			t.Errorf("%+v: not permanent", tc.m)
		}
	}
}
