package demo_test

import (
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/demo"
	"github.com/pi-crm/pi-crm/services/insights"
	"github.com/pocketbase/dbx"
)

// TestDemoInsights: the seed measures every demo workspace once (a second
// seed adds no run); the runs have every metric, no summary (no AI in the
// demo), and the contacts' creation spread over the last 30 days.
func TestDemoInsights(t *testing.T) {
	env := testutil.New(t)
	now := time.Now()
	s, err := demo.NewSeeder(env.App, demo.DefaultPassword, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Seed()
	if err != nil {
		t.Fatal(err)
	}
	if first.Insights != 3 {
		t.Fatalf("%d workspaces measured, want 3", first.Insights)
	}
	wss, err := env.App.FindAllRecords("workspaces")
	if err != nil {
		t.Fatal(err)
	}
	for _, ws := range wss {
		runs, err := env.App.FindRecordsByFilter(insights.RunsCollection, "workspace = {:w}", "", 0, 0, dbx.Params{"w": ws.Id})
		if err != nil || len(runs) != 1 {
			t.Fatalf("%s: %d runs %v", ws.GetString("name"), len(runs), err)
		}
		r := runs[0]
		if r.GetString("status") != "done" || r.GetString("trigger") != insights.TriggerSeed || r.GetString("summary") != insights.SummaryNotConfigured ||
			r.GetInt("metrics") != len(insights.Types)-1 {
			t.Errorf("%s: run %v", ws.GetString("name"), r.FieldsData())
		}
		added, err := env.App.FindFirstRecordByFilter(insights.Collection, "run = {:r} && type = {:t}", dbx.Params{"r": r.Id, "t": insights.TypeContactsAdded})
		if err != nil {
			t.Fatal(err)
		}
		var total, last7 int
		if err := env.App.DB().NewQuery("SELECT COUNT(*) FROM contacts WHERE workspace = {:w}").Bind(dbx.Params{"w": ws.Id}).Row(&total); err != nil {
			t.Fatal(err)
		}
		last7 = int(added.GetFloat("value"))
		// spread over 30 days: about a quarter in the last week, not all of them
		if total == 0 || last7 == 0 || last7 >= total {
			t.Errorf("%s: %d of %d contacts added in the last 7 days", ws.GetString("name"), last7, total)
		}
	}
	second, err := s.Seed()
	if err != nil {
		t.Fatal(err)
	}
	if second.Insights != 0 {
		t.Fatalf("second seed measured %d workspaces", second.Insights)
	}
}
