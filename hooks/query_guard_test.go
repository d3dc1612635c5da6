package hooks_test

import (
	"net/http"
	"net/url"
	"testing"
)

// The guard walks every identifier of a filter or sort, wherever it stands
// (PocketBase itself refuses "@request." and "@collection." in client filters
// with a 403, but only in that spelling; the guard answers first, for every
// spelling):
// beside @collection and user back-relations (the isolation tests), the paths
// that start at @request.auth or @request.body, hide in a function's
// arguments or in a sort, and, for a key, hops into collections its scopes
// do not grant. Each case is also sent as HEAD and inside a batch.
func TestQueryGuardForms(t *testing.T) {
	f := newKeyFixture(t)
	tplKey := f.key(t, map[string]any{"scopes": []string{"templates:read"}})
	contactsKey := f.key(t, map[string]any{"scopes": []string{"contacts:read"}})
	campKey := f.key(t, map[string]any{"scopes": []string{"campaigns:read"}})

	type probe struct {
		name, collection, param, value string
		token, key                     string
	}
	refused := []probe{
		{"back-relation from the session's user", "contacts", "filter", `@request.auth.workspaces_via_owner.contacts_via_workspace.primary_email != "x"`, f.token, ""},
		{"back-relation from the key's user", "workspaces", "filter", `@request.auth.user.workspace_members_via_user.role != "x"`, "", contactsKey},
		{"@request.body relation", "contacts", "filter", `@request.body.workspace.contacts_via_workspace.primary_email ?= "w@example.org"`, f.token, ""},
		{"user back-relation in a sort", "users", "sort", `-workspaces_via_owner.name`, f.token, ""},
		{"@collection in a sort", "contacts", "sort", `@collection.contacts.primary_email`, f.token, ""},
		{"back-relation into api_keys", "workspaces", "filter", `api_keys_via_workspace.description != "x"`, f.token, ""},
		{"back-relation into audit_logs-like admin data: api_keys through a workspace", "workspaces", "filter", `api_keys_via_workspace.key_prefix ~ "pcrm_"`, f.token, ""},
		{"a templates key filtering workspaces on their contacts", "workspaces", "filter", `contacts_via_workspace.primary_email !~ "w%"`, "", tplKey},
		{"a campaigns key following a direct relation into templates", "campaigns", "filter", `template.name != "T"`, "", campKey},
		{"a function argument", "contacts", "filter", `geoDistance(@collection.contacts.custom.lon, 0, 0, 0) > 1`, f.token, ""},
	}
	allowed := []probe{
		{"own fields", "contacts", "filter", `primary_email = "w@example.org"`, f.token, ""},
		{"back-relation every member reads", "workspaces", "filter", `contacts_via_workspace.primary_email ?= "w@example.org"`, f.token, ""},
		{"macros", "contacts", "filter", `created < @now`, f.token, ""},
		{"a key within its scopes", "workspaces", "filter", `contacts_via_workspace.primary_email ?= "w@example.org"`, "", contactsKey},
		{"a sort on own fields", "contacts", "sort", `-created,primary_email`, f.token, ""},
	}
	send := func(p probe, method string) (int, string) {
		path := "/api/collections/" + p.collection + "/records?" + p.param + "=" + url.QueryEscape(p.value)
		headers := map[string]string{}
		if p.key != "" {
			headers = withKey(p.key)
		}
		res := f.env.DoWithHeaders(method, path, p.token, headers, nil)
		return res.Status, res.Code()
	}
	for _, p := range refused {
		if status, code := send(p, http.MethodGet); status != http.StatusBadRequest || code != "filter_forbidden" {
			t.Errorf("%s: GET %d %q, want 400 filter_forbidden", p.name, status, code)
		}
		if status, _ := send(p, http.MethodHead); status != http.StatusBadRequest {
			t.Errorf("%s: HEAD %d, want 400", p.name, status)
		}
	}
	for _, p := range allowed {
		if status, code := send(p, http.MethodGet); status != http.StatusOK {
			t.Errorf("%s: GET %d %q, want 200", p.name, status, code)
		}
	}

	// a batch sub-request carries its query too
	res := f.env.Do("POST", "/api/batch", f.token, map[string]any{"requests": []map[string]any{{
		"method": "PATCH",
		"url":    "/api/collections/contacts/records/" + f.contactW.Id + "?filter=" + url.QueryEscape(`@collection.contacts.primary_email ?= "o@example.org"`),
		"body":   map[string]any{"company": "x"},
	}}})
	if res.Status != http.StatusBadRequest || res.Code() != "filter_forbidden" {
		t.Errorf("batch: %d %s", res.Status, res.Body)
	}
}
