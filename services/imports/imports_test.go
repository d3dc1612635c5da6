package imports_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pi-crm/pi-crm/services/contacts"
	"github.com/pi-crm/pi-crm/services/customfields"
	"github.com/pi-crm/pi-crm/services/duplicates"
	"github.com/pi-crm/pi-crm/services/imports"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

type fixture struct {
	t     testing.TB
	env   *testutil.Env
	svc   *imports.Service
	owner *core.Record
	ws    *core.Record
}

func newFixture(t *testing.T) *fixture { return newBenchFixture(t) }

func newBenchFixture(t testing.TB) *fixture {
	env := testutil.New(t)
	owner, _ := env.User("owner@example.com")
	ws := env.Workspace("Imports", owner, nil)
	env.Create("custom_field_definitions", map[string]any{"user": owner.Id, "workspace": ws.Id, "field_name": "tier", "label": "Tier",
		"field_type": "select", "options": []string{"gold", "silver"}})
	env.Create("custom_field_definitions", map[string]any{"user": owner.Id, "workspace": ws.Id, "field_name": "score", "label": "Score", "field_type": "number"})
	cs := contacts.NewService(env.App)
	svc := imports.NewService(env.App, cs, customfields.NewService(env.App, cs), imports.NewRunner(1), nil)
	return &fixture{t: t, env: env, svc: svc, owner: owner, ws: ws}
}

func (f *fixture) run(file string, opts imports.Options) (*core.Record, imports.Counts) {
	f.t.Helper()
	var src *os.File
	var err error
	if strings.Contains(file, "\n") {
		path := f.t.TempDir() + "/in.csv"
		if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
			f.t.Fatal(err)
		}
		src, err = os.Open(path)
	} else if strings.Contains(file, "/") {
		src, err = os.Open(file) // this package's testdata
	} else {
		src, err = os.Open("../csvio/testdata/" + file)
	}
	if err != nil {
		f.t.Fatal(err)
	}
	defer src.Close()
	if opts.Mode == "" {
		opts.Mode = imports.ModeCreate
	}
	job, c, err := f.svc.RunLocal(imports.Input{Workspace: f.ws.Id, FileName: "test.csv", Options: opts, Actor: audit.Actor{UserID: f.owner.Id}}, src, nil)
	if err != nil {
		f.t.Fatalf("import: %v", err)
	}
	return job, c
}

// contact returns the contact with email as "first|last|email|phone|company|custom json".
func (f *fixture) contact(email string) string {
	var r struct {
		F string `db:"f"`
		L string `db:"l"`
		E string `db:"e"`
		P string `db:"p"`
		C string `db:"c"`
		X string `db:"x"`
	}
	err := f.env.App.DB().NewQuery(`SELECT first_name AS f, last_name AS l, primary_email AS e, primary_phone AS p, company AS c, COALESCE(custom,'') AS x
		FROM contacts WHERE workspace = {:ws} AND primary_email = {:e}`).Bind(dbx.Params{"ws": f.ws.Id, "e": email}).One(&r)
	if err != nil {
		return ""
	}
	return strings.Join([]string{r.F, r.L, r.E, r.P, r.C, r.X}, "|")
}

func (f *fixture) count(table string) int {
	var n int
	_ = f.env.App.DB().NewQuery("SELECT count(*) FROM " + table).Row(&n)
	return n
}

func (f *fixture) report(job *core.Record) [][]string {
	rc, err := f.svc.OpenErrorReport(job.Id)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(rc)
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(buf.Bytes(), []byte("\xef\xbb\xbf")))).ReadAll()
	if err != nil {
		f.t.Fatal(err)
	}
	return rows[1:]
}

func TestImportParsingCases(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		file    string
		created int
		check   map[string]string
	}{
		{"basic.csv", 3, map[string]string{
			"ada@example.com":   `Ada|Lovelace|ada@example.com|+442079460958|Analytical|{"score":42,"tier":"gold"}`,
			"alan@example.com":  `Alan|Turing|alan@example.com||Bletchley|{"score":7.5,"tier":"silver"}`,
			"grace@example.com": `Grace|Hopper|grace@example.com|+14155550100|Navy|{}`}},
		{"bom_crlf_semicolon.csv", 2, map[string]string{"juergen@example.de": `Jürgen|Müller|juergen@example.de||Müller; Söhne|{}`}},
		{"cp1252_tab.csv", 2, map[string]string{"francois@example.fr": `François|Lefèvre|francois@example.fr||Café € Co|{}`}},
		{"quoted_multiline.csv", 3, map[string]string{
			"multi@example.com": "Multi|Line|multi@example.com||Line one\nLine two, with comma|{}",
			"quote@example.com": `Quote|"Q"|quote@example.com||Says "hi"|{}`}},
		{"google.csv", 2, map[string]string{
			"gina@example.com":     `Gina|Google|gina@example.com|+16505550100|Alphabet|{}`,
			"fullname@example.com": `Full Name|Only|fullname@example.com|||{}`}},
		{"outlook.csv", 2, map[string]string{
			"otto@example.com": `Otto|Outlook|otto@example.com|+14255550100|Contoso|{}`,
			"olga@example.com": `Olga|Office|olga@example.com|+14255550101|Fabrikam|{}`}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			job, counts := f.run(c.file, imports.Options{})
			if counts.Created != c.created || counts.Failed != 0 || job.GetString("status") != imports.StatusCompleted {
				t.Fatalf("counts %+v status %s report %v", counts, job.GetString("status"), f.report(job))
			}
			for email, want := range c.check {
				if got := f.contact(email); got != want {
					t.Errorf("%s:\n got %q\nwant %q", email, got, want)
				}
			}
		})
	}
	// every created contact has its EAV rows and a timeline entry, as the hooks would write
	var eav int
	_ = f.env.App.DB().NewQuery(`SELECT count(*) FROM custom_fields`).Row(&eav)
	if eav != 4 {
		t.Errorf("custom_fields rows %d, want 4", eav)
	}
	if n := f.count("communication_logs"); n != 14 {
		t.Errorf("timeline entries %d, want 14", n)
	}
}

func TestRaggedRowsAndErrorReport(t *testing.T) {
	f := newFixture(t)
	job, c := f.run("ragged.csv", imports.Options{})
	if c.Read != 4 || c.Created != 3 || c.Failed != 1 {
		t.Fatalf("counts %+v", c)
	}
	rep := f.report(job)
	if len(rep) != 1 || rep[0][0] != "4" || rep[0][2] != imports.RowExtraCells {
		t.Fatalf("report %q", rep)
	}
	if got := f.contact("short@example.com"); got != "Short|Row|short@example.com|||{}" {
		t.Errorf("short row: %q", got)
	}

	// row 4's phone (12) cannot be read: the contact is imported without
	// it, and the report has it as a warning (issue 18)
	job, c = f.run("invalid.csv", imports.Options{})
	if c.Read != 7 || c.Created != 2 || c.Failed != 4 || c.Skipped != 1 || c.Warnings != 1 {
		t.Fatalf("counts %+v", c)
	}
	got := map[string]string{}
	for _, r := range f.report(job) {
		got[r[0]] = r[1] + "/" + r[2]
	}
	want := map[string]string{"3": "primary_email/contact_invalid_email", "4": "primary_phone/phone_dropped",
		"5": "tier/custom_field_invalid", "6": "score/custom_field_invalid", "7": "/empty_row", "8": "primary_email/contact_invalid_email"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("report\n got %v\nwant %v", got, want)
	}
	if got := f.contact("badphone@example.com"); got != `BadPhone||badphone@example.com|||{"score":1,"tier":"gold"}` {
		t.Errorf("the row with the unreadable phone: %q", got)
	}
	var sum map[string]any
	_ = job.UnmarshalJSONField("error_report", &sum)
	if sum["errors"] != float64(5) {
		t.Errorf("error_report summary %v", sum)
	}
}

// Duplicates within the file are found within a batch (the batch's keys)
// and across batches (the contacts earlier batches of the job wrote), with
// the row that was imported instead, also in a dry run (nothing written)
// and in upsert mode (the later row does not overwrite the earlier one).
func TestDuplicatesWithinFile(t *testing.T) {
	for _, tc := range []struct {
		batch int
		opts  imports.Options
	}{{1000, imports.Options{}}, {1, imports.Options{}}, {2, imports.Options{}}, {1, imports.Options{DryRun: true}},
		{1, imports.Options{Mode: imports.ModeUpsert}}, {1, imports.Options{Mode: imports.ModeSkipExisting}}} {
		f := newFixture(t)
		f.svc.BatchSize = tc.batch
		job, c := f.run("duplicates.csv", tc.opts)
		if c.Created != 2 || c.Skipped != 3 {
			t.Fatalf("batch %d %+v: counts %+v report %v", tc.batch, tc.opts, c, f.report(job))
		}
		got := map[string]string{}
		for _, r := range f.report(job) {
			if r[2] != imports.RowDupInFile {
				t.Errorf("batch %d %+v: report row %q", tc.batch, tc.opts, r)
			}
			got[r[0]] = r[3]
		}
		// rows 3 and 6 repeat row 2's email, row 5 row 4's phone
		for row, first := range map[string]string{"3": "row 2,", "6": "row 2,", "5": "row 4,"} {
			if !strings.Contains(got[row], first) {
				t.Errorf("batch %d %+v: row %s: %q, want it to name %s", tc.batch, tc.opts, row, got[row], first)
			}
		}
		if !tc.opts.DryRun {
			if got := f.contact("dup@example.com"); !strings.HasPrefix(got, "One|") {
				t.Errorf("batch %d %+v: the first row's contact became %q", tc.batch, tc.opts, got)
			}
		}
	}
}

func TestModes(t *testing.T) {
	f := newFixture(t)
	f.run("basic.csv", imports.Options{})
	file := "first_name,primary_email,company,tier\nADA2,ada@example.com,,silver\nNew,new@example.com,NewCo,gold\n"

	_, c := f.run(file, imports.Options{Mode: imports.ModeCreate})
	if c.Created != 1 || c.Failed != 1 {
		t.Errorf("create: %+v", c)
	}
	_, c = f.run(strings.Replace(file, "new@", "new2@", 1), imports.Options{Mode: imports.ModeSkipExisting})
	if c.Created != 1 || c.Skipped != 1 || f.contact("ada@example.com") == "" || !strings.HasPrefix(f.contact("ada@example.com"), "Ada|") {
		t.Errorf("skip_existing: %+v %s", c, f.contact("ada@example.com"))
	}
	_, c = f.run(strings.Replace(file, "new@", "new3@", 1), imports.Options{Mode: imports.ModeUpdate})
	if c.Updated != 1 || c.Skipped != 1 || c.Created != 0 {
		t.Errorf("update: %+v", c)
	}
	// empty cells leave fields alone; given ones overwrite
	if got := f.contact("ada@example.com"); got != `ADA2|Lovelace|ada@example.com|+442079460958|Analytical|{"score":42,"tier":"silver"}` {
		t.Errorf("updated: %q", got)
	}
	_, c = f.run("first_name,primary_phone,primary_email\nPhoned,+1 (415) 555-0100,\nUp,,up@example.com\n", imports.Options{Mode: imports.ModeUpsert})
	if c.Updated != 1 || c.Created != 1 {
		t.Errorf("upsert: %+v", c)
	}
	if got := f.contact("grace@example.com"); !strings.HasPrefix(got, "Phoned|Hopper|") {
		t.Errorf("matched by phone: %q", got)
	}
	// a row whose email and phone match two different contacts is refused
	job, c := f.run("primary_email,primary_phone\nada@example.com,+14155550100\n", imports.Options{Mode: imports.ModeUpsert})
	if c.Failed != 1 || f.report(job)[0][2] != imports.RowAmbiguous {
		t.Errorf("ambiguous: %+v", c)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	f := newFixture(t)
	before := f.count("contacts")
	job, c := f.run("basic.csv", imports.Options{DryRun: true, Mapping: map[string]json.RawMessage{"score": json.RawMessage(`"new:number:Points"`)}})
	_ = job
	if c.Created != 3 || f.count("contacts") != before || f.count("custom_field_definitions") != 2 {
		t.Fatalf("dry run: %+v contacts %d defs %d", c, f.count("contacts"), f.count("custom_field_definitions"))
	}
	if _, err := f.svc.Undo(job.Id, audit.Actor{}); err == nil {
		t.Error("a dry run was undoable")
	}
}

func TestUndoRestoresAndDeletes(t *testing.T) {
	f := newFixture(t)
	f.run("basic.csv", imports.Options{})
	list := f.env.Create("contact_lists", map[string]any{"workspace": f.ws.Id, "name": "Imported"})
	before := f.contact("ada@example.com")
	job, c := f.run("first_name,primary_email,tier,score\nChanged,ada@example.com,silver,\nFresh,fresh@example.com,gold,3\n",
		imports.Options{Mode: imports.ModeUpsert, List: list.Id})
	if c.Created != 1 || c.Updated != 1 {
		t.Fatalf("counts %+v", c)
	}
	var inList int
	_ = f.env.App.DB().NewQuery(`SELECT count(*) FROM contact_list_assignments WHERE list = {:l}`).Bind(dbx.Params{"l": list.Id}).Row(&inList)
	if inList != 2 {
		t.Fatalf("list assignments %d", inList)
	}
	if _, err := f.svc.Undo(job.Id, audit.Actor{UserID: f.owner.Id}); err != nil {
		t.Fatal(err)
	}
	if got := f.contact("ada@example.com"); got != before {
		t.Errorf("restored %q, want %q", got, before)
	}
	if f.contact("fresh@example.com") != "" {
		t.Error("created contact not removed")
	}
	var rows int
	_ = f.env.App.DB().NewQuery(`SELECT count(*) FROM contact_list_assignments WHERE list = {:l}`).Bind(dbx.Params{"l": list.Id}).Row(&rows)
	if rows != 0 {
		t.Errorf("assignments left %d", rows)
	}
	var orphans int
	_ = f.env.App.DB().NewQuery(`SELECT (SELECT count(*) FROM custom_fields WHERE contact NOT IN (SELECT id FROM contacts)) +
		(SELECT count(*) FROM communication_logs WHERE contact NOT IN (SELECT id FROM contacts))`).Row(&orphans)
	if orphans != 0 {
		t.Errorf("%d orphan rows after undo", orphans)
	}
	var tier string
	_ = f.env.App.DB().NewQuery(`SELECT field_value FROM custom_fields cf JOIN contacts c ON c.id = cf.contact
		WHERE c.primary_email = 'ada@example.com' AND cf.field_name = 'tier'`).Row(&tier)
	if tier != "gold" {
		t.Errorf("EAV tier %q after undo", tier)
	}
	if _, err := f.svc.Undo(job.Id, audit.Actor{}); err == nil {
		t.Error("undone twice")
	}
}

func TestOneAuditEntryPerJob(t *testing.T) {
	f := newFixture(t)
	var before int
	_ = f.env.App.DB().NewQuery(`SELECT count(*) FROM audit_logs`).Row(&before)
	job, _ := f.run("basic.csv", imports.Options{})
	var entries []struct {
		Action string `db:"action"`
		User   string `db:"user"`
		Entity string `db:"entity_id"`
	}
	_ = f.env.App.DB().NewQuery(`SELECT action, user, entity_id FROM audit_logs ORDER BY rowid`).All(&entries)
	entries = entries[before:]
	if len(entries) != 1 || entries[0].Action != imports.ActionImport || entries[0].Entity != job.Id || entries[0].User != f.owner.Id {
		t.Fatalf("audit entries of the job: %+v", entries)
	}
}

func TestCrashLeavesWholeBatchesAndIsMarkedFailed(t *testing.T) {
	f := newFixture(t)
	f.svc.BatchSize = 2
	imports.SetCrashAt(f.svc, 2) // dies inside the second batch's transaction
	var b strings.Builder
	b.WriteString("first_name,primary_email\n")
	for i := 0; i < 5; i++ {
		fmt.Fprintf(&b, "P%d,p%d@example.com\n", i, i)
	}
	path := t.TempDir() + "/crash.csv"
	_ = os.WriteFile(path, []byte(b.String()), 0o600)
	src, _ := os.Open(path)
	defer src.Close()
	job, _, err := f.svc.RunLocal(imports.Input{Workspace: f.ws.Id, FileName: "crash.csv", Options: imports.Options{Mode: imports.ModeCreate}}, src, nil)
	if err == nil {
		t.Fatal("no crash")
	}
	if n := f.count("contacts"); n != 2 {
		t.Fatalf("contacts after crash %d, want the first batch (2) only", n)
	}
	if err := duplicates.CheckMatchKeys(f.env.App); err == nil {
		t.Fatal("the committed batch's match keys were written before the job ended: nothing tests their recovery")
	}
	// the restart: the job is marked failed at once, and the keys the
	// committed batch deferred are written by settle
	n, settle, err := f.svc.RecoverInterrupted()
	if err != nil || n != 1 {
		t.Fatalf("recovered %d %v", n, err)
	}
	if err := duplicates.CheckMatchKeys(f.env.App); err == nil {
		t.Fatal("the keys were written before settle: the server's start would wait for them")
	}
	settle()
	if err := duplicates.CheckMatchKeys(f.env.App); err != nil {
		t.Fatal(err)
	}
	job, _ = f.env.App.FindRecordById("import_jobs", job.Id)
	var c imports.Counts
	_ = job.UnmarshalJSONField("counts", &c)
	if job.GetString("status") != imports.StatusFailed || c.Committed != 2 || c.Created != 2 || !strings.Contains(job.GetString("error"), "first 2 rows") {
		t.Fatalf("job %s %+v %q", job.GetString("status"), c, job.GetString("error"))
	}
	// the journal may name the batch that never committed; undo still works
	if _, err := f.svc.Undo(job.Id, audit.Actor{}); err != nil {
		t.Fatal(err)
	}
	if n := f.count("contacts"); n != 0 {
		t.Errorf("contacts after undo %d", n)
	}
}

// Contacts created while an import runs, with emails of rows the import has
// not reached yet, never fail a batch: each batch reads and writes in one
// transaction, so such a row is reported as a duplicate and the rest of its
// batch is written.
func TestConcurrentWritesDuringImport(t *testing.T) {
	f := newFixture(t)
	f.svc.BatchSize = 50
	var csv strings.Builder
	csv.WriteString("first_name,primary_email\n")
	const rows = 2000
	for i := 0; i < rows; i++ {
		fmt.Fprintf(&csv, "R%d,r%d@example.com\n", i, i)
	}
	done := make(chan struct{})
	created := 0
	go func() {
		defer close(done)
		col, _ := f.env.App.FindCollectionByNameOrId("contacts")
		for i := rows - 1; i >= rows/2; i -= 7 { // from the end, ahead of the import
			c := core.NewRecord(col)
			c.Set("workspace", f.ws.Id)
			c.Set("first_name", "Racer")
			c.Set("primary_email", fmt.Sprintf("r%d@example.com", i))
			if err := f.env.App.Save(c); err == nil {
				created++
			}
		}
	}()
	job, c := f.run(csv.String(), imports.Options{})
	<-done
	if job.GetString("status") != imports.StatusCompleted {
		t.Fatalf("job %s: %s", job.GetString("status"), job.GetString("error"))
	}
	if c.Read != rows || c.Created+c.Failed != rows {
		t.Fatalf("counts %+v (racer created %d)", c, created)
	}
	var n int
	_ = f.env.App.DB().NewQuery("SELECT count(*) FROM contacts WHERE workspace = {:ws}").Bind(map[string]any{"ws": f.ws.Id}).Row(&n)
	if n != c.Created+created {
		t.Fatalf("%d contacts, want %d imported + %d created meanwhile", n, c.Created, created)
	}
	// the racers' keys came from the triggers, the import's at its end
	if err := duplicates.CheckMatchKeys(f.env.App); err != nil {
		t.Fatal(err)
	}
	// past customfields.ValueIndexMinContacts the job built the
	// workspace's value indexes at its end
	if idx, err := customfields.ValueIndexes(f.env.App, f.ws.Id); err != nil || !idx["tier"] {
		t.Fatalf("value indexes after the import: %v %v", idx, err)
	}
}

// An import into a workspace whose select field is counted (services/counts
// values.go) keeps the kept counts exact: the batch's created contacts
// counted set-based with the insert trigger off, updated ones by the update
// trigger, and the undo's deletes and restores by the triggers.
func TestImportKeepsValueCounts(t *testing.T) {
	f := newFixture(t)
	if _, err := f.env.App.DB().NewQuery(`WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {:n})
		INSERT INTO contacts (id, workspace, first_name, primary_email, custom, created, updated)
		SELECT substr({:ws}, 1, 6) || printf('%09d', i), {:ws}, 'Seed', 'seed' || i || '@example.com',
		  CASE i % 2 WHEN 0 THEN '{"tier":"gold"}' ELSE '{"tier":"silver"}' END, '', '' FROM s`).
		Bind(dbx.Params{"ws": f.ws.Id, "n": customfields.ValueIndexMinContacts}).Execute(); err != nil {
		t.Fatal(err)
	}
	if err := f.env.App.RunInTransaction(func(tx core.App) error { return customfields.SyncValueIndexes(tx, f.ws.Id) }); err != nil {
		t.Fatal(err)
	}
	check := func(step string, wantGold int) {
		t.Helper()
		var drift, gold int
		if err := f.env.App.DB().NewQuery(`SELECT
			  (SELECT count(*) FROM crm_counted_fields WHERE workspace = {:ws} AND field = 'tier'),
			  (SELECT count(*) FROM (SELECT json_extract(custom, '$."tier"') COLLATE NOCASE AS v, count(*) AS n FROM contacts
			     WHERE workspace = {:ws} AND typeof(json_extract(custom, '$."tier"')) = 'text' GROUP BY 1) r
			   WHERE n IS NOT (SELECT k.n FROM crm_value_counts k WHERE k.workspace = {:ws} AND k.field = 'tier' AND k.value = r.v))`).
			Bind(dbx.Params{"ws": f.ws.Id}).Row(&gold, &drift); err != nil {
			t.Fatal(err)
		}
		if gold != 1 || drift != 0 {
			t.Fatalf("%s: tier counted %d times, %d values counted wrong", step, gold, drift)
		}
		_ = f.env.App.DB().NewQuery(`SELECT n FROM crm_value_counts WHERE workspace = {:ws} AND field = 'tier' AND value = 'gold'`).
			Bind(dbx.Params{"ws": f.ws.Id}).Row(&gold)
		if gold != wantGold {
			t.Fatalf("%s: gold kept as %d, want %d", step, gold, wantGold)
		}
	}
	check("before", 500)
	job, c := f.run("first_name,primary_email,tier\nA,seed1@example.com,gold\nB,new1@example.com,gold\nC,new2@example.com,silver\n",
		imports.Options{Mode: imports.ModeUpsert})
	if c.Created != 2 || c.Updated != 1 {
		t.Fatalf("counts %+v", c)
	}
	check("after the import", 502) // seed1 silver → gold, new1 gold
	if _, err := f.svc.Undo(job.Id, audit.Actor{UserID: f.owner.Id}); err != nil {
		t.Fatal(err)
	}
	check("after its undo", 500)
}
