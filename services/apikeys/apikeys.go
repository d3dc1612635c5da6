// Package apikeys issues and resolves API keys. A key is shown once; only its
// SHA-256 hash and a display prefix are stored.
package apikeys

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"
)

// KeyPrefix makes keys recognisable (secret scanners, logs, humans).
const KeyPrefix = "pcrm_"

const (
	idLen        = 12
	secretLen    = 40
	alphabet     = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	maxDays      = 3650
	touchEvery   = time.Minute
	collection   = "api_keys"
	errInvalid   = "api_key_invalid"
	errRevoked   = "api_key_revoked"
	errExpired   = "api_key_expired"
	errBadScope  = "api_key_scope_invalid"
	errBadInput  = "api_key_invalid_input"
	errWorkspace = "api_key_workspace_forbidden"
	errStronger  = "api_key_exceeds_parent"
)

// Key is a resolved, valid key.
type Key struct {
	ID        string
	Prefix    string
	User      *core.Record
	Scopes    []string
	Workspace string         // "" = every workspace of the user
	ExpiresAt types.DateTime // zero = never
	// Record is the key's own record in the auth collection api_keys: the
	// principal a request made with the key is authenticated as, so that the
	// API rules read the key's limits (migrations/1764001100_api_key_principal.go).
	Record *core.Record
}

// Allows reports whether the key grants scope.
func (k *Key) Allows(scope string) bool { return Allows(k.Scopes, scope) }

// Service creates and resolves keys.
type Service struct {
	app core.App
	now func() time.Time

	// lastTouched rate-limits last_used_at writes to one per key and minute,
	// so a busy integration does not turn every read into a write.
	mu          sync.Mutex
	lastTouched map[string]time.Time
}

// NewService returns a service using now as its clock.
func NewService(app core.App, now func() time.Time) *Service {
	return &Service{app: app, now: now, lastTouched: map[string]time.Time{}}
}

// CreateInput is what a user asks for.
type CreateInput struct {
	Description   string   `json:"description"`
	Scopes        []string `json:"scopes"`
	ExpiresInDays int      `json:"expires_in_days"`
	Workspace     string   `json:"workspace"`
}

// Created is returned once: the only time the plain key exists.
type Created struct {
	Key    string       `json:"key"`
	Record *core.Record `json:"record"`
}

// Create issues a key for user. The caller may restrict it to a workspace it
// is a member of. parent is the key the request came with (nil for a session):
// a key never makes a key stronger than itself (see limitToParent).
func (s *Service) Create(user *core.Record, parent *Key, in CreateInput, actor audit.Actor) (*Created, error) {
	if len(in.Scopes) == 0 {
		return nil, apperr.BadRequest(errBadScope, "give at least one scope: "+strings.Join(AllScopes, ", "))
	}
	for _, sc := range in.Scopes {
		if !validScope(sc) {
			return nil, apperr.BadRequest(errBadScope, "unknown scope "+sc+"; valid scopes: "+strings.Join(AllScopes, ", "))
		}
	}
	if len(in.Description) > 200 {
		return nil, apperr.BadRequest(errBadInput, "the description may have at most 200 characters")
	}
	if in.ExpiresInDays < 0 || in.ExpiresInDays > maxDays {
		return nil, apperr.BadRequest(errBadInput, "expires_in_days must be between 1 and 3650 (or absent for no expiry)")
	}
	expires := time.Time{}
	if in.ExpiresInDays > 0 {
		expires = s.now().UTC().AddDate(0, 0, in.ExpiresInDays)
	}
	if parent != nil {
		var err error
		if in.Workspace, expires, err = limitToParent(parent, in, expires); err != nil {
			return nil, err
		}
	}
	if in.Workspace != "" {
		var n int
		err := s.app.DB().Select("count(*)").From("workspace_members").
			Where(dbx.HashExp{"workspace": in.Workspace, "user": user.Id}).Row(&n)
		if err != nil || n == 0 {
			return nil, apperr.New(http.StatusForbidden, errWorkspace, "you can only restrict a key to a workspace you are a member of")
		}
	}

	id, err := randomString(idLen)
	if err != nil {
		return nil, err
	}
	secret, err := randomString(secretLen)
	if err != nil {
		return nil, err
	}
	prefix := KeyPrefix + id
	plain := prefix + "_" + secret

	col, err := s.app.FindCachedCollectionByNameOrId(collection)
	if err != nil {
		return nil, err
	}
	rec := core.NewRecord(col)
	rec.Set("user", user.Id)
	rec.Set("description", in.Description)
	rec.Set("key_hash", hash(plain))
	rec.Set("key_prefix", prefix)
	rec.Set("scopes", in.Scopes)
	rec.Set("grants", Grants(in.Scopes))
	rec.Set("workspace", in.Workspace)
	rec.Set("is_active", true)
	if !expires.IsZero() {
		rec.Set("expires_at", expires)
	}
	// PocketBase's auth fields want a password; password auth is off for
	// keys, so it is random and never known to anyone
	rec.SetRandomPassword()
	audit.Attach(rec, actor)
	if err := s.app.Save(rec); err != nil {
		return nil, err
	}
	return &Created{Key: plain, Record: rec}, nil
}

// limitToParent holds a key made with a key to its parent's limits: its
// scopes are among the parent's grants, it is restricted to the parent's
// workspace (taken when none is asked for) and it expires no later than the
// parent (the parent's expiry is taken when none is asked for). Asking for
// more is refused, never silently trimmed.
func limitToParent(parent *Key, in CreateInput, expires time.Time) (string, time.Time, error) {
	for _, sc := range in.Scopes {
		if !parent.Allows(sc) {
			return "", expires, apperr.Forbidden(errStronger, "this API key cannot create a key with the scope "+sc+" it does not have itself").With("scope", sc)
		}
	}
	ws := in.Workspace
	if parent.Workspace != "" {
		if ws != "" && ws != parent.Workspace {
			return "", expires, apperr.Forbidden(errStronger, "this API key is restricted to one workspace and can only create keys restricted to it")
		}
		ws = parent.Workspace
	}
	if !parent.ExpiresAt.IsZero() {
		limit := parent.ExpiresAt.Time()
		if expires.IsZero() {
			expires = limit
		} else if expires.After(limit) {
			return "", expires, apperr.Forbidden(errStronger, "this API key expires on "+limit.Format(time.RFC3339)+
				"; a key it creates cannot outlive it").With("expires_at", limit.Format(time.RFC3339))
		}
	}
	return ws, expires, nil
}

// Resolve checks a presented key. Unknown, malformed, revoked and expired keys
// are refused with distinct codes; the secret is compared in constant time.
func (s *Service) Resolve(plain string) (*Key, error) {
	prefix, ok := parsePrefix(plain)
	if !ok {
		return nil, apperr.Unauthorized(errInvalid, "the API key is not valid")
	}
	rec, err := s.app.FindFirstRecordByData(collection, "key_prefix", prefix)
	if err != nil {
		// hash anyway so unknown and known prefixes take the same time
		subtle.ConstantTimeCompare([]byte(hash(plain)), []byte(hash(prefix)))
		return nil, apperr.Unauthorized(errInvalid, "the API key is not valid")
	}
	if subtle.ConstantTimeCompare([]byte(hash(plain)), []byte(rec.GetString("key_hash"))) != 1 {
		return nil, apperr.Unauthorized(errInvalid, "the API key is not valid")
	}
	if !rec.GetBool("is_active") {
		return nil, apperr.Unauthorized(errRevoked, "the API key was revoked; create a new one")
	}
	if exp := rec.GetDateTime("expires_at"); !exp.IsZero() && !s.now().Before(exp.Time()) {
		return nil, apperr.Unauthorized(errExpired, "the API key has expired; create a new one")
	}
	user, err := s.app.FindRecordById("users", rec.GetString("user"))
	if err != nil {
		return nil, apperr.Unauthorized(errInvalid, "the API key is not valid")
	}
	var scopes []string
	_ = rec.UnmarshalJSONField("scopes", &scopes)
	s.touch(rec.Id)
	return &Key{ID: rec.Id, Prefix: prefix, User: user, Scopes: scopes, Workspace: rec.GetString("workspace"),
		ExpiresAt: rec.GetDateTime("expires_at"), Record: rec}, nil
}

// touch keeps last_used_at current to the minute without a write per request.
// It is bookkeeping, not a change a user made, so it bypasses hooks and audit.
func (s *Service) touch(id string) {
	now := s.now()
	s.mu.Lock()
	last, seen := s.lastTouched[id]
	if seen && now.Sub(last) < touchEvery {
		s.mu.Unlock()
		return
	}
	s.lastTouched[id] = now
	s.mu.Unlock()
	at, _ := types.ParseDateTime(now.UTC())
	_, err := s.app.NonconcurrentDB().Update(collection,
		dbx.Params{"last_used_at": at.String()}, dbx.HashExp{"id": id}).Execute()
	if err != nil {
		s.app.Logger().Warn("api key last_used_at update failed", "keyId", id, "error", err)
	}
}

// Prefix returns the display prefix of a presented key (for logs and the
// audit of rejections; never the secret part).
func Prefix(plain string) string {
	p, _ := parsePrefix(plain)
	return p
}

func parsePrefix(plain string) (string, bool) {
	if !strings.HasPrefix(plain, KeyPrefix) || len(plain) != len(KeyPrefix)+idLen+1+secretLen || plain[len(KeyPrefix)+idLen] != '_' {
		return "", false
	}
	return plain[:len(KeyPrefix)+idLen], true
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	for i := range b {
		// 256 % 62 != 0 gives a slight bias; rejection sampling keeps it uniform
		for b[i] >= 248 {
			if _, err := rand.Read(b[i : i+1]); err != nil {
				return "", err
			}
		}
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b), nil
}
