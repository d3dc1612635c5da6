package insights

import (
	"sort"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// Latest is the workspace's newest finished run with its insights of the
// areas the caller reads (sees(area); the route asks what the collection's
// read rule asks), in the order the run wrote them; also the run under way,
// if any, for the UI's progress. Both nil when there was never a run.
type Latest struct {
	Run      *core.Record   `json:"run"`
	Insights []*core.Record `json:"insights"`
	Running  *core.Record   `json:"running"`
}

// Latest reads the latest set of workspace ws.
func (s *Service) Latest(ws string, sees func(area string) bool) (*Latest, error) {
	out := &Latest{Insights: []*core.Record{}}
	runs, err := s.app.FindRecordsByFilter(RunsCollection, "workspace = {:ws} && status = 'done'", "-started_at,-created", 1, 0, dbx.Params{"ws": ws})
	if err != nil {
		return nil, err
	}
	if len(runs) > 0 {
		out.Run = runs[0]
		recs, err := s.app.FindRecordsByFilter(Collection, "run = {:run}", "", 0, 0, dbx.Params{"run": out.Run.Id})
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if sees(r.GetString("area")) {
				out.Insights = append(out.Insights, r)
			}
		}
		sort.SliceStable(out.Insights, func(i, j int) bool {
			return typeOrder(out.Insights[i].GetString("type")) < typeOrder(out.Insights[j].GetString("type"))
		})
	}
	// a run left "running" by a crash is not under way: not after 15 minutes
	running, err := s.app.FindRecordsByFilter(RunsCollection, "workspace = {:ws} && status = 'running' && started_at >= {:since}", "-started_at", 1, 0,
		dbx.Params{"ws": ws, "since": stamp(s.now().Add(-staleRun))})
	if err != nil {
		return nil, err
	}
	if len(running) > 0 {
		out.Running = running[0]
	}
	return out, nil
}

// staleRun: a run still "running" after this was cut off (a crash).
const staleRun = 15 * time.Minute

// Types are the metric types in the order a run writes them, the summary last.
var Types = []string{TypeContactsAdded, TypeListSizes, TypeNoPrimaryList, TypeNoEmail, TypeNoPhone, TypeDuplicates, TypeNotContacted,
	TypeSuppressions, TypeImportErrors, TypeCampaignResults, TypeProviderResults, TypeAIUsage, TypeSummary}

func typeOrder(t string) int {
	for i, x := range Types {
		if x == t {
			return i
		}
	}
	return len(Types)
}
