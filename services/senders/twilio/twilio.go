// Package twilio is the Twilio SMS sender (github.com/twilio/twilio-go, its
// client and rest/api/v2010 only): one message per delivery through
// POST /2010-04-01/Accounts/{sid}/Messages.json, from a number or a
// Messaging Service, with the status callback URL the webhook route
// answers. Twilio's limit is in segments (a long code sends about one a
// second), so the sender paces itself by segments (GSM-7 160/153, UCS-2
// 70/67: templates.Segments) rather than by messages. twilio-go has no
// base-URL option: a base_url is a transport that replaces the scheme and
// host of every call (httpwire). The look-up lists the messages to the
// recipient since the attempt.
package twilio

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	twclient "github.com/twilio/twilio-go/client"
	api "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/senders/httpwire"
	"github.com/pi-crm/pi-crm/services/templates"
)

// Name is the provider's name.
const Name = "twilio"

// Twilio error codes the engine treats apart.
const (
	CodeInvalidTo     = 21211 // the To number is not a valid phone number
	CodeRegionBlocked = 21408 // permission to send to that region is not enabled
	CodeOptedOut      = 21610 // the recipient replied STOP: a suppression too
	CodeTooMany       = 20429
)

// ReasonNoReadPermission is the Reason of a look-up whose credentials may
// not list messages.
const ReasonNoReadPermission = "the Twilio credentials may not list messages: use the account's auth token or an API key " +
	"that may read messages, so that unknown rows can be settled"

// LookupLag is how long after an attempt a message may still be missing
// from Twilio's list (queued messages carry no date_sent yet).
const LookupLag = 10 * time.Minute

// Config is what the sender needs.
type Config struct {
	AccountSID string
	AuthToken  string
	// APIKeySID and APIKeySecret, when set, authenticate the API calls
	// instead of the auth token (a key can be revoked alone). Twilio signs
	// webhooks with the account's auth token only, so the webhooks still
	// need it.
	APIKeySID           string
	APIKeySecret        string
	FromNumber          string // E.164, or
	MessagingServiceSID string // MG…
	From                string // an alphanumeric sender ID instead of FromNumber (where allowed)
	StatusCallback      string // the webhook URL ("": none)
	BaseURL             string // "": api.twilio.com
	// SegmentsPerSecond paces sends (0: unlimited).
	SegmentsPerSecond float64
	// OptedOut is told a number Twilio refused with 21610 (a suppression).
	OptedOut   func(number string)
	HTTPClient *http.Client     // nil: a default with httpwire.DefaultTimeout
	Now        func() time.Time // nil: time.Now
	// Sleep waits d or until ctx ends (nil: a timer).
	Sleep func(ctx context.Context, d time.Duration) error
}

// Sender sends SMS through Twilio; safe for concurrent use (sends are
// serialised: the pacing is one line of segments).
type Sender struct {
	cfg  Config
	api  *api.ApiService
	capt *httpwire.Capture

	mu   sync.Mutex
	next time.Time // when the next send may start
}

// New returns a sender for cfg.
func New(cfg Config) (*Sender, error) {
	user, password := cfg.AccountSID, cfg.AuthToken
	if cfg.APIKeySID != "" || cfg.APIKeySecret != "" {
		if cfg.APIKeySID == "" || cfg.APIKeySecret == "" {
			return nil, errors.New("twilio: an API key needs both its SID and its secret")
		}
		user, password = cfg.APIKeySID, cfg.APIKeySecret
	}
	if cfg.AccountSID == "" || password == "" {
		return nil, errors.New("twilio: an account SID and an auth token (or an API key) are needed")
	}
	if cfg.FromNumber == "" && cfg.MessagingServiceSID == "" && cfg.From == "" {
		return nil, errors.New("twilio: a from number or a messaging service SID is needed")
	}
	capt := &httpwire.Capture{}
	hc, err := httpwire.Client(cfg.BaseURL, cfg.HTTPClient, capt)
	if err != nil {
		return nil, err
	}
	// Twilio answers redirects on fetches; the SDK's default client does
	// not follow them, nor does ours
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	c := &twclient.Client{Credentials: twclient.NewCredentials(user, password), HTTPClient: hc}
	c.SetAccountSid(cfg.AccountSID)
	return &Sender{cfg: cfg, api: api.NewApiServiceWithClient(c), capt: capt}, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Name is "twilio".
func (s *Sender) Name() string { return Name }

// Channel is "sms".
func (s *Sender) Channel() string { return "sms" }

// Close releases nothing.
func (s *Sender) Close() error { return nil }

// Send sends one SMS, after the segments before it have had their time.
func (s *Sender) Send(ctx context.Context, m senders.Message) (senders.Result, error) {
	if m.Text == "" {
		return senders.Result{}, senders.Permanent(errors.New("twilio: an SMS needs a body"))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.pace(ctx, templates.Segments(m.Text).Segments); err != nil {
		// never handed to Twilio
		return senders.Result{}, senders.Temporary(fmt.Errorf("twilio: waiting for the segment rate: %w", err), 0)
	}
	p := &api.CreateMessageParams{}
	p.SetTo(m.To).SetBody(m.Text)
	switch {
	case s.cfg.MessagingServiceSID != "":
		p.SetMessagingServiceSid(s.cfg.MessagingServiceSID)
		if s.cfg.From != "" {
			p.SetFrom(s.cfg.From)
		}
	case s.cfg.From != "":
		p.SetFrom(s.cfg.From)
	default:
		p.SetFrom(s.cfg.FromNumber)
	}
	if s.cfg.StatusCallback != "" {
		p.SetStatusCallback(s.cfg.StatusCallback)
	}
	s.capt.Reset()
	msg, err := s.api.CreateMessage(p)
	if err != nil {
		return senders.Result{}, s.classify(m.To, err)
	}
	if msg.Sid == nil || *msg.Sid == "" {
		return senders.Result{}, senders.Unknown(errors.New("twilio: the answer has no message sid"))
	}
	// Twilio counts (and bills) segments: its answer's num_segments, else
	// ours
	units := templates.Segments(m.Text).Segments
	if msg.NumSegments != nil {
		if n, err := strconv.Atoi(*msg.NumSegments); err == nil && n > 0 {
			units = n
		}
	}
	return senders.Result{ProviderMessageID: *msg.Sid, Units: units}, nil
}

// UnitsOf is the message's segments: what Twilio counts against a daily
// limit (senders.UnitCounter).
func (s *Sender) UnitsOf(m senders.Message) int { return templates.Segments(m.Text).Segments }

// pace waits until n segments may go (the first send goes at once).
func (s *Sender) pace(ctx context.Context, n int) error {
	rate := s.cfg.SegmentsPerSecond
	if rate <= 0 {
		return nil
	}
	now := s.cfg.Now()
	start := s.next
	if start.Before(now) {
		start = now
	}
	if wait := start.Sub(now); wait > 0 {
		if err := s.cfg.Sleep(ctx, wait); err != nil {
			return err
		}
	}
	s.next = start.Add(time.Duration(float64(max(1, n)) / rate * float64(time.Second)))
	return nil
}

// classify maps a Twilio error: 21211, 21408 and 21610 (and other 4xx)
// permanent, 21610 telling OptedOut too; 429/20429 with its Retry-After and
// 5xx temporary; a lost answer unknown (the look-up settles it).
func (s *Sender) classify(to string, err error) error {
	var te *twclient.TwilioRestError
	if errors.As(err, &te) {
		status := te.Status
		if status == 0 {
			status = s.capt.Status()
		}
		e := fmt.Errorf("twilio error %d (HTTP %d): %s", te.Code, status, te.Message)
		switch {
		case te.Code == CodeOptedOut:
			if s.cfg.OptedOut != nil {
				s.cfg.OptedOut(to)
			}
			return senders.Permanent(e)
		case te.Code == CodeInvalidTo || te.Code == CodeRegionBlocked:
			return senders.Permanent(e)
		case te.Code == CodeTooMany || httpwire.ClassOfStatus(status) == httpwire.Retry:
			return senders.Temporary(e, s.capt.RetryAfter())
		default:
			return senders.Permanent(e)
		}
	}
	if status := s.capt.Status(); status != 0 {
		// an answer that did not decode
		switch httpwire.ClassOfStatus(status) {
		case httpwire.Retry:
			return senders.Temporary(fmt.Errorf("twilio answered %d: %w", status, err), s.capt.RetryAfter())
		case httpwire.Sent:
			return senders.Unknown(fmt.Errorf("twilio: unreadable answer: %w", err))
		default:
			return senders.Permanent(fmt.Errorf("twilio answered %d: %w", status, err))
		}
	}
	if httpwire.ClassOfError(err) == httpwire.Retry {
		return senders.Temporary(err, 0)
	}
	return senders.Unknown(fmt.Errorf("twilio: %w", err))
}

// Lookup lists the messages to q.To sent since a minute before the attempt
// from this sender's number or service: one is Found (its sid); none,
// LookupLag after the attempt, is NotFound; several stay Undetermined;
// credentials that may not list (401/403) are Undetermined with
// NoReadPermission; another failure Undetermined and the error.
func (s *Sender) Lookup(_ context.Context, q senders.Query) (senders.LookupResult, error) {
	if q.To == "" || q.Since.IsZero() {
		return senders.LookupResult{Reason: "no recipient or attempt time to look up"}, nil
	}
	p := &api.ListMessageParams{}
	p.SetTo(q.To).SetDateSentAfter(q.Since.Add(-time.Minute)).SetPageSize(20).SetLimit(20)
	msgs, err := s.api.ListMessage(p)
	if err != nil {
		var te *twclient.TwilioRestError
		if errors.As(err, &te) && (te.Status == http.StatusUnauthorized || te.Status == http.StatusForbidden) {
			// a restricted API key may create messages but not list them
			return senders.LookupResult{Reason: ReasonNoReadPermission, NoReadPermission: true}, nil
		}
		err = fmt.Errorf("twilio's message list could not be read: %w", err)
		return senders.LookupResult{Reason: err.Error()}, err
	}
	var ours []api.ApiV2010Message
	for _, m := range msgs {
		if s.mine(m) {
			ours = append(ours, m)
		}
	}
	switch {
	case len(ours) == 1 && ours[0].Sid != nil:
		return senders.LookupResult{Outcome: senders.Found, ProviderMessageID: *ours[0].Sid}, nil
	case len(ours) > 1:
		return senders.LookupResult{Reason: strconv.Itoa(len(ours)) + " messages to this number since the attempt: a person decides which is this one"}, nil
	case s.cfg.Now().Sub(q.Since) < LookupLag:
		return senders.LookupResult{Reason: fmt.Sprintf("too recent: a queued message shows in Twilio's list only once sent (looked up again after %s)", LookupLag)}, nil
	}
	return senders.LookupResult{Outcome: senders.NotFound}, nil
}

func (s *Sender) mine(m api.ApiV2010Message) bool {
	if m.Direction != nil && *m.Direction == "inbound" {
		return false
	}
	if s.cfg.MessagingServiceSID != "" && m.MessagingServiceSid != nil {
		return *m.MessagingServiceSid == s.cfg.MessagingServiceSID
	}
	from := s.cfg.FromNumber
	if s.cfg.From != "" {
		from = s.cfg.From
	}
	return m.From != nil && *m.From == from
}
