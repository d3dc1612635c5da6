package campaigns

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/templates"
	"github.com/pocketbase/pocketbase/core"
)

// CodeNotReady is a campaign that cannot be submitted as it is.
const CodeNotReady = "campaign_not_ready"

// SnapshotTemplate is the template content a campaign was approved with.
type SnapshotTemplate struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Channel   string `json:"channel"`
	Subject   string `json:"subject"`
	Preheader string `json:"preheader"`
	BodyHTML  string `json:"body_html"`
	BodyText  string `json:"body_text"`
	Signature string `json:"signature"`
}

// Snapshot is what a campaign sends, frozen at submission: the approval
// approves it (by its hash), sending reads only it, and later edits of the
// template change nothing in it.
type Snapshot struct {
	Channel  string           `json:"channel"`
	Provider string           `json:"provider"`
	Template SnapshotTemplate `json:"template"`
	Segment  Segment          `json:"segment"`
}

// Source is the snapshot's template for the renderer.
func (s Snapshot) Source() templates.Source {
	t := s.Template
	return templates.Source{Channel: t.Channel, Subject: t.Subject, Preheader: t.Preheader, HTML: t.BodyHTML, Text: t.BodyText, Signature: t.Signature}
}

// Hash is the hex SHA-256 of the snapshot's JSON (Go writes a struct's
// fields in a fixed order, so equal snapshots hash equal). Empty lists are
// written as [] whether nil or not: the stored copy (PocketBase's JSON
// field) writes a nil list as [], and reads it back empty, not nil.
func (s Snapshot) Hash() (string, error) {
	seg := &s.Segment
	for _, l := range []*[]string{&seg.ListsAny, &seg.ListsAll, &seg.ExcludeLists} {
		if *l == nil {
			*l = []string{}
		}
	}
	if seg.Conditions == nil {
		seg.Conditions = []Condition{}
	}
	b, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// ErrSnapshotTampered: the stored snapshot does not match its hash.
var ErrSnapshotTampered = errors.New("campaign snapshot does not match its hash")

// LoadSnapshot reads a campaign's approved snapshot and checks its hash.
func LoadSnapshot(rec *core.Record) (Snapshot, error) {
	var s Snapshot
	raw := rec.GetString("snapshot")
	if raw == "" || raw == "null" {
		return s, fmt.Errorf("campaign %s has no snapshot", rec.Id)
	}
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return s, fmt.Errorf("campaign %s snapshot: %w", rec.Id, err)
	}
	h, err := s.Hash()
	if err != nil {
		return s, err
	}
	if h != rec.GetString("snapshot_hash") {
		return s, ErrSnapshotTampered
	}
	return s, nil
}

// buildSnapshot freezes what campaign rec would send now, refusing what
// could not be sent: no template, a template of another workspace or
// channel, a template that does not render, a segment that does not plan.
func buildSnapshot(tx core.App, rec *core.Record, provider string) (Snapshot, error) {
	ws, channel := rec.GetString("workspace"), rec.GetString("type")
	notReady := func(msg string) *apperr.Error { return apperr.BadRequest(CodeNotReady, msg) }
	if rec.GetString("template") == "" {
		return Snapshot{}, notReady("choose a template before submitting")
	}
	tpl, err := tx.FindRecordById("templates", rec.GetString("template"))
	if err != nil || tpl.GetString("workspace") != ws {
		return Snapshot{}, notReady("the campaign's template does not exist in its workspace")
	}
	if tpl.GetString("channel") != channel {
		return Snapshot{}, notReady(fmt.Sprintf("the template is an %s template; this is an %s campaign", tpl.GetString("channel"), channel))
	}
	fields, err := templates.WorkspaceFields(tx, ws)
	if err != nil {
		return Snapshot{}, err
	}
	src := templates.SourceOf(tpl)
	if err := templates.Check(src, fields); err != nil {
		var e *apperr.Error
		if errors.As(err, &e) {
			return Snapshot{}, notReady("the template does not render: "+e.Message).With("template_error", e.Details)
		}
		return Snapshot{}, err
	}
	if channel == "email" && src.Subject == "" {
		return Snapshot{}, notReady("the template has no subject")
	}
	if channel == "email" && src.HTML == "" && src.Text == "" {
		return Snapshot{}, notReady("the template has no body")
	}
	if channel == "sms" && src.Text == "" {
		return Snapshot{}, notReady("the template has no text")
	}
	seg, err := ParseSegment(rec.GetString("segment"))
	if err != nil {
		return Snapshot{}, err
	}
	if err := seg.Validate(tx, ws); err != nil {
		return Snapshot{}, err
	}
	return Snapshot{
		Channel: channel, Provider: provider, Segment: seg,
		Template: SnapshotTemplate{ID: tpl.Id, Name: tpl.GetString("name"), Channel: src.Channel, Subject: src.Subject,
			Preheader: src.Preheader, BodyHTML: src.HTML, BodyText: src.Text, Signature: src.Signature},
	}, nil
}
