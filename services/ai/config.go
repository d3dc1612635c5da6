package ai

import (
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/settings"
)

// ProviderName is the AI provider's name in services/settings
// (setting_key "provider.ai").
const ProviderName = "ai"

// SecretAPIKey is the name of the one secret of the AI provider.
const SecretAPIKey = "api_key"

// SettingsURL is where the UI configures the AI provider (named by
// ai_not_configured).
const SettingsURL = "/settings/ai"

// Error codes of the AI provider and its calls.
const (
	CodeNotConfigured   = "ai_not_configured"
	CodeUpstream        = "ai_upstream_error"
	CodeTimeout         = "ai_timeout"
	CodeBadOutput       = "ai_bad_output"
	CodeSettingsInvalid = "ai_settings_invalid"
)

// Defaults and bounds of the stored settings.
const (
	DefaultTemperature = 0.7
	DefaultMaxTokens   = 2048
	DefaultTimeoutS    = 60
	MaxMaxTokens       = 32768
	MaxTimeoutS        = 600
	MaxTemperature     = 2
)

// Config is what a model call needs.
type Config struct {
	BaseURL     string // OpenAI-compatible, ending in /v1 (https://api.openai.com/v1, http://pi:11434/v1)
	Model       string
	APIKey      string // "" for servers without authentication (Ollama, llama.cpp)
	Temperature float64
	MaxTokens   int
	Timeout     time.Duration
}

// Settings is the stored (plain) configuration: setting_value of
// provider.ai. The API key is a secret beside it.
type Settings struct {
	BaseURL     string  `json:"base_url"`
	Model       string  `json:"model"`
	Temperature float64 `json:"temperature"`
	MaxTokens   int     `json:"max_tokens"`
	TimeoutS    int     `json:"timeout_s"`
}

// View is what GET …/providers/ai answers: never the key, only whether one is set.
type View struct {
	Settings
	HasAPIKey  bool `json:"has_api_key"`
	Configured bool `json:"configured"`
}

// Input is the body of PUT …/providers/ai. Omitted optional fields take
// their defaults; api_key omitted keeps the stored key, "" removes it.
type Input struct {
	BaseURL     *string  `json:"base_url"`
	Model       *string  `json:"model"`
	APIKey      *string  `json:"api_key"`
	Temperature *float64 `json:"temperature"`
	MaxTokens   *int     `json:"max_tokens"`
	TimeoutS    *int     `json:"timeout_s"`
}

// ErrNotConfigured says where to configure the provider.
var ErrNotConfigured = apperr.BadRequest(CodeNotConfigured,
	"AI is not configured for this workspace: an owner or admin sets the model's base URL and name in Settings → AI").
	With("settings_url", SettingsURL)

// Validate checks in and returns the settings to store and the secrets to
// change (settings.Store.Put semantics), or 400 ai_settings_invalid with a
// message per field in data.fields.
func (in Input) Validate() (Settings, map[string]string, error) {
	s := Settings{Temperature: DefaultTemperature, MaxTokens: DefaultMaxTokens, TimeoutS: DefaultTimeoutS}
	bad := map[string]string{}
	if in.BaseURL != nil {
		s.BaseURL = strings.TrimSpace(*in.BaseURL)
	}
	if msg := checkBaseURL(s.BaseURL); msg != "" {
		bad["base_url"] = msg
	}
	if in.Model != nil {
		s.Model = strings.TrimSpace(*in.Model)
	}
	switch {
	case s.Model == "":
		bad["model"] = "the model's name is required (gpt-4o-mini, llama3.2:3b, …)"
	case len(s.Model) > 200 || strings.ContainsAny(s.Model, "\r\n\t"):
		bad["model"] = "at most 200 characters on one line"
	}
	if in.Temperature != nil {
		s.Temperature = *in.Temperature
		if math.IsNaN(s.Temperature) || s.Temperature < 0 || s.Temperature > MaxTemperature {
			bad["temperature"] = "between 0 and 2"
		}
	}
	if in.MaxTokens != nil {
		s.MaxTokens = *in.MaxTokens
		if s.MaxTokens < 1 || s.MaxTokens > MaxMaxTokens {
			bad["max_tokens"] = "between 1 and 32768"
		}
	}
	if in.TimeoutS != nil {
		s.TimeoutS = *in.TimeoutS
		if s.TimeoutS < 1 || s.TimeoutS > MaxTimeoutS {
			bad["timeout_s"] = "between 1 and 600 seconds"
		}
	}
	var secrets map[string]string
	if in.APIKey != nil {
		key := strings.TrimSpace(*in.APIKey)
		if len(key) > 1000 || strings.ContainsAny(key, "\r\n") {
			bad["api_key"] = "at most 1000 characters on one line"
		}
		secrets = map[string]string{SecretAPIKey: key}
	}
	if len(bad) > 0 {
		return Settings{}, nil, apperr.BadRequest(CodeSettingsInvalid, "Check the AI settings: "+firstProblem(bad)).With("fields", bad)
	}
	return s, secrets, nil
}

func firstProblem(bad map[string]string) string {
	for _, f := range []string{"base_url", "model", "api_key", "temperature", "max_tokens", "timeout_s"} {
		if m, ok := bad[f]; ok {
			return f + ": " + m
		}
	}
	return ""
}

func checkBaseURL(raw string) string {
	if raw == "" {
		return "the base URL is required (https://api.openai.com/v1, http://HOST:11434/v1 for Ollama)"
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "an http(s) URL such as https://api.openai.com/v1"
	}
	if u.User != nil {
		return "no user or password in the URL: put the key in api_key"
	}
	if u.RawQuery != "" || u.Fragment != "" || len(raw) > 500 {
		return "a plain URL without query or fragment, at most 500 characters"
	}
	return ""
}

// Load reads the workspace's AI settings: the view (for GET) and the call
// configuration, or ErrNotConfigured when base URL or model are missing.
func Load(store *settings.Store, ws string) (View, Config, error) {
	st, err := store.Get(ws, ProviderName)
	if err != nil {
		return View{}, Config{}, err
	}
	v := View{Settings: Settings{Temperature: DefaultTemperature, MaxTokens: DefaultMaxTokens, TimeoutS: DefaultTimeoutS}}
	if err := st.Decode(&v.Settings); err != nil {
		return View{}, Config{}, err
	}
	v.HasAPIKey = st.Has(SecretAPIKey)
	v.Configured = v.BaseURL != "" && v.Model != ""
	if !v.Configured {
		return v, Config{}, ErrNotConfigured
	}
	cfg := Config{BaseURL: v.BaseURL, Model: v.Model, APIKey: st.Secrets[SecretAPIKey], Temperature: v.Temperature,
		MaxTokens: v.MaxTokens, Timeout: time.Duration(v.TimeoutS) * time.Second}
	return v, cfg, nil
}

// errors of calls: statuses

func upstreamError(status int, message string) *apperr.Error {
	msg := "The AI server refused the request"
	if status > 0 {
		msg += " (HTTP " + strconv.Itoa(status) + ")"
	}
	if message != "" {
		msg += ": " + message
	}
	return apperr.New(http.StatusBadGateway, CodeUpstream, msg).With("upstream", message).With("status", status)
}

func timeoutError(d time.Duration) *apperr.Error {
	return apperr.New(http.StatusGatewayTimeout, CodeTimeout,
		"The AI server did not answer within "+d.String()+": try again, or raise the timeout in Settings → AI").
		With("timeout_s", int(d/time.Second))
}

// BadOutput is the error of an answer that is not what was asked for.
func BadOutput(reason string) *apperr.Error {
	return apperr.New(http.StatusBadGateway, CodeBadOutput, "The AI model's answer could not be used: "+reason+". Try again, or rephrase the brief").
		With("reason", reason)
}
