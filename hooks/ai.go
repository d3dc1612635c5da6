package hooks

import (
	"errors"
	"net/http"
	"time"

	"github.com/pi-crm/pi-crm/services/ai"
	"github.com/pi-crm/pi-crm/services/apikeys"
	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/drafts"
	"github.com/pi-crm/pi-crm/services/settings"
	"github.com/pi-crm/pi-crm/services/templates"
	"github.com/pi-crm/pi-crm/services/tenancy"
	"github.com/pocketbase/pocketbase/core"
)

var (
	errAIProvidersAdminOnly = apperr.Forbidden("ai_settings_forbidden", "Only the workspace's owners and admins manage its AI settings")
	errAIViewer             = apperr.Forbidden("ai_generate_forbidden", "Viewers cannot draft templates: ask a workspace admin for the editor role")
	errAIBody               = apperr.BadRequest(ai.CodeSettingsInvalid, `Send {"base_url": "https://…/v1", "model": "…", "api_key"?: "…", "temperature"?: 0.7, "max_tokens"?: 2048, "timeout_s"?: 60}`)
	errBriefBody            = apperr.BadRequest(drafts.CodeBriefInvalid, `Send {"workspace": id, "channel": "email"|"sms", "goal": "…", "audience": "…", "tone": "…", "must_haves": ["…"], "language"?: "…", "name"?: "…"}`)
	errRewriteBody          = apperr.BadRequest(drafts.CodeBriefInvalid, `Send {"instruction": "…"}`)
	errAITemplateNotFound   = apperr.NotFound(templates.CodeNotFound, "no such template")
)

// registerAI binds the AI provider settings of a workspace (owners and
// admins, key scope admin) and the template drafts (editors and up, scope
// templates:write). The API key is write-only: no answer, log line or audit
// entry holds it (services/settings keeps it encrypted).
func registerAI(app core.App, crm *crmRoutes, now func() time.Time) {
	store := settings.New(app)
	client := ai.NewClient(app, ai.OpenAI{}, now)
	svc := drafts.New(app, store, client, now)

	admin := func(e *core.RequestEvent, c caller) (string, error) {
		ws := e.Request.PathValue("id")
		_, err := c.Require(e.App, ws, tenancy.RoleAdmin, errAIProvidersAdminOnly)
		return ws, err
	}
	view := func(ws string) (ai.View, error) {
		v, _, err := ai.Load(store, ws)
		if err != nil && !errors.Is(err, ai.ErrNotConfigured) {
			return v, err
		}
		return v, nil
	}

	crm.add(http.MethodGet, "/workspaces/{id}/providers/ai", apikeys.ScopeAdmin, func(e *core.RequestEvent, c caller) error {
		ws, err := admin(e, c)
		if err != nil {
			return err
		}
		v, err := view(ws)
		if err != nil {
			return err
		}
		return e.JSON(http.StatusOK, v)
	})

	crm.add(http.MethodPut, "/workspaces/{id}/providers/ai", apikeys.ScopeAdmin, func(e *core.RequestEvent, c caller) error {
		ws, err := admin(e, c)
		if err != nil {
			return err
		}
		var in ai.Input
		if err := e.BindBody(&in); err != nil {
			return errAIBody
		}
		st, secrets, err := in.Validate()
		if err != nil {
			return err
		}
		if err := store.Put(ws, ai.ProviderName, st, secrets, c.Actor); err != nil {
			return err
		}
		v, err := view(ws)
		if err != nil {
			return err
		}
		return e.JSON(http.StatusOK, v)
	})

	crm.add(http.MethodPost, "/workspaces/{id}/providers/ai/test", apikeys.ScopeAdmin, func(e *core.RequestEvent, c caller) error {
		ws, err := admin(e, c)
		if err != nil {
			return err
		}
		_, cfg, err := ai.Load(store, ws)
		if err != nil {
			return err
		}
		ans, latency, err := client.Test(e.Request.Context(), ai.Call{Workspace: ws, User: c.UserID, APIKey: keyID(c)}, cfg)
		if err != nil {
			return err
		}
		return e.JSON(http.StatusOK, map[string]any{"model": ans.Model, "latency_ms": latency.Milliseconds()})
	})

	crm.add(http.MethodPost, "/templates/generate", apikeys.ScopeTemplatesWrite, func(e *core.RequestEvent, c caller) error {
		var b drafts.Brief
		if err := e.BindBody(&b); err != nil {
			return errBriefBody
		}
		if b.Workspace == "" {
			return errBriefBody.With("fields", map[string]string{"workspace": "required"})
		}
		if _, err := c.Require(e.App, b.Workspace, tenancy.RoleEditor, errAIViewer); err != nil {
			return err
		}
		rec, err := svc.Generate(e.Request.Context(), drafts.Who{Actor: c.Actor, UserID: c.UserID, KeyID: keyID(c)}, b)
		if err != nil {
			return err
		}
		return e.JSON(http.StatusOK, rec)
	})

	crm.add(http.MethodPost, "/templates/{id}/rewrite", apikeys.ScopeTemplatesWrite, func(e *core.RequestEvent, c caller) error {
		var in struct {
			Instruction string `json:"instruction"`
		}
		if err := e.BindBody(&in); err != nil {
			return errRewriteBody
		}
		old, err := e.App.FindRecordById("templates", e.Request.PathValue("id"))
		if err != nil {
			return errAITemplateNotFound
		}
		if _, err := c.Require(e.App, old.GetString("workspace"), tenancy.RoleEditor, errAIViewer); err != nil {
			if errors.Is(err, tenancy.ErrWorkspaceNotFound) {
				return errAITemplateNotFound // as if it did not exist
			}
			return err
		}
		rec, err := svc.Rewrite(e.Request.Context(), drafts.Who{Actor: c.Actor, UserID: c.UserID, KeyID: keyID(c)}, old, in.Instruction)
		if err != nil {
			return err
		}
		return e.JSON(http.StatusOK, rec)
	})
}

func keyID(c caller) string {
	if c.Key == nil {
		return ""
	}
	return c.Key.ID
}
