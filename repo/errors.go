package repo

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/goccy/go-json"
)

// Problem is one thing wrong with a user's file, located precisely enough to
// jump to it: file, line, column and the dotted field path.
type Problem struct {
	File  string
	Line  int
	Col   int
	Field string
	Msg   string
	Hint  string
}

func (p Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
		if p.Col > 0 {
			fmt.Fprintf(&b, ":%d", p.Col)
		}
	}
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	if p.Hint != "" {
		b.WriteString(" (")
		b.WriteString(p.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// Problems is every problem found in one or more files. It is a user error.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Err returns ps as an error, or nil when there are none.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// SortByLine puts ps in reading order: by line and column within a file,
// files in the order their first problem was found, and problems at the
// same position in the order they were found.
func (ps Problems) SortByLine() { ps.SortByLineFrom("") }

// SortByLineFrom is SortByLine with the problems of file first: a spec's
// own, then those of the dataset and cards it names.
func (ps Problems) SortByLineFrom(file string) {
	rank := map[string]int{}
	if file != "" {
		rank[file] = 0
	}
	for _, p := range ps {
		if _, ok := rank[p.File]; !ok {
			rank[p.File] = len(rank)
		}
	}
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(rank[a.File], rank[b.File]), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
}

// UserError is bad input or usage: the command line maps it to exit code 2.
type UserError struct {
	Msg  string
	Hint string
}

func (e *UserError) Error() string {
	if e.Hint == "" {
		return e.Msg
	}
	return e.Msg + "\n  hint: " + e.Hint
}

// Userf builds a UserError.
func Userf(format string, args ...any) error {
	return &UserError{Msg: fmt.Sprintf(format, args...)}
}

// IsUserError reports whether err (or anything it wraps) is bad input rather
// than a runtime failure.
func IsUserError(err error) bool {
	var ue *UserError
	var ps Problems
	var p Problem
	return errors.As(err, &ue) || errors.As(err, &ps) || errors.As(err, &p)
}

// Suggest returns the candidate closest to s, or "" when none is close.
func Suggest(s string, candidates []string) string {
	best, bestDist := "", len(s)/2+2
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the optimal-string-alignment distance: insertions,
// deletions, substitutions and adjacent transpositions ("prmopt" → "prompt")
// each cost one.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// DecodeJSON is json.Unmarshal for bytes read from a file or a peer. The
// decoder is fast but trusts its input to be whole: cut inside a string
// escape or a key ({"\21\ ), it reads past the end of its buffer (a panic,
// or under -race a fatal checkptr error that nothing can recover). Trailing
// spaces, which JSON allows, keep every such overrun inside the buffer,
// where it meets the end and fails as an error; a panic left is an error
// too.
func DecodeJSON(data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("invalid JSON (the decoder failed: %v)", r)
		}
	}()
	return json.Unmarshal(PadJSON(data), v)
}

// PadJSON is data followed by the spaces DecodeJSON's decoder may read
// past a cut-off escape (a \uXXXX surrogate pair is 12 bytes), in a new
// array: the caller's is never written.
func PadJSON(data []byte) []byte {
	const pad = "                "
	out := make([]byte, len(data), len(data)+len(pad))
	copy(out, data)
	return append(out, pad...)
}
