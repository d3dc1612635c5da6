package imports

// SetCrashAt makes s stop dead inside the transaction of batch n, before it
// commits, as a killed process would (tests of restart handling).
func SetCrashAt(s *Service, n int) { s.crashAt = n }

// LookupPlan returns SQLite's query plan of the per-batch duplicate lookup
// on col (primary_email or primary_phone).
func LookupPlan(s *Service, ws, col string) (string, error) {
	q := lookupQuery(s.app.DB(), ws, col, []any{"a", "b"}).Build()
	var rows []struct {
		Detail string `db:"detail"`
	}
	err := s.app.DB().NewQuery("EXPLAIN QUERY PLAN " + q.SQL()).Bind(q.Params()).All(&rows)
	plan := ""
	for _, r := range rows {
		plan += r.Detail + "\n"
	}
	return plan, err
}
