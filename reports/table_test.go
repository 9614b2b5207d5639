package reports

import (
	"math"
	"strings"
	"testing"

	"github.com/selfevals/selfevals/repo"
)

func TestTable(t *testing.T) {
	var b strings.Builder
	tb := newTable(&b, "lr", "name", "value", "note")
	tb.row("a", 1, "")
	tb.row(code("x"), 2.5, escapeCell("p|q\nr"))
	want := "| name | value | note |\n|---|---:|---|\n| a | 1 |  |\n| `x` | 2.5 | p\\|q r |\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	prTable(&b, "rl", "A", "B")
	if got := b.String(); got != "| A | B |\n|--:|---|\n" {
		t.Errorf("comment table head: %q", got)
	}
}

func TestClip(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{clip("abcdef", 6), "abcdef"},
		{clip("abcdefg", 6), "abcde…"},
		{clip("ééééééé", 6), "ééééé…"},
		{ellipsize("abcdefg", 6, 6), "abcdef…"},
		{clipBytes("abcdefg", 6), "abcdef…"},
		{clipBytes("aéé", 4), "aé…"}, // never half a rune
		{clipBytes("abc", 3), "abc"},
		{cell(" a\n<b>|c  ", 80), "a &lt;b&gt;\\|c"},
		{codeCell("a `b`"), "`` a `b` ``"},
		{codeCell(""), dash},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

// The three ways reports show a difference, each kept as it always was.
func TestSigned(t *testing.T) {
	for _, c := range []struct {
		f                      float64
		report, regrade, minus string
	}{
		{0, "+0", "0", "0"},
		{0.5, "+0.5", "+0.5", "+0.5"},
		{-0.5, "-0.5", "-0.5", "−0.5"},
		{0.00001, "+0", "+0.00001", "0"},
		{-0.00001, "0", "-0.00001", "0"},
		{math.NaN(), dash, "NaN", dash},
	} {
		if got := signed(c.f); got != c.report {
			t.Errorf("signed(%v) = %q, want %q", c.f, got, c.report)
		}
		if got := signedWith(c.f, repo.FormatNumber, "0"); got != c.regrade {
			t.Errorf("signedWith(%v) = %q, want %q", c.f, got, c.regrade)
		}
		if got := signedMinus(c.f); got != c.minus {
			t.Errorf("signedMinus(%v) = %q, want %q", c.f, got, c.minus)
		}
	}
}

func TestPluralAndNumbers(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{plural(1, "case"), "1 case"},
		{plural(0, "case"), "0 cases"},
		{pluralWord(2, "grader", "graders"), "graders"},
		{thousands(65536), "65,536"},
		{fmtP(0.0001), "<0.001"},
		{fmtP(0.04321), "0.0432"},
		{optional[float64](nil, num), dash},
		{orDash(""), dash},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

// Text from agents and graders reaches the terminal and pull requests
// through the table helpers: no escape sequence, bidi override or mention
// gets through any of them.
func TestTableHelpersNeutralizeHostileText(t *testing.T) {
	hostile := "pass@1 ok \x1b[2J\x1b]0;pwned\x07 \u202eevil @octocat\r\nnext|cell"
	for name, got := range map[string]string{
		"escapeCell": escapeCell(hostile),
		"cell":       cell(hostile, 200),
		"codeCell":   codeCell(hostile),
	} {
		for _, bad := range []string{"\x1b", "\x07", "\u202e", "\r", "@octocat"} {
			if name == "codeCell" && bad == "@octocat" {
				continue // a code span mentions no one
			}
			if strings.Contains(got, bad) {
				t.Errorf("%s(%q) = %q keeps %q", name, hostile, got, bad)
			}
		}
		if strings.Contains(got, "pass@\u200b1") {
			t.Errorf("%s broke pass@1, which mentions no one: %q", name, got)
		}
		if !strings.Contains(got, `\|`) {
			t.Errorf("%s left a pipe unescaped: %q", name, got)
		}
	}
}
