package templates

import (
	"regexp"
	"strings"

	"github.com/inbucket/html2text"
)

// linkForm is how html2text writes a link, "text ( url )"; we write
// "text (url)".
var linkForm = regexp.MustCompile(`\( ((?:https?://|mailto:|tel:|\{\{)[^\s()]*(?:\}\})?) \)`)

// HTMLToText is the text part of an HTML body: headings, paragraphs and
// lists as text, links kept as "text (url)", scripts and styles dropped.
// Placeholders pass through unchanged (the text part is a template too).
func HTMLToText(html string) string {
	out, err := html2text.FromString(html, html2text.Options{})
	if err != nil {
		// the parser of golang.org/x/net/html accepts any input; keep the
		// text part usable even so
		return strings.TrimSpace(html)
	}
	return linkForm.ReplaceAllString(out, "($1)")
}
