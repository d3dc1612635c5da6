package search_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/search"
)

// A two-word term is served from index ranges (twoWordNames) and finds
// exactly what the per-row check finds: every split of the words over first
// and last name, names and companies with spaces, either order.
func TestTwoWordNameSearch(t *testing.T) {
	env := testutil.New(t)
	owner, _ := env.User("names@example.com")
	ws := env.Workspace("Names", owner, nil)
	type person struct{ first, last, company, email string }
	people := []person{
		{"Ann", "Smith", "", ""}, {"ann", "SMITHERS", "", ""}, {"Mary Ann", "Smith", "", ""},
		{"Ann Smith", "Jones", "", ""}, {"Bob", "Ann Smithson", "", ""}, {"Smith", "Ann", "", ""},
		{"Smithy", "Annabel", "", ""}, {"Anna", "Smith", "", ""}, {"Ann", "Jones", "Ann Smith Ltd", ""},
		{"Zed", "Ann", "", "ann.smith@example.com"}, {"Ann", "", "", ""}, {"", "Smith", "", ""},
	}
	ids := map[string]person{}
	for _, p := range people {
		rec := env.Create("contacts", map[string]any{"workspace": ws.Id, "first_name": p.first, "last_name": p.last,
			"company": p.company, "primary_email": p.email})
		ids[rec.Id] = p
	}
	// a first name shared by more contacts than a probe counts: without the
	// two-word ranges a term starting with it could not be driven by ids
	if _, err := env.App.DB().NewQuery(`WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 1100)
		INSERT INTO contacts (id, workspace, first_name, last_name, created, updated)
		SELECT printf('annx%011d', i), {:ws}, 'Ann', printf('Other%d', i), '2025-01-01 00:00:00.000Z', '2025-01-01 00:00:00.000Z' FROM s`).
		Bind(map[string]any{"ws": ws.Id}).Execute(); err != nil {
		t.Fatal(err)
	}
	recs, _ := env.App.FindAllRecords("contacts")
	for _, r := range recs {
		if _, ok := ids[r.Id]; !ok && r.GetString("workspace") == ws.Id {
			ids[r.Id] = person{r.GetString("first_name"), r.GetString("last_name"), "", ""}
		}
	}
	svc := search.NewService(env.App)
	starts := func(s, prefix string) bool { return strings.HasPrefix(strings.ToLower(s), prefix) }
	for _, term := range []string{"ann smi", "smith ann", "Ann Smith", "smith a", "ann jones", "mary ann"} {
		words := strings.Fields(strings.ToLower(term))
		full := strings.Join(words, " ")
		var want []string
		for id, p := range ids {
			first := starts(p.first, words[0]) || starts(p.last, words[0]) || starts(p.company, words[0]) || starts(p.email, words[0])
			all := starts(p.first+" "+p.last, full) || starts(p.last+" "+p.first, full) || starts(p.company, full) || starts(p.email, full)
			if first && all {
				want = append(want, id)
			}
		}
		res := searchAll(t, svc, ws.Id, url.Values{"q": {term}})
		got := slices.Clone(res.IDs)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) || res.TotalItems != len(want) {
			var names []string
			for _, id := range got {
				names = append(names, ids[id].first+"/"+ids[id].last)
			}
			t.Errorf("%q: got %v (total %d), want %d contacts", term, names, res.TotalItems, len(want))
		}
		// where the first word is "ann" (1,100 contacts) the two-word ranges,
		// not everyone named ann, must drive the page
		if short := searchAll(t, svc, ws.Id, url.Values{"q": {term}, "perPage": {"10"}}); words[0] == "ann" && len(want) > 0 && short.Plan != "ids names" {
			t.Errorf("%q: plan %q, want the two-word id set to drive", term, short.Plan)
		}
	}
}
