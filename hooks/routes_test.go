package hooks_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/pi-crm/pi-crm/internal/testutil"
)

// A failed query in an access check is the server's fault: a 500 (and a log
// line), never "no such workspace" (a 404 would tell a member they are none).
func TestAccessCheckDatabaseErrorIs500(t *testing.T) {
	env := testutil.New(t)
	user, token := env.User("andy@example.com")
	ws := env.Workspace("Main", user, nil)
	if res := env.Do("GET", "/api/crm/workspaces/"+ws.Id+"/duplicates", token, nil); res.Status != http.StatusOK {
		t.Fatalf("control: %d %s", res.Status, res.Body)
	}
	if _, err := env.App.DB().NewQuery("ALTER TABLE workspace_members RENAME TO workspace_members_gone").Execute(); err != nil {
		t.Fatal(err)
	}
	res := env.Do("GET", "/api/crm/workspaces/"+ws.Id+"/duplicates", token, nil)
	if _, err := env.App.DB().NewQuery("ALTER TABLE workspace_members_gone RENAME TO workspace_members").Execute(); err != nil {
		t.Fatal(err)
	}
	if res.Status != http.StatusInternalServerError || res.Code() == "workspace_not_found" {
		t.Errorf("a failed membership query answered %d %s", res.Status, res.Body)
	}
	if strings.Contains(string(res.Body), "workspace_members") {
		t.Errorf("the 500 leaks the error: %s", res.Body)
	}
}

// Every custom route lives under /api/crm and refuses an anonymous caller
// with 401 (the group binds authentication once), whatever its method.
func TestEveryCustomRouteNeedsACaller(t *testing.T) {
	env := testutil.New(t)
	routes := env.Routes()
	if len(routes) < 10 {
		t.Fatalf("only %d routes recorded", len(routes))
	}
	for _, r := range routes {
		method, path, _ := strings.Cut(r, " ")
		if !strings.HasPrefix(path, "/api/crm/") {
			t.Errorf("%s is outside /api/crm", r)
			continue
		}
		path = strings.NewReplacer("{id}", "x1234567890abcd").Replace(path)
		if res := env.Do(method, path, "", nil); res.Status != http.StatusUnauthorized {
			t.Errorf("%s anonymous: %d %s", r, res.Status, res.Body)
		}
	}
}
