package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/pi-crm/pi-crm/services/insights"
	"github.com/pi-crm/pi-crm/services/settings"
	"github.com/pocketbase/dbx"
)

// insights runs the metrics of every demo workspace that has no run yet, so
// the dashboard shows them on the first `make run` (the nightly job keeps
// them fresh under serve). The demo has no AI provider: the runs have no
// summary, and the dashboard says that one needs a model.
//
// When this seed created the contacts, their creation times are spread over
// the last 30 days before the first run (they were all created a moment
// ago), so the "contacts over 30 days" chart has the shape of a real month.
func (s *Seeder) insights(sum *Summary) error {
	svc := insights.New(s.app, settings.New(s.app), nil, s.now)
	for _, spec := range workspaces {
		ws, err := s.app.FindFirstRecordByFilter("workspaces", "name = {:n}", dbx.Params{"n": spec.name})
		if err != nil {
			return fmt.Errorf("demo insights: %s: %w", spec.name, err)
		}
		n, err := s.app.CountRecords(insights.RunsCollection, dbx.HashExp{"workspace": ws.Id})
		if err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		// only contacts this seed created: an install seeded before keeps
		// its dates
		if sum.Contacts > 0 {
			if err := s.spreadCreated(ws.Id); err != nil {
				return err
			}
		}
		if _, err := svc.Run(context.Background(), ws.Id, insights.TriggerSeed, insights.Who{}); err != nil {
			return fmt.Errorf("demo insights: %s: %w", spec.name, err)
		}
		sum.Insights++
	}
	return nil
}

// spreadCreated dates the workspace's contacts back over 30 days, oldest
// first in the order they were seeded (raw SQL: created is an autodate
// field, which a save sets to the saving time).
func (s *Seeder) spreadCreated(ws string) error {
	var ids []string
	if err := s.app.DB().NewQuery("SELECT id FROM contacts WHERE workspace = {:ws} ORDER BY created, id").
		Bind(dbx.Params{"ws": ws}).Column(&ids); err != nil {
		return err
	}
	now := s.now().UTC()
	for i, id := range ids {
		// the first seeded 30 days ago, the last today, a few hours apart
		age := 30 - (30*(i+1))/len(ids)
		at := now.AddDate(0, 0, -age).Add(-time.Duration(i%7) * time.Hour)
		if _, err := s.app.DB().NewQuery("UPDATE contacts SET created = {:at} WHERE id = {:id}").
			Bind(dbx.Params{"at": at.Format("2006-01-02 15:04:05.000Z"), "id": id}).Execute(); err != nil {
			return err
		}
	}
	return nil
}
