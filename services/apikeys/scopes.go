package apikeys

import "strings"

// Scopes an API key may carry. A key never gives more than its user has: the
// API rules still apply to the user; scopes only narrow them.
const (
	ScopeContactsRead   = "contacts:read"
	ScopeContactsWrite  = "contacts:write"
	ScopeTemplatesRead  = "templates:read"
	ScopeTemplatesWrite = "templates:write"
	ScopeCampaignsRead  = "campaigns:read"
	ScopeCampaignsWrite = "campaigns:write"
	ScopeCampaignsSend  = "campaigns:send"
	ScopeAdmin          = "admin"
)

// AllScopes in display order.
var AllScopes = []string{
	ScopeContactsRead, ScopeContactsWrite, ScopeTemplatesRead, ScopeTemplatesWrite,
	ScopeCampaignsRead, ScopeCampaignsWrite, ScopeCampaignsSend, ScopeAdmin,
}

func validScope(s string) bool {
	for _, v := range AllScopes {
		if v == s {
			return true
		}
	}
	return false
}

// collectionArea maps a collection to the scope area guarding it. Collections
// absent here need the admin scope for everything.
var collectionArea = map[string]string{
	"contacts":                 "contacts",
	"custom_fields":            "contacts",
	"custom_field_definitions": "contacts",
	"contact_lists":            "contacts",
	"contact_list_assignments": "contacts",
	"communication_logs":       "contacts",
	"suppressions":             "contacts",
	"import_jobs":              "contacts",
	"ai_insights":              "contacts",
	"contact_merges":           "contacts",
	"templates":                "templates",
	"campaigns":                "campaigns",
	"campaign_approvals":       "campaigns",
	"campaign_deliveries":      "campaigns",
	"outbox_messages":          "campaigns",
	// insight runs and ai_insights above: contacts:read is the early check
	// only; the rules of ai_insights ask for more per area (campaigns:read
	// for campaign results, admin for AI usage: migration 1764001520)
	"ai_insight_runs": "contacts",
}

// readableByAnyKey are collections every key may read (to find its
// workspaces and co-workers); writing them needs admin.
var readableByAnyKey = map[string]bool{"workspaces": true, "workspace_members": true, "users": true}

// adminOnly are collections only an admin key reaches. Together with the two
// maps above they name every collection, so a new collection has to be placed
// deliberately (a test fails otherwise).
// ai_usage (tokens spent per call) is read by owners and admins, as the audit log.
var adminOnly = map[string]bool{"system_settings": true, "audit_logs": true, "api_keys": true, "workspace_invitations": true, "ai_usage": true,
	// the server's own daily send counts and seen webhook tokens: no API rules at all
	"provider_daily_counts": true, "webhook_tokens": true}

// Classified reports whether a collection has a deliberate scope rule.
func Classified(collection string) bool {
	_, inArea := collectionArea[collection]
	return inArea || readableByAnyKey[collection] || adminOnly[collection]
}

// RequiredScope is the scope a collection API call needs ("" = any key).
func RequiredScope(collection string, write bool) string {
	if !write && readableByAnyKey[collection] {
		return ""
	}
	area, ok := collectionArea[collection]
	if !ok {
		return ScopeAdmin
	}
	if write {
		return area + ":write"
	}
	return area + ":read"
}

// Allows reports whether scopes grant want: admin grants everything and
// "x:write" implies "x:read".
func Allows(scopes []string, want string) bool {
	if want == "" {
		return true
	}
	for _, s := range scopes {
		if s == want || s == ScopeAdmin {
			return true
		}
		if area, ok := strings.CutSuffix(want, ":read"); ok && s == area+":write" {
			return true
		}
	}
	return false
}

// Grants is what scopes grant, implications included, in the form the API
// rules match: "|contacts:read|contacts:write|" (a rule asks for one grant
// with @request.auth.grants ~ "|contacts:read|").
func Grants(scopes []string) string {
	var b strings.Builder
	b.WriteString("|")
	for _, s := range AllScopes {
		if Allows(scopes, s) {
			b.WriteString(s + "|")
		}
	}
	return b.String()
}
