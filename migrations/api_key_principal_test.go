package migrations_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	_ "github.com/pi-crm/pi-crm/migrations"
	"github.com/pi-crm/pi-crm/services/apikeys"
	"github.com/pocketbase/pocketbase/core"
)

// An upgraded database keeps its keys: migration 1764001100 turns the base
// collection api_keys into the auth collection with the same id and rows, and
// the rules then read the migrated key's limits.
func TestAPIKeyPrincipalMigrationKeepsKeys(t *testing.T) {
	app := core.NewBaseApp(core.BaseAppConfig{DataDir: t.TempDir()})
	if err := app.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.ClearBootstrap() })
	if _, err := core.NewMigrationsRunner(app, core.SystemMigrations).Up(); err != nil {
		t.Fatal(err)
	}
	var before core.MigrationsList
	for _, m := range core.AppMigrations.Items() {
		if m.File < "1764001100" {
			before.Add(m)
		}
	}
	if _, err := core.NewMigrationsRunner(app, before).Up(); err != nil {
		t.Fatal(err)
	}

	old, err := app.FindCollectionByNameOrId("api_keys")
	if err != nil || old.IsAuth() {
		t.Fatalf("before the migration api_keys should be a base collection: %v", err)
	}
	users, _ := app.FindCollectionByNameOrId("users")
	user := core.NewRecord(users)
	user.SetEmail("andy@example.com")
	user.SetPassword("pi-crm-password")
	mustSave(t, app, user)
	ws := saveNew(t, app, "workspaces", map[string]any{"owner": user.Id, "name": "W"})
	other := saveNew(t, app, "workspaces", map[string]any{"owner": user.Id, "name": "O"})
	for _, w := range []*core.Record{ws, other} {
		saveNew(t, app, "workspace_members", map[string]any{"workspace": w.Id, "user": user.Id, "role": "owner"})
	}
	inW := saveNew(t, app, "contacts", map[string]any{"workspace": ws.Id, "primary_email": "w@example.org"})
	inO := saveNew(t, app, "contacts", map[string]any{"workspace": other.Id, "primary_email": "o@example.org"})

	plain := "pcrm_abcdefghijkl_" + strings.Repeat("x", 40)
	sum := sha256.Sum256([]byte(plain))
	key := saveNew(t, app, "api_keys", map[string]any{"user": user.Id, "description": "old key", "key_hash": hex.EncodeToString(sum[:]),
		"key_prefix": "pcrm_abcdefghijkl", "scopes": []string{"contacts:read"}, "workspace": ws.Id, "is_active": true})

	if _, err := core.NewMigrationsRunner(app, core.AppMigrations).Up(); err != nil {
		t.Fatal(err)
	}

	col, err := app.FindCollectionByNameOrId("api_keys")
	if err != nil || !col.IsAuth() || col.Id != old.Id {
		t.Fatalf("api_keys after the migration: %v auth=%v id %s (was %s)", err, col != nil && col.IsAuth(), col.Id, old.Id)
	}
	if col.PasswordAuth.Enabled || col.OTP.Enabled || col.OAuth2.Enabled || col.AuthRule != nil {
		t.Error("a key must never be a login")
	}
	migrated, err := app.FindRecordById("api_keys", key.Id)
	if err != nil {
		t.Fatal(err)
	}
	if migrated.GetString("key_hash") != key.GetString("key_hash") || migrated.GetString("workspace") != ws.Id ||
		migrated.GetString("description") != "old key" || !migrated.GetBool("is_active") {
		t.Errorf("row not kept: %v", migrated.PublicExport())
	}
	if g := migrated.GetString("grants"); g != apikeys.Grants([]string{"contacts:read"}) {
		t.Errorf("grants %q", g)
	}
	var auth struct {
		Password string `db:"password"`
		TokenKey string `db:"tokenKey"`
	}
	if err := app.DB().NewQuery("SELECT password, tokenKey FROM api_keys WHERE id = {:id}").Bind(map[string]any{"id": key.Id}).One(&auth); err != nil ||
		!strings.HasPrefix(auth.Password, "$2") || len(auth.TokenKey) < 30 {
		t.Errorf("auth fields not filled: %v %q %d", err, auth.Password[:min(4, len(auth.Password))], len(auth.TokenKey))
	}

	resolved, err := apikeys.NewService(app, time.Now).Resolve(plain)
	if err != nil || resolved.Record.Id != key.Id {
		t.Fatalf("the old key no longer resolves: %v", err)
	}
	contacts, _ := app.FindCollectionByNameOrId("contacts")
	info := &core.RequestInfo{Auth: resolved.Record, Method: "GET"}
	if ok, err := app.CanAccessRecord(inW, info, contacts.ViewRule); !ok || err != nil {
		t.Errorf("the key cannot read a contact of its workspace: %v", err)
	}
	if ok, _ := app.CanAccessRecord(inO, info, contacts.ViewRule); ok {
		t.Error("the key restricted to W reads a contact of another workspace")
	}
}

func saveNew(t *testing.T, app core.App, collection string, fields map[string]any) *core.Record {
	t.Helper()
	c, err := app.FindCollectionByNameOrId(collection)
	if err != nil {
		t.Fatal(err)
	}
	r := core.NewRecord(c)
	r.Load(fields)
	mustSave(t, app, r)
	return r
}

func mustSave(t *testing.T, app core.App, r *core.Record) {
	t.Helper()
	if err := app.Save(r); err != nil {
		t.Fatalf("save %s: %v", r.Collection().Name, err)
	}
}
