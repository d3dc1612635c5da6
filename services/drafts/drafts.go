// Package drafts writes template drafts with an AI model: it builds the
// prompt from a brief and the workspace's placeholders, asks the model
// (services/ai) for a JSON draft, checks the draft as a template save would
// (services/templates) and saves it as a draft template.
//
// It is its own package, not part of services/ai, because it is where the
// two areas meet: ai stays a model client that the insights will use
// without the renderer, templates stays the renderer without a model.
//
// No contact's data goes into a prompt: only the brief, the names of the
// workspace's custom fields and the language's placeholders and functions.
package drafts

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pi-crm/pi-crm/services/ai"
	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/settings"
	"github.com/pi-crm/pi-crm/services/templates"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// CodeBriefInvalid: a brief (or a rewrite instruction) that cannot be sent.
const CodeBriefInvalid = "ai_brief_invalid"

// Audit actions of a generation.
const (
	ActionGenerate = "ai.template_generate"
	ActionRewrite  = "ai.template_rewrite"
)

// Limits of a draft.
const (
	MaxSubject     = 150
	MaxSMSSegments = 3
	maxName        = 200
	maxPreheader   = 500
	maxHTML        = 500000
	maxText        = 100000
)

// Brief is what a person asks for.
type Brief struct {
	Workspace string   `json:"workspace"`
	Channel   string   `json:"channel"`
	Goal      string   `json:"goal"`
	Audience  string   `json:"audience"`
	Tone      string   `json:"tone"`
	MustHaves []string `json:"must_haves"`
	Language  string   `json:"language,omitempty"`
	Name      string   `json:"name,omitempty"`
}

// Who is the caller of a generation.
type Who struct {
	Actor  audit.Actor
	UserID string
	KeyID  string
}

// Service generates and rewrites drafts.
type Service struct {
	app    core.App
	store  *settings.Store
	client *ai.Client
	now    func() time.Time
}

// New returns the service; now is the clock of the audit entries (nil: time.Now).
func New(app core.App, store *settings.Store, client *ai.Client, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{app: app, store: store, client: client, now: now}
}

func briefInvalid(fields map[string]string) error {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return apperr.BadRequest(CodeBriefInvalid, "Check the brief: "+keys[0]+": "+fields[keys[0]]).With("fields", fields)
}

func tooLong(s string, n int) bool { return utf8.RuneCountInString(s) > n }

// Validate trims the brief and checks its sizes.
func (b *Brief) Validate() error {
	b.Channel = strings.TrimSpace(b.Channel)
	b.Goal, b.Audience, b.Tone = strings.TrimSpace(b.Goal), strings.TrimSpace(b.Audience), strings.TrimSpace(b.Tone)
	b.Language, b.Name = strings.TrimSpace(b.Language), strings.TrimSpace(b.Name)
	bad := map[string]string{}
	if b.Channel != "email" && b.Channel != "sms" {
		bad["channel"] = `"email" or "sms"`
	}
	switch {
	case b.Goal == "":
		bad["goal"] = "say what the message is for"
	case tooLong(b.Goal, 2000):
		bad["goal"] = "at most 2000 characters"
	}
	if tooLong(b.Audience, 500) {
		bad["audience"] = "at most 500 characters"
	}
	if tooLong(b.Tone, 200) {
		bad["tone"] = "at most 200 characters"
	}
	if tooLong(b.Language, 50) {
		bad["language"] = "at most 50 characters"
	}
	if tooLong(b.Name, maxName-20) {
		bad["name"] = "at most 180 characters"
	}
	var must []string
	for _, m := range b.MustHaves {
		if m = strings.TrimSpace(m); m != "" {
			must = append(must, m)
		}
		if tooLong(m, 300) {
			bad["must_haves"] = "each at most 300 characters"
		}
	}
	if len(must) > 20 {
		bad["must_haves"] = "at most 20"
	}
	b.MustHaves = must
	if len(bad) > 0 {
		return briefInvalid(bad)
	}
	return nil
}

// the model's draft
type draft struct {
	Name      string `json:"name"`
	Subject   string `json:"subject"`
	Preheader string `json:"preheader"`
	HTML      string `json:"body_html"`
	Text      string `json:"body_text"`
}

func schemaFor(channel string) *ai.Schema {
	str := map[string]any{"type": "string"}
	props := map[string]any{"name": str, "body_text": str}
	required := []string{"name", "body_text"}
	name := "sms_template"
	if channel == "email" {
		props["subject"], props["preheader"], props["body_html"] = str, str, str
		required = []string{"name", "subject", "preheader", "body_html", "body_text"}
		name = "email_template"
	}
	b, _ := json.Marshal(map[string]any{"type": "object", "properties": props, "required": required, "additionalProperties": false})
	return &ai.Schema{Name: name, JSON: b}
}

// systemPrompt tells the model what a template is here: the placeholders
// (by name only), the functions and the channel's rules. For SMS it never
// names the email-only fields.
func systemPrompt(channel string, fields templates.Fields, language string) string {
	var b strings.Builder
	what := "an email"
	if channel == "sms" {
		what = "an SMS"
	}
	fmt.Fprintf(&b, "You write %s template for a small business's customers. The template is personalised when it is sent, with placeholders in double braces.\n\n", what)
	b.WriteString("Placeholders you may use (write them exactly like this, and no others):\n")
	for _, v := range templates.Variables {
		if channel == "sms" && v.Name == "unsubscribe_url" {
			continue
		}
		fmt.Fprintf(&b, "- {{%s}}: %s\n", v.Name, v.Label)
	}
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "- {{custom.%s}}: the contact's custom field %q (%s)\n", n, n, fields[n])
	}
	b.WriteString("\nFunctions, used with a pipe:\n")
	for _, f := range templates.Functions {
		fmt.Fprintf(&b, "- %s: %s, e.g. %s\n", f.Name, f.Description, f.Usage)
	}
	b.WriteString("Conditions: {{if custom.vip}}…{{else}}…{{end}}. Greet with a fallback, e.g. {{first_name | default \"there\"}}.\n")
	b.WriteString("Never invent names, addresses, prices or facts that are not in the brief. Do not use any other {{…}} syntax.\n\n")
	if channel == "email" {
		fmt.Fprintf(&b, "The answer is a JSON object: name (a short name for the template), subject (at most %d characters), "+
			"preheader (one short line shown after the subject), body_html (simple HTML for the body: p, h1, h2, strong, em, ul, li, a; "+
			"no script, no style, no images; it ends with a link to {{unsubscribe_url}}), body_text (the same message as plain text).\n", MaxSubject)
	} else {
		b.WriteString("The answer is a JSON object: name (a short name for the template), body_text (the SMS itself: plain text, " +
			"at most 300 characters, preferably without emoji, ending with how to opt out, e.g. \"Reply STOP to opt out\").\n")
	}
	if language != "" {
		fmt.Fprintf(&b, "Write the message in this language: %s.\n", language)
	} else {
		b.WriteString("Write the message in the language of the brief.\n")
	}
	return b.String()
}

// check reads and validates the model's answer as a draft of channel.
func check(ans ai.Answer, channel string, fields templates.Fields) (draft, error) {
	var d draft
	if err := ai.DecodeObject(ans, &d); err != nil {
		return d, err
	}
	d.Name, d.Subject, d.Preheader = strings.TrimSpace(d.Name), strings.TrimSpace(d.Subject), strings.TrimSpace(d.Preheader)
	src := templates.Source{Channel: channel, Text: strings.TrimSpace(d.Text)}
	if channel == "email" {
		switch {
		case d.Subject == "":
			return d, ai.BadOutput("the draft has no subject")
		case tooLong(d.Subject, MaxSubject):
			return d, ai.BadOutput(fmt.Sprintf("the subject is longer than %d characters", MaxSubject))
		case strings.TrimSpace(d.HTML) == "":
			return d, ai.BadOutput("the draft has no body_html")
		case tooLong(d.Preheader, maxPreheader), len(d.HTML) > maxHTML, len(d.Text) > maxText:
			return d, ai.BadOutput("the draft is too long")
		}
		src.Subject, src.Preheader, src.HTML = d.Subject, d.Preheader, d.HTML
	} else {
		d.Subject, d.Preheader, d.HTML = "", "", ""
		if src.Text == "" {
			return d, ai.BadOutput("the draft has no body_text")
		}
		if n := templates.Segments(src.Text).Segments; n > MaxSMSSegments {
			return d, ai.BadOutput(fmt.Sprintf("the SMS takes %d segments, more than %d", n, MaxSMSSegments))
		}
	}
	d.Text = src.Text
	if err := templates.Check(src, fields); err != nil {
		return d, asBadOutput(err)
	}
	return d, nil
}

// asBadOutput: a draft the renderer refuses is the model's fault.
func asBadOutput(err error) error {
	var coded *apperr.Error
	if !errors.As(err, &coded) || coded.Code != templates.CodeInvalid {
		return err
	}
	out := ai.BadOutput("the draft is not a valid template: " + coded.Message)
	for _, k := range []string{"field", "line", "column", "token"} {
		if v, ok := coded.Details[k]; ok {
			out = out.With(k, v)
		}
	}
	return out
}

// Generate drafts a template from the brief and saves it (status draft).
func (s *Service) Generate(ctx context.Context, who Who, b Brief) (*core.Record, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	_, cfg, err := ai.Load(s.store, b.Workspace)
	if err != nil {
		return nil, err
	}
	fields, err := templates.WorkspaceFields(s.app, b.Workspace)
	if err != nil {
		return nil, err
	}
	user, _ := json.Marshal(map[string]any{"goal": b.Goal, "audience": b.Audience, "tone": b.Tone, "must_haves": nonNil(b.MustHaves), "language": b.Language})
	req := ai.Request{
		System: systemPrompt(b.Channel, fields, b.Language),
		User:   "Write the template for this brief (JSON):\n" + string(user),
		Schema: schemaFor(b.Channel),
	}
	var d draft
	call := ai.Call{Workspace: b.Workspace, User: who.UserID, APIKey: who.KeyID, Purpose: ai.PurposeTemplateGenerate}
	ans, _, err := s.client.Ask(ctx, call, cfg, req, func(a ai.Answer) error {
		var cerr error
		d, cerr = check(a, b.Channel, fields)
		return cerr
	})
	if err != nil {
		return nil, err
	}
	name := b.Name
	if name == "" {
		name = d.Name
	}
	prompt := map[string]any{"channel": b.Channel, "goal": b.Goal, "audience": b.Audience, "tone": b.Tone,
		"must_haves": nonNil(b.MustHaves), "language": b.Language}
	if b.Name != "" {
		prompt["name"] = b.Name
	}
	return s.save(who, saveArgs{ws: b.Workspace, channel: b.Channel, name: name, d: d, prompt: prompt, version: 1,
		action: ActionGenerate, ans: ans})
}

var versionSuffix = regexp.MustCompile(`\s*\(v\d+\)(\s*\(\d+\))?$`)

// Rewrite asks the model to improve template old by instruction and saves
// the result as a new draft version (previous = old, version + 1, named
// "<old name without its (vN)> (vN+1)"); old is not changed.
func (s *Service) Rewrite(ctx context.Context, who Who, old *core.Record, instruction string) (*core.Record, error) {
	instruction = strings.TrimSpace(instruction)
	switch {
	case instruction == "":
		return nil, briefInvalid(map[string]string{"instruction": "say what to change"})
	case tooLong(instruction, 2000):
		return nil, briefInvalid(map[string]string{"instruction": "at most 2000 characters"})
	}
	ws, channel := old.GetString("workspace"), old.GetString("channel")
	_, cfg, err := ai.Load(s.store, ws)
	if err != nil {
		return nil, err
	}
	fields, err := templates.WorkspaceFields(s.app, ws)
	if err != nil {
		return nil, err
	}
	current := map[string]any{"name": old.GetString("name"), "body_text": old.GetString("body_text")}
	if channel == "email" {
		current["subject"], current["preheader"], current["body_html"] = old.GetString("subject"), old.GetString("preheader"), old.GetString("body_html")
	}
	user, _ := json.Marshal(map[string]any{"instruction": instruction, "template": current})
	req := ai.Request{
		System: systemPrompt(channel, fields, "") + "\nYou rewrite an existing template: follow the instruction, keep what it does not ask to change, keep its placeholders where they still fit.\n",
		User:   "The template and the instruction (JSON):\n" + string(user),
		Schema: schemaFor(channel),
	}
	var d draft
	call := ai.Call{Workspace: ws, User: who.UserID, APIKey: who.KeyID, Purpose: ai.PurposeTemplateRewrite}
	ans, _, err := s.client.Ask(ctx, call, cfg, req, func(a ai.Answer) error {
		var cerr error
		d, cerr = check(a, channel, fields)
		return cerr
	})
	if err != nil {
		return nil, err
	}
	version := old.GetInt("version")
	if version < 1 {
		version = 1
	}
	version++
	base := versionSuffix.ReplaceAllString(old.GetString("name"), "")
	name := fmt.Sprintf("%s (v%d)", base, version)
	prompt := map[string]any{"instruction": instruction, "rewrite_of": old.Id}
	if raw := old.GetString("ai_prompt"); raw != "" && raw != "null" {
		prompt["brief"] = json.RawMessage(raw)
	}
	return s.save(who, saveArgs{ws: ws, channel: channel, name: name, d: d, prompt: prompt, version: version,
		previous: old.Id, signature: old.GetString("signature"), action: ActionRewrite, ans: ans})
}

type saveArgs struct {
	ws, channel, name string
	d                 draft
	prompt            map[string]any
	version           int
	previous          string
	signature         string
	action            string
	ans               ai.Answer
}

// save stores the draft and its audit entry in one transaction.
func (s *Service) save(who Who, a saveArgs) (*core.Record, error) {
	var rec *core.Record
	err := s.app.RunInTransaction(func(tx core.App) error {
		col, err := tx.FindCachedCollectionByNameOrId("templates")
		if err != nil {
			return err
		}
		name, err := uniqueName(tx, a.ws, a.name)
		if err != nil {
			return err
		}
		rec = core.NewRecord(col)
		rec.Set("workspace", a.ws)
		rec.Set("channel", a.channel)
		rec.Set("name", name)
		rec.Set("subject", a.d.Subject)
		rec.Set("preheader", a.d.Preheader)
		rec.Set("body_html", a.d.HTML)
		rec.Set("body_text", a.d.Text)
		rec.Set("signature", a.signature)
		rec.Set("ai_prompt", a.prompt)
		rec.Set("status", "draft")
		rec.Set("version", a.version)
		if a.previous != "" {
			rec.Set("previous", a.previous)
		}
		audit.Attach(rec, who.Actor)
		if err := tx.Save(rec); err != nil {
			return asBadOutput(err)
		}
		details := map[string]any{"model": a.ans.Model, "mode": a.ans.Mode, "prompt_tokens": a.ans.Usage.PromptTokens,
			"completion_tokens": a.ans.Usage.CompletionTokens, "channel": a.channel, "name": name}
		if a.previous != "" {
			details["previous"] = a.previous
		}
		return audit.Log(tx, audit.Entry{Actor: who.Actor, Workspace: a.ws, Action: a.action, EntityType: "templates",
			EntityID: rec.Id, Details: details}, s.now())
	})
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// uniqueName is name, or name with the first free " (N)" suffix, within the
// workspace's templates.
func uniqueName(tx core.App, ws, name string) (string, error) {
	name = strings.Join(strings.Fields(name), " ")
	if name == "" {
		name = "AI draft"
	}
	if r := []rune(name); len(r) > maxName-12 {
		name = strings.TrimSpace(string(r[:maxName-12]))
	}
	for i := 1; i <= 1000; i++ {
		candidate := name
		if i > 1 {
			candidate = fmt.Sprintf("%s (%d)", name, i)
		}
		var id string
		err := tx.DB().Select("id").From("templates").Where(dbx.HashExp{"workspace": ws, "name": candidate}).Limit(1).Row(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return candidate, nil
		}
		if err != nil {
			return "", err
		}
	}
	return "", apperr.New(http.StatusConflict, templates.CodeNameTaken, "no free name for the draft: rename some templates named "+name)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
