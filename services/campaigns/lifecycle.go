package campaigns

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/tenancy"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// Actions a person takes on a campaign.
const (
	ActionSubmit   = "submit"
	ActionApprove  = "approve"
	ActionReject   = "reject"
	ActionSchedule = "schedule"
	ActionSend     = "send"
	ActionPause    = "pause"
	ActionResume   = "resume"
	ActionCancel   = "cancel"
)

// transitions is the one table of who may move where: action → from → to.
// The engine's own moves (a scheduled campaign starting, sending ending in
// sent or failed, pausing itself) are StartDue's and services/sending's.
var transitions = map[string]map[string]string{
	ActionSubmit:   {"draft": "pending_approval"},
	ActionApprove:  {"pending_approval": "approved"},
	ActionReject:   {"pending_approval": "rejected"},
	ActionSchedule: {"approved": "scheduled"},
	ActionSend:     {"approved": "sending"},
	ActionPause:    {"sending": "paused"},
	ActionResume:   {"paused": "sending"},
	ActionCancel:   {"approved": "cancelled", "scheduled": "cancelled", "paused": "cancelled"},
}

// Allowed lists the actions a campaign in status may take, sorted.
func Allowed(status string) []string {
	out := []string{}
	for action, from := range transitions {
		if _, ok := from[status]; ok {
			out = append(out, action)
		}
	}
	sort.Strings(out)
	return out
}

// minRole is who may take an action: approvals are the admins'.
func minRole(action string) string {
	if action == ActionApprove || action == ActionReject {
		return tenancy.RoleAdmin
	}
	return tenancy.RoleEditor
}

// Error codes of the lifecycle.
const (
	CodeInvalidTransition = "campaign_invalid_transition"
	CodeNotFound          = "campaign_not_found"
	CodeForbidden         = "campaign_forbidden"
	CodeApprovalSelf      = "approval_self"
	CodeApprovalRole      = "approval_role"
	CodeScheduleInvalid   = "schedule_invalid"
	CodeActionInvalid     = "campaign_action_invalid"
	CodeApprovalStale     = "approval_stale"
)

// SelfApprovalKey is the workspace setting (system_settings) that lets a
// one-person business approve its own campaigns.
const SelfApprovalKey = "campaigns.self_approval"

var errNotFound = apperr.NotFound(CodeNotFound, "no such campaign")

// Kicker is told when a campaign starts or resumes sending (the engine).
type Kicker interface{ Kick(campaignID string) }

// Service moves campaigns through the table.
type Service struct {
	app             core.App
	now             func() time.Time
	kicker          Kicker
	defaultProvider func(app core.App, ws string) string
}

// NewService returns the lifecycle over app. kicker may be nil (the engine
// then finds the campaign by itself); defaultProvider names a workspace's
// provider when a campaign names none (nil: "outbox").
func NewService(app core.App, now func() time.Time, kicker Kicker, defaultProvider func(core.App, string) string) *Service {
	if defaultProvider == nil {
		defaultProvider = func(core.App, string) string { return "outbox" }
	}
	return &Service{app: app, now: now, kicker: kicker, defaultProvider: defaultProvider}
}

// SetKicker names the engine once it exists (it is built after the routes).
func (s *Service) SetKicker(k Kicker) { s.kicker = k }

// Who acts: the person, the audit actor, and the workspaces the caller's
// key reaches.
type Who struct {
	UserID  string
	Actor   audit.Actor
	Reaches func(ws string) bool
}

// Input is an action's body: notes for approve and reject, the time and
// zone for schedule.
type Input struct {
	Notes string `json:"notes"`
	// SnapshotHash, on approve and reject, is the snapshot the reviewer
	// saw: a campaign resubmitted meanwhile is not decided blindly
	SnapshotHash string `json:"snapshot_hash"`
	At           string `json:"at"`
	Timezone     string `json:"timezone"`
}

// Act takes action on campaign id for who, in one transaction with its
// approval rows and its audit entry, and returns the campaign.
func (s *Service) Act(who Who, id, action string, in Input) (*core.Record, error) {
	if _, ok := transitions[action]; !ok {
		return nil, apperr.BadRequest(CodeActionInvalid, "unknown action "+action)
	}
	now := s.now().UTC()
	var out *core.Record
	err := s.app.RunInTransaction(func(tx core.App) error {
		rec, err := tx.FindRecordById("campaigns", id)
		if err != nil {
			return errNotFound
		}
		ws := rec.GetString("workspace")
		if who.Reaches != nil && !who.Reaches(ws) {
			return errNotFound
		}
		role, err := tenancy.Role(tx, ws, who.UserID)
		if err != nil {
			return err
		}
		if role == "" {
			return errNotFound
		}
		if !tenancy.AtLeast(role, minRole(action)) {
			if minRole(action) == tenancy.RoleAdmin {
				return apperr.Forbidden(CodeApprovalRole, "only the workspace's owners and admins approve or reject campaigns")
			}
			return apperr.Forbidden(CodeForbidden, "viewers cannot change campaigns: ask an admin for the editor role")
		}
		from := rec.GetString("status")
		to, ok := transitions[action][from]
		if !ok {
			return apperr.Conflict(CodeInvalidTransition, fmt.Sprintf("a campaign that is %s cannot %s; it can: %s", strings.ReplaceAll(from, "_", " "), action, orNothing(Allowed(from)))).
				With("status", from).With("allowed", Allowed(from))
		}
		details := map[string]any{"from": from, "to": to}
		if err := s.apply(tx, who, rec, action, in, now, details); err != nil {
			return err
		}
		rec.Set("status", to)
		markMove(rec)
		audit.Skip(rec) // the action's own entry below says what happened
		if err := tx.Save(rec); err != nil {
			return err
		}
		out = rec
		return audit.Log(tx, audit.Entry{Actor: who.Actor, Workspace: ws, Action: "campaign." + action, EntityType: "campaigns",
			EntityID: rec.Id, Details: details}, now)
	})
	if err != nil {
		return nil, err
	}
	if (action == ActionSend || action == ActionResume) && s.kicker != nil {
		s.kicker.Kick(out.Id)
	}
	return out, nil
}

func orNothing(actions []string) string {
	if len(actions) == 0 {
		return "nothing (it is final)"
	}
	return strings.Join(actions, ", ")
}

// apply does what an action does besides the status.
func (s *Service) apply(tx core.App, who Who, rec *core.Record, action string, in Input, now time.Time, details map[string]any) error {
	switch action {
	case ActionSubmit:
		provider := rec.GetString("provider")
		if provider == "" {
			provider = s.defaultProvider(tx, rec.GetString("workspace"))
		}
		snap, err := buildSnapshot(tx, rec, provider)
		if err != nil {
			return err
		}
		hash, err := snap.Hash()
		if err != nil {
			return err
		}
		rec.Set("snapshot", snap)
		rec.Set("snapshot_hash", hash)
		rec.Set("submitted_by", who.UserID)
		rec.Set("submitted_at", now)
		rec.Set("approved_by", "")
		rec.Set("approved_at", "")
		rec.Set("status_reason", "")
		details["snapshot_hash"] = hash
		// one open request per campaign: an older one still pending is void
		if _, err := tx.DB().Update("campaign_approvals", dbx.Params{"status": "voided"},
			dbx.HashExp{"campaign": rec.Id, "status": "pending"}).Execute(); err != nil {
			return err
		}
		return s.saveApproval(tx, map[string]any{"campaign": rec.Id, "status": "pending", "requested_by": who.UserID, "snapshot_hash": hash})
	case ActionApprove, ActionReject:
		if action == ActionApprove && rec.GetString("submitted_by") == who.UserID && !selfApproval(tx, rec.GetString("workspace")) {
			return apperr.Forbidden(CodeApprovalSelf, "you submitted this campaign: another owner or admin approves it (or turn on "+SelfApprovalKey+" for a one-person business)")
		}
		if in.SnapshotHash != "" && in.SnapshotHash != rec.GetString("snapshot_hash") {
			return apperr.Conflict(CodeApprovalStale, "the campaign was changed and submitted again since you looked at it: review what it sends now").
				With("snapshot_hash", rec.GetString("snapshot_hash"))
		}
		appr, err := tx.FindFirstRecordByFilter("campaign_approvals", "campaign = {:c} && status = 'pending' && snapshot_hash = {:h}",
			dbx.Params{"c": rec.Id, "h": rec.GetString("snapshot_hash")})
		if err != nil {
			return apperr.Conflict(CodeInvalidTransition, "this campaign has no pending approval for what it would send: submit it again").
				With("status", rec.GetString("status")).With("allowed", []string{ActionSubmit})
		}
		status := "approved"
		if action == ActionReject {
			status = "rejected"
		}
		appr.Set("status", status)
		appr.Set("reviewer", who.UserID)
		appr.Set("notes", strings.TrimSpace(in.Notes))
		appr.Set("reviewed_at", now)
		if err := tx.Save(appr); err != nil {
			return err
		}
		if action == ActionApprove {
			rec.Set("approved_by", who.UserID)
			rec.Set("approved_at", now)
		}
		details["snapshot_hash"] = rec.GetString("snapshot_hash")
		if in.Notes != "" {
			details["notes"] = strings.TrimSpace(in.Notes)
		}
	case ActionSchedule:
		at, zone, err := parseSchedule(in, now)
		if err != nil {
			return err
		}
		rec.Set("scheduled_at", at)
		rec.Set("timezone", zone)
		details["scheduled_at"] = at.Format(time.RFC3339)
		details["timezone"] = zone
	case ActionSend, ActionResume:
		if rec.GetString("started_at") == "" {
			rec.Set("started_at", now)
		}
		rec.Set("status_reason", "")
	case ActionPause:
		rec.Set("status_reason", "paused by a person")
	case ActionCancel:
		rec.Set("finished_at", now)
		rec.Set("status_reason", "cancelled")
	}
	return nil
}

func (s *Service) saveApproval(tx core.App, fields map[string]any) error {
	col, err := tx.FindCachedCollectionByNameOrId("campaign_approvals")
	if err != nil {
		return err
	}
	r := core.NewRecord(col)
	for k, v := range fields {
		r.Set(k, v)
	}
	audit.Skip(r) // part of the campaign action's entry
	return tx.Save(r)
}

// parseSchedule reads a schedule: an RFC 3339 time (a time without an
// offset is read in the zone) and an IANA zone; the time must be ahead.
func parseSchedule(in Input, now time.Time) (time.Time, string, error) {
	bad := func(msg string) *apperr.Error { return apperr.BadRequest(CodeScheduleInvalid, msg) }
	zone := strings.TrimSpace(in.Timezone)
	if zone == "" || zone == "Local" {
		return time.Time{}, "", bad(`timezone: an IANA zone such as "Europe/London" or "America/New_York"`)
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return time.Time{}, "", bad(fmt.Sprintf("timezone: %q is not an IANA zone", zone))
	}
	at, err := time.Parse(time.RFC3339, strings.TrimSpace(in.At))
	if err != nil {
		if at, err = time.ParseInLocation("2006-01-02T15:04:05", strings.TrimSpace(in.At), loc); err != nil {
			if at, err = time.ParseInLocation("2006-01-02T15:04", strings.TrimSpace(in.At), loc); err != nil {
				return time.Time{}, "", bad(`at: a time in RFC 3339, e.g. "2027-03-01T09:00:00+01:00"`)
			}
		}
	}
	if !at.After(now) {
		return time.Time{}, "", bad("at: the time is in the past").With("now", now.Format(time.RFC3339))
	}
	return at.UTC(), zone, nil
}

// selfApproval reads the workspace's campaigns.self_approval setting.
func selfApproval(tx core.App, ws string) bool {
	var raw string
	err := tx.DB().Select("setting_value").From("system_settings").
		Where(dbx.HashExp{"scope": "workspace", "scope_id": ws, "setting_key": SelfApprovalKey}).Limit(1).Row(&raw)
	if err != nil {
		return false
	}
	var v any
	if json.Unmarshal([]byte(raw), &v) != nil {
		return false
	}
	switch x := v.(type) {
	case bool:
		return x
	case map[string]any:
		b, _ := x["enabled"].(bool)
		return b
	}
	return false
}

// StartDue moves the scheduled campaigns whose time has come to sending
// (each in its own transaction, with its audit entry) and returns them.
func (s *Service) StartDue(now time.Time) ([]string, error) {
	var due []string
	err := s.app.DB().Select("id").From("campaigns").
		Where(dbx.HashExp{"status": "scheduled"}).AndWhere(dbx.NewExp("scheduled_at != '' AND scheduled_at <= {:now}", dbx.Params{"now": now.UTC().Format("2006-01-02 15:04:05.000Z")})).
		OrderBy("scheduled_at").Column(&due)
	if err != nil {
		return nil, err
	}
	var started []string
	for _, id := range due {
		err := s.app.RunInTransaction(func(tx core.App) error {
			rec, err := tx.FindRecordById("campaigns", id)
			if err != nil || rec.GetString("status") != "scheduled" {
				return nil // cancelled or edited meanwhile
			}
			rec.Set("status", "sending")
			rec.Set("started_at", now.UTC())
			markMove(rec)
			audit.Skip(rec)
			if err := tx.Save(rec); err != nil {
				return err
			}
			started = append(started, id)
			return audit.Log(tx, audit.Entry{Workspace: rec.GetString("workspace"), Action: "campaign.start", EntityType: "campaigns",
				EntityID: id, Details: map[string]any{"from": "scheduled", "to": "sending", "scheduled_at": rec.GetString("scheduled_at")}}, now)
		})
		if err != nil {
			return started, err
		}
	}
	return started, nil
}

// contentFields are what an edit changes; an edit of a submitted campaign
// returns it to draft.
var contentFields = []string{"name", "type", "template", "segment", "provider", "schedule"}

// PrepareEdit keeps a campaign's invariants on every save: the segment
// plans, and an edit of the content of a submitted, approved, rejected or
// scheduled campaign returns it to draft and voids its approval (the
// approved snapshot no longer says what would be sent).
func PrepareEdit(tx core.App, rec *core.Record) error {
	if raw := rec.GetString("segment"); rec.IsNew() || raw != rec.Original().GetString("segment") {
		seg, err := ParseSegment(raw)
		if err != nil {
			return err
		}
		if err := seg.Validate(tx, rec.GetString("workspace")); err != nil {
			return err
		}
	}
	if rec.IsNew() {
		return nil
	}
	orig := rec.Original()
	switch orig.GetString("status") {
	case "pending_approval", "approved", "rejected", "scheduled":
	default:
		return nil
	}
	// a status written through the API (only "draft" is allowed there) is
	// an edit too: the approval must not outlive it
	changed := !isMove(rec) && rec.GetString("status") != orig.GetString("status")
	for _, f := range contentFields {
		if !sameValue(rec.Get(f), orig.Get(f)) {
			changed = true
		}
	}
	if !changed {
		return nil
	}
	rec.Set("status", "draft")
	for _, f := range []string{"snapshot", "snapshot_hash", "submitted_by", "submitted_at", "approved_by", "approved_at", "scheduled_at", "timezone"} {
		rec.Set(f, nil)
	}
	rec.Set("status_reason", "edited after submission: back to draft, the approval is void")
	_, err := tx.DB().Update("campaign_approvals", dbx.Params{"status": "voided"},
		dbx.And(dbx.HashExp{"campaign": rec.Id}, dbx.In("status", "pending", "approved"))).Execute()
	return err
}

// moveKey marks a save that is a move of the transition table (the
// lifecycle's, StartDue's), not an edit.
const moveKey = "@campaigns.move"

func markMove(rec *core.Record) { rec.SetRaw(moveKey, true) }

func isMove(rec *core.Record) bool { b, _ := rec.GetRaw(moveKey).(bool); return b }

func sameValue(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}
