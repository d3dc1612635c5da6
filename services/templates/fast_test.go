package templates

import (
	"strings"
	"testing"
)

// fastCorpus is every construct of the language in every HTML context an
// email uses, and some fastPart leaves to the executor (unquoted
// attributes, CSS, JavaScript, number literals).
var fastCorpus = []Source{
	{Channel: "email", Subject: "News for {{first_name}} {{last_name | upper}}", HTML: benchBody(false)},
	{Channel: "email", Subject: "{{if custom.vip}}VIP {{end}}{{first_name | default \"there\"}}",
		HTML: `<html><head><title>Hi {{first_name}}</title></head><body>
<p>{{if eq custom.tier "gold"}}Gold{{else if ne custom.tier ""}}{{custom.tier | title}}{{else}}none{{end}}</p>
<p>{{if and custom.vip (not custom.tags)}}vip only{{end}}{{if or last_name company}}[{{or last_name company}}]{{end}}</p>
<p title="{{company}}" data-x='{{last_name}}'>{{custom.tags}} · {{custom.vip}} · {{custom.score}} · {{custom.note}}</p>
<a href="{{custom.site}}">site</a> <a href="https://example.com/p?q={{first_name}}&amp;c={{company}}">search</a>
<a href="mailto:{{email}}">mail</a> <a href="{{unsubscribe_url}}">Unsubscribe</a>
<p>{{custom.renewal | date "2 January 2006"}} {{date "Jan 2" custom.renewal}} {{(custom.tier | upper) | lower}}</p>
<!-- {{first_name}} -->
</body></html>`,
		Text: "Hi {{first_name | default \"there\"}},\n{{if custom.vip}}VIP{{else}}member{{end}} {{custom.tags}} {{custom.note}}\n{{unsubscribe_url}}"},
	{Channel: "email", HTML: `<p><td width={{first_name}}>x</td></p>`},               // unquoted attribute: the executor
	{Channel: "email", HTML: `<p style="color: {{custom.tier}}">{{first_name}}</p>`}, // CSS: the executor
	{Channel: "email", HTML: `<script>var n = {{first_name}};</script><p>{{last_name}}</p>`},
	{Channel: "email", HTML: `<p>{{default 5 custom.score}}</p>`}, // a number literal: the executor
	{Channel: "sms", Text: "{{first_name}}: {{if custom.vip}}VIP{{end}} {{unsubscribe_url}}"},
}

// hostile are placeholder values that exercise every escape.
var hostile = []string{
	"", " ", "Ada", `<script>alert("x")</script>`, `O'Brien & "Sons" + <Co>`, "a\x00b", "Zoë — Ärger 東京", "\xff\xfe bad utf-8",
	"\ufdd0\uffff", "javascript:alert(1)", "JavaScript:x", "data:text/html,x", "https://ex.com/a b?c=d&e=%zz%41", "/rel/path:x",
	"mailto:a@b.c", "100%", "%41%4", "a/b?c#d!$*,;=@[]'()", "tab\there\nline",
}

// renderBoth renders src for v with fastPart and with the executor alone.
func renderBoth(t testing.TB, c *Compiled, v Values) (fast, exec Message, fastErr, execErr error) {
	plain := *c
	plain.fastSubject, plain.fastPreheader, plain.fastText, plain.fastSg, plain.fastHTML = nil, nil, nil, nil, nil
	fast, fastErr = c.Render(v)
	exec, execErr = plain.Render(v)
	return
}

func valuesWith(s string) Values {
	return Values{"first_name": s, "last_name": s, "email": s, "company": s, "unsubscribe_url": "https://crm.example/u/" + s,
		"custom": map[string]any{"tier": s, "renewal": s, "vip": s != "", "tags": []any{s, "b"}, "score": 4.5, "note": s, "site": s}}
}

// fastPart renders exactly what the executor renders, for every construct
// and escape context of the corpus and every hostile value.
func TestFastRenderMatchesExecutor(t *testing.T) {
	for i, src := range fastCorpus {
		c, err := Compile(src, testFields)
		if err != nil {
			t.Fatalf("corpus %d: %v", i, err)
		}
		for _, s := range append(hostile, "") {
			fast, exec, fe, ee := renderBoth(t, c, valuesWith(s))
			if (fe == nil) != (ee == nil) || fast != exec {
				t.Fatalf("corpus %d, value %q:\nfast %+v (%v)\nexec %+v (%v)", i, s, fast, fe, exec, ee)
			}
		}
		fast, exec, _, _ := renderBoth(t, c, ada)
		if fast != exec {
			t.Fatalf("corpus %d, ada:\nfast %+v\nexec %+v", i, fast, exec)
		}
	}
}

// The corpus' email templates of the plain contexts do run fast (a test
// that compared two executor renders would prove nothing), and the CSS,
// JavaScript, unquoted-attribute and number ones do not.
func TestFastPartCoverage(t *testing.T) {
	for i, want := range []bool{true, true, false, false, false, false, true} {
		c, err := Compile(fastCorpus[i], testFields)
		if err != nil {
			t.Fatal(err)
		}
		part := c.fastHTML
		if fastCorpus[i].Channel == "sms" {
			part = c.fastText
		}
		if got := part != nil; got != want {
			t.Errorf("corpus %d: fast %v, want %v", i, got, want)
		}
	}
}

// The bounds hold on the fast path: output larger than MaxOutput fails.
func TestFastRenderKeepsTheOutputLimit(t *testing.T) {
	c, err := CompileWithLimits(Source{Channel: "email", HTML: "<p>{{first_name}}{{first_name}}</p>"}, testFields,
		Limits{MaxOutput: 1000, Timeout: DefaultLimits.Timeout})
	if err != nil || c.fastHTML == nil {
		t.Fatal(err, c.fastHTML)
	}
	_, err = c.Render(Values{"first_name": strings.Repeat("x", 600)})
	if err == nil || !strings.Contains(err.Error(), "larger than the limit") {
		t.Fatalf("%v", err)
	}
}

// FuzzFastRender compares both renderers for arbitrary values in every
// placeholder of the corpus (go test -fuzz FuzzFastRender; the seeds run
// in every go test).
func FuzzFastRender(f *testing.F) {
	for _, s := range hostile {
		f.Add(s)
	}
	compiled := make([]*Compiled, len(fastCorpus))
	for i, src := range fastCorpus {
		c, err := Compile(src, testFields)
		if err != nil {
			f.Fatal(err)
		}
		compiled[i] = c
	}
	f.Fuzz(func(t *testing.T, s string) {
		for i, c := range compiled {
			fast, exec, fe, ee := renderBoth(t, c, valuesWith(s))
			if (fe == nil) != (ee == nil) || fast != exec {
				t.Fatalf("corpus %d, value %q:\nfast %+v (%v)\nexec %+v (%v)", i, s, fast, fe, exec, ee)
			}
		}
	})
}
