package templates

import (
	"encoding/json"
	"testing"
)

// ValuesFor decodes only the fields a template names, and renders every
// template exactly as the whole read copy decoded by Values does — with
// escapes in names and values, nested and unused values of every kind
// around the used ones, and read copies that are not valid JSON objects.
func TestValuesForRendersAsValues(t *testing.T) {
	whole, err := json.Marshal(ada["custom"])
	if err != nil {
		t.Fatal(err)
	}
	copies := []string{
		string(whole), "", "{}", "null", "[]", `"x"`, "{", `{"tier":`, `{"tier":"gold"`, `{"tier":"gold"}x`,
		`{"unused":{"deep":[1,{"tier":"no"}]},"tier":"silver","x":null,"vip":"true","tags":["a\"b","c"],"score":1e3}`,
		`{"t\u0069er":"esc\u00e9ped","note":"<b>\n</b>","other":[true,false,null,-0.5]}`,
		`{"vip":false,"score":"12","tags":"one","renewal":"2027-01-02","mobile":12}`,
		`{"tier":"gold","vip":true,"tier":"silver"}`, "{\"tier\":\"g\xffld\",\"t\xfer\":\"x\"}",
	}
	for i, src := range fastCorpus {
		c, err := Compile(src, testFields)
		if err != nil {
			t.Fatalf("corpus %d: %v", i, err)
		}
		for _, cp := range copies {
			k := ContactColumns{FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com", Company: "A & Co", Custom: cp}
			want, werr := c.Render(k.Values())
			got, gerr := c.Render(k.ValuesFor(c))
			if (werr == nil) != (gerr == nil) || got != want {
				t.Fatalf("corpus %d, copy %s:\nValuesFor %+v (%v)\nValues    %+v (%v)", i, cp, got, gerr, want, werr)
			}
		}
	}
	// only what the template names is decoded
	c, err := Compile(Source{Channel: "email", Subject: "{{custom.tier}}", HTML: "<p>{{custom.score}}</p>"}, testFields)
	if err != nil {
		t.Fatal(err)
	}
	got := ContactColumns{Custom: string(whole)}.ValuesFor(c)["custom"].(map[string]any)
	if len(got) != 2 || got["tier"] != "gold" || got["score"] != 4.5 {
		t.Fatalf("decoded %v, want tier and score only", got)
	}
}
