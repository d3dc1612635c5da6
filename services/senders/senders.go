// Package senders is the one small interface every message provider
// implements (outbox, smtp, and later mailgun, gmail, microsoft365, twilio),
// shaped like listmonk's Messenger: a name, a channel, send one message,
// close. The sending engine (services/sending) owns the ledger, rates,
// retries and rendering; a sender only moves one rendered message.
package senders

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/pocketbase/pocketbase/core"
)

// Message is one rendered message to one recipient.
type Message struct {
	Workspace  string
	CampaignID string // "" for a provider test
	DeliveryID string // the ledger row ("" for a test send)
	ContactID  string
	Channel    string // "email" or "sms"
	To         string // an email address or an E.164 number
	From       string
	ReplyTo    string
	Subject    string
	HTML       string
	Text       string // the text part; the SMS body
	// Headers every real send carries (List-Unsubscribe, List-Unsubscribe-Post,
	// X-PiCRM-Campaign, …); Message-ID is set by the engine per delivery.
	Headers   map[string]string
	MessageID string
	Test      bool // a test send: never counted in a campaign's results
}

// Result is what a provider said.
type Result struct {
	ProviderMessageID string
	// Units is what the message counts against the provider's daily limit
	// when that is not one message: Twilio's segments (its num_segments).
	// 0 counts as 1.
	Units int
}

// DailyUnits is what r counts in the day's count.
func (r Result) DailyUnits() int { return max(1, r.Units) }

// Sender sends messages of one channel through one provider.
type Sender interface {
	Name() string    // "outbox", "smtp", …
	Channel() string // "email" or "sms"
	Send(ctx context.Context, m Message) (Result, error)
	Close() error
}

// TxSender is a sender whose send is a database write (the outbox): the
// engine sends inside the transaction that marks the ledger row sent, so a
// crash leaves either both or neither — never a message without its row, or
// a row "sending" whose message exists.
type TxSender interface {
	Sender
	SendTx(tx core.App, m Message) (Result, error)
}

// TxBatchSender is a TxSender that stores several messages in one go (one
// prepared statement for the batch); errs[i] is message i's error.
type TxBatchSender interface {
	TxSender
	SendTxBatch(tx core.App, ms []Message) (results []Result, errs []error)
}

// ChainSender is a sender that sends several messages in a row faster than
// one by one (SMTP: each message's envelope written behind the message
// before it, one round trip a message). The engine hands it what its queue
// holds, a few messages at a time.
type ChainSender interface {
	Sender
	// SendChain sends ms in order. done is told each message's outcome as
	// it is known, in order, once each; when it answers false SendChain
	// returns without sending the rest. A message done was never told of
	// was not sent, nor any of its data written.
	SendChain(ctx context.Context, ms []Message, done func(i int, r Result, err error) (more bool))
}

// UnitCounter is a sender whose daily limit counts something else than
// messages (Limits.DailyUnits): what a rendered message will count, known
// before it is sent (Twilio: its segments), so that the engine reserves it
// in the day's count when it sends.
type UnitCounter interface {
	UnitsOf(m Message) int
}

// Limits are a provider's own bounds (its settings: rate_per_second,
// daily_limit; concurrency from the provider's nature).
type Limits struct {
	RatePerSecond float64 // 0: unlimited
	DailyLimit    int     // 0: unlimited
	// DailyUnits is what DailyLimit counts: "" messages; "segments"
	// (Twilio) what each sent message's Result.Units says.
	DailyUnits  string
	Concurrency int // parallel sends (≥ 1)
}

// DailyUnitName names what a daily limit counts, for a person.
func (l Limits) DailyUnitName() string {
	if l.DailyUnits != "" {
		return l.DailyUnits
	}
	return "messages"
}

// Error classifies a failed send for the engine's retries.
type Error struct {
	Err        error
	Permanent  bool          // the row fails at once (a refused address, bad credentials)
	Unknown    bool          // the provider may have the message: never retried blindly (the row becomes "unknown")
	RetryAfter time.Duration // the provider's Retry-After, when it gave one
}

func (e *Error) Error() string {
	kind := "temporary"
	switch {
	case e.Unknown:
		kind = "unknown outcome"
	case e.Permanent:
		kind = "permanent"
	}
	return fmt.Sprintf("%s: %v", kind, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return &Error{Err: err, Permanent: true} }

// Unknown marks err as a send whose outcome is unknown: the message may have
// reached the provider (a connection lost while it answered). Sending again
// could double it, so the row becomes "unknown" for a person or a provider
// look-up to settle.
func Unknown(err error) error { return &Error{Err: err, Unknown: true} }

// IsUnknown reports whether err is a send of unknown outcome.
func IsUnknown(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Unknown
}

// Temporary marks err as worth retrying, after retryAfter when the provider
// said so (0: the engine's backoff).
func Temporary(err error, retryAfter time.Duration) error {
	return &Error{Err: err, RetryAfter: retryAfter}
}

// Classify reads err: permanent or not, and the provider's Retry-After. An
// error that is not an *Error is temporary (a timeout, a refused connection).
func Classify(err error) (permanent bool, retryAfter time.Duration) {
	var e *Error
	if errors.As(err, &e) {
		return e.Permanent, e.RetryAfter
	}
	return false, 0
}

// Query names one delivery to look up at its provider (settling an
// "unknown" row after a crash): our delivery id (Mailgun's v: variable),
// the Message-ID we set (Gmail's rfc822msgid:, Graph's internetMessageId),
// the recipient and when the attempt began (Twilio: messages to that number
// since then).
type Query struct {
	Workspace  string
	CampaignID string
	DeliveryID string
	MessageID  string
	Channel    string
	To         string
	Since      time.Time
}

// Outcome is what a look-up found.
type Outcome int

const (
	// Undetermined: the provider could not say (no read permission, an
	// ambiguous answer, an error); the row stays "unknown" for a person.
	Undetermined Outcome = iota
	// Found: the provider has the message; the row becomes "sent".
	Found
	// NotFound: the provider certainly never took it; the row may be queued again.
	NotFound
)

// LookupResult is a look-up's answer.
type LookupResult struct {
	Outcome           Outcome
	ProviderMessageID string // when Found
	Reason            string // why Undetermined, for the person who settles the row
	// NoReadPermission: Undetermined because the credentials may send but
	// not read what a look-up reads (Reason names the permission to
	// grant); the provider's test reports it (providers.ProbeLookup).
	NoReadPermission bool
}

// Looker is a remote sender that can look a delivery up at its provider.
// A sender whose credentials lack read access answers Undetermined with
// NoReadPermission and a Reason saying which permission is missing (never
// an error per row); a look-up that failed otherwise (the provider down) is
// an error, worth trying again later.
type Looker interface {
	Lookup(ctx context.Context, q Query) (LookupResult, error)
}

// MessageIDHost is the host part of the Message-IDs pi-crm writes (campaign
// deliveries and provider tests alike): the Application URL's host, else
// pi-crm.local.
func MessageIDHost(appURL string) string {
	if u, err := url.Parse(appURL); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "pi-crm.local"
}
