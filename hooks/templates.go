package hooks

import (
	"net/http"

	"github.com/pi-crm/pi-crm/services/apikeys"
	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/templates"
	"github.com/pi-crm/pi-crm/services/tenancy"
	"github.com/pocketbase/pocketbase/core"
)

// registerTemplates keeps a template's invariants on every save (a template
// that does not render is refused at save, never found at send) and adds the
// preview and placeholder routes.
func registerTemplates(app core.App, crm *crmRoutes) {
	prepare := func(e *core.RecordEvent) error {
		if err := templates.Prepare(e.App, e.Record); err != nil {
			return err
		}
		return e.Next()
	}
	app.OnRecordCreate("templates").BindFunc(prepare)
	app.OnRecordUpdate("templates").BindFunc(prepare)

	crm.add(http.MethodPost, "/templates/{id}/preview", apikeys.ScopeTemplatesRead, func(e *core.RequestEvent, c caller) error {
		var req templates.PreviewRequest
		if err := e.BindBody(&req); err != nil {
			return previewBodyInvalid
		}
		tpl, err := e.App.FindRecordById("templates", e.Request.PathValue("id"))
		if err != nil {
			return templateNotFound
		}
		return preview(e, c, tpl.GetString("workspace"), templates.SourceOf(tpl), req)
	})
	crm.add(http.MethodPost, "/templates/preview", apikeys.ScopeTemplatesRead, func(e *core.RequestEvent, c caller) error {
		var req struct {
			Workspace string `json:"workspace"`
			Template  struct {
				Channel   string `json:"channel"`
				Subject   string `json:"subject"`
				Preheader string `json:"preheader"`
				HTML      string `json:"body_html"`
				Text      string `json:"body_text"`
				Signature string `json:"signature"`
			} `json:"template"`
			templates.PreviewRequest
		}
		if err := e.BindBody(&req); err != nil || req.Workspace == "" {
			return previewBodyInvalid
		}
		t := req.Template
		src := templates.Source{Channel: t.Channel, Subject: t.Subject, Preheader: t.Preheader, HTML: t.HTML, Text: t.Text, Signature: t.Signature}
		if src.Channel == "email" && src.Text == "" && src.HTML != "" {
			src.Text = templates.HTMLToText(src.HTML) // as the save will
		}
		return preview(e, c, req.Workspace, src, req.PreviewRequest)
	})
	crm.add(http.MethodGet, "/workspaces/{id}/placeholders", apikeys.ScopeTemplatesRead, func(e *core.RequestEvent, c caller) error {
		ws := e.Request.PathValue("id")
		if _, err := c.Require(e.App, ws, tenancy.RoleViewer, nil); err != nil {
			return err
		}
		p, err := templates.WorkspacePlaceholders(e.App, ws)
		if err != nil {
			return err
		}
		return e.JSON(http.StatusOK, p)
	})
}

var (
	templateNotFound   = apperr.NotFound(templates.CodeNotFound, "no such template")
	previewBodyInvalid = apperr.BadRequest(templates.CodePreviewInvalid,
		`Send {"contact": id} and/or {"values": {"first_name": …, "custom": {…}}} (and {"workspace": id, "template": {…}} for an unsaved template)`)
)

// preview renders src of workspace ws for a caller who may read the
// workspace's templates; with a contact, also its contacts.
func preview(e *core.RequestEvent, c caller, ws string, src templates.Source, req templates.PreviewRequest) error {
	if _, err := c.Require(e.App, ws, tenancy.RoleViewer, nil); err != nil {
		if err == tenancy.ErrWorkspaceNotFound {
			return templateNotFound
		}
		return err
	}
	if req.Contact != "" && !c.Allows(apikeys.ScopeContactsRead) {
		return scopeMissing(apikeys.ScopeContactsRead)
	}
	m, err := templates.Preview(e.App, ws, src, req)
	if err != nil {
		return err
	}
	return e.JSON(http.StatusOK, m)
}
