// Package microsoft365 is the Microsoft 365 sender: POST
// /users/{sender}/sendMail through Microsoft Graph with
// github.com/microsoftgraph/msgraph-sdk-go, authenticated app-only with a
// client secret (azidentity's client-credentials flow; the app registration
// needs the Mail.Send application permission, and Mail.ReadBasic.All for
// look-ups). msgraph is imported here only: it is the heaviest dependency in
// the binary, and nothing else should grow with it.
//
// Two wire forms, chosen by SaveToSentItems, because Graph's JSON message
// accepts only custom headers named x-… (List-Unsubscribe is refused with
// "should start with 'x-' or 'X-'") and has one body (text or HTML):
//   - saved to Sent Items (the default): sendMail's MIME form, the request
//     body the base64 of the same RFC 2822 message the SMTP and Gmail
//     senders write (services/senders/mimemsg): our Message-ID,
//     List-Unsubscribe and List-Unsubscribe-Post, text and HTML parts. Graph
//     always saves a MIME send in Sent Items, where Lookup finds it by
//     internetMessageId;
//   - not saved: sendMail's JSON form with "saveToSentItems": false, the
//     HTML (else the text) as the body, internetMessageId set to our
//     Message-ID and only the x-… headers: List-Unsubscribe cannot be
//     carried, and no copy is kept to look up.
//
// BaseURL (the base_url) replaces https://graph.microsoft.com (the
// API is {BaseURL}/v1.0/…) and https://login.microsoftonline.com (the token
// endpoint is {BaseURL}/{tenant}/oauth2/v2.0/token, after MSAL reads
// {BaseURL}/{tenant}/v2.0/.well-known/openid-configuration). Instance
// discovery is off, so no other host is asked. The SDKs send tokens over
// https only (http is accepted for localhost alone).
package microsoft365

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	abs "github.com/microsoft/kiota-abstractions-go"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	khttp "github.com/microsoft/kiota-http-go"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	textser "github.com/microsoft/kiota-serialization-text-go"
	msgraph "github.com/microsoftgraph/msgraph-sdk-go"
	core "github.com/microsoftgraph/msgraph-sdk-go-core"
	coreauth "github.com/microsoftgraph/msgraph-sdk-go-core/authentication"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/senders/mimemsg"
	"github.com/pi-crm/pi-crm/services/senders/remote"
)

// Name is the provider's name.
const Name = "microsoft365"

// Exchange Online's own sending limits per mailbox: 30 messages a minute
// and 10,000 recipients a day (one recipient per message here, so 10,000
// messages). The registry shows them as the defaults of rate_per_second and
// daily_limit.
const (
	PerMinute        = 30
	RatePerSecond    = PerMinute / 60.0 // 0.5
	RecipientsPerDay = 10000
	DailyLimit       = RecipientsPerDay
	// Concurrency: Graph allows 4 concurrent requests per mailbox; at 30 a
	// minute two are plenty and leave room for look-ups.
	Concurrency = 2
)

// DefaultLimits are the limits above as the engine's senders.Limits.
func DefaultLimits() senders.Limits {
	return senders.Limits{RatePerSecond: RatePerSecond, DailyLimit: DailyLimit, Concurrency: Concurrency}
}

// Config is a workspace's Microsoft 365 settings.
type Config struct {
	TenantID     string // the directory (tenant) id or a verified domain
	ClientID     string // the app registration's application (client) id
	ClientSecret string
	// Sender is the mailbox sent from, by its address (the user principal
	// name or primary SMTP address): the From address when a message has none.
	Sender string
	// SaveToSentItems keeps a copy in the mailbox's Sent Items (nil: true,
	// Graph's default). See the package comment for what false costs.
	SaveToSentItems *bool
	// BaseURL replaces https://graph.microsoft.com and
	// https://login.microsoftonline.com ("": Microsoft's own).
	BaseURL string

	// HTTPClient carries every call, the token exchange included (nil: a
	// client with Timeout). Tests pass their TLS server's client.
	HTTPClient *http.Client
	// Timeout bounds each call when HTTPClient is nil (0: 30 s).
	Timeout time.Duration
	// Now is the clock for the Date header and Retry-After dates (nil: time.Now).
	Now func() time.Time
}

// Sender sends through one Microsoft 365 mailbox. Safe for concurrent use.
type Sender struct {
	adapter *msgraph.GraphRequestAdapter
	mailbox string
	from    *mail.Address
	save    bool
	now     func() time.Time
}

const (
	graphHost = "https://graph.microsoft.com"
	scope     = "https://graph.microsoft.com/.default"
)

// New checks cfg and returns a sender; nothing is fetched until the first
// Send or Lookup.
func New(cfg Config) (*Sender, error) {
	for name, v := range map[string]string{"tenant_id": cfg.TenantID, "client_id": cfg.ClientID,
		"client_secret": cfg.ClientSecret, "sender": cfg.Sender} {
		if strings.TrimSpace(v) == "" {
			return nil, fmt.Errorf("microsoft365: %s is required", name)
		}
	}
	s := &Sender{mailbox: strings.TrimSpace(cfg.Sender), save: cfg.SaveToSentItems == nil || *cfg.SaveToSentItems, now: cfg.Now}
	if s.now == nil {
		s.now = time.Now
	}
	from, err := mail.ParseAddress(s.mailbox)
	if err != nil {
		return nil, fmt.Errorf("microsoft365: sender %q is not a mailbox address: %w", cfg.Sender, err)
	}
	s.from = from
	hc := cfg.HTTPClient
	if hc == nil {
		t := cfg.Timeout
		if t <= 0 {
			t = 30 * time.Second
		}
		hc = &http.Client{Timeout: t}
	}
	base := strings.TrimRight(strings.TrimSpace(cfg.BaseURL), "/")
	var baseHost string
	if base != "" {
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("microsoft365: base_url %q is not an http(s) URL", cfg.BaseURL)
		}
		baseHost = u.Hostname()
	}

	copts := azcore.ClientOptions{
		Transport: hc,
		// the engine retries; a credential that sleeps through its own
		// retries only holds a send slot
		Retry: policy.RetryOptions{MaxRetries: -1},
	}
	if base != "" {
		copts.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: base + "/", Services: cloud.AzurePublic.Services}
	}
	cred, err := azidentity.NewClientSecretCredential(cfg.TenantID, cfg.ClientID, cfg.ClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: copts, DisableInstanceDiscovery: true})
	if err != nil {
		return nil, fmt.Errorf("microsoft365: %w", err)
	}
	hosts := []string{"graph.microsoft.com"}
	if baseHost != "" {
		hosts = append(hosts, baseHost)
	}
	auth, err := coreauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred, []string{scope}, hosts)
	if err != nil {
		return nil, fmt.Errorf("microsoft365: %w", err)
	}

	// Graph's middleware without the retry handler: it would sleep through
	// 429/503 inside Send (three times, up to 180 s each) where the engine
	// must see the Retry-After to pace the whole campaign. Compression (the
	// gzip request bodies) and the rest stay.
	noRetry := &khttp.RetryHandlerOptions{ShouldRetry: func(time.Duration, int, *http.Request, *http.Response) bool { return false }}
	kiota, err := khttp.GetDefaultMiddlewaresWithOptions(noRetry)
	if err != nil {
		return nil, fmt.Errorf("microsoft365: %w", err)
	}
	opts := msgraph.GetDefaultClientOptions()
	middleware := append([]khttp.Middleware{core.NewGraphTelemetryHandler(&opts),
		khttp.NewUrlReplaceHandler(true, core.ReplacementPairs)}, kiota...)
	client := &http.Client{
		Transport:     khttp.NewCustomTransportWithParentTransport(remote.Transport{Base: hc.Transport}, middleware...),
		Timeout:       hc.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	registerSerializers.Do(func() {
		abs.RegisterDefaultSerializer(func() absser.SerializationWriterFactory { return jsonser.NewJsonSerializationWriterFactory() })
		abs.RegisterDefaultSerializer(func() absser.SerializationWriterFactory { return textser.NewTextSerializationWriterFactory() })
		abs.RegisterDefaultDeserializer(func() absser.ParseNodeFactory { return jsonser.NewJsonParseNodeFactory() })
		abs.RegisterDefaultDeserializer(func() absser.ParseNodeFactory { return textser.NewTextParseNodeFactory() })
	})
	adapter, err := msgraph.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, client)
	if err != nil {
		return nil, fmt.Errorf("microsoft365: %w", err)
	}
	if base != "" {
		adapter.SetBaseUrl(base + "/v1.0")
	} else {
		adapter.SetBaseUrl(graphHost + "/v1.0")
	}
	s.adapter = adapter
	return s, nil
}

// registerSerializers fills kiota's default (package-level) registries with
// the JSON and text (de)serialisers, as msgraph.NewGraphServiceClient would.
// The sender builds only the two request builders it calls
// (users.…SendMail and users.…MailFolders…Messages) instead of the service
// client: the client's methods reach every Graph API, and once it is in the
// binary all of them are (140 MB amd64 with it; see docs/BENCHMARKS.md).
var registerSerializers sync.Once

// path is the request builders' path parameters for this mailbox.
func (s *Sender) path(extra ...string) map[string]string {
	p := map[string]string{"baseurl": s.adapter.GetBaseUrl(), "user%2Did": s.mailbox}
	for i := 0; i+1 < len(extra); i += 2 {
		p[extra[i]] = extra[i+1]
	}
	return p
}

// Name is "microsoft365".
func (s *Sender) Name() string { return Name }

// Channel is "email".
func (s *Sender) Channel() string { return "email" }

// Close releases nothing.
func (s *Sender) Close() error { return nil }

// Send posts one message to /users/{sender}/sendMail (202 Accepted; Graph
// answers no id, so the result's ProviderMessageID is the Message-ID, which
// is also the internetMessageId Lookup searches for).
func (s *Sender) Send(ctx context.Context, m senders.Message) (senders.Result, error) {
	env, err := mimemsg.EnvelopeOf("microsoft365", m, s.from, nil)
	if err != nil {
		return senders.Result{}, err
	}
	from, to, replyTo, id := env.From, env.To, env.ReplyTo, env.ID

	builder := users.NewItemSendMailRequestBuilderInternal(s.path(), s.adapter)
	var ri *abs.RequestInformation
	if s.save {
		raw, err := mimemsg.Build(m, from, to, replyTo, id, s.now())
		if err != nil {
			return senders.Result{}, senders.Permanent(fmt.Errorf("microsoft365: %w", err))
		}
		// the builder's URL with the MIME form's body: base64 text/plain
		ri = abs.NewRequestInformationWithMethodAndUrlTemplateAndPathParameters(abs.POST,
			builder.UrlTemplate, builder.PathParameters)
		ri.Headers.TryAdd("Accept", "application/json")
		ri.SetStreamContentAndContentType([]byte(base64.StdEncoding.EncodeToString(raw)), "text/plain")
	} else {
		body, err := jsonBody(m, from, to, replyTo, id)
		if err != nil {
			return senders.Result{}, senders.Permanent(fmt.Errorf("microsoft365: %w", err))
		}
		if ri, err = builder.ToPostRequestInformation(ctx, body, nil); err != nil {
			return senders.Result{}, senders.Permanent(fmt.Errorf("microsoft365: %w", err))
		}
	}

	tctx, written := remote.Track(ctx)
	err = s.adapter.SendNoContent(tctx, ri, abs.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue})
	if err != nil {
		return senders.Result{}, s.classify(err, written)
	}
	return senders.Result{ProviderMessageID: id}, nil
}

// jsonBody is sendMail's JSON form: one body (HTML, else text), the
// internetMessageId, the x-… headers Graph accepts.
func jsonBody(m senders.Message, from, to, replyTo *mail.Address, id string) (users.ItemSendMailPostRequestBodyable, error) {
	msg := models.NewMessage()
	subject := strings.Join(strings.Fields(m.Subject), " ")
	msg.SetSubject(&subject)
	body := models.NewItemBody()
	content, kind := m.HTML, models.HTML_BODYTYPE
	if content == "" {
		content, kind = m.Text, models.TEXT_BODYTYPE
	}
	body.SetContent(&content)
	body.SetContentType(&kind)
	msg.SetBody(body)
	msg.SetToRecipients([]models.Recipientable{recipient(to)})
	msg.SetFrom(recipient(from))
	if replyTo != nil {
		msg.SetReplyTo([]models.Recipientable{recipient(replyTo)})
	}
	mid := "<" + id + ">"
	msg.SetInternetMessageId(&mid)
	var headers []models.InternetMessageHeaderable
	for k, v := range m.Headers {
		name := strings.TrimSpace(k)
		if !strings.HasPrefix(strings.ToLower(name), "x-") {
			continue // Graph refuses any other custom header in JSON (see the package comment)
		}
		if strings.ContainsAny(v, "\r\n") || strings.ContainsAny(name, " :\r\n") {
			return nil, fmt.Errorf("header %s holds a line break or a bad name", name)
		}
		h := models.NewInternetMessageHeader()
		n, val := name, v
		h.SetName(&n)
		h.SetValue(&val)
		headers = append(headers, h)
	}
	if len(headers) > 0 {
		msg.SetInternetMessageHeaders(headers)
	}
	req := users.NewItemSendMailPostRequestBody()
	req.SetMessage(msg)
	save := false
	req.SetSaveToSentItems(&save)
	return req, nil
}

func recipient(a *mail.Address) models.Recipientable {
	e := models.NewEmailAddress()
	addr := a.Address
	e.SetAddress(&addr)
	if a.Name != "" {
		name := a.Name
		e.SetName(&name)
	}
	r := models.NewRecipient()
	r.SetEmailAddress(e)
	return r
}

var (
	_ senders.Sender = (*Sender)(nil)
	_ senders.Looker = (*Sender)(nil)
)

// errNoCopy is why a look-up cannot work when nothing is saved.
var errNoCopy = errors.New("save_to_sent_items is off: the mailbox keeps no copy of what it sent, so a delivery cannot be looked up")
