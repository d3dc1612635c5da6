// Package ai is the model client: one chat completion call to any
// OpenAI-compatible server (OpenAI, Ollama, llama.cpp) through
// github.com/sashabaranov/go-openai, structured output with a JSON-schema
// response format (JSON mode with the schema in the prompt when the server
// refuses it), failures as coded errors, and one ai_usage row per call.
//
// Services use the Model interface (Chat) so they can be tested against any
// implementation; the production one is OpenAI. Nothing here knows about
// templates: services/drafts builds the prompts and checks the answers.
package ai

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/pi-crm/pi-crm/services/apperr"
	openai "github.com/sashabaranov/go-openai"
)

// Request is one question to a model.
type Request struct {
	System string
	User   string
	// Schema asks for a JSON object matching it (nil: a plain text answer).
	Schema *Schema
	// MaxTokens overrides the configured maximum when > 0 and smaller.
	MaxTokens int
}

// Schema is a JSON schema for structured output.
type Schema struct {
	Name string          // [a-zA-Z0-9_-]{1,64}
	JSON json.RawMessage // the schema object
}

// Modes of an answer.
const (
	ModeText       = "text"
	ModeJSONSchema = "json_schema"
	ModeJSONObject = "json_object" // the fallback: JSON mode, the schema in the prompt
)

// Answer is what a model said.
type Answer struct {
	Content      string
	Model        string // as the server names it (the configured one when it does not)
	FinishReason string
	Mode         string
	Usage        Usage
}

// Usage is the token count the server reported.
type Usage struct {
	PromptTokens     int
	CompletionTokens int
	TotalTokens      int
}

// Model answers requests. Errors are *apperr.Error: ai_upstream_error,
// ai_timeout.
type Model interface {
	Chat(ctx context.Context, cfg Config, req Request) (Answer, error)
}

// OpenAI is the Model over go-openai.
type OpenAI struct {
	// HTTPClient is the transport (nil: http.DefaultClient). The call's
	// timeout comes from Config.Timeout through the context, not from here.
	HTTPClient *http.Client
}

// Chat makes the call: with a schema, first as structured output; when the
// server refuses the json_schema response format (400/422 naming it), once
// more in JSON mode with the schema in the system prompt.
func (o OpenAI) Chat(ctx context.Context, cfg Config, req Request) (Answer, error) {
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeoutS * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	oc := openai.DefaultConfig(cfg.APIKey)
	oc.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if o.HTTPClient != nil {
		oc.HTTPClient = o.HTTPClient
	}
	client := openai.NewClientWithConfig(oc)

	mode := ModeText
	if req.Schema != nil {
		mode = ModeJSONSchema
	}
	resp, err := client.CreateChatCompletion(ctx, build(cfg, req, mode))
	if err != nil && mode == ModeJSONSchema && ctx.Err() == nil && refusesSchema(err) {
		mode = ModeJSONObject
		resp, err = client.CreateChatCompletion(ctx, build(cfg, req, mode))
	}
	if err != nil {
		return Answer{}, mapError(ctx, err, cfg, timeout)
	}
	ans := Answer{Model: resp.Model, Mode: mode, Usage: Usage{
		PromptTokens: resp.Usage.PromptTokens, CompletionTokens: resp.Usage.CompletionTokens, TotalTokens: resp.Usage.TotalTokens,
	}}
	if ans.Model == "" {
		ans.Model = cfg.Model
	}
	if ans.Usage.TotalTokens == 0 {
		ans.Usage.TotalTokens = ans.Usage.PromptTokens + ans.Usage.CompletionTokens
	}
	if len(resp.Choices) > 0 {
		ans.Content = resp.Choices[0].Message.Content
		ans.FinishReason = string(resp.Choices[0].FinishReason)
	}
	return ans, nil
}

// reasoning models (o-series, gpt-5 and later) take max_completion_tokens
// and no temperature; go-openai refuses the request otherwise
func reasoning(model string) bool {
	for _, p := range []string{"o1", "o3", "o4", "gpt-5", "gpt-6"} {
		if strings.HasPrefix(model, p) {
			return true
		}
	}
	return false
}

func build(cfg Config, req Request, mode string) openai.ChatCompletionRequest {
	system := req.System
	if mode == ModeJSONObject {
		system += "\n\nAnswer with one JSON object only, no prose and no code fence, matching this JSON schema:\n" + string(req.Schema.JSON)
	}
	var msgs []openai.ChatCompletionMessage
	if system != "" {
		msgs = append(msgs, openai.ChatCompletionMessage{Role: openai.ChatMessageRoleSystem, Content: system})
	}
	msgs = append(msgs, openai.ChatCompletionMessage{Role: openai.ChatMessageRoleUser, Content: req.User})
	out := openai.ChatCompletionRequest{Model: cfg.Model, Messages: msgs}
	maxTokens := cfg.MaxTokens
	if req.MaxTokens > 0 && (maxTokens <= 0 || req.MaxTokens < maxTokens) {
		maxTokens = req.MaxTokens
	}
	if reasoning(cfg.Model) {
		out.MaxCompletionTokens = maxTokens
	} else {
		// max_tokens, not max_completion_tokens: the one Ollama and
		// llama.cpp servers read
		out.MaxTokens = maxTokens //nolint:staticcheck // SA1019: deprecated at OpenAI for reasoning models only, which take the branch above
		// go-openai omits a temperature of 0 (omitempty), so the server's
		// default would apply instead of the deterministic answer asked
		// for: the smallest float32 is sent, as go-openai's README advises
		out.Temperature = float32(cfg.Temperature)
		if cfg.Temperature == 0 {
			out.Temperature = math.SmallestNonzeroFloat32
		}
	}
	switch mode {
	case ModeJSONSchema:
		out.ResponseFormat = &openai.ChatCompletionResponseFormat{
			Type:       openai.ChatCompletionResponseFormatTypeJSONSchema,
			JSONSchema: &openai.ChatCompletionResponseFormatJSONSchema{Name: req.Schema.Name, Schema: req.Schema.JSON, Strict: true},
		}
	case ModeJSONObject:
		out.ResponseFormat = &openai.ChatCompletionResponseFormat{Type: openai.ChatCompletionResponseFormatTypeJSONObject}
	}
	return out
}

// statusAndMessage reads an error of go-openai: the HTTP status and the
// server's own message (or body), 0 and "" for transport errors.
func statusAndMessage(err error) (int, string) {
	var apiErr *openai.APIError
	if errors.As(err, &apiErr) {
		msg := apiErr.Message
		if apiErr.Param != nil && *apiErr.Param != "" && !strings.Contains(msg, *apiErr.Param) {
			msg += " (param " + *apiErr.Param + ")"
		}
		return apiErr.HTTPStatusCode, msg
	}
	var reqErr *openai.RequestError
	if errors.As(err, &reqErr) {
		msg := strings.TrimSpace(string(reqErr.Body))
		if msg == "" && reqErr.Err != nil {
			msg = reqErr.Err.Error()
		}
		return reqErr.HTTPStatusCode, msg
	}
	return 0, ""
}

// refusesSchema: the server says it does not do json_schema response formats.
func refusesSchema(err error) bool {
	status, msg := statusAndMessage(err)
	if status != http.StatusBadRequest && status != http.StatusUnprocessableEntity {
		return false
	}
	msg = strings.ToLower(msg)
	for _, w := range []string{"response_format", "json_schema", "response format", "structured output", "schema"} {
		if strings.Contains(msg, w) {
			return true
		}
	}
	return false
}

const maxUpstreamMessage = 1000

func mapError(ctx context.Context, err error, cfg Config, timeout time.Duration) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return timeoutError(timeout)
	}
	status, msg := statusAndMessage(err)
	if status == 0 && msg == "" {
		// transport (connection refused, DNS, TLS) or go-openai's own
		// refusal of the request
		msg = err.Error()
	}
	if cfg.APIKey != "" {
		msg = strings.ReplaceAll(msg, cfg.APIKey, "[redacted]")
	}
	if len(msg) > maxUpstreamMessage {
		msg = msg[:maxUpstreamMessage] + "…"
	}
	return upstreamError(status, msg)
}

// DecodeObject reads the JSON object of an answer into v. Besides bare JSON
// it takes the forms small local models tend to produce (a ```json fence,
// a sentence around the object); anything else is ai_bad_output.
func DecodeObject(ans Answer, v any) error {
	s := strings.TrimSpace(ans.Content)
	if s == "" {
		if ans.FinishReason == string(openai.FinishReasonLength) {
			return BadOutput("the answer was cut off at the token limit (raise max_tokens)")
		}
		return BadOutput("the answer was empty")
	}
	if i, j := strings.IndexByte(s, '{'), strings.LastIndexByte(s, '}'); i >= 0 && j > i {
		s = s[i : j+1]
	}
	if !json.Valid([]byte(s)) {
		if ans.FinishReason == string(openai.FinishReasonLength) {
			return BadOutput("the answer was cut off at the token limit (raise max_tokens)")
		}
		return BadOutput("the answer is not JSON")
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return BadOutput("the answer is not the JSON object asked for")
	}
	return nil
}

// Code is the error code of err ("" for nil, "internal" for an uncoded error).
func Code(err error) string {
	if err == nil {
		return ""
	}
	var coded *apperr.Error
	if errors.As(err, &coded) {
		return coded.Code
	}
	return "internal"
}
