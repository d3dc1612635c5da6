package hooks_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// The AI routes' audit: a settings PUT is the system_settings record's entry
// (TestAIProviderSettings), a draft its template's entry plus
// ai.template_generate / ai.template_rewrite (TestAIGenerateEmailDraft,
// TestAIRewrite); the provider test writes only its ai_usage row, which is
// bookkeeping without an entry of its own. ai_usage rows written through the
// REST API (by a superuser) are audited like any record.
func init() {
	auditedRoutes["PUT /api/crm/workspaces/{id}/providers/ai"] = "TestAIProviderSettings"
	auditedRoutes["POST /api/crm/workspaces/{id}/providers/ai/test"] = "TestAIProviderSettings"
	auditedRoutes["POST /api/crm/templates/generate"] = "TestAIGenerateEmailDraft"
	auditedRoutes["POST /api/crm/templates/{id}/rewrite"] = "TestAIRewrite"
	auditCases["ai_usage"] = auditCase{
		create: func(f *auditFixture) map[string]any {
			return map[string]any{"workspace": f.ws.Id, "purpose": "template_generate", "status": "ok", "model": "m", "total_tokens": 1}
		},
		update: map[string]any{"total_tokens": 2},
	}
}

// ---------------------------------------------------------------------------
// a local OpenAI-compatible server (the chat completions wire format), which
// the real go-openai client of services/ai talks to

const (
	fakeUpstreamMessage = "the fake model is on fire"
	fakeNoSchemaMessage = "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model."
	aiTestKey           = "sk-test-DO-NOT-LEAK-4f9a2c7e"
)

type fakeAI struct {
	srv    *httptest.Server
	mu     sync.Mutex
	mode   string
	bodies []map[string]any
	raw    []string
	auth   []string
}

func newFakeAI(t *testing.T) *fakeAI {
	f := &fakeAI{mode: "ok"}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.srv.CloseClientConnections()
		f.srv.Close()
	})
	return f
}

func (f *fakeAI) url() string { return f.srv.URL + "/v1" }

func (f *fakeAI) setMode(m string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode = m
}

func (f *fakeAI) requests() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.bodies...)
}

func (f *fakeAI) rawRequests() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.raw, "\n")
}

func fakeChannel(body map[string]any) string {
	rf, _ := body["response_format"].(map[string]any)
	switch rf["type"] {
	case "json_schema":
		js, _ := rf["json_schema"].(map[string]any)
		schema, _ := js["schema"].(map[string]any)
		props, _ := schema["properties"].(map[string]any)
		if _, ok := props["body_html"]; ok {
			return "email"
		}
		return "sms"
	case "json_object":
		b, _ := json.Marshal(body["messages"])
		if strings.Contains(string(b), "body_html") {
			return "email"
		}
		return "sms"
	}
	return ""
}

func fakeDraft(channel, who string) map[string]any {
	if channel == "sms" {
		return map[string]any{"name": "Spring SMS", "body_text": "Hi " + who + ", our spring sale starts today. Reply STOP to opt out."}
	}
	return map[string]any{"name": "Spring newsletter", "subject": "Our spring sale starts today", "preheader": "20% off until Sunday",
		"body_html": "<h1>Hello " + who + "!</h1><p>Our sale starts today.</p><p><a href=\"{{unsubscribe_url}}\">Unsubscribe</a></p>",
		"body_text": "Hello " + who + "!\n\nOur sale starts today.\n\nUnsubscribe: {{unsubscribe_url}}"}
}

func (f *fakeAI) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		http.Error(w, `{"error":{"message":"no such route","type":"invalid_request_error"}}`, http.StatusNotFound)
		return
	}
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	f.mu.Lock()
	f.bodies = append(f.bodies, body)
	f.raw = append(f.raw, string(raw))
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	mode := f.mode
	f.mu.Unlock()

	channel := fakeChannel(body)
	fail := func(status int, msg, param string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		var p any
		if param != "" {
			p = param
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": "invalid_request_error", "param": p, "code": nil}})
	}
	answer := func(content string) {
		model, _ := body["model"].(string)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": "chatcmpl-fake", "object": "chat.completion", "created": time.Now().Unix(), "model": model + "-served",
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop", "logprobs": nil,
				"message": map[string]any{"role": "assistant", "content": content, "refusal": nil}}},
			"usage": map[string]any{"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
		})
	}
	draft := func(d map[string]any) {
		if channel == "" {
			answer("OK")
			return
		}
		b, _ := json.Marshal(d)
		answer(string(b))
	}
	switch mode {
	case "malformed":
		answer(`{"name": "Half a draft", "subject": "Oops`)
	case "error500":
		fail(http.StatusInternalServerError, fakeUpstreamMessage, "")
	case "echo-key":
		fail(http.StatusUnauthorized, "Incorrect API key provided: "+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), "")
	case "slow":
		select {
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
			draft(fakeDraft(channel, "{{first_name}}"))
		}
	case "no-json-schema":
		if rf, _ := body["response_format"].(map[string]any); rf["type"] == "json_schema" {
			fail(http.StatusBadRequest, fakeNoSchemaMessage, "response_format")
			return
		}
		draft(fakeDraft(channel, `{{first_name | default "there"}}`))
	case "unknown-placeholder":
		draft(fakeDraft(channel, "{{no_such_field}}"))
	case "long-subject":
		d := fakeDraft(channel, "{{first_name}}")
		d["subject"] = strings.Repeat("s", 151)
		draft(d)
	case "long-sms":
		draft(map[string]any{"name": "Long", "body_text": strings.Repeat("x", 153*3+1)})
	case "insights":
		// the insights summary's answer (hooks/insights_test.go)
		b, _ := json.Marshal(fakeFindings)
		answer(string(b))
	case "fenced":
		b, _ := json.Marshal(fakeDraft(channel, "{{first_name}}"))
		answer("Here is your template:\n```json\n" + string(b) + "\n```")
	default:
		draft(fakeDraft(channel, `{{first_name | default "there"}} {{custom.tier}}`))
	}
}

// ---------------------------------------------------------------------------
// the fixture: W with one member per role, X of an outsider

type aiFixture struct {
	env                                    *testutil.Env
	fake                                   *fakeAI
	ws, other                              *core.Record
	owner, admin, editor, viewer, outsider string // tokens
	editorID, ownerID                      string
	bodies                                 []string // every answer body, for the leak check
}

func newAIFixture(t *testing.T) *aiFixture {
	// a clock that moves 7 ms per reading: latencies are exact
	var ticks atomic.Int64
	base := time.Now()
	env := testutil.NewWithClock(t, func() time.Time { return base.Add(time.Duration(ticks.Add(1)) * 7 * time.Millisecond) })
	f := &aiFixture{env: env, fake: newFakeAI(t)}
	// the test app writes no logs by default: turn them on, so the leak check
	// reads real log lines
	settings := env.App.Settings()
	settings.Logs.MaxDays = 7
	if err := env.App.Save(settings); err != nil {
		t.Fatal(err)
	}
	owner, ot := env.User("owner@example.com")
	admin, at := env.User("admin@example.com")
	editor, et := env.User("editor@example.com")
	viewer, vt := env.User("viewer@example.com")
	outsider, xt := env.User("outsider@example.com")
	f.owner, f.admin, f.editor, f.viewer, f.outsider, f.editorID, f.ownerID = ot, at, et, vt, xt, editor.Id, owner.Id
	f.ws = env.Workspace("W", owner, map[*core.Record]string{admin: "admin", editor: "editor", viewer: "viewer"})
	f.other = env.Workspace("X", outsider, nil)
	env.Create("custom_field_definitions", map[string]any{"user": owner.Id, "workspace": f.ws.Id, "field_name": "tier", "label": "Tier", "field_type": "text"})
	// a contact whose data must never reach the model
	env.Create("contacts", map[string]any{"workspace": f.ws.Id, "first_name": "Zelda", "last_name": "Secretperson",
		"primary_email": "zelda.secretperson@example.org", "company": "Hushhush Ltd"})
	return f
}

func (f *aiFixture) do(t *testing.T, method, path, token string, body any) testutil.Response {
	t.Helper()
	res := f.env.Do(method, path, token, body)
	f.bodies = append(f.bodies, string(res.Body))
	return res
}

func (f *aiFixture) configure(t *testing.T, extra map[string]any) {
	t.Helper()
	body := map[string]any{"base_url": f.fake.url(), "model": "fake-model", "api_key": aiTestKey, "temperature": 0.2, "max_tokens": 1000, "timeout_s": 5}
	for k, v := range extra {
		body[k] = v
	}
	if res := f.do(t, "PUT", "/api/crm/workspaces/"+f.ws.Id+"/providers/ai", f.owner, body); res.Status != http.StatusOK {
		t.Fatalf("configure: %d %s", res.Status, res.Body)
	}
}

func (f *aiFixture) generate(t *testing.T, token string, channel string, extra map[string]any) testutil.Response {
	t.Helper()
	body := map[string]any{"workspace": f.ws.Id, "channel": channel, "goal": "announce the spring sale", "audience": "regulars",
		"tone": "warm", "must_haves": []string{"20% off", "until Sunday"}, "language": "English"}
	for k, v := range extra {
		body[k] = v
	}
	return f.do(t, "POST", "/api/crm/templates/generate", token, body)
}

func (f *aiFixture) count(t *testing.T, collection string) int {
	t.Helper()
	n, err := f.env.App.CountRecords(collection, dbx.HashExp{"workspace": f.ws.Id})
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

func (f *aiFixture) usage(t *testing.T) []*core.Record {
	t.Helper()
	recs, err := f.env.App.FindRecordsByFilter("ai_usage", "workspace = {:ws}", "created", 0, 0, dbx.Params{"ws": f.ws.Id})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func wantCode(t *testing.T, res testutil.Response, status int, code string) map[string]any {
	t.Helper()
	if res.Status != status || res.Code() != code {
		t.Fatalf("got %d %s, want %d %s", res.Status, res.Body, status, code)
	}
	d, _ := res.JSON()["data"].(map[string]any)
	return d
}

// ---------------------------------------------------------------------------

// The happy path: an email draft asked for as structured output, checked,
// saved as a draft with its brief, and its usage recorded; the prompt holds
// the workspace's field names but no contact's data.
func TestAIGenerateEmailDraft(t *testing.T) {
	f := newAIFixture(t)
	f.configure(t, nil)
	res := f.generate(t, f.editor, "email", nil)
	if res.Status != http.StatusOK {
		t.Fatalf("generate: %d %s", res.Status, res.Body)
	}
	got := res.JSON()
	if got["status"] != "draft" || got["channel"] != "email" || got["name"] != "Spring newsletter" || got["subject"] != "Our spring sale starts today" {
		t.Fatalf("answer %s", res.Body)
	}
	rec, err := f.env.App.FindRecordById("templates", got["id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if rec.GetInt("version") != 1 || rec.GetString("previous") != "" || !strings.Contains(rec.GetString("body_html"), "{{custom.tier}}") {
		t.Errorf("saved %v", rec.FieldsData())
	}
	var prompt map[string]any
	_ = json.Unmarshal([]byte(rec.GetString("ai_prompt")), &prompt)
	if prompt["goal"] != "announce the spring sale" || prompt["channel"] != "email" {
		t.Errorf("ai_prompt %s", rec.GetString("ai_prompt"))
	}

	reqs := f.fake.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d model calls", len(reqs))
	}
	rf, _ := reqs[0]["response_format"].(map[string]any)
	if rf["type"] != "json_schema" || reqs[0]["model"] != "fake-model" {
		t.Errorf("request %v", reqs[0])
	}
	if f.fake.auth[0] != "Bearer "+aiTestKey {
		t.Errorf("authorization %q", f.fake.auth[0])
	}
	raw := f.fake.rawRequests()
	if !strings.Contains(raw, "custom.tier") || !strings.Contains(raw, "20% off") {
		t.Errorf("the prompt lacks the field names or the brief: %s", raw)
	}
	for _, personal := range []string{"Zelda", "Secretperson", "zelda.secretperson", "Hushhush"} {
		if strings.Contains(raw, personal) {
			t.Errorf("a contact's data (%s) went to the model", personal)
		}
	}

	u := f.usage(t)
	if len(u) != 1 {
		t.Fatalf("%d usage rows", len(u))
	}
	row := u[0]
	if row.GetString("purpose") != "template_generate" || row.GetString("status") != "ok" || row.GetString("user") != f.editorID ||
		row.GetInt("prompt_tokens") != 100 || row.GetInt("completion_tokens") != 50 || row.GetInt("total_tokens") != 150 ||
		row.GetString("model") != "fake-model-served" || row.GetInt("latency_ms") != 7 {
		t.Errorf("usage %v", row.FieldsData())
	}

	// the generation's audit entry names the editor and the model
	entry, err := f.env.App.FindFirstRecordByFilter("audit_logs", "action = 'ai.template_generate' && entity_id = {:id}", dbx.Params{"id": rec.Id})
	if err != nil || entry.GetString("user") != f.editorID {
		t.Fatalf("generation audit entry: %v", err)
	}
	f.assertNoKeyAnywhere(t)
}

// An SMS draft: only the text, no email fields asked for, within 3 segments.
func TestAIGenerateSMSDraft(t *testing.T) {
	f := newAIFixture(t)
	f.configure(t, nil)
	res := f.generate(t, f.admin, "sms", map[string]any{"name": "My SMS"})
	if res.Status != http.StatusOK {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	got := res.JSON()
	if got["channel"] != "sms" || got["name"] != "My SMS" || got["subject"] != "" || !strings.Contains(got["body_text"].(string), "spring sale") {
		t.Fatalf("answer %s", res.Body)
	}
	if strings.Contains(f.fake.rawRequests(), "body_html") {
		t.Error("the SMS request names body_html")
	}
	// the same name again is made unique
	res = f.generate(t, f.admin, "sms", map[string]any{"name": "My SMS"})
	if res.Status != http.StatusOK || res.JSON()["name"] != "My SMS (2)" {
		t.Fatalf("second: %d %s", res.Status, res.Body)
	}
}

// Answers that cannot be used: ai_bad_output with the reason, nothing
// saved, the usage (tokens were spent) recorded as an error.
func TestAIBadOutputSavesNothing(t *testing.T) {
	f := newAIFixture(t)
	f.configure(t, nil)
	for _, tc := range []struct{ mode, channel, reason string }{
		{"malformed", "email", "not JSON"},
		{"unknown-placeholder", "email", "no_such_field"},
		{"unknown-placeholder", "sms", "no_such_field"},
		{"long-subject", "email", "subject is longer than 150"},
		{"long-sms", "sms", "4 segments"},
	} {
		t.Run(tc.mode+"/"+tc.channel, func(t *testing.T) {
			f.fake.setMode(tc.mode)
			before, usage := f.count(t, "templates"), len(f.usage(t))
			d := wantCode(t, f.generate(t, f.editor, tc.channel, nil), http.StatusBadGateway, "ai_bad_output")
			if r, _ := d["reason"].(string); !strings.Contains(r, tc.reason) {
				t.Errorf("reason %q, want it to say %q", r, tc.reason)
			}
			if n := f.count(t, "templates"); n != before {
				t.Errorf("%d templates saved", n-before)
			}
			u := f.usage(t)
			if len(u) != usage+1 {
				t.Fatalf("%d usage rows, want %d", len(u), usage+1)
			}
			last := u[len(u)-1]
			if last.GetString("status") != "error" || last.GetString("error_code") != "ai_bad_output" || last.GetInt("total_tokens") != 150 {
				t.Errorf("usage %v", last.FieldsData())
			}
		})
	}
	// a fenced answer (as small local models write) is read
	f.fake.setMode("fenced")
	if res := f.generate(t, f.editor, "email", nil); res.Status != http.StatusOK {
		t.Fatalf("fenced: %d %s", res.Status, res.Body)
	}
}

// The server's error comes back with its own message; a slow server is a
// timeout at the configured limit; neither saves anything.
func TestAIUpstreamErrorAndTimeout(t *testing.T) {
	f := newAIFixture(t)
	f.configure(t, map[string]any{"timeout_s": 1})

	f.fake.setMode("error500")
	d := wantCode(t, f.generate(t, f.editor, "email", nil), http.StatusBadGateway, "ai_upstream_error")
	if d["upstream"] != fakeUpstreamMessage || d["status"] != float64(500) {
		t.Errorf("data %v", d)
	}

	f.fake.setMode("slow")
	start := time.Now()
	d = wantCode(t, f.generate(t, f.editor, "email", nil), http.StatusGatewayTimeout, "ai_timeout")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the timeout of 1 s took %s", took)
	}
	if d["timeout_s"] != float64(1) {
		t.Errorf("data %v", d)
	}
	if n := f.count(t, "templates"); n != 0 {
		t.Errorf("%d templates saved", n)
	}
	u := f.usage(t)
	if len(u) != 2 || u[0].GetString("error_code") != "ai_upstream_error" || u[1].GetString("error_code") != "ai_timeout" {
		t.Errorf("usage rows %d", len(u))
	}

	// a server that echoes the key in its error: the answer does not
	f.fake.setMode("echo-key")
	d = wantCode(t, f.generate(t, f.editor, "email", nil), http.StatusBadGateway, "ai_upstream_error")
	if up, _ := d["upstream"].(string); !strings.Contains(up, "[redacted]") {
		t.Errorf("upstream %q", up)
	}
	f.assertNoKeyAnywhere(t)
}

// A server without structured output: the request is made again in JSON
// mode with the schema in the prompt, and the draft is saved.
func TestAIJSONModeFallback(t *testing.T) {
	f := newAIFixture(t)
	f.configure(t, nil)
	f.fake.setMode("no-json-schema")
	if res := f.generate(t, f.editor, "email", nil); res.Status != http.StatusOK {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	reqs := f.fake.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	first, _ := reqs[0]["response_format"].(map[string]any)
	second, _ := reqs[1]["response_format"].(map[string]any)
	if first["type"] != "json_schema" || second["type"] != "json_object" {
		t.Fatalf("formats %v then %v", first, second)
	}
	msgs, _ := json.Marshal(reqs[1]["messages"])
	if !strings.Contains(string(msgs), "JSON schema") || !strings.Contains(string(msgs), `\"required\"`) {
		t.Errorf("the fallback prompt lacks the schema: %s", msgs)
	}
	if u := f.usage(t); len(u) != 1 || u[0].GetString("status") != "ok" {
		t.Errorf("usage: %d rows", len(u))
	}
}

// Not configured: the routes say so and where to fix it.
func TestAINotConfigured(t *testing.T) {
	f := newAIFixture(t)
	d := wantCode(t, f.generate(t, f.editor, "email", nil), http.StatusBadRequest, "ai_not_configured")
	if d["settings_url"] != "/settings/ai" {
		t.Errorf("data %v", d)
	}
	wantCode(t, f.do(t, "POST", "/api/crm/workspaces/"+f.ws.Id+"/providers/ai/test", f.owner, nil), http.StatusBadRequest, "ai_not_configured")
	res := f.do(t, "GET", "/api/crm/workspaces/"+f.ws.Id+"/providers/ai", f.owner, nil)
	if res.Status != http.StatusOK || res.JSON()["configured"] != false || res.JSON()["has_api_key"] != false {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	if len(f.fake.requests()) != 0 || len(f.usage(t)) != 0 {
		t.Error("a call was made")
	}
}

// Settings: GET/PUT for owners and admins only, the key write-only,
// validation with field details, the test route with model and latency.
func TestAIProviderSettings(t *testing.T) {
	f := newAIFixture(t)
	path := "/api/crm/workspaces/" + f.ws.Id + "/providers/ai"
	f.configure(t, nil)
	// the PUT is audited: the setting's entry names the owner, without the key
	setting, err := f.env.App.FindFirstRecordByFilter("system_settings", "scope_id = {:ws} && setting_key = 'provider.ai'", dbx.Params{"ws": f.ws.Id})
	if err != nil {
		t.Fatal(err)
	}
	if e, err := f.env.App.FindFirstRecordByFilter("audit_logs", "entity_type = 'system_settings' && entity_id = {:id} && user = {:u}",
		dbx.Params{"id": setting.Id, "u": f.ownerID}); err != nil || e.GetString("workspace") != f.ws.Id || e.GetString("ip_address") == "" {
		t.Fatalf("settings audit entry: %v", err)
	}
	res := f.do(t, "GET", path, f.admin, nil)
	got := res.JSON()
	if res.Status != http.StatusOK || got["has_api_key"] != true || got["configured"] != true || got["model"] != "fake-model" ||
		got["timeout_s"] != float64(5) || got["max_tokens"] != float64(1000) || got["temperature"] != 0.2 {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	if _, ok := got["api_key"]; ok {
		t.Fatal("GET answers api_key")
	}

	// omitted key: kept; "": removed
	res = f.do(t, "PUT", path, f.admin, map[string]any{"base_url": f.fake.url(), "model": "m2"})
	if res.Status != http.StatusOK || res.JSON()["has_api_key"] != true || res.JSON()["timeout_s"] != float64(60) {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	res = f.do(t, "PUT", path, f.admin, map[string]any{"base_url": f.fake.url(), "model": "m2", "api_key": ""})
	if res.JSON()["has_api_key"] != false {
		t.Fatalf("%s", res.Body)
	}
	f.configure(t, nil)

	for _, tc := range []struct {
		body  any
		field string
	}{
		{map[string]any{"base_url": "ftp://x/v1", "model": "m"}, "base_url"},
		{map[string]any{"base_url": "not a url", "model": "m"}, "base_url"},
		{map[string]any{"model": "m"}, "base_url"},
		{map[string]any{"base_url": "http://x/v1", "model": " "}, "model"},
		{map[string]any{"base_url": "http://x/v1", "model": "m", "temperature": 2.5}, "temperature"},
		{map[string]any{"base_url": "http://x/v1", "model": "m", "temperature": -1}, "temperature"},
		{map[string]any{"base_url": "http://x/v1", "model": "m", "max_tokens": 0}, "max_tokens"},
		{map[string]any{"base_url": "http://x/v1", "model": "m", "max_tokens": 32769}, "max_tokens"},
		{map[string]any{"base_url": "http://x/v1", "model": "m", "timeout_s": 0}, "timeout_s"},
		{map[string]any{"base_url": "http://x/v1", "model": "m", "timeout_s": 601}, "timeout_s"},
		{map[string]any{"base_url": "http://x/v1", "model": "m", "timeout_s": "soon"}, ""},
		{"not an object", ""},
	} {
		res := f.do(t, "PUT", path, f.owner, tc.body)
		d := wantCode(t, res, http.StatusBadRequest, "ai_settings_invalid")
		if tc.field != "" {
			fields, _ := d["fields"].(map[string]any)
			if _, ok := fields[tc.field]; !ok {
				t.Errorf("%v: fields %v", tc.body, fields)
			}
		}
	}
	// the refused PUTs changed nothing
	if res := f.do(t, "GET", path, f.owner, nil); res.JSON()["model"] != "fake-model" || res.JSON()["has_api_key"] != true {
		t.Errorf("after refused PUTs: %s", res.Body)
	}

	res = f.do(t, "POST", path+"/test", f.owner, nil)
	if res.Status != http.StatusOK || res.JSON()["model"] != "fake-model-served" || res.JSON()["latency_ms"] != float64(7) {
		t.Fatalf("test: %d %s", res.Status, res.Body)
	}
	u := f.usage(t)
	if len(u) != 1 || u[0].GetString("purpose") != "provider_test" {
		t.Fatalf("usage %d", len(u))
	}

	// who may: owners and admins; editors and viewers 403, outsiders 404
	for _, tok := range []string{f.editor, f.viewer} {
		wantCode(t, f.do(t, "GET", path, tok, nil), http.StatusForbidden, "ai_settings_forbidden")
		wantCode(t, f.do(t, "PUT", path, tok, map[string]any{"base_url": "http://evil/v1", "model": "m"}), http.StatusForbidden, "ai_settings_forbidden")
		wantCode(t, f.do(t, "POST", path+"/test", tok, nil), http.StatusForbidden, "ai_settings_forbidden")
	}
	wantCode(t, f.do(t, "GET", path, f.outsider, nil), http.StatusNotFound, "workspace_not_found")
	wantCode(t, f.do(t, "PUT", path, f.outsider, map[string]any{"base_url": "http://evil/v1", "model": "m"}), http.StatusNotFound, "workspace_not_found")
	if res := f.do(t, "GET", path, f.owner, nil); res.JSON()["base_url"] != f.fake.url() {
		t.Errorf("a refused caller changed the settings: %s", res.Body)
	}
	f.assertNoKeyAnywhere(t)
}

// Viewers cannot generate or rewrite (403); another workspace's caller gets
// 404 for the workspace and for its templates.
func TestAIGenerateAccess(t *testing.T) {
	f := newAIFixture(t)
	f.configure(t, nil)
	wantCode(t, f.generate(t, f.viewer, "email", nil), http.StatusForbidden, "ai_generate_forbidden")
	wantCode(t, f.generate(t, f.outsider, "email", nil), http.StatusNotFound, "workspace_not_found")
	tpl := f.env.Create("templates", map[string]any{"workspace": f.ws.Id, "name": "Old", "channel": "sms", "body_text": "Hi"})
	wantCode(t, f.do(t, "POST", "/api/crm/templates/"+tpl.Id+"/rewrite", f.viewer, map[string]any{"instruction": "shorter"}), http.StatusForbidden, "ai_generate_forbidden")
	wantCode(t, f.do(t, "POST", "/api/crm/templates/"+tpl.Id+"/rewrite", f.outsider, map[string]any{"instruction": "shorter"}), http.StatusNotFound, "template_not_found")
	wantCode(t, f.do(t, "POST", "/api/crm/templates/nosuchtemplate1/rewrite", f.editor, map[string]any{"instruction": "x"}), http.StatusNotFound, "template_not_found")
	if len(f.fake.requests()) != 0 {
		t.Error("a refused caller reached the model")
	}
	// bad briefs: 400 with the field
	for _, tc := range []struct {
		extra map[string]any
		field string
	}{
		{map[string]any{"channel": "fax"}, "channel"},
		{map[string]any{"goal": " "}, "goal"},
		{map[string]any{"goal": strings.Repeat("g", 2001)}, "goal"},
		{map[string]any{"must_haves": strings.Split(strings.Repeat("x,", 21), ",")}, "must_haves"},
	} {
		d := wantCode(t, f.generate(t, f.editor, "email", tc.extra), http.StatusBadRequest, "ai_brief_invalid")
		if fields, _ := d["fields"].(map[string]any); fields[tc.field] == nil {
			t.Errorf("%v: fields %v", tc.extra, d)
		}
	}
	wantCode(t, f.do(t, "POST", "/api/crm/templates/generate", f.editor, "nope"), http.StatusBadRequest, "ai_brief_invalid")
	wantCode(t, f.do(t, "POST", "/api/crm/templates/"+tpl.Id+"/rewrite", f.editor, map[string]any{"instruction": ""}), http.StatusBadRequest, "ai_brief_invalid")
}

// A rewrite is a new draft version; the old template stays as it was.
func TestAIRewrite(t *testing.T) {
	f := newAIFixture(t)
	f.configure(t, nil)
	res := f.generate(t, f.editor, "email", map[string]any{"name": "Spring"})
	if res.Status != http.StatusOK {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	oldID := res.JSON()["id"].(string)
	old, _ := f.env.App.FindRecordById("templates", oldID)
	oldUpdated := old.GetString("updated")

	res = f.do(t, "POST", "/api/crm/templates/"+oldID+"/rewrite", f.editor, map[string]any{"instruction": "make it shorter"})
	if res.Status != http.StatusOK {
		t.Fatalf("rewrite: %d %s", res.Status, res.Body)
	}
	v2 := res.JSON()
	if v2["previous"] != oldID || v2["version"] != float64(2) || v2["status"] != "draft" || v2["name"] != "Spring (v2)" || v2["id"] == oldID {
		t.Fatalf("v2 %s", res.Body)
	}
	if _, err := f.env.App.FindFirstRecordByFilter("audit_logs", "action = 'ai.template_rewrite' && entity_id = {:id} && user = {:u}",
		dbx.Params{"id": v2["id"], "u": f.editorID}); err != nil {
		t.Fatalf("rewrite audit entry: %v", err)
	}
	if again, _ := f.env.App.FindRecordById("templates", oldID); again.GetString("updated") != oldUpdated || again.GetString("name") != "Spring" {
		t.Error("the old version changed")
	}
	raw := f.fake.rawRequests()
	if !strings.Contains(raw, "make it shorter") || !strings.Contains(raw, "Our spring sale starts today") {
		t.Error("the rewrite prompt lacks the instruction or the old content")
	}
	// v3 from v2: "Spring (v3)", not "Spring (v2) (v3)"
	res = f.do(t, "POST", "/api/crm/templates/"+v2["id"].(string)+"/rewrite", f.editor, map[string]any{"instruction": "warmer"})
	if res.Status != http.StatusOK || res.JSON()["name"] != "Spring (v3)" || res.JSON()["version"] != float64(3) {
		t.Fatalf("v3: %d %s", res.Status, res.Body)
	}
	// a failed rewrite saves nothing
	f.fake.setMode("malformed")
	before := f.count(t, "templates")
	wantCode(t, f.do(t, "POST", "/api/crm/templates/"+oldID+"/rewrite", f.editor, map[string]any{"instruction": "x"}), http.StatusBadGateway, "ai_bad_output")
	if f.count(t, "templates") != before {
		t.Error("a failed rewrite saved a template")
	}
	var purposes []string
	for _, u := range f.usage(t) {
		purposes = append(purposes, u.GetString("purpose"))
	}
	if fmt.Sprint(purposes) != "[template_generate template_rewrite template_rewrite template_rewrite]" {
		t.Errorf("usage purposes %v", purposes)
	}
}

// API keys: templates:write drafts (the usage names the key); the provider
// settings need admin.
func TestAIWithAPIKeys(t *testing.T) {
	f := newAIFixture(t)
	f.configure(t, nil)
	mk := func(scopes ...string) (string, string) {
		res := f.do(t, "POST", "/api/crm/api-keys", f.editor, map[string]any{"scopes": scopes, "workspace": f.ws.Id})
		if res.Status != http.StatusOK {
			t.Fatalf("key: %d %s", res.Status, res.Body)
		}
		rec, _ := res.JSON()["record"].(map[string]any)
		return res.JSON()["key"].(string), rec["id"].(string)
	}
	key, keyID := mk("templates:write")
	res := f.env.DoWithHeaders("POST", "/api/crm/templates/generate", "", map[string]string{"X-Api-Key": key},
		map[string]any{"workspace": f.ws.Id, "channel": "sms", "goal": "reminder"})
	if res.Status != http.StatusOK {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	if u := f.usage(t); len(u) != 1 || u[0].GetString("api_key") != keyID || u[0].GetString("user") != f.editorID {
		t.Errorf("usage %v", u[0].FieldsData())
	}
	read, _ := mk("templates:read")
	res = f.env.DoWithHeaders("POST", "/api/crm/templates/generate", "", map[string]string{"X-Api-Key": read},
		map[string]any{"workspace": f.ws.Id, "channel": "sms", "goal": "reminder"})
	wantCode(t, res, http.StatusForbidden, "api_key_scope_missing")
	res = f.env.DoWithHeaders("GET", "/api/crm/workspaces/"+f.ws.Id+"/providers/ai", "", map[string]string{"X-Api-Key": key}, nil)
	wantCode(t, res, http.StatusForbidden, "api_key_scope_missing")
}

// assertNoKeyAnywhere: the API key is in no answer, audit entry, usage row,
// stored plain value or log line.
func (f *aiFixture) assertNoKeyAnywhere(t *testing.T) {
	t.Helper()
	assertSecretNowhere(t, f.env.App, aiTestKey, "key", f.bodies, "audit_logs", "ai_usage", "system_settings", "templates")
}
