package hooks

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/pi-crm/pi-crm/services/apikeys"
	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/contacts"
	"github.com/pi-crm/pi-crm/services/customfields"
	"github.com/pi-crm/pi-crm/services/imports"
	"github.com/pi-crm/pi-crm/services/tenancy"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
)

// maxImportBytes bounds one upload (the file streams to disk; this only
// stops a runaway client from filling it).
const maxImportBytes = 2 << 30

// registerImports wires CSV import (the export: export.go). runner runs the
// jobs (nil: two workers); tests pass their own to wait for jobs.
func registerImports(app core.App, crm *crmRoutes, runner *imports.Runner, now func() time.Time) *imports.Service {
	cs := contacts.NewService(app)
	svc := imports.NewService(app, cs, customfields.NewService(app, cs), runner, now)
	registerImportRoutes(app, crm, svc)
	return svc
}

type importsHandler struct {
	app core.App
	svc *imports.Service
}

func registerImportRoutes(app core.App, crm *crmRoutes, svc *imports.Service) {
	h := &importsHandler{app: app, svc: svc}
	crm.add(http.MethodPost, "/workspaces/{id}/import", apikeys.ScopeContactsWrite, h.start, apis.BodyLimit(maxImportBytes))
	crm.add(http.MethodGet, "/import-jobs/{id}/errors.csv", apikeys.ScopeContactsRead, h.errors)
	crm.add(http.MethodPost, "/import-jobs/{id}/undo", apikeys.ScopeContactsWrite, h.undo)
	// a job's files go with its record, also when a deleted workspace takes
	// its jobs along (cascade deletes run these hooks too)
	app.OnRecordAfterDeleteSuccess("import_jobs").BindFunc(func(e *core.RecordEvent) error {
		if err := svc.RemoveFiles(e.Record.Id); err != nil {
			app.Logger().Error("imports: removing a deleted job's files", "job", e.Record.Id, "error", err)
		}
		return e.Next()
	})
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		// jobs a previous process left running are marked failed with their
		// committed counts before anything else can start one; what they
		// deferred is written in the background (RecoverInterrupted)
		n, settle, err := svc.RecoverInterrupted()
		if err != nil {
			app.Logger().Error("imports: recovering interrupted jobs", "error", err)
		} else if n > 0 {
			app.Logger().Warn("imports: jobs interrupted by a restart marked failed", "count", n)
		}
		go settle()
		return se.Next()
	})
}

// errViewer is what a viewer gets from the routes that write.
var errViewer = apperr.Forbidden(imports.CodeForbidden, "Viewers cannot import contacts: ask a workspace admin for the editor role")

// access: the caller's role in ws, the editor role when write. A workspace
// the caller is not a member of (or its key does not reach) is a 404.
func (h *importsHandler) access(c caller, ws string, write bool) error {
	min := tenancy.RoleViewer
	if write {
		min = tenancy.RoleEditor
	}
	_, err := c.Require(h.app, ws, min, errViewer)
	return err
}

// POST /api/crm/workspaces/{id}/import, multipart: "file" (the CSV),
// "options" (JSON, see imports.Options) and/or the options as fields of
// their own (mode, list, dry_run, mapping, auto_map: imports.FormOptions).
// Any other field is refused (import_option_unknown), never ignored.
// Returns the queued job at once (202); follow it through the import_jobs
// record (realtime).
func (h *importsHandler) start(e *core.RequestEvent, c caller) error {
	ws := e.Request.PathValue("id")
	if err := h.access(c, ws, true); err != nil {
		return err
	}
	if err := h.svc.CheckStart(imports.Input{Workspace: ws}); err != nil {
		return err
	}
	mt, _, _ := mime.ParseMediaType(e.Request.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		return apperr.BadRequest(imports.CodeInvalidFile, "send multipart/form-data with a \"file\" part (the CSV) and optional options: an \"options\" part (JSON) or the fields mode, list, dry_run, mapping, auto_map")
	}
	mr, err := e.Request.MultipartReader()
	if err != nil {
		return apperr.BadRequest(imports.CodeInvalidFile, "the multipart body cannot be read: "+err.Error())
	}
	var rawOpts []byte
	seenOpts := false
	fields := map[string][]string{} // option fields given on their own
	var staged, fileName string
	defer func() {
		if staged != "" {
			os.Remove(staged)
		}
	}()
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return apperr.BadRequest(imports.CodeInvalidFile, "the upload was cut off or is not valid multipart: "+err.Error())
		}
		name := part.FormName()
		switch {
		case name == "options":
			// one byte more than ParseOptions takes, so a larger part is refused, not cut
			var b []byte
			b, err = io.ReadAll(io.LimitReader(part, imports.MaxOptionsBytes+1))
			if err == nil && seenOpts && !bytes.Equal(b, rawOpts) {
				part.Close()
				return apperr.BadRequest(imports.CodeOptionConflict, "the \"options\" part is sent twice with different values: send it once").With("field", "options")
			}
			rawOpts, seenOpts = b, true
		case name == "file":
			if staged != "" {
				return apperr.BadRequest(imports.CodeInvalidFile, "send one file per import")
			}
			fileName = part.FileName()
			staged, err = h.svc.Stage(part)
		case slices.Contains(imports.OptionNames, name):
			var b []byte
			b, err = io.ReadAll(io.LimitReader(part, imports.MaxOptionsBytes+1))
			if err == nil && len(b) > imports.MaxOptionsBytes {
				part.Close()
				return apperr.BadRequest(imports.CodeInvalidOptions, fmt.Sprintf("the field %s has more than %d bytes", name, imports.MaxOptionsBytes)).With("field", name)
			}
			fields[name] = append(fields[name], string(b))
		default:
			// never ignored: a misspelt option would run the import
			// without it (mode=upsert once ran in create mode)
			part.Close()
			return imports.UnknownField(name)
		}
		part.Close()
		if err != nil {
			return apperr.BadRequest(imports.CodeInvalidFile, "the upload could not be read: "+err.Error())
		}
	}
	if staged == "" {
		return apperr.BadRequest(imports.CodeInvalidFile, "the \"file\" part (the CSV file) is missing")
	}
	opts, err := imports.FormOptions(rawOpts, fields)
	if err != nil {
		return err
	}
	// the limits (columns, new fields) before a job record or anything else
	// is written: a clear 400 instead of a job that cannot finish
	if err := h.svc.CheckUpload(staged, opts); err != nil {
		return err
	}
	if fileName == "" {
		fileName = "upload.csv"
	}
	job, err := h.svc.Start(imports.Input{Workspace: ws, FileName: fileName, Options: opts, Actor: c.Actor}, staged)
	staged = "" // Start moved or removed it
	if err != nil {
		return err
	}
	return e.JSON(http.StatusAccepted, job)
}

func (h *importsHandler) job(e *core.RequestEvent, c caller, write bool) (*core.Record, error) {
	job, err := h.svc.Job(e.Request.PathValue("id"))
	if err != nil {
		return nil, err
	}
	// a job of a workspace the caller cannot see is a 404 like a missing one
	if err := h.access(c, job.GetString("workspace"), write); err != nil {
		return nil, err
	}
	return job, nil
}

// GET /api/crm/import-jobs/{id}/errors.csv: the job's error report (row,
// column, code, message), for any member of its workspace.
func (h *importsHandler) errors(e *core.RequestEvent, c caller) error {
	job, err := h.job(e, c, false)
	if err != nil {
		return err
	}
	f, err := h.svc.OpenErrorReport(job.Id)
	if err != nil {
		return err
	}
	defer f.Close()
	e.Response.Header().Set("Content-Disposition", `attachment; filename="import-`+job.Id+`-errors.csv"`)
	return e.Stream(http.StatusOK, "text/csv; charset=utf-8", f)
}

// POST /api/crm/import-jobs/{id}/undo (editor+).
func (h *importsHandler) undo(e *core.RequestEvent, c caller) error {
	job, err := h.job(e, c, true)
	if err != nil {
		return err
	}
	job, err = h.svc.Undo(job.Id, c.Actor)
	if err != nil {
		return err
	}
	return e.JSON(http.StatusOK, job)
}
