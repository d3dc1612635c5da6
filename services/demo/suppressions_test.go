package demo_test

import (
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/demo"
	"github.com/pi-crm/pi-crm/services/providers"
	"github.com/pocketbase/dbx"
)

// The demo's suppressions (a Mailgun hard bounce and complaint, a Twilio
// STOP) are in the Shared workspace, on its contacts; the campaign waiting
// for approval counts the two email ones as suppressed; Andy's workspace
// shows a Mailgun setting that is not set up (no API key), the outbox stays
// the default; a second seed adds nothing.
func TestDemoSuppressionsAndProviderExample(t *testing.T) {
	env := testutil.New(t)
	s, err := demo.NewSeeder(env.App, demo.DefaultPassword, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := s.Seed()
	if err != nil || sum.Suppressions != 3 || sum.Providers != 1 {
		t.Fatalf("seed: %+v %v", sum, err)
	}
	shared, err := env.App.FindFirstRecordByFilter("workspaces", "name = 'Shared'")
	if err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		Channel string `db:"channel"`
		Address string `db:"address"`
		Reason  string `db:"reason"`
	}
	if err := env.App.DB().Select("channel", "address", "reason").From("suppressions").Where(dbx.HashExp{"workspace": shared.Id}).OrderBy("reason").All(&rows); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"complaint": "email", "hard_bounce": "email", "sms_stop": "sms"}
	if len(rows) != len(want) {
		t.Fatalf("suppressions of Shared: %+v", rows)
	}
	for _, r := range rows {
		if want[r.Reason] != r.Channel {
			t.Errorf("suppression %+v", r)
		}
		field := map[string]string{"email": "primary_email", "sms": "primary_phone"}[r.Channel]
		if n, err := env.App.CountRecords("contacts", dbx.HashExp{"workspace": shared.Id, field: r.Address}); err != nil || n != 1 {
			t.Errorf("%s is not one contact's %s in Shared (%d, %v)", r.Address, field, n, err)
		}
	}
	if n, _ := env.App.CountRecords("suppressions"); n != int64(len(want)) {
		t.Errorf("%d suppressions in all, want %d (Shared's only)", n, len(want))
	}

	login := func(email string) string {
		res := env.Do("POST", "/api/collections/users/auth-with-password", "", map[string]any{"identity": email, "password": demo.DefaultPassword})
		tok, _ := res.JSON()["token"].(string)
		if tok == "" {
			t.Fatalf("login %s: %d %s", email, res.Status, res.Body)
		}
		return tok
	}
	andy := login("andy@example.com")
	waiting, err := env.App.FindFirstRecordByFilter("campaigns", "name = 'Autumn offer'")
	if err != nil {
		t.Fatal(err)
	}
	res := env.Do("GET", "/api/crm/campaigns/"+waiting.Id+"/audience", andy, nil)
	if res.Status != 200 || res.JSON()["suppressed"] != float64(2) {
		t.Fatalf("the waiting campaign's audience: %d %s", res.Status, res.Body)
	}

	mine, err := env.App.FindFirstRecordByFilter("workspaces", "name = \"Andy's workspace\"")
	if err != nil {
		t.Fatal(err)
	}
	res = env.Do("GET", "/api/crm/workspaces/"+mine.Id+"/providers/mailgun", andy, nil)
	v := res.JSON()
	if res.Status != 200 || v["configured"] != false || v["missing"] != "no api_key" || v["domain"] != "mg.example.com" || v["region"] != "eu" || v["has_api_key"] != false {
		t.Fatalf("the Mailgun example: %d %s", res.Status, res.Body)
	}
	if _, _, err := providers.Open(env.App, mine.Id, providers.Mailgun); err == nil {
		t.Error("the Mailgun example opens a sender: it must not be able to send")
	}
	res = env.Do("GET", "/api/crm/workspaces/"+mine.Id+"/providers", andy, nil)
	if res.Status != 200 || res.JSON()["default"] != "outbox" {
		t.Fatalf("the default provider: %d %s", res.Status, res.Body)
	}

	again, err := s.Seed()
	if err != nil || again.Suppressions != 0 || again.Providers != 0 {
		t.Fatalf("second seed: %+v %v", again, err)
	}
}
