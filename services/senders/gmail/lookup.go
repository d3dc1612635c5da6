package gmail

import (
	"context"
	"fmt"
	"net/mail"
	"strings"
	"time"

	gm "google.golang.org/api/gmail/v1"

	"github.com/pi-crm/pi-crm/services/senders"
)

// MaxScan bounds a look-up with gmail.metadata only, which cannot search:
// at most this many Sent messages are read (newest first) before the answer
// is Undetermined.
const MaxScan = 500

// SettleDelay: Gmail's search index may lag a sent message by a little, so
// an attempt younger than this is never declared NotFound.
const SettleDelay = time.Minute

// ReasonNoReadScope is the Reason of a look-up whose credentials may not read
// the Sent folder.
const ReasonNoReadScope = "the Gmail credentials lack gmail.readonly and gmail.metadata (sending needs only gmail.send): " +
	"for a service account, add https://www.googleapis.com/auth/gmail.readonly (or gmail.metadata) to its client id " +
	"under domain-wide delegation in the Google Admin console; for a refresh token, consent again with that scope"

// Lookup looks the delivery up in the user's Sent folder by the Message-ID
// it was sent with: with gmail.readonly a search "rfc822msgid:<id>"; with
// gmail.metadata only (which Google does not let search) a read of the Sent
// folder's messages since q.Since. Found: the message is there. NotFound:
// it is not, the attempt is older than SettleDelay, and no other message went to q.To since q.Since (were Gmail
// ever to replace our Message-ID, that message would make the answer
// Undetermined rather than a second send). Credentials without a read scope
// answer Undetermined with ReasonNoReadScope and no error; an error is a
// failure worth trying again later (the provider unreachable, throttling).
func (s *Sender) Lookup(ctx context.Context, q senders.Query) (senders.LookupResult, error) {
	id := strings.Trim(strings.TrimSpace(q.MessageID), "<>")
	if id == "" {
		return senders.LookupResult{Outcome: senders.Undetermined, Reason: "the delivery has no Message-ID to look up"}, nil
	}
	if strings.ContainsAny(id, " \t\r\n\"") {
		return senders.LookupResult{Outcome: senders.Undetermined, Reason: fmt.Sprintf("Message-ID %q cannot be searched", id)}, nil
	}
	to := ""
	if q.To != "" {
		if a, err := mail.ParseAddress(q.To); err == nil {
			to = a.Address
		}
	}
	for _, l := range s.lookups {
		var res senders.LookupResult
		var err error
		switch l.scope {
		case ScopeMetadata:
			res, err = s.scan(ctx, l.svc, id, to, q.Since)
		default:
			res, err = s.search(ctx, l.svc, id, to, q.Since)
			if err != nil && l.scope == "" && scopeMissing(err) {
				// a refresh token consented with gmail.metadata only: 403 on q
				res, err = s.scan(ctx, l.svc, id, to, q.Since)
			}
		}
		if err == nil {
			if res.Outcome == senders.NotFound && !q.Since.IsZero() && s.now().Sub(q.Since) < SettleDelay {
				return senders.LookupResult{Outcome: senders.Undetermined,
					Reason: fmt.Sprintf("the attempt is less than %v old and Gmail's search may not show it yet: look again later", SettleDelay)}, nil
			}
			return res, nil
		}
		if !scopeMissing(err) {
			return senders.LookupResult{Outcome: senders.Undetermined, Reason: err.Error()}, err
		}
	}
	return senders.LookupResult{Outcome: senders.Undetermined, Reason: ReasonNoReadScope, NoReadPermission: true}, nil
}

// search: rfc822msgid: in the Sent folder (trash included: a sent message
// someone deleted was still sent).
func (s *Sender) search(ctx context.Context, svc *gm.Service, id, to string, since time.Time) (senders.LookupResult, error) {
	r, err := svc.Users.Messages.List("me").Q("rfc822msgid:" + id).LabelIds("SENT").IncludeSpamTrash(true).
		MaxResults(2).Context(ctx).Do()
	if err != nil {
		return senders.LookupResult{}, fmt.Errorf("gmail: look-up: %w", err)
	}
	if len(r.Messages) > 0 {
		return senders.LookupResult{Outcome: senders.Found, ProviderMessageID: r.Messages[0].Id}, nil
	}
	if to == "" {
		return senders.LookupResult{Outcome: senders.NotFound}, nil
	}
	cq := "to:" + to
	if !since.IsZero() {
		cq += fmt.Sprintf(" after:%d", since.Add(-time.Minute).Unix())
	}
	r, err = svc.Users.Messages.List("me").Q(cq).LabelIds("SENT").IncludeSpamTrash(true).MaxResults(1).Context(ctx).Do()
	if err != nil {
		return senders.LookupResult{}, fmt.Errorf("gmail: look-up: %w", err)
	}
	if len(r.Messages) > 0 {
		return senders.LookupResult{Outcome: senders.Undetermined, Reason: otherMessageReason(to)}, nil
	}
	return senders.LookupResult{Outcome: senders.NotFound}, nil
}

func otherMessageReason(to string) string {
	return "no sent message carries this Message-ID, but a message to " + to +
		" was sent since the attempt began: it may be this one"
}

// scan reads the Sent folder newest first, each message's Message-ID and
// To, down to since (a minute's margin), at most MaxScan messages.
func (s *Sender) scan(ctx context.Context, svc *gm.Service, id, to string, since time.Time) (senders.LookupResult, error) {
	want := "<" + id + ">"
	floor := int64(0)
	if !since.IsZero() {
		floor = since.Add(-time.Minute).UnixMilli()
	}
	sawTo, seen, page := false, 0, ""
	for {
		call := svc.Users.Messages.List("me").LabelIds("SENT").IncludeSpamTrash(true).MaxResults(100).Context(ctx)
		if page != "" {
			call = call.PageToken(page)
		}
		r, err := call.Do()
		if err != nil {
			return senders.LookupResult{}, fmt.Errorf("gmail: look-up: %w", err)
		}
		for _, ref := range r.Messages {
			if seen >= MaxScan {
				return senders.LookupResult{Outcome: senders.Undetermined,
					Reason: fmt.Sprintf("more than %d sent messages to read with gmail.metadata; grant gmail.readonly to search", MaxScan)}, nil
			}
			seen++
			m, err := svc.Users.Messages.Get("me", ref.Id).Format("metadata").MetadataHeaders("Message-ID", "To").Context(ctx).Do()
			if err != nil {
				return senders.LookupResult{}, fmt.Errorf("gmail: look-up: %w", err)
			}
			if m.InternalDate < floor {
				return s.scanEnd(sawTo, to)
			}
			if m.Payload == nil {
				continue
			}
			for _, h := range m.Payload.Headers {
				switch {
				case strings.EqualFold(h.Name, "Message-ID") && strings.TrimSpace(h.Value) == want:
					return senders.LookupResult{Outcome: senders.Found, ProviderMessageID: m.Id}, nil
				case strings.EqualFold(h.Name, "To") && to != "" && sentTo(h.Value, to):
					sawTo = true
				}
			}
		}
		if r.NextPageToken == "" {
			return s.scanEnd(sawTo, to)
		}
		page = r.NextPageToken
	}
}

func (s *Sender) scanEnd(sawTo bool, to string) (senders.LookupResult, error) {
	if sawTo {
		return senders.LookupResult{Outcome: senders.Undetermined, Reason: otherMessageReason(to)}, nil
	}
	return senders.LookupResult{Outcome: senders.NotFound}, nil
}

func sentTo(header, addr string) bool {
	list, err := mail.ParseAddressList(header)
	if err != nil {
		return strings.Contains(strings.ToLower(header), strings.ToLower(addr))
	}
	for _, a := range list {
		if strings.EqualFold(a.Address, addr) {
			return true
		}
	}
	return false
}

var _ senders.Looker = (*Sender)(nil)
var _ senders.Sender = (*Sender)(nil)
