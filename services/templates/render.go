package templates

import (
	"bytes"
	"errors"
	htmltemplate "html/template"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	texttemplate "text/template"
	"text/template/parse"
	"time"

	"github.com/pi-crm/pi-crm/services/apperr"
)

// Source is a template's content as it is stored.
type Source struct {
	Channel   string // "email" or "sms"
	Subject   string
	Preheader string
	HTML      string
	Text      string
	Signature string
}

// Message is a template rendered for one contact.
type Message struct {
	Subject   string  `json:"subject"`
	Preheader string  `json:"preheader"`
	HTML      string  `json:"html"`
	Text      string  `json:"text"`
	SMS       SMSInfo `json:"sms"`
}

// Limits bound one render: its output and its time. A template cannot loop,
// so its time is linear in its size and values; the bounds stop what is still
// too big (a 500 kB body of placeholders each filled with 10 kB).
type Limits struct {
	MaxOutput int           // bytes per part
	Timeout   time.Duration // per render
	Now       func() time.Time
}

// DefaultLimits: far above any real email (Gmail clips at 102 kB), far below
// what would hurt the sending engine.
var DefaultLimits = Limits{MaxOutput: 2 << 20, Timeout: 250 * time.Millisecond, Now: time.Now}

// Errors of a render. They are the data's fault only through size: every
// function of the language accepts every value.
var (
	ErrOutputTooLarge = apperr.New(http.StatusUnprocessableEntity, "template_output_too_large", "the rendered message is larger than the limit")
	ErrRenderTimeout  = apperr.New(http.StatusUnprocessableEntity, "template_render_timeout", "rendering the message took longer than the limit")
)

// executor is a compiled part (nil: the part is empty).
type executor interface {
	Execute(io.Writer, any) error
}

// Compiled is a checked template ready to render many contacts: compile once
// per template, render per contact (concurrently safe).
type Compiled struct {
	channel                      string
	subject, preheader, text, sg executor
	html                         executor
	// the same parts for fastPart (nil: that part renders with its executor)
	fastSubject, fastPreheader, fastText, fastSg, fastHTML *fastPart
	custom                                                 map[string]string // custom fields used → type
	limits                                                 Limits
	sizeHint                                               int // the largest part's source: the output is about as large
}

// part names, as the record's fields and the errors call them
const (
	partSubject   = "subject"
	partPreheader = "preheader"
	partHTML      = "body_html"
	partText      = "body_text"
	partSignature = "signature"
)

// Check reports whether src can be rendered: nil, or a 400 template_invalid
// naming the part, line, column and token.
func Check(src Source, fields Fields) error {
	_, err := Compile(src, fields)
	return err
}

// Compile checks src against the workspace's custom fields and prepares it.
func Compile(src Source, fields Fields) (*Compiled, error) {
	return CompileWithLimits(src, fields, DefaultLimits)
}

// CompileWithLimits is Compile with other bounds (tests).
func CompileWithLimits(src Source, fields Fields, limits Limits) (*Compiled, error) {
	if limits.Now == nil {
		limits.Now = time.Now
	}
	c := &Compiled{channel: src.Channel, custom: map[string]string{}, limits: limits,
		sizeHint: max(len(src.HTML), len(src.Text)) + 512}
	switch src.Channel {
	case "email":
	case "sms":
		for _, p := range []struct{ name, value string }{{partSubject, src.Subject}, {partPreheader, src.Preheader}, {partHTML, src.HTML}, {partSignature, src.Signature}} {
			if strings.TrimSpace(p.value) != "" {
				return nil, problem{field: p.name, reason: "an SMS template has only a text body (body_text)"}.err()
			}
		}
	default:
		return nil, problem{field: "channel", reason: `channel must be "email" or "sms"`}.err()
	}
	if src.HTML != "" {
		// first: a text part generated from the HTML repeats its mistakes,
		// which are the HTML's to report
		t, err := c.parse(partHTML, src.HTML, fields)
		if err != nil {
			return nil, err
		}
		h, e := htmltemplate.New(partHTML).Funcs(funcs).AddParseTree(partHTML, t)
		if e != nil {
			return nil, problem{field: partHTML, reason: e.Error()}.err()
		}
		c.html = h
	}
	var err error
	text := func(part, s string) executor {
		if err != nil || s == "" {
			return nil
		}
		var t *parse.Tree
		if t, err = c.parse(part, s, fields); err != nil {
			return nil
		}
		tt, e := texttemplate.New(part).Funcs(funcs).AddParseTree(part, t)
		if e != nil {
			err = problem{field: part, reason: e.Error()}.err()
			return nil
		}
		return tt
	}
	c.subject = text(partSubject, src.Subject)
	c.preheader = text(partPreheader, src.Preheader)
	c.text = text(partText, src.Text)
	c.sg = text(partSignature, src.Signature)
	if err != nil {
		return nil, err
	}
	// html/template escapes a tree on its first execution: its errors
	// (an {{if}} that ends in another HTML context than it began, a
	// placeholder inside a tag name) surface now, at save time, not at send
	if _, err := c.render(Values{}, false); err != nil {
		var ee *htmltemplate.Error
		if errors.As(err, &ee) {
			p := problem{field: partHTML, line: ee.Line, reason: strings.TrimPrefix(ee.Description, "html/template:")}
			if ee.Node != nil {
				p = locate(partHTML, src.HTML, int(ee.Node.Position()), ee.Node.String(), p.reason)
			}
			return nil, p.err()
		}
		return nil, err
	}
	// after the trial render: html/template has escaped the HTML tree
	c.fastSubject, c.fastPreheader, c.fastText, c.fastSg, c.fastHTML =
		fastOf(c.subject), fastOf(c.preheader), fastOf(c.text), fastOf(c.sg), fastOf(c.html)
	return c, nil
}

// fastOf is the fastPart of a compiled part, nil when it has none.
func fastOf(e executor) *fastPart {
	switch t := e.(type) {
	case *htmltemplate.Template:
		return newFastPart(t.Tree)
	case *texttemplate.Template:
		return newFastPart(t.Tree)
	}
	return nil
}

func (c *Compiled) parse(part, s string, fields Fields) (*parse.Tree, error) {
	t, used, p := parsePart(part, s, fields)
	if p != nil {
		return nil, p.err()
	}
	for _, name := range used {
		c.custom[name] = fields[name]
	}
	return t, nil
}

// Values are what a template is rendered with: the contact's base fields by
// name (first_name, …), its custom values under "custom" (a map, as the
// contact's read copy holds them: strings, numbers, booleans, lists), and the
// links the sender fills in (unsubscribe_url).
type Values map[string]any

// data is Values as the executor reads them: every placeholder the template
// may name is present (a missing one is empty, never "<no value>"), custom
// values in their canonical text form.
func (c *Compiled) data(v Values) map[string]any {
	d := make(map[string]any, len(Variables)+1)
	for _, vr := range Variables {
		d[vr.Name] = text(v[vr.Name])
	}
	if d["full_name"] == "" {
		d["full_name"] = strings.TrimSpace(d["first_name"].(string) + " " + d["last_name"].(string))
	}
	given, _ := v["custom"].(map[string]any)
	custom := make(map[string]any, len(c.custom))
	for name, typ := range c.custom {
		custom[name] = canonical(typ, given[name])
	}
	d["custom"] = custom
	return d
}

// canonical is a custom value in the form a template writes: booleans as
// Bool (yes/no, false in an {{if}}), multiselects as List ("a, b"), numbers
// without exponent or trailing zeros, dates as stored (YYYY-MM-DD, for date).
func canonical(typ string, v any) any {
	switch typ {
	case "boolean":
		switch x := v.(type) {
		case bool:
			return Bool(x)
		case string:
			b, err := strconv.ParseBool(x)
			if err != nil {
				return x
			}
			return Bool(b)
		}
	case "multiselect":
		switch x := v.(type) {
		case []any:
			l := make(List, 0, len(x))
			for _, item := range x {
				l = append(l, text(item))
			}
			return l
		case []string:
			return List(x)
		}
	}
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return Bool(x)
	}
	return text(v)
}

// Render renders the template for one contact's values.
func (c *Compiled) Render(v Values) (Message, error) { return c.render(v, true) }

// render is Render; without the deadline for the trial render of Compile,
// whose first execution of the HTML part is html/template's escaping pass
// (compile work, a quarter of a second for the largest body).
func (c *Compiled) render(v Values, deadline bool) (Message, error) {
	d := c.data(v)
	w := writers.Get().(*boundedWriter)
	defer writers.Put(w)
	*w = boundedWriter{buf: w.buf, max: c.limits.MaxOutput, now: c.limits.Now}
	w.buf.Grow(c.sizeHint)
	if deadline {
		w.deadline = c.limits.Now().Add(c.limits.Timeout)
	}
	var m Message
	var err error
	exec := func(t executor, fast *fastPart) string {
		if err != nil || t == nil {
			return ""
		}
		if fast != nil {
			w.buf.Reset()
			w.n = 0
			ok, e := fast.render(d, w)
			if e != nil {
				err = e
				return ""
			}
			if ok {
				return w.buf.String()
			}
		}
		w.buf.Reset()
		w.n = 0
		if e := t.Execute(w, d); e != nil {
			err = e
			if w.err != nil {
				err = w.err
			}
			return ""
		}
		return w.buf.String()
	}
	m.Subject = exec(c.subject, c.fastSubject)
	m.Preheader = exec(c.preheader, c.fastPreheader)
	m.Text = exec(c.text, c.fastText)
	signature := exec(c.sg, c.fastSg)
	m.HTML = exec(c.html, c.fastHTML)
	if err != nil {
		return Message{}, err
	}
	if signature != "" {
		m.Text = appendText(m.Text, signature)
		if m.HTML != "" {
			m.HTML = insertBeforeBodyEnd(m.HTML, `<div class="signature">`+textToHTML(signature)+`</div>`)
		}
	}
	if m.Preheader != "" && m.HTML != "" {
		m.HTML = insertAfterBodyStart(m.HTML, `<div style="display:none;max-height:0;overflow:hidden;mso-hide:all">`+htmltemplate.HTMLEscapeString(m.Preheader)+`</div>`)
	}
	if c.channel == "sms" {
		m.SMS = Segments(m.Text)
	}
	return m, nil
}

// writers keeps the render buffers between renders (the sending engine
// renders one template for many contacts: the buffer is the largest
// allocation of a render).
var writers = sync.Pool{New: func() any { return new(boundedWriter) }}

// boundedWriter stops a render that writes more than max bytes or runs past
// its deadline (checked on every write: the executor writes once per text
// node and action).
type boundedWriter struct {
	buf      bytes.Buffer
	n, max   int
	writes   int
	now      func() time.Time
	deadline time.Time
	err      error
}

func (w *boundedWriter) Write(p []byte) (int, error) {
	if err := w.admit(len(p)); err != nil {
		return 0, err
	}
	return w.buf.Write(p)
}

// WriteString is Write for the fast renderer (fast.go), with the same bounds.
func (w *boundedWriter) WriteString(s string) (int, error) {
	if err := w.admit(len(s)); err != nil {
		return 0, err
	}
	return w.buf.WriteString(s)
}

// admit checks a write of n bytes against the bounds.
func (w *boundedWriter) admit(n int) error {
	w.n += n
	if w.max > 0 && w.n > w.max {
		w.err = ErrOutputTooLarge.With("limit_bytes", w.max)
		return w.err
	}
	// the clock is read every 32nd write: a look costs as much as a short
	// write, and a render cannot stall between writes (it does not loop)
	w.writes++
	if !w.deadline.IsZero() && w.writes%32 == 1 && w.now().After(w.deadline) {
		w.err = ErrRenderTimeout
		return w.err
	}
	return nil
}

func appendText(body, signature string) string {
	if body == "" {
		return signature
	}
	return strings.TrimRight(body, "\n") + "\n\n-- \n" + signature
}

func textToHTML(s string) string {
	return strings.ReplaceAll(htmltemplate.HTMLEscapeString(s), "\n", "<br>\n")
}

// insertBeforeBodyEnd puts s before the last </body>, or at the end.
func insertBeforeBodyEnd(html, s string) string {
	if i := lastIndexFold(html, "</body"); i >= 0 {
		return html[:i] + s + html[i:]
	}
	return html + s
}

// insertAfterBodyStart puts s right after the opening <body …>, or first.
func insertAfterBodyStart(html, s string) string {
	if i := indexFold(html, "<body"); i >= 0 {
		if j := strings.IndexByte(html[i:], '>'); j >= 0 {
			at := i + j + 1
			return html[:at] + s + html[at:]
		}
	}
	return s + html
}

func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

func lastIndexFold(s, sub string) int {
	for i := len(s) - len(sub); i >= 0; i-- {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}
