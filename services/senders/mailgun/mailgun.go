// Package mailgun is the Mailgun sender (github.com/mailgun/mailgun-go/v4):
// one message per delivery through POST /v3/{domain}/messages, our delivery
// id in the user variable v:picrm_delivery (so webhooks and the look-up find
// the ledger row), the Message-ID we set in h:Message-Id. Region US or EU
// picks Mailgun's host; a base_url replaces the scheme and host of every
// call (a proxy, a test server). The look-up reads Mailgun's events by that
// user variable.
package mailgun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	mg "github.com/mailgun/mailgun-go/v4"
	"github.com/mailgun/mailgun-go/v4/events"
	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/senders/httpwire"
)

// Name is the provider's name.
const Name = "mailgun"

// Regions.
const (
	RegionUS = "us"
	RegionEU = "eu"
)

// User variables every message carries (Mailgun's v: variables).
const (
	VarDelivery  = "picrm_delivery"
	VarCampaign  = "picrm_campaign"
	VarWorkspace = "picrm_workspace"
)

// EventLag is how long Mailgun may take to show a send in its events: a
// look-up of an attempt younger than this cannot say "never sent".
const EventLag = 5 * time.Minute

// ReasonNoReadPermission is the Reason of a look-up whose key may not read
// the domain's events.
const ReasonNoReadPermission = "the Mailgun key may not read events (a domain sending key sends only): " +
	"use an account API key (Mailgun → API Security) so that unknown rows can be settled"

// Config is what the sender needs.
type Config struct {
	Domain  string
	APIKey  string
	Region  string // RegionUS (default) or RegionEU
	BaseURL string // "": Mailgun's host of the region
	From    string // when a message has none
	ReplyTo string
	// HTTPClient (nil: a default with httpwire.DefaultTimeout).
	HTTPClient *http.Client
	Now        func() time.Time // nil: time.Now
}

// Sender sends through Mailgun; safe for concurrent use.
type Sender struct {
	cfg Config
	mg  *mg.MailgunImpl
}

// New returns a sender for cfg.
func New(cfg Config) (*Sender, error) {
	if cfg.Domain == "" || cfg.APIKey == "" {
		return nil, errors.New("mailgun: a domain and an API key are needed")
	}
	hc, err := httpwire.Client(cfg.BaseURL, cfg.HTTPClient, nil)
	if err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	impl := mg.NewMailgun(cfg.Domain, cfg.APIKey)
	impl.SetClient(hc)
	switch cfg.Region {
	case RegionEU:
		impl.SetAPIBase(mg.APIBaseEU)
	case RegionUS, "":
		impl.SetAPIBase(mg.APIBaseUS)
	default:
		return nil, fmt.Errorf("mailgun: region %q: us or eu", cfg.Region)
	}
	return &Sender{cfg: cfg, mg: impl}, nil
}

// Name is "mailgun".
func (s *Sender) Name() string { return Name }

// Channel is "email".
func (s *Sender) Channel() string { return "email" }

// Close releases nothing (HTTP connections are pooled by the client).
func (s *Sender) Close() error { return nil }

// Send posts one message.
func (s *Sender) Send(ctx context.Context, m senders.Message) (senders.Result, error) {
	from := m.From
	if from == "" {
		from = s.cfg.From
	}
	msg := mg.NewMessage(from, m.Subject, m.Text, m.To)
	if m.HTML != "" {
		msg.SetHTML(m.HTML)
	}
	if rt := firstNonEmpty(m.ReplyTo, s.cfg.ReplyTo); rt != "" {
		msg.SetReplyTo(rt)
	}
	for k, v := range m.Headers {
		msg.AddHeader(k, v)
	}
	if m.MessageID != "" {
		msg.AddHeader("Message-Id", m.MessageID)
	}
	for k, v := range map[string]string{VarDelivery: m.DeliveryID, VarCampaign: m.CampaignID, VarWorkspace: m.Workspace} {
		if v != "" {
			if err := msg.AddVariable(k, v); err != nil {
				return senders.Result{}, senders.Permanent(err)
			}
		}
	}
	if m.Test {
		if err := msg.AddTag("picrm-test"); err != nil {
			return senders.Result{}, senders.Permanent(err)
		}
	}
	ctx, capt := httpwire.WithCapture(ctx)
	_, id, err := s.mg.Send(ctx, msg)
	if err != nil {
		return senders.Result{}, classify(err, capt)
	}
	return senders.Result{ProviderMessageID: strings.Trim(id, "<>")}, nil
}

// classify maps a Mailgun error to the engine's classes: 429 (with its
// Retry-After) and 5xx temporary; other 4xx permanent (a refused address,
// the domain, the key); a timeout or a lost connection unknown (the look-up
// settles it); a refused dial temporary.
func classify(err error, capt *httpwire.Capture) error {
	var ue *mg.UnexpectedResponseError
	if errors.As(err, &ue) {
		e := fmt.Errorf("mailgun answered %d: %s", ue.Actual, trim(string(ue.Data)))
		switch httpwire.ClassOfStatus(ue.Actual) {
		case httpwire.Retry:
			return senders.Temporary(e, capt.RetryAfter())
		default:
			return senders.Permanent(e)
		}
	}
	if errors.Is(err, mg.ErrInvalidMessage) {
		return senders.Permanent(err)
	}
	if capt.Status() != 0 {
		// an answer that did not decode: it was taken or refused, not lost
		if httpwire.ClassOfStatus(capt.Status()) == httpwire.Sent {
			return senders.Unknown(fmt.Errorf("mailgun: unreadable answer: %w", err))
		}
		return senders.Temporary(err, capt.RetryAfter())
	}
	switch httpwire.ClassOfError(err) {
	case httpwire.Retry:
		return senders.Temporary(err, 0)
	default:
		return senders.Unknown(fmt.Errorf("mailgun: %w", err))
	}
}

// Lookup finds a delivery in Mailgun's events by our v:picrm_delivery
// variable, from a minute before the attempt: an accepted (or later) event
// is Found with Mailgun's message id; a rejected one is NotFound (Mailgun
// did not take it); no event at all, EventLag after the attempt, is
// NotFound; before that Undetermined; a key that may not read events
// (a domain sending key: 401/403) Undetermined with NoReadPermission; any
// other failure Undetermined and the error.
func (s *Sender) Lookup(ctx context.Context, q senders.Query) (senders.LookupResult, error) {
	if q.DeliveryID == "" {
		return senders.LookupResult{Reason: "no delivery id to look up"}, nil
	}
	vars, _ := json.Marshal(map[string]string{VarDelivery: q.DeliveryID})
	opt := &mg.ListEventOptions{Limit: 300, ForceAscending: true,
		Filter: map[string]string{"user-variables": string(vars)}}
	if !q.Since.IsZero() {
		opt.Begin = q.Since.Add(-time.Minute)
	}
	it := s.mg.ListEvents(opt)
	var page []mg.Event
	rejected := false
	for pages := 0; pages < 5 && it.Next(ctx, &page); pages++ {
		for _, ev := range page {
			switch e := ev.(type) {
			case *events.Accepted:
				return found(e.Message.Headers.MessageID), nil
			case *events.Delivered:
				return found(e.Message.Headers.MessageID), nil
			case *events.Failed:
				return found(e.Message.Headers.MessageID), nil
			case *events.Opened, *events.Clicked, *events.Complained, *events.Unsubscribed:
				return found(""), nil
			case *events.Rejected:
				rejected = true
			}
		}
	}
	if err := it.Err(); err != nil {
		var ue *mg.UnexpectedResponseError
		if errors.As(err, &ue) && (ue.Actual == http.StatusUnauthorized || ue.Actual == http.StatusForbidden) {
			// a domain's sending key may send but not read events
			return senders.LookupResult{Reason: ReasonNoReadPermission, NoReadPermission: true}, nil
		}
		err = fmt.Errorf("mailgun's events could not be read: %s", trim(err.Error()))
		return senders.LookupResult{Reason: err.Error()}, err
	}
	if rejected {
		return senders.LookupResult{Outcome: senders.NotFound}, nil
	}
	if !q.Since.IsZero() && s.cfg.Now().Sub(q.Since) < EventLag {
		return senders.LookupResult{Reason: fmt.Sprintf("too recent: Mailgun's events may take %s to show a send", EventLag)}, nil
	}
	return senders.LookupResult{Outcome: senders.NotFound}, nil
}

func found(id string) senders.LookupResult {
	return senders.LookupResult{Outcome: senders.Found, ProviderMessageID: strings.Trim(id, "<>")}
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func trim(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
