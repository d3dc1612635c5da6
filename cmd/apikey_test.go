package cmd_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pi-crm/pi-crm/cmd"
	"github.com/pi-crm/pi-crm/internal/testutil"
)

func run(t *testing.T, env *testutil.Env, args ...string) (string, error) {
	c := cmd.NewAPIKeyCommand(env.App)
	var out, errOut bytes.Buffer
	c.SetOut(&out)
	c.SetErr(&errOut)
	c.SetArgs(args)
	err := c.Execute()
	return out.String(), err
}

func TestAPIKeyCommand(t *testing.T) {
	env := testutil.New(t)
	env.User("andy@example.com")

	key, err := run(t, env, "create", "andy@example.com", "--scopes", "contacts:read, contacts:write", "--description", "cli")
	if err != nil {
		t.Fatal(err)
	}
	key = strings.TrimSpace(key)
	if !strings.HasPrefix(key, "pcrm_") {
		t.Fatalf("printed %q", key)
	}
	res := env.DoWithHeaders("GET", "/api/crm/me", "", map[string]string{"X-Api-Key": key}, nil)
	if res.Status != 200 || !strings.Contains(string(res.Body), `"contacts:write"`) {
		t.Fatalf("the printed key does not work: %d %s", res.Status, res.Body)
	}

	listing, err := run(t, env, "list", "andy@example.com")
	if err != nil || !strings.Contains(listing, key[:17]) || strings.Contains(listing, key) {
		t.Fatalf("list: %v\n%s", err, listing)
	}

	if _, err := run(t, env, "revoke", key[:17]); err != nil {
		t.Fatal(err)
	}
	if res := env.DoWithHeaders("GET", "/api/crm/me", "", map[string]string{"X-Api-Key": key}, nil); res.Status != 401 || res.Code() != "api_key_revoked" {
		t.Fatalf("after revoke: %d %s", res.Status, res.Body)
	}

	if _, err := run(t, env, "create", "nobody@example.com", "--scopes", "admin"); err == nil {
		t.Error("a key for an unknown user")
	}
	if _, err := run(t, env, "create", "andy@example.com", "--scopes", "root"); err == nil {
		t.Error("a key with an unknown scope")
	}
}
