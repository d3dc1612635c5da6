// Package insights measures a workspace's health: a run computes metrics
// from the workspace's own tables (contacts added, list sizes, missing
// addresses, likely duplicates, campaign and provider results, contacts not
// contacted, suppressions, import errors, AI usage), stores each as an
// ai_insights record of the run (ai_insight_runs) and, when the workspace has
// an AI provider configured, asks the model for a short summary written from
// those aggregates alone.
//
// Runs come from the nightly job (Nightly, cron under serve), from the route
// POST /api/crm/workspaces/{id}/insights/run and from the demo seeder.
//
// No contact's personal data reaches a prompt: the summary's prompt is the
// JSON of the contacts and campaigns metrics (counts, rates, list and
// campaign names), never a name, address or number of a contact
// (summary.go). The AI-usage metric is an admin's fact (as ai_usage) and is
// not given to the model either, so the summary every member reads tells
// nothing only admins may know.
package insights

import (
	"sync"
	"time"

	"github.com/pi-crm/pi-crm/services/ai"
	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/settings"
	"github.com/pocketbase/pocketbase/core"
)

// Collections of the package.
const (
	Collection     = "ai_insights"
	RunsCollection = "ai_insight_runs"
)

// Areas: the permission that reads an insight (the ai_insights read rule).
const (
	AreaContacts  = "contacts"
	AreaCampaigns = "campaigns"
	AreaAdmin     = "admin"
	AreaSummary   = "summary"
)

// Metric types, in the order a run writes (and the UI shows) them.
const (
	TypeContactsAdded    = "contacts_added"
	TypeListSizes        = "list_sizes"
	TypeNoPrimaryList    = "contacts_without_primary_list"
	TypeNoEmail          = "contacts_without_email"
	TypeNoPhone          = "contacts_without_phone"
	TypeDuplicates       = "duplicates"
	TypeNotContacted     = "not_contacted_90d"
	TypeSuppressions     = "suppressions_added"
	TypeImportErrors     = "import_errors"
	TypeCampaignResults  = "campaign_results"
	TypeProviderResults  = "provider_results"
	TypeAIUsage          = "ai_usage"
	TypeSummary          = "summary"
	MeasuredConfidence   = 1.0
	notContactedDays     = 90
	maxCampaignsReported = 20
)

// Triggers of a run (ai_insight_runs.trigger).
const (
	TriggerNightly = "nightly"
	TriggerManual  = "manual"
	TriggerSeed    = "seed"
)

// Summary outcomes (ai_insight_runs.summary).
const (
	SummaryOK            = "ok"
	SummaryNotConfigured = "not_configured"
	SummaryError         = "error"
)

// ErrRunning: a run of the workspace is under way in this server.
var ErrRunning = apperr.Conflict("insights_running", "The insights of this workspace are being measured right now: wait for that run to finish")

// Metric is one measured fact (or the model's summary).
type Metric struct {
	Type       string         `json:"type"`
	Area       string         `json:"area"`
	Value      float64        `json:"value"`
	Content    string         `json:"content"`
	Data       map[string]any `json:"data"`
	Confidence float64        `json:"confidence"`
	Model      string         `json:"model,omitempty"`
	Tokens     int            `json:"tokens,omitempty"`
}

// Who asked for a run ("" user and key: the server, e.g. the nightly job).
type Who struct {
	UserID string
	KeyID  string
}

// Service runs and reads insights.
type Service struct {
	app    core.App
	store  *settings.Store
	client *ai.Client
	now    func() time.Time

	mu      sync.Mutex
	running map[string]bool // workspaces with a run under way here
	nightly sync.Mutex      // held by the tick running the nightly runs
}

// New returns the service. client makes the summary's model call (nil: no
// summary is ever asked for); now is the clock of the windows and records
// (nil: time.Now).
func New(app core.App, store *settings.Store, client *ai.Client, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{app: app, store: store, client: client, now: now, running: map[string]bool{}}
}

// dbTime is how PocketBase stores a date.
const dbTime = "2006-01-02 15:04:05.000Z"

func stamp(t time.Time) string { return t.UTC().Format(dbTime) }
