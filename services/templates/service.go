package templates

import (
	"database/sql"
	"encoding/json"
	"encoding/json/jsontext"
	"errors"
	"strings"
	"sync"

	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/customfields"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// Codes of the template routes and record rules.
const (
	CodeNameTaken       = "template_name_taken"
	CodeNotFound        = "template_not_found"
	CodeContactNotFound = "contact_not_found"
	CodePreviewInvalid  = "template_preview_invalid"
)

// WorkspaceFields are the custom fields a template of workspace ws may use
// (the workspace's own definitions and its owner's user-wide ones).
func WorkspaceFields(app core.App, ws string) (Fields, error) {
	defs, err := customfields.NewService(app, nil).ForWorkspace(app, ws)
	if err != nil {
		return nil, err
	}
	out := make(Fields, len(defs))
	for name, d := range defs {
		out[name] = d.Type
	}
	return out, nil
}

// SourceOf is a templates record's content.
func SourceOf(rec *core.Record) Source {
	return Source{
		Channel: rec.GetString("channel"), Subject: rec.GetString("subject"), Preheader: rec.GetString("preheader"),
		HTML: rec.GetString("body_html"), Text: rec.GetString("body_text"), Signature: rec.GetString("signature"),
	}
}

// ValuesOf are a contact's values: its base fields and its custom values as
// the contact's read copy holds them.
func ValuesOf(contact *core.Record) Values {
	return ContactColumns{
		FirstName: contact.GetString("first_name"), LastName: contact.GetString("last_name"),
		Email: contact.GetString("primary_email"), Phone: contact.GetString("primary_phone"),
		Company: contact.GetString("company"), Custom: contact.GetString("custom"),
	}.Values()
}

// ContactColumns are the contacts columns a message reads, for a sender that
// selects them itself rather than loading whole records (the engine, a
// batch at a time).
type ContactColumns struct {
	ID        string `db:"id"`
	FirstName string `db:"first_name"`
	LastName  string `db:"last_name"`
	Email     string `db:"primary_email"`
	Phone     string `db:"primary_phone"`
	Company   string `db:"company"`
	Custom    string `db:"custom"` // the read copy (JSON)
}

// ContactColumnList is the SELECT list of ContactColumns.
const ContactColumnList = "id, first_name, last_name, primary_email, primary_phone, company, coalesce(custom, '') AS custom"

// Values are the columns' values, as ValuesOf.
func (c ContactColumns) Values() Values {
	v := c.base()
	custom := map[string]any{}
	if c.Custom != "" {
		_ = json.Unmarshal([]byte(c.Custom), &custom) // the copy is written by us; a bad one renders empty
	}
	v["custom"] = custom
	return v
}

func (c ContactColumns) base() Values {
	return Values{"first_name": c.FirstName, "last_name": c.LastName, "email": c.Email, "phone": c.Phone, "company": c.Company}
}

// customDecoders are ValuesFor's decoders, reused: a campaign decodes a
// contact's custom fields for every message.
var customDecoders = sync.Pool{New: func() any {
	cd := new(customDecoder)
	cd.dec = jsontext.NewDecoder(&cd.r)
	return cd
}}

type customDecoder struct {
	r   strings.Reader
	dec *jsontext.Decoder
}

// ValuesFor are the columns' values as t renders them: Values, with only
// the custom fields t names decoded from the read copy (a campaign's
// template names a few of a contact's fields, and decoding all of them for
// every message cost more than rendering; the others are skipped unparsed).
func (c ContactColumns) ValuesFor(t *Compiled) Values {
	v := c.base()
	custom := make(map[string]any, len(t.custom))
	v["custom"] = custom
	if c.Custom == "" || len(t.custom) == 0 {
		return v
	}
	cd := customDecoders.Get().(*customDecoder)
	defer func() {
		cd.r.Reset("") // the pooled reader lets go of the last contact's read copy
		customDecoders.Put(cd)
	}()
	cd.r.Reset(c.Custom)
	// as json.Unmarshal reads it in Values: a repeated name's last value
	// counts, invalid UTF-8 is read as U+FFFD
	cd.dec.Reset(&cd.r, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	dec := cd.dec
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return v
	}
	for dec.PeekKind() == '"' {
		tok, err := dec.ReadToken()
		if err != nil {
			break
		}
		name := tok.String() // the token is void after the next read
		if _, used := t.custom[name]; !used {
			if dec.SkipValue() != nil {
				break
			}
			continue
		}
		raw, err := dec.ReadValue()
		if err != nil {
			break
		}
		var val any
		if json.Unmarshal(raw, &val) == nil {
			custom[name] = val
		}
	}
	// a bad copy renders empty, as Values does (json.Unmarshal refuses it whole)
	if end, err := dec.ReadToken(); err != nil || end.Kind() != '}' ||
		dec.InputOffset() != int64(len(strings.TrimRight(c.Custom, " \t\r\n"))) {
		clear(custom)
	}
	return v
}

// Prepare keeps a template record's invariants before it is saved (every
// path: the collection API, the admin dashboard, services): defaults, the
// text part generated from the HTML while text_auto, a name unique in the
// workspace, and a template that renders (template_invalid otherwise).
func Prepare(tx core.App, rec *core.Record) error {
	if rec.GetString("status") == "" {
		rec.Set("status", "ready")
	}
	if rec.GetInt("version") < 1 {
		rec.Set("version", 1)
	}
	if rec.GetString("channel") == "email" {
		followHTML(rec)
	}
	if err := nameFree(tx, rec); err != nil {
		return err
	}
	fields, err := WorkspaceFields(tx, rec.GetString("workspace"))
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil // no such workspace: the relation's own validation says so
		}
		return err
	}
	return Check(SourceOf(rec), fields)
}

// followHTML keeps the text part: generated when left empty, regenerated on
// an HTML edit while it is generated, and the user's own once edited by hand.
func followHTML(rec *core.Record) {
	html, text := rec.GetString("body_html"), rec.GetString("body_text")
	orig := rec.Original()
	switch {
	case strings.TrimSpace(text) == "" && strings.TrimSpace(html) != "":
		rec.Set("body_text", HTMLToText(html))
		rec.Set("text_auto", true)
	case rec.GetBool("text_auto") && !rec.IsNew() && text == orig.GetString("body_text"):
		if html != orig.GetString("body_html") {
			rec.Set("body_text", HTMLToText(html))
		}
	case !rec.IsNew() && text != orig.GetString("body_text"):
		rec.Set("text_auto", false)
	}
}

func nameFree(tx core.App, rec *core.Record) error {
	var other string
	err := tx.DB().Select("id").From("templates").
		Where(dbx.HashExp{"workspace": rec.GetString("workspace"), "name": rec.GetString("name")}).
		AndWhere(dbx.Not(dbx.HashExp{"id": rec.Id})).Limit(1).Row(&other)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return err
	}
	return apperr.Conflict(CodeNameTaken, "a template named "+quote(rec.GetString("name"))+" exists in this workspace: choose another name").
		With("existing_id", other)
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

// PreviewRequest is what a preview renders with: a contact of the
// template's workspace, and/or values given directly (they win over the
// contact's).
type PreviewRequest struct {
	Contact string         `json:"contact"`
	Values  map[string]any `json:"values"`
}

// PreviewUnsubscribeURL stands in for the link the sender fills in.
const PreviewUnsubscribeURL = "https://unsubscribe.invalid/preview"

// Preview renders src, a template of workspace ws, for the request. The
// contact must belong to ws (another workspace's contact: 404, as if it did
// not exist).
func Preview(app core.App, ws string, src Source, req PreviewRequest) (Message, error) {
	fields, err := WorkspaceFields(app, ws)
	if err != nil {
		return Message{}, err
	}
	c, err := Compile(src, fields)
	if err != nil {
		return Message{}, err
	}
	v := Values{"custom": map[string]any{}}
	if req.Contact != "" {
		contact, err := app.FindRecordById("contacts", req.Contact)
		if err != nil || contact.GetString("workspace") != ws {
			return Message{}, apperr.NotFound(CodeContactNotFound, "no such contact in this template's workspace")
		}
		v = ValuesOf(contact)
	}
	for k, val := range req.Values {
		if k == "custom" {
			given, ok := val.(map[string]any)
			if !ok {
				return Message{}, apperr.BadRequest(CodePreviewInvalid, `values.custom must be an object: {"tier": "gold"}`)
			}
			custom := v["custom"].(map[string]any)
			for name, cv := range given {
				custom[name] = cv
			}
			continue
		}
		v[k] = val
	}
	if _, ok := v["unsubscribe_url"]; !ok {
		v["unsubscribe_url"] = PreviewUnsubscribeURL
	}
	return c.Render(v)
}

// Placeholders is what the editor's picker offers in workspace ws.
type Placeholders struct {
	Variables []Variable `json:"variables"`
	Functions []Function `json:"functions"`
}

// WorkspacePlaceholders lists the base placeholders, then the workspace's
// custom fields as custom.<name>, in the order the workspace defined them.
func WorkspacePlaceholders(app core.App, ws string) (Placeholders, error) {
	defs, err := customfields.NewService(app, nil).Definitions(app, ws)
	if err != nil {
		return Placeholders{}, err
	}
	out := Placeholders{Variables: append([]Variable(nil), Variables...), Functions: Functions}
	for _, d := range defs {
		label := d.Label
		if label == "" {
			label = d.Name
		}
		out.Variables = append(out.Variables, Variable{Name: "custom." + d.Name, Label: label, Type: d.Type})
	}
	return out, nil
}
