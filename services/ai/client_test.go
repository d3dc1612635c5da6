package ai_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/services/ai"
	"github.com/pi-crm/pi-crm/services/apperr"
)

// server answers each chat completion with reply(body) (status, JSON).
func server(t *testing.T, reply func(body map[string]any) (int, string)) (*httptest.Server, *[]map[string]any) {
	var mu sync.Mutex
	var bodies []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var b map[string]any
		_ = json.Unmarshal(raw, &b)
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
		status, out := reply(b)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, out)
	}))
	t.Cleanup(srv.Close)
	return srv, &bodies
}

const okAnswer = `{"id":"x","object":"chat.completion","created":1,"model":"served","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"{\"a\":1}"}}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`

var schema = &ai.Schema{Name: "thing", JSON: json.RawMessage(`{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"],"additionalProperties":false}`)}

func code(err error) string {
	var e *apperr.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// A 422 that names the response format (vLLM-style) also falls back to
// JSON mode; a 400 about something else does not, and is the server's error.
func TestSchemaRefusalFallback(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   int
		body     string
		fallback bool
	}{
		{"422 response_format", 422, `{"error":{"message":"response_format json_schema is unsupported","type":"invalid_request_error"}}`, true},
		{"400 param", 400, `{"error":{"message":"unsupported value","type":"invalid_request_error","param":"response_format"}}`, true},
		{"400 plain body", 400, `structured output not supported`, true},
		{"400 other", 400, `{"error":{"message":"model not found","type":"invalid_request_error"}}`, false},
		{"500", 500, `{"error":{"message":"json_schema crashed us","type":"server_error"}}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, bodies := server(t, func(b map[string]any) (int, string) {
				if rf, _ := b["response_format"].(map[string]any); rf["type"] == "json_schema" {
					return tc.status, tc.body
				}
				return 200, okAnswer
			})
			ans, err := ai.OpenAI{}.Chat(context.Background(), ai.Config{BaseURL: srv.URL + "/v1", Model: "m", MaxTokens: 10, Timeout: 5 * time.Second},
				ai.Request{User: "u", Schema: schema})
			if tc.fallback {
				if err != nil || ans.Mode != ai.ModeJSONObject || len(*bodies) != 2 || ans.Usage.TotalTokens != 5 {
					t.Fatalf("ans %+v err %v requests %d", ans, err, len(*bodies))
				}
				return
			}
			if code(err) != ai.CodeUpstream || len(*bodies) != 1 {
				t.Fatalf("err %v requests %d", err, len(*bodies))
			}
		})
	}
}

// Reasoning models get max_completion_tokens and no temperature (go-openai
// refuses them otherwise); other models max_tokens and the temperature.
func TestRequestShapePerModel(t *testing.T) {
	srv, bodies := server(t, func(map[string]any) (int, string) { return 200, okAnswer })
	for _, model := range []string{"llama3.2:3b", "gpt-5-mini"} {
		if _, err := (ai.OpenAI{}).Chat(context.Background(), ai.Config{BaseURL: srv.URL + "/v1", Model: model, MaxTokens: 100, Temperature: 0.5, Timeout: 5 * time.Second},
			ai.Request{User: "u", MaxTokens: 16}); err != nil {
			t.Fatal(model, err)
		}
	}
	local, reasoning := (*bodies)[0], (*bodies)[1]
	if local["max_tokens"] != float64(16) || local["temperature"] != 0.5 || local["response_format"] != nil {
		t.Errorf("local model request %v", local)
	}
	if reasoning["max_completion_tokens"] != float64(16) || reasoning["max_tokens"] != nil || reasoning["temperature"] != nil {
		t.Errorf("reasoning model request %v", reasoning)
	}
	// a temperature of 0 is sent (go-openai drops a plain 0): near zero
	if _, err := (ai.OpenAI{}).Chat(context.Background(), ai.Config{BaseURL: srv.URL + "/v1", Model: "llama3.2:3b", MaxTokens: 100, Temperature: 0, Timeout: 5 * time.Second},
		ai.Request{User: "u"}); err != nil {
		t.Fatal(err)
	}
	if temp, ok := (*bodies)[2]["temperature"].(float64); !ok || temp <= 0 || temp > 1e-30 {
		t.Errorf("temperature 0 sent as %v", (*bodies)[2]["temperature"])
	}
}

// A server that cannot be reached is the upstream's error, with no key in it.
func TestUnreachableServer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := ai.OpenAI{}.Chat(context.Background(), ai.Config{BaseURL: url + "/v1", Model: "m", APIKey: "sk-secret", Timeout: 2 * time.Second}, ai.Request{User: "u"})
	if code(err) != ai.CodeUpstream || strings.Contains(err.Error(), "sk-secret") {
		t.Fatalf("err %v", err)
	}
}

func TestDecodeObject(t *testing.T) {
	var v struct{ A int }
	for _, ok := range []string{`{"A":1}`, "```json\n{\"A\":1}\n```", `Sure! {"A":1} Enjoy.`} {
		if err := ai.DecodeObject(ai.Answer{Content: ok}, &v); err != nil || v.A != 1 {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for content, reason := range map[string]string{"": "empty", "no json here": "not JSON", `{"A": "x"}`: "not the JSON object", `[1,2]`: "not the JSON object"} {
		err := ai.DecodeObject(ai.Answer{Content: content}, &v)
		var e *apperr.Error
		if !errors.As(err, &e) || e.Code != ai.CodeBadOutput || !strings.Contains(e.Details["reason"].(string), reason) {
			t.Errorf("%q: %v", content, err)
		}
	}
	err := ai.DecodeObject(ai.Answer{Content: `{"A": 1, "b": "cut`, FinishReason: "length"}, &v)
	if err == nil || !strings.Contains(err.Error(), "token limit") {
		t.Errorf("cut off: %v", err)
	}
}
