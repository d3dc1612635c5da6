package microsoft365

import (
	"context"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/pi-crm/pi-crm/services/senders"
)

// ReasonNoReadPermission is the Reason of a look-up whose app registration
// may not read the mailbox.
const ReasonNoReadPermission = "the Microsoft 365 app registration lacks Mail.ReadBasic.All (sending needs only Mail.Send): " +
	"add the Mail.ReadBasic.All application permission in Entra ID (App registrations → API permissions) and grant admin consent"

// SettleDelay: Graph answers sendMail 202 and saves the Sent Items copy
// afterwards, so an attempt younger than this is never declared NotFound.
const SettleDelay = 5 * time.Minute

// crossCheckTop is how many messages sent since the attempt a look-up reads
// to see whether one went to the same recipient.
const crossCheckTop = 100

// Lookup looks the delivery up in the mailbox's Sent Items by
// internetMessageId (the Message-ID it was sent with). Found: it is there.
// NotFound: it is not, the attempt is older than SettleDelay, and no other
// message went to q.To since q.Since (were Exchange to replace our
// Message-ID, that message makes the answer Undetermined rather than a
// second send). Without Mail.ReadBasic.All: Undetermined with
// ReasonNoReadPermission and no error; with SaveToSentItems off:
// Undetermined. An error is a failure worth trying again later.
func (s *Sender) Lookup(ctx context.Context, q senders.Query) (senders.LookupResult, error) {
	if !s.save {
		return senders.LookupResult{Outcome: senders.Undetermined, Reason: errNoCopy.Error()}, nil
	}
	id := strings.Trim(strings.TrimSpace(q.MessageID), "<>")
	if id == "" {
		return senders.LookupResult{Outcome: senders.Undetermined, Reason: "the delivery has no Message-ID to look up"}, nil
	}
	sent := users.NewItemMailFoldersItemMessagesRequestBuilderInternal(s.path("mailFolder%2Did", "sentitems"), s.adapter)
	filter := "internetMessageId eq '" + strings.ReplaceAll("<"+id+">", "'", "''") + "'"
	top := int32(2)
	res, err := sent.Get(ctx, &users.ItemMailFoldersItemMessagesRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.ItemMailFoldersItemMessagesRequestBuilderGetQueryParameters{
			Filter: &filter, Select: []string{"id", "internetMessageId"}, Top: &top}})
	if err != nil {
		return s.failed(err)
	}
	if len(res.GetValue()) > 0 {
		return senders.LookupResult{Outcome: senders.Found, ProviderMessageID: id}, nil
	}
	if !q.Since.IsZero() && s.now().Sub(q.Since) < SettleDelay {
		return senders.LookupResult{Outcome: senders.Undetermined,
			Reason: fmt.Sprintf("the attempt is less than %v old and Exchange saves Sent Items afterwards: look again later", SettleDelay)}, nil
	}
	to := ""
	if a, err := mail.ParseAddress(q.To); err == nil {
		to = a.Address
	}
	if to == "" {
		return senders.LookupResult{Outcome: senders.NotFound}, nil
	}
	cfg := &users.ItemMailFoldersItemMessagesRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.ItemMailFoldersItemMessagesRequestBuilderGetQueryParameters{
			Select: []string{"id", "toRecipients", "sentDateTime"}, Top: ptr(int32(crossCheckTop)),
			Orderby: []string{"sentDateTime desc"}}}
	if !q.Since.IsZero() {
		f := "sentDateTime ge " + q.Since.Add(-time.Minute).UTC().Format(time.RFC3339)
		cfg.QueryParameters.Filter = &f
	}
	page, err := sent.Get(ctx, cfg)
	if err != nil {
		return s.failed(err)
	}
	for _, m := range page.GetValue() {
		for _, r := range m.GetToRecipients() {
			if e := r.GetEmailAddress(); e != nil && e.GetAddress() != nil && strings.EqualFold(*e.GetAddress(), to) {
				return senders.LookupResult{Outcome: senders.Undetermined, Reason: "no sent item carries this Message-ID, but a message to " +
					to + " was sent since the attempt began: it may be this one"}, nil
			}
		}
	}
	if page.GetOdataNextLink() != nil {
		return senders.LookupResult{Outcome: senders.Undetermined,
			Reason: fmt.Sprintf("more than %d messages were sent since the attempt began; not all could be checked", crossCheckTop)}, nil
	}
	return senders.LookupResult{Outcome: senders.NotFound}, nil
}

// failed: a 403 is the missing read permission (no error: nothing to try
// again until someone grants it); anything else is an error.
func (s *Sender) failed(err error) (senders.LookupResult, error) {
	if statusOf(err) == http.StatusForbidden {
		return senders.LookupResult{Outcome: senders.Undetermined, Reason: ReasonNoReadPermission, NoReadPermission: true}, nil
	}
	err = fmt.Errorf("microsoft365: look-up: %s", describe(err))
	return senders.LookupResult{Outcome: senders.Undetermined, Reason: err.Error()}, err
}

func ptr[T any](v T) *T { return &v }
