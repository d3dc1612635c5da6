// Package gmail is the Google Workspace sender: each message goes out
// through the Gmail API's users.messages.send as a base64url RFC 2822
// message (the same bytes the SMTP sender writes, services/senders/mimemsg),
// with google.golang.org/api/gmail/v1 and golang.org/x/oauth2/google.
//
// Two ways to authenticate, as the Workspace admin chooses:
//   - a service account with domain-wide delegation (ServiceAccountJSON,
//     DelegatedUser): a JWT-bearer exchange signed with the account's key,
//     acting as DelegatedUser. The admin grants the account's client id the
//     scope gmail.send, and gmail.readonly or gmail.metadata for look-ups;
//   - an OAuth client and a user's refresh token (ClientID, ClientSecret,
//     RefreshToken), consented with the same scopes.
//
// BaseURL (the base_url) replaces the scheme and host of every call:
// the Gmail API (https://gmail.googleapis.com/gmail/v1/… becomes
// {BaseURL}/gmail/v1/…) and the token endpoint
// (https://oauth2.googleapis.com/token becomes {BaseURL}/token). The JWT's
// audience stays the key file's token_uri, so a proxy that forwards to
// Google still gets assertions Google accepts.
package gmail

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	gm "google.golang.org/api/gmail/v1"
	"google.golang.org/api/option"

	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/senders/mimemsg"
	"github.com/pi-crm/pi-crm/services/senders/remote"
)

// Name is the provider's name.
const Name = "gmail"

// Google Workspace's own sending limits per user (Gmail sending limits in
// Google Workspace: 2,000 messages a day; the API's per-user quota allows
// about 150 sends a minute). The registry shows them as the defaults of
// daily_limit and rate_per_second.
const (
	DailyLimit    = 2000
	PerMinute     = 150
	RatePerSecond = PerMinute / 60.0 // 2.5
	// Concurrency: sends at once per user; more only meets the per-user
	// concurrent request limit (429) sooner.
	Concurrency = 2
)

// DefaultLimits are the limits above as the engine's senders.Limits.
func DefaultLimits() senders.Limits {
	return senders.Limits{RatePerSecond: RatePerSecond, DailyLimit: DailyLimit, Concurrency: Concurrency}
}

// OAuth scopes: sending needs only gmail.send; a look-up needs
// gmail.readonly (a search by rfc822msgid:) or gmail.metadata (which Google
// does not let search, so the Sent folder is listed and each message's
// Message-ID read).
const (
	ScopeSend     = gm.GmailSendScope
	ScopeReadonly = gm.GmailReadonlyScope
	ScopeMetadata = gm.GmailMetadataScope
)

// Config is a workspace's Gmail settings. Either ServiceAccountJSON with
// DelegatedUser, or ClientID, ClientSecret and RefreshToken.
type Config struct {
	ServiceAccountJSON string // the service account's JSON key file, as downloaded
	DelegatedUser      string // the Workspace user to send as (the JWT's sub)

	ClientID     string
	ClientSecret string
	RefreshToken string

	// From is the From header when a message has none ("Name <addr>" or
	// addr); with a service account it defaults to DelegatedUser. Gmail
	// sends only as the user or one of their verified send-as addresses.
	From string
	// BaseURL replaces https://gmail.googleapis.com and
	// https://oauth2.googleapis.com ("": Google's own).
	BaseURL string

	// HTTPClient carries every call, the token exchanges included (nil: a
	// client with Timeout). Tests pass their server's client.
	HTTPClient *http.Client
	// Timeout bounds each call when HTTPClient is nil (0: 30 s).
	Timeout time.Duration
	// Now is the clock for the Date header and Retry-After dates (nil: time.Now).
	Now func() time.Time
}

// Sender sends through one Gmail user. It is safe for concurrent use.
type Sender struct {
	from *mail.Address
	now  func() time.Time

	send *gm.Service // authorised for gmail.send (refresh token: the consented scopes)
	// look-ups, tried in order: a service account asks for gmail.readonly,
	// then gmail.metadata (a scope its grant lacks fails the exchange, so
	// each is its own token source); a refresh token has one set of scopes.
	lookups []lookupService
}

type lookupService struct {
	scope string // ScopeReadonly or ScopeMetadata; "" for a refresh token's consented scopes
	svc   *gm.Service
}

// New checks cfg and returns a sender; nothing is fetched until the first
// Send or Lookup.
func New(cfg Config) (*Sender, error) {
	s := &Sender{now: cfg.Now}
	if s.now == nil {
		s.now = time.Now
	}
	hc := cfg.HTTPClient
	if hc == nil {
		t := cfg.Timeout
		if t <= 0 {
			t = 30 * time.Second
		}
		hc = &http.Client{Timeout: t}
	}
	base := strings.TrimRight(strings.TrimSpace(cfg.BaseURL), "/")
	if base != "" {
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("gmail: base_url %q is not an http(s) URL", cfg.BaseURL)
		}
	}
	// token sources keep this context for their exchanges: it carries only
	// the HTTP client (no deadline; each exchange is bounded by the client)
	tctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)

	from := cfg.From
	var sources []struct {
		scope string
		ts    oauth2.TokenSource
	}
	switch {
	case cfg.ServiceAccountJSON != "":
		if cfg.DelegatedUser == "" {
			return nil, errors.New("gmail: delegated_user is required with a service account")
		}
		if cfg.RefreshToken != "" {
			return nil, errors.New("gmail: give a service account or a refresh token, not both")
		}
		for _, scope := range []string{ScopeSend, ScopeReadonly, ScopeMetadata} {
			jc, err := google.JWTConfigFromJSON([]byte(cfg.ServiceAccountJSON), scope)
			if err != nil {
				return nil, fmt.Errorf("gmail: service_account_json: %w", err)
			}
			jc.Subject = cfg.DelegatedUser
			if jc.TokenURL == "" {
				jc.TokenURL = google.JWTTokenURL
			}
			if base != "" {
				jc.Audience = jc.TokenURL // what Google checks, whoever forwards it
				jc.TokenURL = base + "/token"
			}
			sources = append(sources, struct {
				scope string
				ts    oauth2.TokenSource
			}{scope, jc.TokenSource(tctx)})
		}
		if from == "" {
			from = cfg.DelegatedUser
		}
	case cfg.RefreshToken != "":
		if cfg.ClientID == "" || cfg.ClientSecret == "" {
			return nil, errors.New("gmail: client_id and client_secret are required with a refresh token")
		}
		oc := &oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Endpoint: google.Endpoint,
			Scopes: []string{ScopeSend}}
		if base != "" {
			oc.Endpoint.TokenURL = base + "/token"
		}
		sources = append(sources, struct {
			scope string
			ts    oauth2.TokenSource
		}{"", oc.TokenSource(tctx, &oauth2.Token{RefreshToken: cfg.RefreshToken})})
	default:
		return nil, errors.New("gmail: give service_account_json and delegated_user, or client_id, client_secret and refresh_token")
	}
	if from != "" {
		a, err := mail.ParseAddress(from)
		if err != nil {
			return nil, fmt.Errorf("gmail: from %q: %w", from, err)
		}
		s.from = a
	}

	for i, src := range sources {
		client := &http.Client{Transport: &oauth2.Transport{Source: oauth2.ReuseTokenSource(nil, src.ts), Base: remote.Transport{Base: hc.Transport}},
			Timeout: hc.Timeout, CheckRedirect: hc.CheckRedirect, Jar: hc.Jar}
		opts := []option.ClientOption{option.WithHTTPClient(client)}
		if base != "" {
			opts = append(opts, option.WithEndpoint(base+"/"))
		}
		svc, err := gm.NewService(context.Background(), opts...)
		if err != nil {
			return nil, fmt.Errorf("gmail: %w", err)
		}
		if i == 0 {
			s.send = svc
		}
		if src.scope != ScopeSend {
			s.lookups = append(s.lookups, lookupService{scope: src.scope, svc: svc})
		}
	}
	if len(s.lookups) == 0 { // a refresh token: the one client looks up too
		s.lookups = []lookupService{{svc: s.send}}
	}
	return s, nil
}

// Name is "gmail".
func (s *Sender) Name() string { return Name }

// Channel is "email".
func (s *Sender) Channel() string { return "email" }

// Close releases nothing: the HTTP client's idle connections are the
// client's.
func (s *Sender) Close() error { return nil }

// Send posts one message to users.messages.send as the authorised user
// ("me"). The result's ProviderMessageID is Gmail's message id. The
// Message-ID header is m.MessageID (a fresh one when empty), which a
// Lookup finds again with rfc822msgid:.
func (s *Sender) Send(ctx context.Context, m senders.Message) (senders.Result, error) {
	env, err := mimemsg.EnvelopeOf("gmail", m, s.from, nil)
	if err != nil {
		return senders.Result{}, err
	}
	raw, err := mimemsg.Build(m, env.From, env.To, env.ReplyTo, env.ID, s.now())
	if err != nil {
		return senders.Result{}, senders.Permanent(fmt.Errorf("gmail: %w", err))
	}

	tctx, written := remote.Track(ctx)
	sent, err := s.send.Users.Messages.Send("me", &gm.Message{Raw: base64.URLEncoding.EncodeToString(raw)}).Context(tctx).Do()
	if err != nil {
		return senders.Result{}, s.classify(err, written)
	}
	return senders.Result{ProviderMessageID: sent.Id}, nil
}
