// Package audit writes the append-only audit log. Record changes are logged
// by hooks in the same transaction as the change (see hooks/audit.go); auth
// events and bulk-job summaries are logged by the code that sees them.
package audit

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// Collection is where entries go.
const Collection = "audit_logs"

// Redacted replaces secret values in diffs.
const Redacted = "[redacted]"

// Actions written besides create/update/delete.
const (
	ActionCreate           = "create"
	ActionUpdate           = "update"
	ActionDelete           = "delete"
	ActionPasswordChange   = "password_change"
	ActionLogin            = "auth.login"
	ActionLoginFailed      = "auth.login_failed"
	ActionAPIKeyRejected   = "auth.api_key_rejected"
	DefaultRetentionDays   = 365
	RetentionSettingKey    = "audit.retention_days"
	maxDetailValueBytes    = 8 << 10
	truncatedValueTemplate = "[%d bytes, truncated]"
)

// Actor is who made a change; empty for the server itself (CLI, cron, cascades).
type Actor struct {
	UserID   string
	APIKeyID string
	IP       string
}

// Entry is one audit log line.
type Entry struct {
	Actor
	Workspace  string
	Action     string
	EntityType string
	EntityID   string
	Details    map[string]any
}

// Log writes e through app; call it with the transaction's app so the entry
// commits or rolls back with the change it describes.
func Log(app core.App, e Entry, now time.Time) error {
	col, err := app.FindCachedCollectionByNameOrId(Collection)
	if err != nil {
		return err
	}
	rec := core.NewRecord(col)
	rec.Set("user", e.UserID)
	rec.Set("api_key", e.APIKeyID)
	rec.Set("workspace", e.Workspace)
	rec.Set("action", e.Action)
	rec.Set("entity_type", e.EntityType)
	rec.Set("entity_id", e.EntityID)
	if e.Details != nil {
		rec.Set("details", e.Details)
	}
	rec.Set("ip_address", e.IP)
	rec.Set("timestamp", now.UTC())
	if err := app.Save(rec); err != nil {
		return fmt.Errorf("audit entry: %w", err)
	}
	return nil
}

// isSecret reports whether a field's value must never reach the log.
func isSecret(f core.Field) bool {
	if f.GetHidden() {
		return true
	}
	switch f.Type() {
	case core.FieldTypePassword:
		return true
	}
	return f.GetName() == core.FieldNameTokenKey
}

func value(f core.Field, v any) any {
	if isSecret(f) {
		return Redacted
	}
	// keep entries bounded: a 500 kB template body is summarised, not copied
	if b, err := json.Marshal(v); err == nil && len(b) > maxDetailValueBytes {
		return fmt.Sprintf(truncatedValueTemplate, len(b))
	}
	return v
}

// skipField: bookkeeping fields that change on every save.
func skipField(f core.Field) bool {
	return f.GetName() == "updated" || f.GetName() == "created"
}

// Snapshot returns every field of rec (secrets redacted): the "after" of a
// create and the "before" of a delete.
func Snapshot(rec *core.Record) map[string]any {
	out := map[string]any{}
	for _, f := range rec.Collection().Fields {
		if skipField(f) {
			continue
		}
		out[f.GetName()] = value(f, rec.Get(f.GetName()))
	}
	return out
}

// Diff returns the before and after values of the fields an update changed,
// and whether a password was among them.
func Diff(rec *core.Record) (before, after map[string]any, passwordChanged bool) {
	before, after = map[string]any{}, map[string]any{}
	orig := rec.Original()
	for _, f := range rec.Collection().Fields {
		if skipField(f) {
			continue
		}
		name := f.GetName()
		if f.Type() == core.FieldTypePassword {
			if pw, ok := rec.GetRaw(name).(*core.PasswordFieldValue); ok && pw.Plain != "" {
				passwordChanged = true
				before[name], after[name] = Redacted, Redacted
			}
			continue
		}
		o, n := orig.Get(name), rec.Get(name)
		if equal(o, n) {
			continue
		}
		before[name], after[name] = value(f, o), value(f, n)
	}
	return before, after, passwordChanged
}

func equal(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

// RetentionDays reads the system setting, falling back to the default.
func RetentionDays(app core.App) int {
	var raw string
	err := app.DB().Select("setting_value").From("system_settings").
		Where(dbx.HashExp{"scope": "system", "setting_key": RetentionSettingKey}).Limit(1).Row(&raw)
	if err != nil {
		return DefaultRetentionDays
	}
	var days int
	if json.Unmarshal([]byte(raw), &days) != nil || days <= 0 {
		return DefaultRetentionDays
	}
	return days
}

// Prune deletes entries older than the retention period and returns how many.
// It is the only delete of audit entries there is; it runs from cron.
func Prune(app core.App, now time.Time) (int64, error) {
	cutoff := now.UTC().AddDate(0, 0, -RetentionDays(app)).Format("2006-01-02 15:04:05.000Z")
	res, err := app.DB().NewQuery("DELETE FROM audit_logs WHERE timestamp < {:cutoff}").Bind(dbx.Params{"cutoff": cutoff}).Execute()
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Record custom-data keys (not fields: never stored, never exported) carrying
// audit context from the code that saves a record to the hook that logs it.
const (
	actorKey = "@audit.actor"
	skipKey  = "@audit.skip"
)

// Attach tells the audit hook who is changing rec. Request hooks attach the
// caller of the collection API; services attach the caller of a custom route.
func Attach(rec *core.Record, a Actor) { rec.SetRaw(actorKey, a) }

// ActorOf returns the attached actor (zero: the server itself).
func ActorOf(rec *core.Record) Actor {
	a, _ := rec.GetRaw(actorKey).(Actor)
	return a
}

// Skip marks rec as part of a bulk job that writes one summary entry itself.
func Skip(rec *core.Record) { rec.SetRaw(skipKey, true) }

// Skipped reports whether rec was marked with Skip.
func Skipped(rec *core.Record) bool {
	b, _ := rec.GetRaw(skipKey).(bool)
	return b
}
