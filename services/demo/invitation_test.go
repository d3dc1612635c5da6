package demo_test

import (
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/demo"
	"github.com/pocketbase/dbx"
)

// The demo's pending invitation: Andy sees it, is not a member of
// Monalisa's workspace until he accepts, and a second run adds none.
func TestSeedPendingInvitation(t *testing.T) {
	env := testutil.New(t)
	s, err := demo.NewSeeder(env.App, demo.DefaultPassword, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := s.Seed(); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := env.App.CountRecords("workspace_invitations"); n != 1 {
		t.Fatalf("%d invitations after two runs", n)
	}
	andy, err := env.App.FindAuthRecordByEmail("users", "andy@example.com")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := env.App.FindFirstRecordByFilter("workspaces", "name = {:n}", dbx.Params{"n": "Monalisa's workspace"})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := env.App.CountRecords("workspace_members", dbx.HashExp{"workspace": ws.Id, "user": andy.Id}); n != 0 {
		t.Fatal("andy is a member of Monalisa's workspace")
	}
	tok, _ := andy.NewAuthToken()
	res := env.Do("GET", "/api/crm/invitations", tok, nil)
	items, _ := res.JSON()["items"].([]any)
	if res.Status != 200 || len(items) != 1 || items[0].(map[string]any)["workspace"].(map[string]any)["name"] != "Monalisa's workspace" {
		t.Fatalf("andy's invitations: %d %s", res.Status, res.Body)
	}
}
