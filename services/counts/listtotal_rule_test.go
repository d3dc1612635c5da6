package counts

import "testing"

// The contacts rule of migration 1764001100 reads only the workspace; rules
// that read another field of the contact must not be answered from counts.
func TestRuleReadsOnlyWorkspace(t *testing.T) {
	contacts := `((@request.auth.collectionName = "users" && (workspace.workspace_members_via_workspace.user ?= @request.auth.id)) || (@request.auth.collectionName = "api_keys" && @request.auth.is_active = true && (@request.auth.expires_at = "" || @request.auth.expires_at > @now) && @request.auth.grants ~ "|contacts:read|" && (@request.auth.workspace = "" || @request.auth.workspace = workspace) && (workspace.workspace_members_via_workspace.user ?= @request.auth.user)))`
	for rule, want := range map[string]bool{
		contacts:                             true,
		"":                                   true,
		`workspace.owner = @request.auth.id`: true,
		`@collection.workspace_members.workspace ?= workspace`:               true,
		`workspace:length > 0`:                                               true,
		`workspace.owner = @request.auth.id && company != "secret"`:          false,
		`workspace.owner = @request.auth.id || id = "x"`:                     false,
		`@collection.workspace_members.user ?= created`:                      false,
		`workspaces = "x"`:                                                   false,
		`@rowid > 3`:                                                         false,
		`lower(workspace) = "x"`:                                             true,
		`lower(primary_email) = "x"`:                                         false,
		`(workspace = "a" && (custom.tier = "gold"))`:                        false,
		`workspace.workspace_members_via_workspace.user ?= @request.auth.id`: true,
	} {
		if got := ruleReadsOnlyWorkspace(rule); got != want {
			t.Errorf("%s: %v, want %v", rule, got, want)
		}
	}
}

func TestWorkspaceFilter(t *testing.T) {
	for f, want := range map[string]string{
		"":                                       "",
		`workspace = "abc"`:                      "abc",
		`workspace="abc"`:                        "abc",
		` workspace = 'abc' `:                    "abc",
		`workspace != "abc"`:                     "-",
		`workspace = "a" && id != ""`:            "-",
		`workspace ?= "abc"`:                     "-",
		`"abc" = workspace`:                      "-",
		`workspace = ""`:                         "-",
		`workspace = abc`:                        "-",
		`(workspace = "abc")`:                    "-",
		`workspace = "abc" || workspace = "abc"`: "-",
	} {
		ws, ok := workspaceFilter(f)
		if !ok {
			ws = "-"
		}
		if ws != want {
			t.Errorf("%q: %q, want %q", f, ws, want)
		}
	}
}
