package templates

import (
	htmltemplate "html/template"
	"io"
	"strings"
	"testing"
)

// benchBody is a 5 kB newsletter with 10 placeholders (4 base fields, 4
// custom fields, a default and the unsubscribe link).
func benchBody(goSyntax bool) string {
	ph := []string{"{{first_name | default \"there\"}}", "{{last_name}}", "{{company | upper}}", "{{email}}",
		"{{custom.tier}}", "{{custom.renewal | date \"2 January 2006\"}}", "{{custom.vip}}", "{{custom.tags}}",
		"{{full_name}}", "{{unsubscribe_url}}"}
	if goSyntax {
		ph = []string{"{{.first_name | default \"there\"}}", "{{.last_name}}", "{{.company | upper}}", "{{.email}}",
			"{{.custom.tier}}", "{{.custom.renewal | date \"2 January 2006\"}}", "{{.custom.vip}}", "{{.custom.tags}}",
			"{{.full_name}}", "{{.unsubscribe_url}}"}
	}
	para := `<p style="font-family:Arial,sans-serif;font-size:15px;line-height:1.5;color:#333">Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris.</p>` + "\n"
	var b strings.Builder
	b.WriteString("<html><body>\n")
	for i := 0; b.Len() < 5000; i++ {
		b.WriteString(para)
		if i < len(ph) {
			b.WriteString("<p>" + ph[i] + "</p>\n")
		}
	}
	b.WriteString(`<a href="` + ph[9] + `">Unsubscribe</a></body></html>`)
	return b.String()
}

// BenchmarkRender renders the 5 kB body for one contact (the sending
// engine's per-message work); BenchmarkRenderBaseline is Go's html/template
// executing the same body, with the same functions, on data prepared once
// (no per-contact values, no bounds, no subject): the ratio is what the
// renderer adds around Go's executor.
func BenchmarkRender(b *testing.B) {
	c, err := Compile(Source{Channel: "email", Subject: "News for {{first_name}}", HTML: benchBody(false)}, testFields)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(benchBody(false))))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Render(ada); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "renders/s")
}

func BenchmarkRenderBaseline(b *testing.B) {
	t := htmltemplate.Must(htmltemplate.New("b").Funcs(funcs).Parse(benchBody(true)))
	c, _ := Compile(Source{Channel: "email", Text: "x"}, testFields)
	c.custom = map[string]string{"tier": "select", "renewal": "date", "vip": "boolean", "tags": "multiselect"}
	data := c.data(ada)
	b.SetBytes(int64(len(benchBody(true))))
	b.ReportAllocs()
	for b.Loop() {
		if err := t.Execute(io.Discard, data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "renders/s")
}

// BenchmarkCompile is the per-template work (parse, check, the escaping
// pass of html/template) for the same 5 kB body.
func BenchmarkCompile(b *testing.B) {
	src := Source{Channel: "email", Subject: "News for {{first_name}}", HTML: benchBody(false)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(src, testFields); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValuesFor is a contact's values for the 5 kB body: its base
// columns, and the four custom fields the body names decoded from a read
// copy of ten (the sending engine's per-message work before the render).
func BenchmarkValuesFor(b *testing.B) {
	c, err := Compile(Source{Channel: "email", Subject: "News for {{first_name}}", HTML: benchBody(false)}, testFields)
	if err != nil {
		b.Fatal(err)
	}
	k := ContactColumns{FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com", Company: "A & Co",
		Custom: `{"industry":"Engineering","tier":"gold","score":4.5,"renewal":"2027-03-01","vip":true,"tags":["a","b"],` +
			`"region":"North","source":"import","notes":"Met at the fair, wants a call in spring","mobile":"+447700900123"}`}
	b.ReportAllocs()
	for b.Loop() {
		if v := k.ValuesFor(c); len(v["custom"].(map[string]any)) != 4 {
			b.Fatalf("custom %v", v["custom"])
		}
	}
}
