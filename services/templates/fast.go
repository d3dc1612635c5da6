package templates

import (
	"strconv"
	"strings"
	"text/template/parse"
)

// The sending engine renders one template for every recipient of a
// campaign, and text/template's executor calls every function of a
// pipeline — html/template's escapers included — through reflection: at
// 100,000 messages that was half of a render's time and a tenth of a whole
// send's CPU. A fastPart walks the same parse tree the executor runs (for
// HTML the tree html/template has already escaped, so the escapers it chose
// for each context are in it) and calls the language's functions and the
// escapers of the plain contexts directly.
//
// It runs only what it knows exactly: text, actions, {{if}}/{{else}},
// string and boolean literals, placeholders, the language's functions and
// the escapers of HTML text, quoted attributes, RCDATA, URLs and comments. A tree with
// anything else (a number literal, a CSS or JavaScript context) gets no
// fastPart and renders through the executor, and so does a render that
// meets a value it does not know (ok false). The escapers below restate
// html/template's for plain-text values; TestFastRenderMatchesExecutor and
// FuzzFastRender compare both renderers' output byte for byte, so a Go
// release that changes html/template's escaping fails a test rather than
// changing what goes out.

// fastPart is one compiled part (nil: render it with the executor).
type fastPart struct{ root *parse.ListNode }

// newFastPart returns a fastPart for tree, or nil when tree holds
// something fastPart does not run.
func newFastPart(tree *parse.Tree) *fastPart {
	if tree == nil || tree.Root == nil || !fastList(tree.Root) {
		return nil
	}
	return &fastPart{root: tree.Root}
}

func fastList(l *parse.ListNode) bool {
	if l == nil {
		return true
	}
	for _, n := range l.Nodes {
		switch x := n.(type) {
		case *parse.TextNode, *parse.CommentNode:
		case *parse.ActionNode:
			if !fastPipe(x.Pipe) {
				return false
			}
		case *parse.IfNode:
			if !fastPipe(x.Pipe) || !fastList(x.List) || !fastList(x.ElseList) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func fastPipe(p *parse.PipeNode) bool {
	if p == nil || len(p.Decl) > 0 || len(p.Cmds) == 0 {
		return false
	}
	for i, cmd := range p.Cmds {
		if len(cmd.Args) == 0 {
			return false
		}
		if id, ok := cmd.Args[0].(*parse.IdentifierNode); ok {
			if _, known := fastFuncs[id.Ident]; !known {
				return false
			}
			for _, a := range cmd.Args[1:] {
				if !fastOperand(a) {
					return false
				}
			}
			continue
		}
		if i > 0 || len(cmd.Args) > 1 || !fastOperand(cmd.Args[0]) {
			return false
		}
	}
	return true
}

func fastOperand(n parse.Node) bool {
	switch x := n.(type) {
	case *parse.StringNode, *parse.BoolNode:
		return true
	case *parse.FieldNode:
		return len(x.Ident) == 1 || (len(x.Ident) == 2 && x.Ident[0] == "custom")
	case *parse.PipeNode:
		return fastPipe(x)
	}
	return false
}

// fastRun is one render of a part into w.
type fastRun struct {
	d  map[string]any
	w  *boundedWriter
	ok bool // false: a value or node fastPart does not know; render with the executor
}

// render writes the part for d into w: ok false means fall back to the
// executor (nothing written can be kept), err is the writer's (the limits).
func (f *fastPart) render(d map[string]any, w *boundedWriter) (ok bool, err error) {
	r := fastRun{d: d, w: w, ok: true}
	err = r.list(f.root)
	return r.ok, err
}

func (r *fastRun) write(s string) error {
	_, err := r.w.WriteString(s)
	return err
}

func (r *fastRun) list(l *parse.ListNode) error {
	if l == nil {
		return nil
	}
	for _, n := range l.Nodes {
		if !r.ok {
			return nil
		}
		switch x := n.(type) {
		case *parse.TextNode:
			// as bytes: string(x.Text) copied every text node of every
			// message (a third of a 100,000-message send's allocations)
			if _, err := r.w.Write(x.Text); err != nil {
				return err
			}
		case *parse.CommentNode:
		case *parse.ActionNode:
			s, ok := printed(r.pipe(x.Pipe))
			if !ok {
				r.ok = false
				return nil
			}
			if err := r.write(s); err != nil {
				return err
			}
		case *parse.IfNode:
			v := r.pipe(x.Pipe)
			if !r.ok {
				return nil
			}
			t, known := truth(v)
			if !known {
				r.ok = false
				return nil
			}
			branch := x.ElseList
			if t {
				branch = x.List
			}
			if err := r.list(branch); err != nil {
				return err
			}
		default:
			r.ok = false
		}
	}
	return nil
}

func (r *fastRun) pipe(p *parse.PipeNode) any {
	var v any
	for i, cmd := range p.Cmds {
		if !r.ok {
			return nil
		}
		v = r.command(cmd, v, i > 0)
	}
	return v
}

// command runs one command of a pipeline; as in text/template, the value
// piped in is the function's last argument.
func (r *fastRun) command(cmd *parse.CommandNode, piped any, hasPiped bool) any {
	id, ok := cmd.Args[0].(*parse.IdentifierNode)
	if !ok {
		return r.operand(cmd.Args[0])
	}
	args := make([]any, 0, len(cmd.Args))
	for _, a := range cmd.Args[1:] {
		args = append(args, r.operand(a))
	}
	if hasPiped {
		args = append(args, piped)
	}
	if !r.ok {
		return nil
	}
	v, ok := fastFuncs[id.Ident](args)
	if !ok {
		r.ok = false
	}
	return v
}

func (r *fastRun) operand(n parse.Node) any {
	switch x := n.(type) {
	case *parse.StringNode:
		return x.Text
	case *parse.BoolNode:
		return x.True
	case *parse.FieldNode:
		v, found := r.d[x.Ident[0]]
		if found && len(x.Ident) == 2 {
			m, isMap := v.(map[string]any)
			if !isMap {
				r.ok = false
				return nil
			}
			v, found = m[x.Ident[1]]
		}
		if !found || v == nil {
			// the executor prints "<no value>" here; data() puts every
			// placeholder in, so this is a value fastPart leaves to it
			r.ok = false
		}
		return v
	case *parse.PipeNode:
		return r.pipe(x)
	}
	r.ok = false
	return nil
}

// fastFuncs are the language's functions (funcs, called with the same
// arguments as the executor passes them), text/template's and, or and
// not, and html/template's escapers of the plain contexts. ok false: an
// argument the function is not known to handle like the executor.
var fastFuncs = map[string]func(args []any) (any, bool){
	"default": func(a []any) (any, bool) {
		if len(a) != 2 {
			return nil, false
		}
		return funcs["default"].(func(any, any) any)(a[0], a[1]), true
	},
	"upper": oneString("upper"),
	"lower": oneString("lower"),
	"title": oneString("title"),
	"date": func(a []any) (any, bool) {
		if len(a) != 2 {
			return nil, false
		}
		return funcs["date"].(func(any, any) string)(a[0], a[1]), true
	},
	"eq":  twoBool("eq"),
	"ne":  twoBool("ne"),
	"and": firstWhose(false),
	"or":  firstWhose(true),
	"not": func(a []any) (any, bool) {
		if len(a) != 1 {
			return nil, false
		}
		t, known := truth(a[0])
		return !t, known
	},
	"_html_template_htmlescaper":   escaper(escapeHTML),
	"_html_template_attrescaper":   escaper(escapeHTML),
	"_html_template_rcdataescaper": escaper(escapeHTML),
	"_html_template_urlfilter":     escaper(filterURL),
	"_html_template_urlnormalizer": escaper(func(s string) string { return processURL(s, true) }),
	"_html_template_urlescaper":    escaper(func(s string) string { return processURL(s, false) }),
	// inside an HTML comment, which html/template drops: nothing
	"_html_template_commentescaper": escaper(func(string) string { return "" }),
}

// firstWhose is text/template's and (stop false) and or (stop true): the
// first argument whose truth is stop, else the last.
func firstWhose(stop bool) func([]any) (any, bool) {
	return func(a []any) (any, bool) {
		if len(a) == 0 {
			return nil, false
		}
		for _, v := range a[:len(a)-1] {
			if t, known := truth(v); !known || t == stop {
				return v, known
			}
		}
		return a[len(a)-1], true
	}
}

func oneString(name string) func([]any) (any, bool) {
	f := funcs[name].(func(any) string)
	return func(a []any) (any, bool) {
		if len(a) != 1 {
			return nil, false
		}
		return f(a[0]), true
	}
}

func twoBool(name string) func([]any) (any, bool) {
	f := funcs[name].(func(any, any) bool)
	return func(a []any) (any, bool) {
		if len(a) != 2 {
			return nil, false
		}
		return f(a[0], a[1]), true
	}
}

// escaper is an html/template escaper of plain text: its one argument as
// html/template's stringify reads it (a string as it is, a Bool, List or
// bool by its text), then escaped.
func escaper(escape func(string) string) func([]any) (any, bool) {
	return func(a []any) (any, bool) {
		if len(a) != 1 {
			return nil, false
		}
		s, ok := printed(a[0])
		if !ok {
			return nil, false
		}
		return escape(s), true
	}
}

// printed is a value as the executor prints it (and as html/template's
// stringify reads it) for the types the language's values and functions
// have; ok false for any other.
func printed(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case Bool:
		return x.String(), true
	case List:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// truth is text/template's truth for the language's values: a non-empty
// string or list, a true boolean; known false for a value of another type.
func truth(v any) (t, known bool) {
	switch x := v.(type) {
	case string:
		return x != "", true
	case Bool:
		return bool(x), true
	case bool:
		return x, true
	case List:
		return len(x) > 0, true
	}
	return false, false
}

// escapeHTML is html/template's htmlReplacer with htmlReplacementTable for
// a plain-text value: NUL and "&'+<> replaced. Every replaced character is
// ASCII, so a byte loop finds the same ones the rune loop does (an invalid
// UTF-8 byte is left as it is by both).
func escapeHTML(s string) string {
	i := strings.IndexFunc(s, func(r rune) bool { return r < 0x80 && htmlEscapes[r] != "" })
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x80 && htmlEscapes[c] != "" {
			b.WriteString(htmlEscapes[c])
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

var htmlEscapes = [0x80]string{0: "\uFFFD", '"': "&#34;", '&': "&amp;", '\'': "&#39;", '+': "&#43;", '<': "&lt;", '>': "&gt;"}

// filterURL is html/template's urlFilter: a URL whose scheme is not http,
// https or mailto becomes "#ZgotmplZ".
func filterURL(s string) string {
	if protocol, _, ok := strings.Cut(s, ":"); ok && !strings.Contains(protocol, "/") {
		if !strings.EqualFold(protocol, "http") && !strings.EqualFold(protocol, "https") && !strings.EqualFold(protocol, "mailto") {
			return "#ZgotmplZ"
		}
	}
	return s
}

// processURL is html/template's processURLOnto: every byte but the
// unreserved ones (and, when normalising, the reserved ones and valid
// %-escapes) percent-encoded in lower-case hex.
func processURL(s string, norm bool) string {
	var b strings.Builder
	written := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '!', '#', '$', '&', '*', '+', ',', '/', ':', ';', '=', '?', '@', '[', ']':
			if norm {
				continue
			}
		case '-', '.', '_', '~':
			continue
		case '%':
			if norm && i+2 < len(s) && isHexDigit(s[i+1]) && isHexDigit(s[i+2]) {
				continue
			}
		default:
			if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
				continue
			}
		}
		if written == 0 {
			b.Grow(len(s) + 16)
		}
		b.WriteString(s[written:i])
		b.WriteByte('%')
		b.WriteByte(lowerHex[c>>4])
		b.WriteByte(lowerHex[c&0xf])
		written = i + 1
	}
	if written == 0 {
		return s
	}
	b.WriteString(s[written:])
	return b.String()
}

const lowerHex = "0123456789abcdef"

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
