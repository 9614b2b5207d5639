package reports

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/selfevals/selfevals/internal/lazy"
)

// What an agent answers, and what a grader says about it, is text anyone
// with a pull request can choose. In the comment it must stay text: no
// fence, HTML tag or link may end a section early, hide the verdict, load
// an image, or mention (notify) anyone.

// maxExcerpt and maxExcerptLines bound an answer's excerpt.
const (
	maxExcerpt      = 400
	maxExcerptLines = 12
)

// stripControls drops control characters (but line breaks and tabs) and the
// bidirectional overrides that can make text read otherwise than it is.
func stripControls(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t':
			return r
		case r == '\r':
			return -1
		case unicode.IsControl(r), r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069, r == 0xFEFF:
			return -1
		}
		return r
	}, s)
}

// mention is an @ that GitHub could read as a mention (@user, @org/team):
// one that starts a word. Inside a word (pass@1, an e-mail address) it is
// not one, and is left alone.
var mention = lazy.Regexp(`(^|[^A-Za-z0-9_.@-])@([A-Za-z0-9])`)

// noMentions puts a zero-width space after each @ that starts a name:
// it reads the same and notifies no one.
func noMentions(s string) string { return mention().ReplaceAllString(s, "$1@\u200b$2") }

var markdownEscaper = strings.NewReplacer(
	"&", "&amp;", "<", "&lt;", ">", "&gt;",
	`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`,
	"(", `\(`, ")", `\)`, "!", `\!`, "~", `\~`, "#", `\#`, "|", `\|`, ":", `\:`,
)

// safeText is untrusted text on one line, at most max runes, for a table
// cell or a sentence: HTML and markdown punctuation escaped, mentions
// neutralized.
func safeText(s string, max int) string {
	return noMentions(markdownEscaper.Replace(clip(oneLine(stripControls(s)), max)))
}

var preEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "`", "&#96;", "~", "&#126;")

// excerptBlock is the start of an answer in a <pre> block: at most
// maxExcerpt runes and maxExcerptLines lines, HTML escaped (so it cannot
// close the block or a section), backticks and tildes as entities (so no
// line reads as a fence to GitHub or to FitComment), mentions neutralized.
func excerptBlock(s string) string {
	s = strings.TrimSpace(stripControls(s))
	total := len([]rune(s))
	lines := strings.Split(s, "\n")
	if len(lines) > maxExcerptLines {
		s = strings.Join(lines[:maxExcerptLines], "\n")
	}
	if r := []rune(s); len(r) > maxExcerpt {
		s = string(r[:maxExcerpt])
	}
	more := ""
	if n := total - len([]rune(s)); n > 0 {
		more = fmt.Sprintf("\n… (%s more)", plural(n, "character"))
	}
	if s == "" {
		s = "(empty answer)"
	}
	return "<pre>" + noMentions(preEscaper.Replace(s)) + more + "</pre>"
}
