package migrations_test

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pocketbase/pocketbase/core"
)

// The key branch of the rules (migration 1764001100) must cost a session
// user next to nothing. BenchmarkContactsListRules lists 50 of 20,000 contacts
// through the collection API, as a session user and as an API key, against a
// baseline in the same run: a copy of the contacts table under the rule the
// collection had before (a user's membership only).
//
//	go test -run '^$' -bench ContactsListRules -benchtime 200x ./migrations/
func BenchmarkContactsListRules(b *testing.B) {
	env := testutil.New(b)
	s := env.App.Settings()
	s.RateLimits.Enabled = false
	if err := env.App.Save(s); err != nil {
		b.Fatal(err)
	}
	user, token := env.User("bench@example.com")
	ws := env.Workspace("Bench", user, nil)
	for i := 0; i < 20; i++ { // other workspaces and members: a realistic membership table
		o, _ := env.User(fmt.Sprintf("other%d@example.com", i))
		env.Workspace(fmt.Sprintf("Other %d", i), o, map[*core.Record]string{user: "viewer"})
	}
	const n = 20_000
	err := env.App.RunInTransaction(func(tx core.App) error {
		q := tx.DB().NewQuery(`INSERT INTO contacts (id, workspace, first_name, last_name, primary_email, company, custom, created, updated)
			VALUES ({:id}, {:ws}, 'Ann', {:l}, {:e}, 'Acme', '{}', {:t}, {:t})`).Prepare()
		defer q.Close()
		for i := 0; i < n; i++ {
			t := fmt.Sprintf("2025-01-01 %02d:%02d:%02d.000Z", i/3600, (i/60)%60, i%60)
			if _, err := q.Bind(map[string]any{"id": fmt.Sprintf("b%014d", i), "ws": ws.Id, "l": fmt.Sprintf("L%d", i),
				"e": fmt.Sprintf("u%d@example.org", i), "t": t}).Execute(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}

	// the baseline: same columns and rows, the pre-1764001100 read rule
	contacts, _ := env.App.FindCollectionByNameOrId("contacts")
	base := core.NewBaseCollection("contacts_rule_baseline")
	fields, err := contacts.Fields.Clone()
	if err != nil {
		b.Fatal(err)
	}
	base.Fields = fields
	base.AddIndex("idx_baseline_ws", false, "workspace, created", "")
	oldRule := `@request.auth.id != "" && @request.auth.collectionName = "users" && (@collection.workspace_members.workspace ?= workspace && @collection.workspace_members.user ?= @request.auth.id)`
	base.ListRule, base.ViewRule = &oldRule, &oldRule
	if err := env.App.Save(base); err != nil {
		b.Fatal(err)
	}
	if _, err := env.App.DB().NewQuery(`INSERT INTO contacts_rule_baseline (id, workspace, first_name, last_name, primary_email, primary_phone, company, custom, created, updated)
		SELECT id, workspace, first_name, last_name, primary_email, primary_phone, company, custom, created, updated FROM contacts`).Execute(); err != nil {
		b.Fatal(err)
	}

	res := env.Do("POST", "/api/crm/api-keys", token, map[string]any{"scopes": []string{"contacts:read"}, "workspace": ws.Id})
	key, _ := res.JSON()["key"].(string)

	filter := url.QueryEscape(`workspace="` + ws.Id + `"`)
	for _, total := range []bool{false, true} {
		suffix := "&skipTotal=1"
		label := "skipTotal"
		if total {
			suffix, label = "", "withTotal"
		}
		run := func(name, collection, token string, headers map[string]string) {
			path := "/api/collections/" + collection + "/records?perPage=50&sort=-created&filter=" + filter + suffix
			b.Run(label+"/"+name, func(b *testing.B) {
				for b.Loop() {
					if r := env.DoWithHeaders("GET", path, token, headers, nil); r.Status != 200 || len(r.Body) < 1000 {
						b.Fatalf("%d %s", r.Status, r.Body)
					}
				}
			})
		}
		run("baseline-old-rule-user", "contacts_rule_baseline", token, nil)
		run("new-rules-user", "contacts", token, nil)
		run("new-rules-key", "contacts", "", map[string]string{"X-Api-Key": key})
	}
}
