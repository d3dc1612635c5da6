package settings_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/settings"
)

const secret = "sk-test-0123456789abcdef-SECRET"

type aiConfig struct {
	BaseURL string `json:"base_url"`
	Model   string `json:"model"`
}

func setup(t *testing.T) (*testutil.Env, string) {
	env := testutil.New(t)
	u, _ := env.User("owner@example.com")
	ws := env.Workspace("W", u, nil)
	return env, ws.Id
}

func rawSecret(t *testing.T, env *testutil.Env, ws string) string {
	var v string
	if err := env.App.DB().NewQuery("SELECT secret_value FROM system_settings WHERE scope_id = {:ws} AND setting_key = 'provider.ai'").
		Bind(map[string]any{"ws": ws}).Row(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// Secrets are stored encrypted, kept when a Put omits them, removed when a
// Put sends "", and the plain configuration is replaced as a whole.
func TestPutGetSecretsWriteOnly(t *testing.T) {
	env, ws := setup(t)
	store := settings.New(env.App)

	got, err := store.Get(ws, "ai")
	if err != nil || got.Exists || got.Has("api_key") {
		t.Fatalf("empty: %+v %v", got, err)
	}
	actor := audit.Actor{UserID: "u1"}
	if err := store.Put(ws, "ai", aiConfig{BaseURL: "http://a/v1", Model: "m1"}, map[string]string{"api_key": secret}, actor); err != nil {
		t.Fatal(err)
	}
	if raw := rawSecret(t, env, ws); raw == "" || strings.Contains(raw, secret) || strings.Contains(raw, "api_key") {
		t.Fatalf("stored secret_value %q is not an opaque ciphertext", raw)
	}
	got, err = store.Get(ws, "ai")
	if err != nil || !got.Exists || got.Secrets["api_key"] != secret {
		t.Fatalf("after put: %+v %v", got, err)
	}
	var cfg aiConfig
	if err := got.Decode(&cfg); err != nil || cfg.Model != "m1" {
		t.Fatalf("config %+v %v", cfg, err)
	}

	// omitted: kept
	if err := store.Put(ws, "ai", aiConfig{BaseURL: "http://b/v1", Model: "m2"}, nil, actor); err != nil {
		t.Fatal(err)
	}
	got, _ = store.Get(ws, "ai")
	_ = got.Decode(&cfg)
	if got.Secrets["api_key"] != secret || cfg.BaseURL != "http://b/v1" {
		t.Fatalf("omitted secret not kept: has=%v cfg=%+v", got.Has("api_key"), cfg)
	}
	// "": removed
	if err := store.Put(ws, "ai", aiConfig{BaseURL: "http://b/v1", Model: "m2"}, map[string]string{"api_key": ""}, actor); err != nil {
		t.Fatal(err)
	}
	got, _ = store.Get(ws, "ai")
	if got.Has("api_key") || rawSecret(t, env, ws) != "" {
		t.Fatalf("empty secret not removed: %+v", got.Secrets)
	}

	// another workspace sees nothing
	if other, _ := store.Get("otherworkspace1", "ai"); other.Exists {
		t.Fatal("another workspace reads the setting")
	}
	if err := store.Put(ws, "../x", nil, nil, actor); err == nil {
		t.Fatal("an invalid provider name was accepted")
	}
}

// The audit entries of the setting name the actor and never hold the secret.
func TestPutAuditHasNoSecret(t *testing.T) {
	env, ws := setup(t)
	store := settings.New(env.App)
	for i, s := range []string{secret, secret + "-2"} {
		if err := store.Put(ws, "ai", aiConfig{Model: "m"}, map[string]string{"api_key": s}, audit.Actor{UserID: "u1"}); err != nil {
			t.Fatal(i, err)
		}
	}
	recs, err := env.App.FindAllRecords("audit_logs")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.GetString("entity_type") != "system_settings" {
			continue
		}
		n++
		if r.GetString("user") != "u1" || r.GetString("workspace") != ws {
			t.Errorf("entry %s: user %q workspace %q", r.GetString("action"), r.GetString("user"), r.GetString("workspace"))
		}
		if d := r.GetString("details"); strings.Contains(d, secret) || strings.Contains(d, rawSecret(t, env, ws)) {
			t.Errorf("audit details hold the secret: %s", d)
		}
	}
	if n != 2 {
		t.Fatalf("%d settings entries, want 2", n)
	}
}

// Without --encryptionEnv the key is a file in the data dir: created 0600 on
// first use, reused afterwards (a new store, as after a restart, reads the
// secrets written before).
func TestKeyFileCreatedAndReused(t *testing.T) {
	env, ws := setup(t)
	t.Setenv(env.App.EncryptionEnv(), "")
	path := filepath.Join(env.App.DataDir(), settings.KeyFileName)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("key file exists before use: %v", err)
	}
	if err := settings.New(env.App).Put(ws, "ai", aiConfig{Model: "m"}, map[string]string{"api_key": secret}, audit.Actor{}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", fi.Mode().Perm())
	}
	before, _ := os.ReadFile(path)
	if strings.Contains(string(before), secret) || len(strings.TrimSpace(string(before))) != 64 {
		t.Fatalf("key file content %q", before)
	}

	got, err := settings.New(env.App).Get(ws, "ai")
	if err != nil || got.Secrets["api_key"] != secret {
		t.Fatalf("a new store does not read the secret: %v", err)
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(before) {
		t.Fatal("the key file was rewritten")
	}
	entries, _ := os.ReadDir(env.App.DataDir())
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".settings-key-") {
			t.Errorf("temporary key file left: %s", e.Name())
		}
	}
}

// A key file open to other users, or not holding a 32-byte key, is refused
// with an error saying so (never silently replaced: the secrets would be lost).
func TestKeyFileRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		mode    os.FileMode
		want    string
	}{
		{"world-readable", strings.Repeat("ab", 32), 0o644, "chmod 600"},
		{"group-readable", strings.Repeat("ab", 32), 0o640, "chmod 600"},
		{"short", strings.Repeat("ab", 16), 0o600, "32-byte key"},
		{"not hex", strings.Repeat("zz", 32), 0o600, "32-byte key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, ws := setup(t)
			t.Setenv(env.App.EncryptionEnv(), "")
			path := filepath.Join(env.App.DataDir(), settings.KeyFileName)
			if err := os.WriteFile(path, []byte(tc.content), tc.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			err := settings.New(env.App).Put(ws, "ai", aiConfig{}, map[string]string{"api_key": secret}, audit.Actor{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v, want one naming %s and %q", err, path, tc.want)
			}
			if strings.Contains(err.Error(), tc.content) {
				t.Fatal("the error shows the key")
			}
			if got, _ := os.ReadFile(path); string(got) != tc.content {
				t.Fatal("the refused key file was changed")
			}
		})
	}
}

// With --encryptionEnv set the key is that variable's value: no key file is
// made, and a store keyed otherwise cannot open the secrets.
func TestEncryptionEnvKey(t *testing.T) {
	env, ws := setup(t)
	name := env.App.EncryptionEnv()
	if name == "" {
		t.Fatal("the test app has no encryptionEnv")
	}
	t.Setenv(name, "0123456789abcdef0123456789abcdef")
	if err := settings.New(env.App).Put(ws, "ai", aiConfig{Model: "m"}, map[string]string{"api_key": secret}, audit.Actor{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(env.App.DataDir(), settings.KeyFileName)); !os.IsNotExist(err) {
		t.Fatalf("a key file was made although --encryptionEnv is set: %v", err)
	}
	got, err := settings.New(env.App).Get(ws, "ai")
	if err != nil || got.Secrets["api_key"] != secret {
		t.Fatalf("get with the env key: %v", err)
	}

	t.Setenv(name, "another-key-of-32-characters-xyz")
	if _, err := settings.New(env.App).Get(ws, "ai"); !errors.Is(err, settings.ErrUndecryptable) {
		t.Fatalf("another key opened the secrets: %v", err)
	}
	// a Put that omits the secret cannot keep what it cannot read; one that
	// sends it anew replaces it
	if err := settings.New(env.App).Put(ws, "ai", aiConfig{Model: "m"}, nil, audit.Actor{}); !errors.Is(err, settings.ErrUndecryptable) {
		t.Fatalf("put without the secret: %v", err)
	}
	if err := settings.New(env.App).Put(ws, "ai", aiConfig{Model: "m"}, map[string]string{"api_key": "new"}, audit.Actor{}); err != nil {
		t.Fatal(err)
	}

	t.Setenv(name, "too-short")
	if _, err := settings.New(env.App).Get(ws, "ai"); err == nil || !strings.Contains(err.Error(), "32 characters") || strings.Contains(err.Error(), "too-short") {
		t.Fatalf("a short env key: %v", err)
	}
}
