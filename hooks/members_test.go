package hooks_test

import (
	"net/http"
	"testing"

	"github.com/pi-crm/pi-crm/internal/testutil"
)

func TestAddMemberByEmail(t *testing.T) {
	env := testutil.New(t)
	owner, ownerTok := env.User("owner@example.com")
	editor, editorTok := env.User("editor@example.com")
	newbie, _ := env.User("newbie@example.com")
	_, strangerTok := env.User("stranger@example.com")
	ws := env.Workspace("W", owner, nil)
	env.Create("workspace_members", map[string]any{"workspace": ws.Id, "user": editor.Id, "role": "editor"})
	path := "/api/crm/workspaces/" + ws.Id + "/members"

	cases := []struct {
		name   string
		token  string
		body   map[string]any
		status int
		code   string
	}{
		{"stranger", strangerTok, map[string]any{"email": "newbie@example.com", "role": "viewer"}, 404, "workspace_not_found"},
		{"editor", editorTok, map[string]any{"email": "newbie@example.com", "role": "viewer"}, 403, "member_forbidden"},
		{"owner role", ownerTok, map[string]any{"email": "newbie@example.com", "role": "owner"}, 400, "member_invalid"},
		{"unknown account", ownerTok, map[string]any{"email": "ghost@example.com", "role": "viewer"}, 404, "user_not_found"},
		{"already a member", ownerTok, map[string]any{"email": "EDITOR@example.com ", "role": "viewer"}, 409, "member_exists"},
		{"guest", "", map[string]any{"email": "newbie@example.com", "role": "viewer"}, 401, ""},
	}
	for _, c := range cases {
		res := env.Do("POST", path, c.token, c.body)
		if res.Status != c.status || (c.code != "" && res.Code() != c.code) {
			t.Errorf("%s: %d %s", c.name, res.Status, res.Body)
		}
	}
	if n, _ := env.App.CountRecords("workspace_members"); n != 2 {
		t.Fatalf("refused requests added members: %d", n)
	}

	res := env.Do("POST", path, ownerTok, map[string]any{"email": " Newbie@Example.com", "role": "editor"})
	if res.Status != http.StatusOK {
		t.Fatalf("add: %d %s", res.Status, res.Body)
	}
	id, _ := res.JSON()["id"].(string)
	m, err := env.App.FindRecordById("workspace_members", id)
	if err != nil || m.GetString("user") != newbie.Id || m.GetString("role") != "editor" {
		t.Fatalf("membership: %v %v", m, err)
	}
	e := entriesFor(t, env.App, "workspace_members", id)
	if len(e) != 1 || e[0].GetString("action") != "create" || e[0].GetString("user") != owner.Id || e[0].GetString("workspace") != ws.Id {
		t.Fatalf("audit: %v", e)
	}
}
