// Package settings stores a workspace's provider configurations (AI, mail,
// SMS) in system_settings: the plain configuration in setting_value, the
// secrets (API keys, passwords) as one encrypted JSON object in secret_value,
// a field hidden from every API read. A provider's setting is
// scope "workspace", scope_id the workspace id, setting_key "provider.<name>".
//
// Secrets are write-only: Get hands them to the server's own code (a client
// that must authenticate to the provider), never to an API answer; Put keeps
// a secret the caller did not send and removes one sent as "". The collection
// API cannot write provider.* settings at all (migration 1764001310): every
// write comes through Put, which saves as the server.
//
// Encryption is PocketBase's own (tools/security: AES-256-GCM). The key is
// the value of the environment variable PocketBase's --encryptionEnv names,
// when that is set; otherwise a key file in the data directory
// (KeyFileName), created once with crypto/rand and mode 0600, and refused
// when it is readable by others or does not hold a 32-byte key. Losing the
// key (or changing it) makes the stored secrets unreadable: Get then fails
// with ErrUndecryptable and the provider has to be configured again.
package settings

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/security"
)

// Collection is where settings live.
const Collection = "system_settings"

// KeyPrefix starts the setting_key of every provider setting.
const KeyPrefix = "provider."

// KeyFileName is the key file in the data directory (used when PocketBase's
// --encryptionEnv is not set).
const KeyFileName = "pi-crm-settings.key"

// keyLen is AES-256's key size, what tools/security expects.
const keyLen = 32

// ErrUndecryptable: the stored secrets do not open with the current key.
var ErrUndecryptable = errors.New("settings: the stored secrets cannot be decrypted with the current key (was --encryptionEnv or the key file changed?)")

var validName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,40}$`)

// Store reads and writes provider settings. New gives one over an app;
// WithApp the same store over a transaction's app.
type Store struct {
	app  core.App
	keys *keySource
}

// New returns a store over app. The key is loaded on first use (reading or
// writing a secret), not here: a server that never stores a secret never
// creates a key file.
func New(app core.App) *Store {
	return &Store{app: app, keys: &keySource{dataDir: app.DataDir, envName: app.EncryptionEnv}}
}

// WithApp is the store over app (a transaction's), sharing the key.
func (s *Store) WithApp(app core.App) *Store { return &Store{app: app, keys: s.keys} }

// Setting is a provider's stored setting.
type Setting struct {
	// Exists is false when nothing was ever stored (Config is then nil).
	Exists bool
	// Config is the plain configuration as stored (a JSON object).
	Config json.RawMessage
	// Secrets are the decrypted secrets by name: for the server's own use
	// only, never to be answered or logged.
	Secrets map[string]string
}

// Has reports whether the secret name is set.
func (s Setting) Has(name string) bool { return s.Secrets[name] != "" }

// Decode reads the configuration into v (nothing stored: v is left as is).
func (s Setting) Decode(v any) error {
	if len(s.Config) == 0 || string(s.Config) == "null" {
		return nil
	}
	return json.Unmarshal(s.Config, v)
}

func settingKey(name string) (string, error) {
	if !validName.MatchString(name) {
		return "", fmt.Errorf("settings: invalid provider name %q", name)
	}
	return KeyPrefix + name, nil
}

func (s *Store) find(ws, key string) (*core.Record, error) {
	rec, err := s.app.FindFirstRecordByFilter(Collection, "scope = 'workspace' && scope_id = {:ws} && setting_key = {:key}",
		dbx.Params{"ws": ws, "key": key})
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return nil, err
	}
	return rec, nil
}

// Get returns the setting of provider name in workspace ws.
func (s *Store) Get(ws, name string) (Setting, error) {
	key, err := settingKey(name)
	if err != nil {
		return Setting{}, err
	}
	rec, err := s.find(ws, key)
	if err != nil || rec == nil {
		return Setting{Secrets: map[string]string{}}, err
	}
	secrets, err := s.open(rec.GetString("secret_value"))
	if err != nil {
		return Setting{}, err
	}
	return Setting{Exists: true, Config: json.RawMessage(rec.GetString("setting_value")), Secrets: secrets}, nil
}

// Put stores the configuration of provider name in workspace ws (config is
// marshalled to a JSON object and replaces the stored one) and changes its
// secrets: a name absent from secrets keeps its stored value, a name with ""
// removes it, any other value replaces it. actor is who asked (the audit
// entry of the record names it; the secrets appear there as "[redacted]").
func (s *Store) Put(ws, name string, config any, secrets map[string]string, actor audit.Actor) error {
	key, err := settingKey(name)
	if err != nil {
		return err
	}
	plain, err := json.Marshal(config)
	if err != nil {
		return fmt.Errorf("settings: config of %s: %w", name, err)
	}
	rec, err := s.find(ws, key)
	if err != nil {
		return err
	}
	current := map[string]string{}
	if rec == nil {
		col, err := s.app.FindCachedCollectionByNameOrId(Collection)
		if err != nil {
			return err
		}
		rec = core.NewRecord(col)
		rec.Set("scope", "workspace")
		rec.Set("scope_id", ws)
		rec.Set("setting_key", key)
	} else if current, err = s.open(rec.GetString("secret_value")); err != nil {
		// an undecryptable secret is replaced only when every secret is sent anew
		if !coversAll(secrets) {
			return err
		}
		current = map[string]string{}
	}
	for k, v := range secrets {
		if v == "" {
			delete(current, k)
		} else {
			current[k] = v
		}
	}
	sealed, err := s.seal(current)
	if err != nil {
		return err
	}
	rec.Set("setting_value", json.RawMessage(plain))
	rec.Set("secret_value", sealed)
	rec.Set("is_secret", sealed != "")
	audit.Attach(rec, actor)
	return s.app.Save(rec)
}

// coversAll: the caller sends a value for secrets (none removed, at least one).
func coversAll(secrets map[string]string) bool {
	if len(secrets) == 0 {
		return false
	}
	for _, v := range secrets {
		if v == "" {
			return false
		}
	}
	return true
}

func (s *Store) open(sealed string) (map[string]string, error) {
	out := map[string]string{}
	if sealed == "" {
		return out, nil
	}
	key, err := s.keys.get()
	if err != nil {
		return nil, err
	}
	plain, err := security.Decrypt(sealed, key)
	if err != nil {
		return nil, ErrUndecryptable
	}
	if err := json.Unmarshal(plain, &out); err != nil {
		return nil, ErrUndecryptable
	}
	return out, nil
}

func (s *Store) seal(secrets map[string]string) (string, error) {
	if len(secrets) == 0 {
		return "", nil
	}
	key, err := s.keys.get()
	if err != nil {
		return "", err
	}
	plain, err := json.Marshal(secrets)
	if err != nil {
		return "", err
	}
	return security.Encrypt(plain, key)
}

// DeriveKey returns a 32-byte key for purpose (e.g. "unsubscribe"),
// HMAC-SHA256 of the purpose under the settings key: a server secret of its
// own for each use, kept like the settings key (--encryptionEnv or the key
// file) and changing with it.
func (s *Store) DeriveKey(purpose string) ([]byte, error) {
	key, err := s.keys.get()
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte("pi-crm/" + purpose))
	return m.Sum(nil), nil
}

// ---------------------------------------------------------------------------
// the key

type keySource struct {
	dataDir func() string
	envName func() string

	mu  sync.Mutex
	key string
}

func (k *keySource) get() (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.key != "" {
		return k.key, nil
	}
	key, err := k.load()
	if err != nil {
		return "", err
	}
	k.key = key
	return key, nil
}

func (k *keySource) load() (string, error) {
	if name := k.envName(); name != "" {
		if v := os.Getenv(name); v != "" {
			if len(v) != keyLen {
				return "", fmt.Errorf("settings: the encryption key in $%s (--encryptionEnv) must be %d characters, it has %d", name, keyLen, len(v))
			}
			return v, nil
		}
	}
	return loadKeyFile(filepath.Join(k.dataDir(), KeyFileName))
}

// loadKeyFile reads the key file at path, creating it when there is none.
// The file holds the key as 64 hex digits.
func loadKeyFile(path string) (string, error) {
	key, err := readKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	raw := make([]byte, keyLen)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("settings: key: %w", err)
	}
	// written in full under a temporary name (0600 from CreateTemp), then
	// linked into place: a concurrent reader never sees half a key, and of
	// two creators the second finds the first's file and reads it
	tmp, err := os.CreateTemp(filepath.Dir(path), ".settings-key-*")
	if err != nil {
		return "", fmt.Errorf("settings: creating the key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", fmt.Errorf("settings: creating the key file: %w", err)
	}
	if _, err := tmp.WriteString(hex.EncodeToString(raw) + "\n"); err != nil {
		tmp.Close()
		return "", fmt.Errorf("settings: writing the key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("settings: writing the key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("settings: writing the key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("settings: creating the key file: %w", err)
	}
	return readKeyFile(path)
}

func readKeyFile(path string) (string, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("settings: the key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("settings: the key file %s is open to other users (mode %04o): make it 0600 (chmod 600)", path, perm)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("settings: reading the key file: %w", err)
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(raw) != keyLen {
		return "", fmt.Errorf("settings: the key file %s does not hold a %d-byte key (%d hex digits)", path, keyLen, 2*keyLen)
	}
	return string(raw), nil
}
