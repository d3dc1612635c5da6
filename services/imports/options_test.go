package imports_test

import (
	"errors"
	"testing"

	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/imports"
)

// Options given as fields are read as the options JSON would be: equal
// values spelt differently are one value, and the merged options pass the
// same checks.
func TestFormOptions(t *testing.T) {
	o, err := imports.FormOptions([]byte(`{"mapping":{"a":"company","b":"ignore"},"dry_run":true}`), map[string][]string{
		"mapping": {` { "b" : "ignore", "a":"company" } `}, "dry_run": {"TRUE"}, "mode": {"skip_existing"}, "list": {"l1"}, "auto_map": {"0"}})
	if err != nil || o.Mode != imports.ModeSkipExisting || !o.DryRun || o.List != "l1" || o.AutoMap == nil || *o.AutoMap || len(o.Mapping) != 2 {
		t.Fatalf("%+v %v", o, err)
	}
	if o, err := imports.FormOptions(nil, nil); err != nil || o.Mode != imports.ModeCreate {
		t.Fatalf("no options: %+v %v", o, err)
	}
	if o, err := imports.FormOptions([]byte("null"), map[string][]string{"mode": {"upsert"}}); err != nil || o.Mode != imports.ModeUpsert {
		t.Fatalf("options null and a mode field: %+v %v", o, err)
	}
	code := func(err error) string {
		var ae *apperr.Error
		if errors.As(err, &ae) {
			return ae.Code + "/" + ae.Details["field"].(string)
		}
		return ""
	}
	for _, c := range []struct {
		raw    string
		fields map[string][]string
		want   string
	}{
		{`{"mode":"update"}`, map[string][]string{"mode": {"upsert"}}, "import_option_conflict/mode"},
		{``, map[string][]string{"list": {"a", "b"}}, "import_option_conflict/list"},
		{`{"auto_map":true}`, map[string][]string{"auto_map": {"false"}}, "import_option_conflict/auto_map"},
		{``, map[string][]string{"verbose": {"1"}}, "import_option_unknown/verbose"},
		{`{"dryrun":true}`, nil, "import_option_unknown/dryrun"},
	} {
		if _, err := imports.FormOptions([]byte(c.raw), c.fields); code(err) != c.want {
			t.Errorf("%s %v: %v, want %s", c.raw, c.fields, err, c.want)
		}
	}
	// ParseOptions (the CLI, the options part) refuses unknown keys too
	if _, err := imports.ParseOptions([]byte(`{"mode":"upsert","list_id":"x"}`)); code(err) != "import_option_unknown/list_id" {
		t.Errorf("ParseOptions with an unknown key: %v", err)
	}
}
