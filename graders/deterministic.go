package graders

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/selfevals/selfevals/repo"
)

// Failure modes of the deterministic rules.
const (
	ModeMissingSubstring   = "missing_required_substring"
	ModeForbiddenSubstring = "forbidden_substring"
	ModeMissingTool        = "missing_required_tool"
	ModeForbiddenTool      = "forbidden_tool_invoked"
	ModeRegexMismatch      = "regex_mismatch"
	ModeStructuredMismatch = "structured_output_mismatch"
	ModeSchemaViolation    = "schema_violation"
	ModeAgentError         = "agent_error"
)

// passReason is the reason of every passing deterministic grade (the
// reference's wording).
const passReason = "all deterministic rules satisfied"

// Deterministic checks a trace against the case's expected block with
// rules that need no model: substrings, tools, a regex, structured output
// and a JSON Schema. It is safe for concurrent use.
type Deterministic struct {
	name          string
	caseSensitive bool
}

// NewDeterministic builds the grader a graders: entry describes; the name
// defaults to "deterministic" and substring checks ignore case unless
// case_sensitive is set.
func NewDeterministic(spec repo.GraderSpec) *Deterministic {
	name := spec.Name
	if name == "" {
		name = "deterministic"
	}
	return &Deterministic{name: name, caseSensitive: spec.CaseSensitive}
}

// Name is the grader's name as grades and reports show it.
func (d *Deterministic) Name() string { return d.name }

// violation is one broken rule: its failure mode and what broke it, which
// reads as the subject quoted (when quote is set) followed by detail.
type violation struct {
	mode, subject, detail string
	quote                 bool
}

// Grade applies the rules in a fixed order (must_include, must_not_include,
// required_tools, forbidden_tools, regex, structured_output, output_schema)
// and reports every violation, not just the first, so one run shows all
// that is wrong with an answer.
func (d *Deterministic) Grade(_ context.Context, c *repo.Case, t *repo.Trace) repo.Grade {
	if t.Failed() {
		// An empty answer from a failed call would fail every rule and bury
		// the real cause under content failures.
		reason := "agent call failed: " + t.Error
		if t.ErrorKind != "" {
			reason = "agent call failed (" + t.ErrorKind + "): " + t.Error
		}
		return repo.Grade{Grader: d.name, Label: repo.Error, Reason: reason, FailureModes: []string{ModeAgentError}}
	}

	tools := toolsInvoked(t)
	details := noToolsDetails
	if len(tools) > 0 {
		details = map[string]any{"tools_invoked": tools}
	}

	var buf [8]violation // most failing grades have few violations; avoids growth
	vs := buf[:0]
	if c != nil && c.Expected != nil {
		e := c.Expected
		text := answerText(t)
		if len(e.MustInclude) > 0 || len(e.MustNotInclude) > 0 {
			hay := d.haystack(text)
			for _, s := range e.MustInclude {
				if !hay.contains(d.needle(s)) {
					vs = append(vs, violation{mode: ModeMissingSubstring, subject: s, quote: true, detail: " not found"})
				}
			}
			for _, s := range e.MustNotInclude {
				if hay.contains(d.needle(s)) {
					vs = append(vs, violation{mode: ModeForbiddenSubstring, subject: s, quote: true, detail: " found"})
				}
			}
			hay.release()
		}
		for _, tool := range e.RequiredTools {
			if !slices.Contains(tools, tool) {
				vs = append(vs, violation{mode: ModeMissingTool, subject: tool, quote: true, detail: " not invoked"})
			}
		}
		for _, tool := range e.ForbiddenTools {
			if slices.Contains(tools, tool) {
				vs = append(vs, violation{mode: ModeForbiddenTool, subject: tool, quote: true, detail: " invoked"})
			}
		}
		if e.Regex != "" {
			re, err := compileRegexp(e.Regex)
			if err != nil {
				return d.caseError("expected.regex", err)
			}
			// The regex sees the original text: case-insensitivity is the
			// pattern's choice, via (?i).
			if !re.MatchString(text) {
				vs = append(vs, violation{mode: ModeRegexMismatch, detail: "no match for /" + e.Regex + "/"})
			}
		}
		if len(e.StructuredOutput) > 0 {
			expected, err := decodeJSON(e.StructuredOutput)
			if err != nil {
				return d.caseError("expected.structured_output", err)
			}
			if detail, ok := compareStructured(expected, t); !ok {
				vs = append(vs, violation{mode: ModeStructuredMismatch, detail: detail})
			}
		}
		if len(e.OutputSchema) > 0 {
			schema, err := compileSchema(e.OutputSchema)
			if err != nil {
				return d.caseError("expected.output_schema", err)
			}
			if detail, ok := checkSchema(schema, t); !ok {
				vs = append(vs, violation{mode: ModeSchemaViolation, detail: detail})
			}
		}
	}

	if len(vs) == 0 {
		score := 1.0
		return repo.Grade{Grader: d.name, Label: repo.Pass, Score: &score, Reason: passReason, Details: details}
	}
	modes := make([]string, len(vs))
	var reasonBuf [256]byte // the reason is built here, then copied once
	reason := reasonBuf[:0]
	for i, v := range vs {
		modes[i] = v.mode
		if i > 0 {
			reason = append(reason, "; "...)
		}
		reason = append(reason, v.mode...)
		reason = append(reason, ": "...)
		if v.quote {
			reason = strconv.AppendQuote(reason, v.subject)
		}
		reason = append(reason, v.detail...)
	}
	slices.Sort(modes)
	score := 0.0
	return repo.Grade{
		Grader:       d.name,
		Label:        repo.Fail,
		Score:        &score,
		Reason:       string(reason),
		FailureModes: slices.Compact(modes),
		Details:      details,
	}
}

// haystack is the text the substring rules search, lower-cased unless the
// grader is case-sensitive.
//
// Lower-casing the whole answer on every trace is the grader's main cost,
// so ASCII text (nearly all of it) is lowered into a pooled buffer with no
// allocation; other text goes through strings.ToLower for Unicode rules.
type haystack struct {
	s   string
	buf *[]byte // lowered ASCII text, returned to the pool by release
}

var lowerBufs = sync.Pool{New: func() any { return new([]byte) }}

func (d *Deterministic) haystack(text string) haystack {
	if d.caseSensitive {
		return haystack{s: text}
	}
	buf := lowerBufs.Get().(*[]byte)
	if lowered, ok := lowerASCII((*buf)[:0], text); ok {
		*buf = lowered
		return haystack{buf: buf}
	}
	lowerBufs.Put(buf)
	return haystack{s: strings.ToLower(text)}
}

func (h haystack) contains(needle string) bool {
	if h.buf != nil {
		return bytes.Contains(*h.buf, []byte(needle))
	}
	return strings.Contains(h.s, needle)
}

func (h haystack) release() {
	if h.buf != nil && cap(*h.buf) <= maxPooledText {
		lowerBufs.Put(h.buf)
	}
}

// maxPooledText keeps a rare huge answer from pinning its buffer in the pool.
const maxPooledText = 64 << 10

// lowerASCII writes s lower-cased into dst (reusing its capacity); ok is
// false if s is not ASCII. It works eight bytes at a time: in a word of
// ASCII bytes, adding 0x3f sets a byte's top bit iff it is ≥ 'A', adding
// 0x25 iff it is > 'Z', and no addition carries into the next byte.
func lowerASCII(dst []byte, s string) (lowered []byte, ok bool) {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	dst = slices.Grow(dst[:0], len(s))[:len(s)]
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if w&high != 0 {
			return dst[:0], false
		}
		upper := (w + (0x80-'A')*ones) &^ (w + (0x80-'Z'-1)*ones) & high
		binary.LittleEndian.PutUint64(dst[i:], w|upper>>2)
	}
	for ; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return dst[:0], false
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst[i] = c
	}
	return dst, true
}

// needle is a substring as the comparison sees it. strings.ToLower returns
// an already lower-case needle without allocating, which is the usual case.
func (d *Deterministic) needle(s string) string {
	if d.caseSensitive {
		return s
	}
	return strings.ToLower(s)
}

// caseError is the grade for a case whose expected block cannot be applied.
// The loader rejects such cases; this keeps a hand-built or stale case from
// failing every trace as if the agent were wrong.
func (d *Deterministic) caseError(field string, err error) repo.Grade {
	return repo.Grade{Grader: d.name, Label: repo.Error, Reason: "case " + field + " is invalid: " + err.Error()}
}

// noToolsDetails are the details of a grade when no tool was invoked, as
// most are: one map shared by those grades (nothing modifies a grade's
// details once made), not one map per graded call.
var noToolsDetails = map[string]any{"tools_invoked": []string{}}

// answerText is the text the substring and regex rules read: the output, or
// else a "content" string inside the structured output (the reference's
// convention for agents that only answer in JSON).
func answerText(t *repo.Trace) string {
	if t.Output != "" || len(t.StructuredOutput) == 0 {
		return t.Output
	}
	var obj struct {
		Content *string `json:"content"`
	}
	if json.Unmarshal(t.StructuredOutput, &obj) == nil && obj.Content != nil {
		return *obj.Content
	}
	return ""
}

// toolsInvoked lists the tools the agent called, from its tool calls and
// its tool_call spans, once each in order of first appearance (agents often
// report the same call both ways).
func toolsInvoked(t *repo.Trace) []string {
	tools := []string{} // [] rather than null in results
	for i := range t.ToolCalls {
		if name := t.ToolCalls[i].Name; name != "" && !slices.Contains(tools, name) {
			tools = append(tools, name)
		}
	}
	for i := range t.Spans {
		s := &t.Spans[i]
		if s.Kind == "tool_call" && s.Name != "" && !slices.Contains(tools, s.Name) {
			tools = append(tools, s.Name)
		}
	}
	return tools
}

// actualJSON is the agent's JSON answer: the structured output, else the
// output text (agents that print JSON to stdout). ok is false when there is
// neither.
func actualJSON(t *repo.Trace) (raw []byte, ok bool) {
	if len(t.StructuredOutput) > 0 {
		return t.StructuredOutput, true
	}
	if strings.TrimSpace(t.Output) == "" {
		return nil, false
	}
	return []byte(t.Output), true
}

// compareStructured compares the expected value with the agent's JSON
// answer and describes any difference.
func compareStructured(expected any, t *repo.Trace) (detail string, ok bool) {
	raw, present := actualJSON(t)
	if !present {
		return "expected structured output, got none", false
	}
	actual, err := decodeJSON(raw)
	if err != nil {
		return "output is not JSON: " + err.Error(), false
	}
	diffs := diffJSON(expected, actual)
	if len(diffs) == 0 {
		return "", true
	}
	return strings.Join(diffs, "; "), false
}
