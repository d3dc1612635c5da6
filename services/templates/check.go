package templates

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/template/parse"

	"github.com/pi-crm/pi-crm/services/apperr"
)

// CodeInvalid is the error of a template that cannot be rendered: a syntax
// error, an unknown placeholder, custom field or function, or a construct the
// language does not have. Details: field, line, column, token, reason.
const CodeInvalid = "template_invalid"

// Fields are a workspace's custom fields: name → type.
type Fields map[string]string

// problem is where and why a part of a template is refused.
type problem struct {
	field, token, reason string
	line, column         int
}

func (p problem) err() *apperr.Error {
	where := p.field
	if p.line > 0 {
		where += fmt.Sprintf(" line %d", p.line)
		if p.column > 0 {
			where += fmt.Sprintf(", column %d", p.column)
		}
	}
	e := apperr.BadRequest(CodeInvalid, where+": "+p.reason).
		With("field", p.field).With("line", p.line).With("column", p.column).With("reason", p.reason)
	return e.With("token", p.token)
}

// parsePart parses one part of a template (subject, body_html, …) with Go's
// own parser and turns our names into the data lookups the executor knows:
// first_name → .first_name, custom.tier → .custom.tier. Everything else is
// checked against the allow-list (see the package comment). It returns the
// tree ready for text/template or html/template, and the custom fields used.
func parsePart(field, src string, fields Fields) (*parse.Tree, []string, *problem) {
	t := parse.New(field)
	t.Mode = parse.SkipFuncCheck
	set := map[string]*parse.Tree{}
	if _, err := t.Parse(src, "", "", set); err != nil {
		p := parseProblem(field, src, err)
		return nil, nil, &p
	}
	for name := range set {
		if name != field {
			p := locate(field, src, strings.Index(src, "define"), "define", "{{define}}, {{block}} and {{template}} are not part of the language")
			return nil, nil, &p
		}
	}
	w := walker{field: field, src: src, fields: fields}
	if t.Root != nil {
		w.list(t.Root)
	}
	if w.bad != nil {
		return nil, nil, w.bad
	}
	return t, w.custom, nil
}

type walker struct {
	field, src string
	fields     Fields
	custom     []string
	bad        *problem
}

func (w *walker) fail(n parse.Node, token, reason string) {
	if w.bad == nil {
		p := locate(w.field, w.src, int(n.Position()), token, reason)
		w.bad = &p
	}
}

func (w *walker) list(l *parse.ListNode) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		switch x := n.(type) {
		case *parse.TextNode, *parse.CommentNode:
		case *parse.ActionNode:
			w.pipe(x.Pipe)
		case *parse.IfNode:
			w.pipe(x.Pipe)
			w.list(x.List)
			w.list(x.ElseList)
		case *parse.RangeNode:
			w.fail(n, "range", "{{range}} is not part of the language: a template does not loop")
		case *parse.WithNode:
			w.fail(n, "with", "{{with}} is not part of the language: use {{if}}")
		case *parse.TemplateNode:
			w.fail(n, "template", "{{template}} is not part of the language")
		case *parse.BreakNode, *parse.ContinueNode:
			w.fail(n, n.String(), n.String()+" is not part of the language")
		default:
			w.fail(n, n.String(), "not part of the language")
		}
		if w.bad != nil {
			return
		}
	}
}

// pipe checks a pipeline: a value or a function call, then functions the
// value is piped into.
func (w *walker) pipe(p *parse.PipeNode) {
	if len(p.Decl) > 0 {
		w.fail(p, "$"+strings.TrimPrefix(p.Decl[0].Ident[0], "$"), "variables are not part of the language")
		return
	}
	for i, cmd := range p.Cmds {
		w.command(cmd, i > 0)
		if w.bad != nil {
			return
		}
	}
}

func (w *walker) command(cmd *parse.CommandNode, piped bool) {
	if len(cmd.Args) == 0 {
		w.fail(cmd, "", "empty action")
		return
	}
	head := cmd.Args[0]
	if id, ok := head.(*parse.IdentifierNode); ok {
		if f, ok := functionByName(id.Ident); ok {
			n := len(cmd.Args) - 1
			if piped {
				n++
			}
			if (f.arity >= 0 && n != f.arity) || (f.arity == -2 && n < 2) {
				w.fail(id, id.Ident, fmt.Sprintf("%s takes %s (%s)", f.Name, arityText(f.arity), f.Usage))
				return
			}
			for i, a := range cmd.Args[1:] {
				cmd.Args[i+1] = w.operand(a)
				if w.bad != nil {
					return
				}
			}
			return
		}
	}
	if piped {
		w.fail(head, head.String(), fmt.Sprintf("%q is not a function: after | comes one of %s", head.String(), functionNames()))
		return
	}
	if id, ok := head.(*parse.IdentifierNode); ok && len(cmd.Args) > 1 && !isVariable(id.Ident) {
		w.fail(head, id.Ident, fmt.Sprintf("unknown function %q: the functions are %s", id.Ident, functionNames()))
		return
	}
	if len(cmd.Args) > 1 {
		w.fail(cmd.Args[1], cmd.Args[1].String(), fmt.Sprintf("%s is a value, not a function: use a | to pass it to one", head.String()))
		return
	}
	cmd.Args[0] = w.operand(head)
}

// operand checks one value and returns it as the executor reads it.
func (w *walker) operand(n parse.Node) parse.Node {
	switch x := n.(type) {
	case *parse.StringNode, *parse.NumberNode, *parse.BoolNode:
		return n
	case *parse.PipeNode:
		w.pipe(x)
		return n
	case *parse.IdentifierNode:
		return w.name(n, []string{x.Ident})
	case *parse.ChainNode:
		if id, ok := x.Node.(*parse.IdentifierNode); ok {
			return w.name(n, append([]string{id.Ident}, x.Field...))
		}
	case *parse.FieldNode:
		// {{.first_name}} is accepted as the Go spelling of {{first_name}}
		return w.name(n, x.Ident)
	case *parse.DotNode:
		w.fail(n, ".", "the dot is not part of the language: name a placeholder, e.g. {{first_name}}")
		return n
	case *parse.VariableNode:
		w.fail(n, x.String(), "variables are not part of the language")
		return n
	case *parse.NilNode:
		w.fail(n, "nil", "nil is not part of the language")
		return n
	}
	w.fail(n, n.String(), "not part of the language")
	return n
}

// name resolves a placeholder path: a base variable, or custom.<field>.
func (w *walker) name(n parse.Node, path []string) parse.Node {
	token := strings.Join(path, ".")
	field := func(ident ...string) parse.Node {
		return &parse.FieldNode{NodeType: parse.NodeField, Pos: n.Position(), Ident: ident}
	}
	switch {
	case len(path) == 1 && isVariable(path[0]):
		return field(path[0])
	case len(path) == 1 && path[0] == "custom":
		w.fail(n, token, "name the custom field: {{custom.<field>}}")
	case len(path) == 2 && path[0] == "custom":
		if _, ok := w.fields[path[1]]; ok {
			w.custom = append(w.custom, path[1])
			return field("custom", path[1])
		}
		w.fail(n, token, fmt.Sprintf("unknown custom field %q%s", path[1], suggest(path[1], w.fieldNames(), "custom.")))
	case len(path) == 1:
		if _, ok := funcs[path[0]]; ok || path[0] == "and" || path[0] == "or" || path[0] == "not" {
			w.fail(n, token, fmt.Sprintf("%s is a function; a placeholder is expected here", path[0]))
			break
		}
		w.fail(n, token, fmt.Sprintf("unknown placeholder %q%s", token, suggest(token, variableNames(), "")))
	default:
		w.fail(n, token, fmt.Sprintf("unknown placeholder %q", token))
	}
	return n
}

func (w *walker) fieldNames() []string {
	out := make([]string, 0, len(w.fields))
	for name := range w.fields {
		out = append(out, name)
	}
	return out
}

func isVariable(name string) bool {
	for _, v := range Variables {
		if v.Name == name {
			return true
		}
	}
	return false
}

func variableNames() []string {
	out := make([]string, len(Variables))
	for i, v := range Variables {
		out[i] = v.Name
	}
	return out
}

func functionNames() string {
	out := make([]string, len(Functions))
	for i, f := range Functions {
		out[i] = f.Name
	}
	return strings.Join(out, ", ")
}

func arityText(n int) string {
	switch n {
	case -2:
		return "two or more values"
	case 1:
		return "one value"
	}
	return strconv.Itoa(n) + " values"
}

// suggest names the closest known name when it is a likely typo (at most
// two edits away); prefix is written before it ("custom.").
func suggest(got string, known []string, prefix string) string {
	best, dist := "", 3
	for _, k := range known {
		if d := levenshtein(got, k); d < dist {
			best, dist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s%s?)", prefix, best)
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// parseErr is Go's parse error: "template: NAME:LINE: message".
var parseErr = regexp.MustCompile(`^template: [^:]*:(\d+):\s*(.*)$`)
var quoted = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"|<(.+?)>`)

func parseProblem(field, src string, err error) problem {
	msg := err.Error()
	line, reason := 0, msg
	if m := parseErr.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		reason = m[2]
	}
	token := ""
	if m := quoted.FindStringSubmatch(reason); m != nil {
		token = m[1] + m[2]
	}
	reason = strings.ReplaceAll(reason, "unexpected EOF", "the template ends inside {{ }}")
	p := problem{field: field, line: line, token: token, reason: reason}
	// the parser names the line only; the column is where the token first
	// appears on it
	if line > 0 && token != "" {
		lines := strings.Split(src, "\n")
		if line <= len(lines) {
			if i := strings.Index(lines[line-1], token); i >= 0 {
				p.column = len([]rune(lines[line-1][:i])) + 1
			}
		}
	}
	return p
}

// locate is a problem at byte offset pos of src. Go's parser places some
// nodes past their first word (a chain at its field, {{range}} at its
// pipeline): the token is looked up from the action's "{{" on.
func locate(field, src string, pos int, token, reason string) problem {
	p := problem{field: field, token: token, reason: reason}
	if pos < 0 || pos > len(src) {
		return p
	}
	if token != "" {
		if open := strings.LastIndex(src[:pos], "{{"); open >= 0 {
			if i := strings.Index(src[open:], token); i >= 0 && open+i <= pos+len(token) {
				pos = open + i
			}
		}
	}
	before := src[:pos]
	p.line = strings.Count(before, "\n") + 1
	if i := strings.LastIndex(before, "\n"); i >= 0 {
		before = before[i+1:]
	}
	p.column = len([]rune(before)) + 1
	return p
}
