package hooks_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pocketbase/pocketbase/core"
)

// assertSecretNowhere: secret is in none of the answers, in no record of
// the collections in clear, and in no log line (PocketBase's batched log
// writer is flushed first; a test without log lines proves nothing and
// fails).
func assertSecretNowhere(t *testing.T, app core.App, secret, what string, answers []string, collections ...string) {
	t.Helper()
	for _, b := range answers {
		if strings.Contains(b, secret) {
			t.Errorf("an answer holds the %s: %s", what, b)
		}
	}
	for _, col := range collections {
		recs, err := app.FindAllRecords(col)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			b, _ := json.Marshal(r.FieldsData())
			if strings.Contains(string(b), secret) {
				t.Errorf("%s %s holds the %s in clear", col, r.Id, what)
			}
		}
	}
	if err := app.OnBootstrapClear().Trigger(&core.BootstrapEvent{App: app}, func(e *core.BootstrapEvent) error { return nil }); err != nil {
		t.Fatal(err)
	}
	var logs []struct {
		Message string `db:"message"`
		Data    string `db:"data"`
	}
	if err := app.AuxDB().NewQuery("SELECT message, data FROM _logs").All(&logs); err != nil {
		t.Fatal(err)
	}
	if len(logs) == 0 {
		t.Fatal("no log lines were written: the check would prove nothing")
	}
	for _, l := range logs {
		if strings.Contains(l.Message+l.Data, secret) {
			t.Errorf("a log line holds the %s: %s %s", what, l.Message, l.Data)
		}
	}
}
