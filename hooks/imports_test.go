package hooks_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/hooks"
	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/imports"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

func upload(t *testing.T, env *testutil.Env, ws, token string, headers map[string]string, csv, options string) (int, map[string]any) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if options != "" {
		_ = mw.WriteField("options", options)
	}
	fw, _ := mw.CreateFormFile("file", "people.csv")
	_, _ = io.WriteString(fw, csv)
	_ = mw.Close()
	req, _ := http.NewRequest("POST", env.Server.URL+"/api/crm/workspaces/"+ws+"/import", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

const peopleCSV = "first_name,primary_email\nAda,ada@example.com\nBad,not-an-email\n"

// The import and its undo each write exactly one audit entry, naming the caller.
func TestImportRoutesAudited(t *testing.T) {
	runner := imports.NewRunner(1)
	env := testutil.NewWithConfig(t, hooks.Config{ImportRunner: runner})
	owner, token := env.User("owner@example.com")
	ws := env.Workspace("Audited import", owner, nil)
	status, job := upload(t, env, ws.Id, token, nil, peopleCSV, `{"mode":"upsert"}`)
	if status != http.StatusAccepted || job["status"] != imports.StatusQueued {
		t.Fatalf("%d %v", status, job)
	}
	runner.Wait()
	id, _ := job["id"].(string)
	rec, _ := env.App.FindRecordById("import_jobs", id)
	if rec.GetString("status") != imports.StatusCompleted {
		t.Fatalf("job %s %s", rec.GetString("status"), rec.GetString("error"))
	}
	var actions []string
	_ = env.App.DB().Select("action").From("audit_logs").Where(dbx.HashExp{"entity_id": id}).Column(&actions)
	if strings.Join(actions, ",") != imports.ActionImport {
		t.Fatalf("entries for the job: %v", actions)
	}
	var n int
	_ = env.App.DB().NewQuery(`SELECT count(*) FROM audit_logs WHERE entity_type IN ('contacts', 'custom_fields', 'communication_logs', 'import_jobs') AND action = 'create'`).Row(&n)
	if n != 0 {
		t.Errorf("%d per-row audit entries", n)
	}
	// the error report, for members
	res := env.Do("GET", "/api/crm/import-jobs/"+id+"/errors.csv", token, nil)
	if res.Status != 200 || !strings.Contains(string(res.Body), "3,primary_email,contact_invalid_email,") {
		t.Fatalf("report %d %q", res.Status, res.Body)
	}
	res = env.Do("POST", "/api/crm/import-jobs/"+id+"/undo", token, nil)
	if res.Status != 200 {
		t.Fatalf("undo %d %s", res.Status, res.Body)
	}
	var user string
	_ = env.App.DB().Select("user").From("audit_logs").Where(dbx.HashExp{"entity_id": id, "action": imports.ActionUndo}).Row(&user)
	if user != owner.Id {
		t.Errorf("undo entry user %q", user)
	}
	if res := env.Do("POST", "/api/crm/import-jobs/"+id+"/undo", token, nil); res.Code() != imports.CodeNotUndoable {
		t.Errorf("second undo %d %s", res.Status, res.Body)
	}
}

func TestImportPermissions(t *testing.T) {
	runner := imports.NewRunner(1)
	env := testutil.NewWithConfig(t, hooks.Config{ImportRunner: runner})
	owner, token := env.User("owner@example.com")
	viewer, viewerToken := env.User("viewer@example.com")
	_, strangerToken := env.User("stranger@example.com")
	ws := env.Workspace("Perms", owner, map[*core.Record]string{viewer: "viewer"})

	if status, out := upload(t, env, ws.Id, viewerToken, nil, peopleCSV, ""); status != 403 {
		t.Errorf("viewer import: %d %v", status, out)
	}
	if status, out := upload(t, env, ws.Id, strangerToken, nil, peopleCSV, ""); status != 404 {
		t.Errorf("non-member import: %d %v", status, out)
	}
	if res := env.Do("GET", "/api/crm/workspaces/"+ws.Id+"/export", strangerToken, nil); res.Status != 404 {
		t.Errorf("non-member export: %d", res.Status)
	}
	if status, out := upload(t, env, ws.Id, token, nil, peopleCSV, `{"mode":"sometimes"}`); status != 400 {
		t.Errorf("bad mode: %d %v", status, out)
	}
	status, job := upload(t, env, ws.Id, token, nil, peopleCSV, "")
	if status != 202 {
		t.Fatalf("owner import: %d %v", status, job)
	}
	runner.Wait()
	id, _ := job["id"].(string)
	// a viewer reads the report and exports, but cannot undo
	if res := env.Do("GET", "/api/crm/import-jobs/"+id+"/errors.csv", viewerToken, nil); res.Status != 200 {
		t.Errorf("viewer report: %d", res.Status)
	}
	if res := env.Do("GET", "/api/crm/import-jobs/"+id+"/errors.csv", strangerToken, nil); res.Status != 404 {
		t.Errorf("stranger report: %d", res.Status)
	}
	if res := env.Do("POST", "/api/crm/import-jobs/"+id+"/undo", viewerToken, nil); res.Status != 403 {
		t.Errorf("viewer undo: %d", res.Status)
	}
	res := env.Do("GET", "/api/crm/workspaces/"+ws.Id+"/export", viewerToken, nil)
	if res.Status != 200 || !strings.Contains(string(res.Body), "Ada,,ada@example.com") {
		t.Errorf("viewer export: %d %q", res.Status, res.Body)
	}

	// API keys: contacts:read exports but cannot import; contacts:write imports
	key := func(scope string) map[string]string {
		res := env.Do("POST", "/api/crm/api-keys", token, map[string]any{"scopes": []string{scope}})
		k, _ := res.JSON()["key"].(string)
		return map[string]string{"X-Api-Key": k}
	}
	read, write := key("contacts:read"), key("contacts:write")
	if status, out := upload(t, env, ws.Id, "", read, peopleCSV, ""); status != 403 || out["data"].(map[string]any)["code"] != "api_key_scope_missing" {
		t.Errorf("read key import: %d %v", status, out)
	}
	if res := env.DoWithHeaders("GET", "/api/crm/workspaces/"+ws.Id+"/export", "", read, nil); res.Status != 200 {
		t.Errorf("read key export: %d", res.Status)
	}
	if status, out := upload(t, env, ws.Id, "", write, peopleCSV, `{"mode":"skip_existing"}`); status != 202 {
		t.Errorf("write key import: %d %v", status, out)
	}
	runner.Wait()
	if res := env.DoWithHeaders("GET", "/api/crm/workspaces/"+ws.Id+"/export", "", key("templates:read"), nil); res.Status != 403 {
		t.Errorf("templates key export: %d", res.Status)
	}
}

// A member watching import_jobs over realtime sees the job's progress (rows
// read growing) and its end; the job's files go when its record goes, here
// with the workspace.
func TestImportProgressRealtimeAndFiles(t *testing.T) {
	runner := imports.NewRunner(1)
	env := testutil.NewWithConfig(t, hooks.Config{ImportRunner: runner})
	owner, token := env.User("owner@example.com")
	ws := env.Workspace("Progress", owner, nil)
	svc := env.Imports()
	svc.BatchSize = 50
	svc.ProgressEvery = 0 // every batch saves its counts
	events := testutil.SubscribeEvents(t, env, token, nil, "import_jobs")

	var csv strings.Builder
	csv.WriteString("first_name,primary_email\n")
	for i := 0; i < 500; i++ {
		fmt.Fprintf(&csv, "P%d,p%d@example.com\n", i, i)
	}
	csv.WriteString("Bad,not-an-email\n")
	status, job := upload(t, env, ws.Id, token, nil, csv.String(), "")
	if status != http.StatusAccepted {
		t.Fatalf("%d %v", status, job)
	}
	id, _ := job["id"].(string)
	var reads []float64
	final, finalRead := "", 0.0
	deadline := time.After(10 * time.Second)
	for final == "" {
		select {
		case ev := <-events:
			if ev.Record["id"] != id {
				continue
			}
			counts, _ := ev.Record["counts"].(map[string]any)
			if r, ok := counts["read"].(float64); ok {
				reads = append(reads, r)
			}
			if s, _ := ev.Record["status"].(string); s == imports.StatusCompleted || s == imports.StatusFailed {
				final = s
				finalRead, _ = counts["read"].(float64)
			}
		case <-deadline:
			t.Fatalf("no final status over realtime; reads seen %v", reads)
		}
	}
	runner.Wait()
	if final != imports.StatusCompleted {
		t.Fatalf("final status %s", final)
	}
	// PocketBase does not promise the order of events of successive saves
	// (seen: 450 501 500 501): distinct counts, and the final state's
	distinct := slices.Compact(slices.Sorted(slices.Values(reads)))
	if len(distinct) < 5 || finalRead != 501 || distinct[len(distinct)-1] != 501 {
		t.Fatalf("progress over realtime: %v, final %v (want several distinct counts, the completed job at 501)", reads, finalRead)
	}

	dir := svc.Dir(id)
	if _, err := os.Stat(svc.ErrorReportPath(id)); err != nil {
		t.Fatalf("error report: %v", err)
	}
	if r := env.Do("DELETE", "/api/collections/workspaces/records/"+ws.Id, token, nil); r.Status != 204 {
		t.Fatalf("delete workspace: %d %s", r.Status, r.Body)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("job files left after the job: %v", err)
	}
}
