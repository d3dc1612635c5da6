package templates

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/services/apperr"
)

var testFields = Fields{
	"tier": "select", "renewal": "date", "vip": "boolean", "tags": "multiselect",
	"score": "number", "note": "text", "site": "url", "alt_email": "email", "mobile": "phone",
}

var ada = Values{
	"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "company": "Analytical & Co",
	"custom": map[string]any{
		"tier": "gold", "renewal": "2027-03-09", "vip": true, "tags": []any{"a", "b"}, "score": 4.5,
		"note": `<script>alert("x")</script>`, "site": "javascript:alert(1)", "alt_email": "a@b.c", "mobile": "+441234567890",
	},
}

func render(t *testing.T, src Source, v Values) Message {
	t.Helper()
	c, err := Compile(src, testFields)
	if err != nil {
		t.Fatalf("compile %+v: %v", src, err)
	}
	m, err := c.Render(v)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return m
}

func TestRenderPlaceholdersAndEscaping(t *testing.T) {
	cases := []struct {
		name      string
		src       Source
		html      string // expected substring of the HTML part
		text      string // expected exact text part (when set)
		subject   string
		notInHTML string
	}{
		{name: "base field", src: Source{Channel: "email", HTML: "<p>Hi {{first_name}}</p>"}, html: "<p>Hi Ada</p>"},
		{name: "HTML escapes, text does not",
			src:  Source{Channel: "email", HTML: "<p>{{company}} {{custom.note}}</p>", Text: "{{company}} {{custom.note}}"},
			html: "<p>Analytical &amp; Co &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</p>", text: `Analytical & Co <script>alert("x")</script>`},
		{name: "subject is text", src: Source{Channel: "email", Subject: "{{company}} news", HTML: "x"}, subject: "Analytical & Co news"},
		{name: "unsafe URL filtered in href", src: Source{Channel: "email", HTML: `<a href="{{custom.site}}">site</a>`}, html: `href="#ZgotmplZ"`},
		{name: "go spelling accepted", src: Source{Channel: "email", HTML: "{{.first_name}}"}, html: "Ada"},
		{name: "default when empty", src: Source{Channel: "email", Text: `Hi {{phone | default "friend"}}`}, text: "Hi friend"},
		{name: "default not used when set", src: Source{Channel: "email", Text: `Hi {{first_name | default "friend"}}`}, text: "Hi Ada"},
		{name: "upper lower title", src: Source{Channel: "email", Text: `{{first_name | upper}} {{company | lower}} {{"ada lovelace" | title}}`}, text: "ADA analytical & co Ada Lovelace"},
		{name: "date layouts", src: Source{Channel: "email", Text: `{{custom.renewal | date "2 January 2006"}}|{{custom.renewal | date "short"}}|{{custom.renewal}}`}, text: "9 March 2027|09/03/2027|2027-03-09"},
		{name: "boolean", src: Source{Channel: "email", Text: `{{custom.vip}} {{if custom.vip}}VIP{{else}}regular{{end}}`}, text: "yes VIP"},
		{name: "multiselect", src: Source{Channel: "email", Text: `{{custom.tags}}{{if custom.tags}}!{{end}}`}, text: "a, b!"},
		{name: "number", src: Source{Channel: "email", Text: `{{custom.score}} {{if eq custom.score 4.5}}eq{{end}}`}, text: "4.5 eq"},
		{name: "select, eq", src: Source{Channel: "email", Text: `{{if eq custom.tier "gold"}}G{{else}}other{{end}} {{if ne custom.tier "gold"}}x{{end}}`}, text: "G "},
		{name: "email, phone custom", src: Source{Channel: "email", Text: `{{custom.alt_email}} {{custom.mobile}}`}, text: "a@b.c +441234567890"},
		{name: "full name", src: Source{Channel: "email", Text: `{{full_name}}`}, text: "Ada Lovelace"},
		{name: "and or not", src: Source{Channel: "email", Text: `{{if and first_name company}}1{{end}}{{if not phone}}2{{end}}{{or phone first_name}}`}, text: "12Ada"},
		{name: "sms body", src: Source{Channel: "sms", Text: `Hi {{first_name}} & {{custom.tier}}`}, text: "Hi Ada & gold"},
		{name: "signature appended", src: Source{Channel: "email", HTML: "<html><body><p>x</p></body></html>", Text: "x", Signature: "Andy\nPi Shop <3"},
			html: "<p>x</p><div class=\"signature\">Andy<br>\nPi Shop &lt;3</div></body>", text: "x\n\n-- \nAndy\nPi Shop <3"},
		{name: "preheader hidden first", src: Source{Channel: "email", Preheader: "Hello {{first_name}}", HTML: "<body class=a><p>x</p></body>"},
			html: `<body class=a><div style="display:none;max-height:0;overflow:hidden;mso-hide:all">Hello Ada</div><p>x</p>`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := render(t, tc.src, ada)
			if tc.html != "" && !strings.Contains(m.HTML, tc.html) {
				t.Errorf("html %q does not contain %q", m.HTML, tc.html)
			}
			if tc.text != "" && m.Text != tc.text {
				t.Errorf("text %q, want %q", m.Text, tc.text)
			}
			if tc.subject != "" && m.Subject != tc.subject {
				t.Errorf("subject %q, want %q", m.Subject, tc.subject)
			}
		})
	}
}

func TestRenderMissingValuesAreEmpty(t *testing.T) {
	m := render(t, Source{Channel: "email", Text: "[{{first_name}}][{{custom.tier}}][{{custom.vip}}][{{custom.tags}}]{{if custom.vip}}!{{end}}"}, Values{})
	if m.Text != "[][][][]" {
		t.Fatalf("text %q", m.Text)
	}
	m = render(t, Source{Channel: "email", Text: "{{custom.vip}}"}, Values{"custom": map[string]any{"vip": false}})
	if m.Text != "no" {
		t.Fatalf("false boolean %q", m.Text)
	}
}

func TestCheckRefuses(t *testing.T) {
	cases := []struct {
		name, field, src, token string
		line, column            int
		reason                  string
	}{
		{"unknown variable", "body_html", "<p>\n  Hi {{frist_name}}</p>", "frist_name", 2, 8, "did you mean first_name"},
		{"unknown custom field", "body_html", "{{custom.tierr}}", "custom.tierr", 1, 3, "did you mean custom.tier"},
		{"bare custom", "body_text", "{{custom}}", "custom", 1, 3, "custom.<field>"},
		{"unknown function", "body_text", "a\nb\n{{first_name | shout}}", "shout", 3, 16, "not a function"},
		{"syntax error", "subject", "Hi {{first_name", "", 1, 0, "unclosed action"},
		{"bad token", "body_text", "x\n{{first_name }}}\n{{ \"a }}", "", 3, 0, ""},
		{"printf builtin", "body_text", `{{printf "%099999999d" 1}}`, "printf", 1, 3, "unknown function"},
		{"call builtin", "body_text", `{{call first_name}}`, "call", 1, 3, ""},
		{"index builtin", "body_text", `{{index custom "tier"}}`, "index", 1, 3, ""},
		{"method on a value", "body_text", `{{custom.tags.String}}`, "custom.tags.String", 1, 3, "unknown placeholder"},
		{"range", "body_text", `{{range custom.tags}}x{{end}}`, "range", 1, 3, "does not loop"},
		{"with", "body_text", `{{with first_name}}x{{end}}`, "with", 1, 3, ""},
		{"define and recurse", "body_text", `{{define "x"}}{{template "x"}}{{end}}{{template "x"}}`, "define", 0, 0, ""},
		{"template", "body_text", `{{template "body_text"}}`, "template", 1, 3, ""},
		{"variable", "body_text", `{{$x := first_name}}{{$x}}`, "", 1, 0, "variables"},
		{"dot", "body_text", `{{.}}`, ".", 1, 3, "the dot"},
		{"env-like", "body_text", `{{.Env.HOME}}`, "Env.HOME", 1, 4, "unknown placeholder"},
		{"value with args", "body_text", `{{first_name "x"}}`, `"x"`, 1, 14, "is a value"},
		{"default arity", "body_text", `{{first_name | default}}`, "default", 1, 16, "takes 2 values"},
		{"date arity", "body_text", `{{date custom.renewal}}`, "date", 1, 3, "takes 2 values"},
		{"function as value", "body_text", `{{if upper}}x{{end}}`, "upper", 1, 6, "takes one value"},
		{"html context", "body_html", `<a href="x{{if first_name}}">{{end}}</a>`, "", 0, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := Source{Channel: "email"}
			switch tc.field {
			case "body_html":
				src.HTML = tc.src
			case "body_text":
				src.Text = tc.src
			case "subject":
				src.Subject = tc.src
			}
			err := Check(src, testFields)
			var e *apperr.Error
			if !errors.As(err, &e) || e.Code != CodeInvalid || e.Status != 400 {
				t.Fatalf("want 400 template_invalid, got %v", err)
			}
			if e.Details["field"] != tc.field {
				t.Errorf("field %v, want %s (%s)", e.Details["field"], tc.field, e.Message)
			}
			if tc.token != "" && e.Details["token"] != tc.token {
				t.Errorf("token %q, want %q (%s)", e.Details["token"], tc.token, e.Message)
			}
			if tc.line != 0 && e.Details["line"] != tc.line {
				t.Errorf("line %v, want %d (%s)", e.Details["line"], tc.line, e.Message)
			}
			if tc.column != 0 && e.Details["column"] != tc.column {
				t.Errorf("column %v, want %d (%s)", e.Details["column"], tc.column, e.Message)
			}
			if !strings.Contains(e.Message, tc.reason) {
				t.Errorf("message %q does not say %q", e.Message, tc.reason)
			}
		})
	}
}

func TestSMSHasOnlyText(t *testing.T) {
	for _, src := range []Source{{Channel: "sms", Subject: "x"}, {Channel: "sms", HTML: "<p>x</p>"}, {Channel: "sms", Signature: "x"}, {Channel: "fax", Text: "x"}} {
		if err := Check(src, nil); err == nil {
			t.Errorf("%+v accepted", src)
		}
	}
}

func TestRenderStopsGrowth(t *testing.T) {
	// the largest body a record holds (500 kB) of placeholders, each filled
	// with the largest custom text (10 kB): about 400 MB if nothing stopped it
	body := strings.Repeat("{{custom.note}}", 500000/len("{{custom.note}}"))
	c, err := Compile(Source{Channel: "email", HTML: body, Text: body}, testFields)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Render(Values{"custom": map[string]any{"note": strings.Repeat("x", 10000)}})
	var e *apperr.Error
	if !errors.As(err, &e) || e.Code != "template_output_too_large" {
		t.Fatalf("want template_output_too_large, got %v", err)
	}
}

func TestRenderStopsAtDeadline(t *testing.T) {
	// a clock that moves a second per look: the first write is past the
	// 250 ms deadline
	at := time.Unix(0, 0)
	clock := func() time.Time { at = at.Add(time.Second); return at }
	c, err := CompileWithLimits(Source{Channel: "email", Text: "{{first_name}} {{last_name}}"}, nil, Limits{MaxOutput: 1 << 20, Timeout: 250 * time.Millisecond, Now: clock})
	if err == nil {
		_, err = c.Render(ada)
	}
	var e *apperr.Error
	if !errors.As(err, &e) || e.Code != "template_render_timeout" {
		t.Fatalf("want template_render_timeout, got %v", err)
	}
}

func TestSegments(t *testing.T) {
	gsm := func(n int) string { return strings.Repeat("a", n) }
	cases := []struct {
		name, body string
		enc        string
		chars, seg int
	}{
		{"empty", "", "GSM-7", 0, 0},
		{"159 GSM-7", gsm(159), "GSM-7", 159, 1},
		{"160 GSM-7", gsm(160), "GSM-7", 160, 1},
		{"161 GSM-7", gsm(161), "GSM-7", 161, 2},
		{"306 GSM-7", gsm(306), "GSM-7", 306, 2},
		{"307 GSM-7", gsm(307), "GSM-7", 307, 3},
		{"euro counts two", gsm(158) + "€", "GSM-7", 160, 1},
		{"euro over the edge", gsm(159) + "€", "GSM-7", 161, 2},
		{"every extension character", "^{}\\[~]|€\f", "GSM-7", 20, 1},
		{"GSM accents", "Ça va? Ñandù é à ü", "GSM-7", 18, 1},
		{"emoji is UCS-2, two units", gsm(68) + "😀", "UCS-2", 70, 1},
		{"emoji over 70", gsm(69) + "😀", "UCS-2", 71, 2},
		{"UCS-2 134", strings.Repeat("ж", 134), "UCS-2", 134, 2},
		{"UCS-2 135", strings.Repeat("ж", 135), "UCS-2", 135, 3},
		{"curly quote switches", "it’s", "UCS-2", 4, 1},
	}
	for _, tc := range cases {
		got := Segments(tc.body)
		if got.Encoding != tc.enc || got.Characters != tc.chars || got.Segments != tc.seg {
			t.Errorf("%s: %+v, want %s %d chars %d segments", tc.name, got, tc.enc, tc.chars, tc.seg)
		}
	}
}

func TestHTMLToText(t *testing.T) {
	got := HTMLToText(`<html><head><style>p{color:red}</style></head><body><h1>Hi {{first_name | default "there"}}</h1>` +
		`<p>See <a href="https://shop.example/a?b=1&amp;c=2">our shop</a> &amp; <a href="{{unsubscribe_url}}">unsubscribe</a>.</p>` +
		`<ul><li>One</li><li>Two</li></ul><script>alert(1)</script></body></html>`)
	for _, want := range []string{`Hi {{first_name | default "there"}}`, "our shop (https://shop.example/a?b=1&c=2)", "unsubscribe ({{unsubscribe_url}})", "* One"} {
		if !strings.Contains(got, want) {
			t.Errorf("text %q does not contain %q", got, want)
		}
	}
	if strings.Contains(got, "alert") || strings.Contains(got, "color") {
		t.Errorf("script or style kept: %q", got)
	}
	// the generated text is itself a valid template
	if err := Check(Source{Channel: "email", Text: got}, testFields); err != nil {
		t.Errorf("generated text does not check: %v", err)
	}
}
