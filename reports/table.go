package reports

import (
	"fmt"
	"math"
	"strings"

	"github.com/goccy/go-json"

	"github.com/selfevals/selfevals/repo"
)

// The pieces every text report is built from: markdown tables, cell
// escaping, and how numbers, signs, plurals and long text are written.
// Where two reports have always written a thing differently, both ways are
// here, named or parameterized, so each report keeps its exact output.

// dash stands in a cell for a value that is missing.
const dash = "—"

// table writes a markdown table into a builder.
type table struct {
	b *strings.Builder
	// right is the alignment mark of right-aligned columns: "---:" unless
	// set (the pull-request comment writes the shorter "--:").
	right string
}

// newTable starts a table in b with its header and alignment rows (see
// head).
func newTable(b *strings.Builder, align string, cols ...string) table {
	t := table{b: b}
	t.head(align, cols...)
	return t
}

// head writes the header row and the alignment row. align has a letter a
// column, l (left) or r (right); columns past its end are left-aligned, so
// "" aligns every column left.
func (t table) head(align string, cols ...string) {
	cells := make([]any, len(cols))
	for i, c := range cols {
		cells[i] = c
	}
	t.row(cells...)
	t.b.WriteString("|")
	for i := range cols {
		switch {
		case i >= len(align) || align[i] != 'r':
			t.b.WriteString("---")
		case t.right != "":
			t.b.WriteString(t.right)
		default:
			t.b.WriteString("---:")
		}
		t.b.WriteString("|")
	}
	t.b.WriteString("\n")
}

// row writes one row. Cells are written as fmt.Sprint shows them and are
// not escaped: user text goes through escapeCell or cell first.
func (t table) row(cells ...any) {
	t.b.WriteString("|")
	for _, c := range cells {
		t.b.WriteString(" ")
		fmt.Fprint(t.b, c)
		t.b.WriteString(" |")
	}
	t.b.WriteString("\n")
}

// escapeCell keeps text inside its cell: pipes escaped, line breaks as
// spaces, no control characters (an escape sequence in an agent's answer
// must not drive the terminal the report is printed on), no mentions.
func escapeCell(s string) string {
	return noMentions(strings.NewReplacer("|", "\\|", "\n", " ").Replace(stripControls(s)))
}

// cell makes user text safe inside a table cell of the pull-request
// comment: no line breaks, pipes escaped, HTML escaped (a reason holding
// </details> must not close a section), no control characters or
// mentions, and at most max characters.
func cell(s string, max int) string {
	return noMentions(escapePipes(htmlEscape(clip(oneLine(stripControls(s)), max))))
}

// codeCell shows a value in a code span, on one line.
func codeCell(s string) string {
	if s == "" {
		return dash
	}
	s = escapePipes(oneLine(stripControls(s)))
	if strings.Contains(s, "`") {
		return "`` " + s + " ``"
	}
	return code(s)
}

// code puts s in a code span as it is.
func code(s string) string { return "`" + s + "`" }

func escapePipes(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func htmlEscape(s string) string { return htmlEscaper.Replace(s) }

// oneLine folds every run of white space, line breaks included, into one
// space.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// clip cuts s to at most max runes, the last of them an ellipsis.
func clip(s string, max int) string { return ellipsize(s, max, max-1) }

// ellipsize cuts s, when it has more than max runes, to its first keep
// runes and an ellipsis. Cells count the ellipsis within their limit
// (clip); the long output blocks of JUnit and HTML keep max runes and add
// it.
func ellipsize(s string, max, keep int) string {
	if len(s) <= max { // no more bytes than max, so no more runes
		return s
	}
	if r := []rune(s); len(r) > max {
		return string(r[:keep]) + "…"
	}
	return s
}

// clipBytes cuts s to at most n bytes, on a rune boundary, and adds an
// ellipsis when it cut: the regrade and calibration reports have always
// measured their reasons in bytes.
func clipBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

// orDash is s, or a dash when it is empty.
func orDash(s string) string {
	if s == "" {
		return dash
	}
	return s
}

// optional formats a value that may be missing: nil is a dash.
func optional[T any](v *T, format func(T) string) string {
	if v == nil {
		return dash
	}
	return format(*v)
}

// num formats a metric value: rounded to 4 decimals, NaN as a dash.
func num(f float64) string {
	if math.IsNaN(f) {
		return dash
	}
	return repo.FormatNumber(math.Round(f*10000) / 10000)
}

// signed is a difference with its sign as the run report, compare and the
// HTML page show it: rounded by num, and "+0" for no difference.
func signed(f float64) string { return signedWith(f, num, "+0") }

// signedWith puts "+" before a positive difference formatted by format;
// zero is what no difference reads.
func signedWith(f float64, format func(float64) string, zero string) string {
	switch {
	case f > 0:
		return "+" + format(f)
	case f == 0:
		return zero
	}
	return format(f)
}

// signedMinus is a difference as the pull-request comment shows it: the
// typographic minus, and a plain 0 for one that rounds to nothing.
func signedMinus(f float64) string {
	switch {
	case math.IsNaN(f):
		return dash
	case num(f) == "0":
		return "0"
	case f > 0:
		return "+" + num(f)
	}
	return "−" + num(-f)
}

// fmtP formats a p-value.
func fmtP(p float64) string {
	if p < 0.001 {
		return "<0.001"
	}
	return fmt.Sprintf("%.3g", p)
}

// thousands writes n with commas between groups of three digits.
func thousands(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// plural is n and the noun, with an s unless n is 1: "1 case", "3 cases".
func plural(n int, noun string) string {
	return fmt.Sprintf("%d %s", n, pluralWord(n, noun, noun+"s"))
}

// pluralWord is one when n is 1, else many.
func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// indentedJSON encodes v as the JSON reports write: indented, HTML left
// unescaped, empty lists as [] (not null), ending in a newline. It fills
// in v's nil lists to do so.
func indentedJSON(v any) ([]byte, error) {
	emptyLists(v)
	b, err := json.MarshalIndentWithOption(v, "", "  ", json.DisableHTMLEscape())
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
