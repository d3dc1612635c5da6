package demo_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/demo"
)

func TestSeedIsIdempotentAndIsolated(t *testing.T) {
	env := testutil.New(t)
	s, err := demo.NewSeeder(env.App, demo.DefaultPassword, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Seed()
	if err != nil {
		t.Fatal(err)
	}
	if first.Users != 2 || first.Workspaces != 3 || first.Contacts < 45 || first.Definitions < 6 || first.Entries == 0 || first.Templates != 4 || !first.SuperuserCreated {
		t.Fatalf("first run: %+v", first)
	}
	counts := func() map[string]int64 {
		out := map[string]int64{}
		for _, c := range []string{"users", "workspaces", "workspace_members", "contacts", "custom_fields", "contact_lists", "contact_list_assignments", "communication_logs", "custom_field_definitions", "templates"} {
			n, err := env.App.CountRecords(c)
			if err != nil {
				t.Fatal(err)
			}
			out[c] = n
		}
		return out
	}
	before := counts()
	second, err := s.Seed()
	if err != nil {
		t.Fatal(err)
	}
	if second != (demo.Summary{}) {
		t.Fatalf("second run created %+v", second)
	}
	if after := counts(); len(after) != len(before) || after["contacts"] != before["contacts"] || after["custom_fields"] != before["custom_fields"] || after["communication_logs"] != before["communication_logs"] {
		t.Fatalf("counts changed: %v -> %v", before, after)
	}

	// one primary list per contact
	var twoPrimaries int
	if err := env.App.DB().NewQuery("SELECT count(*) FROM (SELECT contact FROM contact_list_assignments WHERE is_primary = 1 GROUP BY contact HAVING count(*) > 1)").Row(&twoPrimaries); err != nil || twoPrimaries != 0 {
		t.Fatalf("contacts with two primary lists: %d (%v)", twoPrimaries, err)
	}

	// log in with the documented password; Monalisa sees Shared but not Andy's workspace
	login := func(email string) string {
		res := env.Do("POST", "/api/collections/users/auth-with-password", "", map[string]any{"identity": email, "password": demo.DefaultPassword})
		if res.Status != 200 {
			t.Fatalf("login %s: %d %s", email, res.Status, res.Body)
		}
		tok, _ := res.JSON()["token"].(string)
		return tok
	}
	login("andy@example.com")
	res := env.Do("GET", "/api/collections/workspaces/records", login("monalisa@example.com"), nil)
	body := string(res.Body)
	if !contains(body, `"name":"Shared"`) || !contains(body, `"name":"Monalisa's workspace"`) || contains(body, "Andy's workspace") {
		t.Fatalf("Monalisa's workspaces: %s", body)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
