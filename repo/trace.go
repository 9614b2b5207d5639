package repo

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/goccy/go-json"
)

// Request is what every adapter sends to the agent (SPEC §5).
type Request struct {
	CaseID     string          `json:"case_id"`
	Input      json.RawMessage `json:"input"`
	Context    json.RawMessage `json:"context,omitempty"`
	Parameters Parameters      `json:"parameters"`
	Metadata   RequestMetadata `json:"metadata"`
	// ParamsJSON, when set, is Parameters already encoded: the same for
	// every call of an iteration, so it is encoded once.
	ParamsJSON json.RawMessage `json:"-"`
}

// RequestMetadata tells the agent where the call sits in the run.
type RequestMetadata struct {
	Experiment string        `json:"experiment"`
	Iteration  int           `json:"iteration"`
	Repetition int           `json:"repetition"`
	RunID      string        `json:"run_id,omitempty"`
	ThreadID   *string       `json:"thread_id"`
	Taxonomy   *CaseTaxonomy `json:"taxonomy,omitempty"`
}

// Response is what an agent answers (SPEC §5). Every field is optional but
// Output or Error.
type Response struct {
	Output           string          `json:"output,omitempty"`
	StructuredOutput json.RawMessage `json:"structured_output,omitempty"`
	ToolCalls        []ToolCall      `json:"tool_calls,omitempty"`
	Spans            []Span          `json:"spans,omitempty"`
	Usage            Usage           `json:"usage,omitzero"`
	CostUSD          float64         `json:"cost_usd,omitempty"`
	Model            string          `json:"model,omitempty"`
	Error            string          `json:"error,omitempty"`
}

// ToolCall is one tool the agent invoked.
type ToolCall struct {
	Name       string          `json:"name"`
	Arguments  json.RawMessage `json:"arguments,omitempty"`
	Result     json.RawMessage `json:"result,omitempty"`
	Error      string          `json:"error,omitempty"`
	DurationMS float64         `json:"duration_ms,omitempty"`
}

// Span is one timed step inside an agent call (llm_call, tool_call, …).
type Span struct {
	Kind       string          `json:"kind"`
	Name       string          `json:"name,omitempty"`
	Start      string          `json:"start,omitempty"`
	DurationMS float64         `json:"duration_ms,omitempty"`
	Status     string          `json:"status,omitempty"`
	Attributes json.RawMessage `json:"attributes,omitempty"`
}

// Usage counts tokens.
type Usage struct {
	InputTokens  int64 `json:"input_tokens,omitempty"`
	OutputTokens int64 `json:"output_tokens,omitempty"`
}

// Error kinds of a failed agent call.
const (
	ErrAgent       = "agent_error"  // the agent answered with "error"
	ErrExit        = "exit_status"  // the command exited non-zero
	ErrInvalidJSON = "invalid_json" // the response is not the protocol's JSON
	ErrTooLarge    = "too_large"    // the response passed agent.max_output_bytes
	ErrTimeout     = "timeout"      // run.timeout passed
	ErrConnection  = "connection"   // refused, reset, closed mid-body
	ErrHTTPStatus  = "http_status"  // a non-2xx status
	ErrCanceled    = "canceled"     // the run was interrupted
	ErrInternal    = "internal"     // selfevals could not make the call
)

// Trace is what one agent call did, as graders and reports see it.
type Trace struct {
	ID         string `json:"trace_id"`
	CaseID     string `json:"case_id"`
	ParamsID   string `json:"params_id"`
	Iteration  int    `json:"iteration"`
	Repetition int    `json:"repetition"`

	Output           string          `json:"output,omitempty"`
	StructuredOutput json.RawMessage `json:"structured_output,omitempty"`
	ToolCalls        []ToolCall      `json:"tool_calls,omitempty"`
	Spans            []Span          `json:"spans,omitempty"`
	Usage            Usage           `json:"usage,omitzero"`
	CostUSD          float64         `json:"cost_usd,omitempty"`
	Model            string          `json:"model,omitempty"`

	// StartedAt is RFC 3339 with milliseconds; LatencyMS is the wall time of
	// the call as selfevals saw it (the last attempt).
	StartedAt string  `json:"started_at,omitempty"`
	LatencyMS float64 `json:"latency_ms"`

	Error     string `json:"error,omitempty"`
	ErrorKind string `json:"error_kind,omitempty"`
	Stderr    string `json:"stderr,omitempty"`
	Truncated bool   `json:"truncated,omitempty"`
	Attempts  int    `json:"attempts,omitempty"`
	Cached    bool   `json:"cached,omitempty"`
}

// Failed reports whether the call produced no usable answer.
func (t *Trace) Failed() bool { return t.Error != "" }

// Label is a grade's verdict.
type Label string

// Labels, ordered from best to worst by Severity.
const (
	Pass    Label = "pass"
	Skipped Label = "skipped"
	Partial Label = "partial"
	Fail    Label = "fail"
	Error   Label = "error"
)

// Severity orders labels for worst-of combination:
// error > fail > partial > skipped > pass.
func (l Label) Severity() int {
	switch l {
	case Pass:
		return 0
	case Skipped:
		return 1
	case Partial:
		return 2
	case Fail:
		return 3
	case Error:
		return 4
	}
	return 4
}

// Grade is one grader's verdict on one trace.
type Grade struct {
	Grader       string         `json:"grader"`
	Label        Label          `json:"label"`
	Score        *float64       `json:"score,omitempty"`
	Confidence   *float64       `json:"confidence,omitempty"`
	Reason       string         `json:"reason,omitempty"`
	FailureModes []string       `json:"failure_modes,omitempty"`
	Details      map[string]any `json:"details,omitempty"`
}

// Result is one line of a run's results.jsonl: a trace and its grades.
type Result struct {
	Trace
	Grades []Grade `json:"grades"`
	Label  Label   `json:"label"`
	Score  float64 `json:"score"`
}

// Combine applies worst-of to grades and returns the label and score: the
// mean of explicit scores, else pass 1 / partial 0.5 / other 0. No grades is
// skipped.
func Combine(grades []Grade) (Label, float64) {
	if len(grades) == 0 {
		return Skipped, 0
	}
	worst := Pass
	var explicit, implied float64
	nExplicit := 0
	for _, g := range grades {
		if g.Label.Severity() > worst.Severity() {
			worst = g.Label
		}
		if g.Score != nil {
			explicit += *g.Score
			nExplicit++
		}
		switch g.Label {
		case Pass:
			implied++
		case Partial:
			implied += 0.5
		}
	}
	if nExplicit > 0 {
		return worst, explicit / float64(nExplicit)
	}
	return worst, implied / float64(len(grades))
}

// AppendJSON appends the request's JSON (the protocol's shape, with
// "parameters" from ParamsJSON when set) and a newline to dst. It is the
// hot path of every agent call, so it writes the fixed shape by hand and
// only encodes the free-form parts.
func (r *Request) AppendJSON(dst []byte) ([]byte, error) {
	dst = append(dst, `{"case_id":`...)
	dst = appendJSONString(dst, r.CaseID)
	dst = append(dst, `,"input":`...)
	dst = appendRaw(dst, r.Input)
	if len(r.Context) > 0 {
		dst = append(dst, `,"context":`...)
		dst = appendRaw(dst, r.Context)
	}
	dst = append(dst, `,"parameters":`...)
	if len(r.ParamsJSON) > 0 {
		dst = append(dst, r.ParamsJSON...)
	} else {
		p := r.Parameters
		if p == nil {
			p = Parameters{}
		}
		b, err := json.Marshal(p)
		if err != nil {
			return dst, err
		}
		dst = append(dst, b...)
	}
	m := &r.Metadata
	dst = append(dst, `,"metadata":{"experiment":`...)
	dst = appendJSONString(dst, m.Experiment)
	dst = append(dst, `,"iteration":`...)
	dst = strconv.AppendInt(dst, int64(m.Iteration), 10)
	dst = append(dst, `,"repetition":`...)
	dst = strconv.AppendInt(dst, int64(m.Repetition), 10)
	if m.RunID != "" {
		dst = append(dst, `,"run_id":`...)
		dst = appendJSONString(dst, m.RunID)
	}
	dst = append(dst, `,"thread_id":`...)
	if m.ThreadID == nil {
		dst = append(dst, "null"...)
	} else {
		dst = appendJSONString(dst, *m.ThreadID)
	}
	if m.Taxonomy != nil {
		b, err := json.Marshal(m.Taxonomy)
		if err != nil {
			return dst, err
		}
		dst = append(dst, `,"taxonomy":`...)
		dst = append(dst, b...)
	}
	return append(dst, "}}\n"...), nil
}

// appendRaw appends free-form JSON on one line: the worker protocol is one
// request a line, so JSON written across lines is compacted.
func appendRaw(dst []byte, raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return append(dst, "null"...)
	}
	if bytes.IndexByte(raw, '\n') >= 0 || bytes.IndexByte(raw, '\r') >= 0 {
		var buf bytes.Buffer
		if json.Compact(&buf, raw) == nil {
			return append(dst, buf.Bytes()...)
		}
	}
	return append(dst, raw...)
}

// appendJSONString appends s as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			b, _ := json.Marshal(s)
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// AppendJSON appends the result as one line of results.jsonl, newline
// included: the same bytes as goccy/go-json's Encoder with
// SetEscapeHTML(false), which wrote results files before. Writing a result
// is on the hot path of every agent call, so it is written by hand, a few
// times cheaper; only grade details of types graders do not use go
// through goccy.
//
// Like the Encoder, it fails on a NaN or infinite number and on a
// json.RawMessage that is not valid JSON; dst is then returned unchanged.
func (r *Result) AppendJSON(dst []byte) ([]byte, error) {
	w := jsonAppender{buf: dst}
	w.trace(&r.Trace)
	if r.Grades == nil {
		w.lit(`,"grades":null`)
	} else {
		w.lit(`,"grades":[`)
		for i := range r.Grades {
			if i > 0 {
				w.ch(',')
			}
			w.grade(&r.Grades[i])
		}
		w.ch(']')
	}
	w.lit(`,"label":`)
	w.str(string(r.Label))
	w.lit(`,"score":`)
	w.float(r.Score)
	w.lit("}\n")
	if w.err != nil {
		return dst, w.err
	}
	return w.buf, nil
}

// jsonAppender appends JSON to buf and keeps the first error, so that the
// field-by-field code reads straight.
type jsonAppender struct {
	buf []byte
	err error
}

// trace opens the object with the Trace's fields (embedded in Result). The
// order and the omitempty rules are the struct's; "usage" is always written
// because goccy ignores omitzero.
func (w *jsonAppender) trace(t *Trace) {
	w.lit(`{"trace_id":`)
	w.str(t.ID)
	w.lit(`,"case_id":`)
	w.str(t.CaseID)
	w.lit(`,"params_id":`)
	w.str(t.ParamsID)
	w.lit(`,"iteration":`)
	w.int(int64(t.Iteration))
	w.lit(`,"repetition":`)
	w.int(int64(t.Repetition))
	w.optStr(`,"output":`, t.Output)
	w.optRaw(`,"structured_output":`, t.StructuredOutput)
	if len(t.ToolCalls) > 0 {
		w.lit(`,"tool_calls":[`)
		for i := range t.ToolCalls {
			if i > 0 {
				w.ch(',')
			}
			w.toolCall(&t.ToolCalls[i])
		}
		w.ch(']')
	}
	if len(t.Spans) > 0 {
		w.lit(`,"spans":[`)
		for i := range t.Spans {
			if i > 0 {
				w.ch(',')
			}
			w.span(&t.Spans[i])
		}
		w.ch(']')
	}
	w.usage(t.Usage)
	w.optFloat(`,"cost_usd":`, t.CostUSD)
	w.optStr(`,"model":`, t.Model)
	w.optStr(`,"started_at":`, t.StartedAt)
	w.lit(`,"latency_ms":`)
	w.float(t.LatencyMS)
	w.optStr(`,"error":`, t.Error)
	w.optStr(`,"error_kind":`, t.ErrorKind)
	w.optStr(`,"stderr":`, t.Stderr)
	if t.Truncated {
		w.lit(`,"truncated":true`)
	}
	if t.Attempts != 0 {
		w.lit(`,"attempts":`)
		w.int(int64(t.Attempts))
	}
	if t.Cached {
		w.lit(`,"cached":true`)
	}
}

func (w *jsonAppender) toolCall(c *ToolCall) {
	w.lit(`{"name":`)
	w.str(c.Name)
	w.optRaw(`,"arguments":`, c.Arguments)
	w.optRaw(`,"result":`, c.Result)
	w.optStr(`,"error":`, c.Error)
	w.optFloat(`,"duration_ms":`, c.DurationMS)
	w.ch('}')
}

func (w *jsonAppender) span(s *Span) {
	w.lit(`{"kind":`)
	w.str(s.Kind)
	w.optStr(`,"name":`, s.Name)
	w.optStr(`,"start":`, s.Start)
	w.optFloat(`,"duration_ms":`, s.DurationMS)
	w.optStr(`,"status":`, s.Status)
	w.optRaw(`,"attributes":`, s.Attributes)
	w.ch('}')
}

// usage writes {} when both counts are zero: each field is omitempty.
func (w *jsonAppender) usage(u Usage) {
	w.lit(`,"usage":{`)
	if u.InputTokens != 0 {
		w.lit(`"input_tokens":`)
		w.int(u.InputTokens)
	}
	if u.OutputTokens != 0 {
		if u.InputTokens != 0 {
			w.ch(',')
		}
		w.lit(`"output_tokens":`)
		w.int(u.OutputTokens)
	}
	w.ch('}')
}

func (w *jsonAppender) grade(g *Grade) {
	w.lit(`{"grader":`)
	w.str(g.Grader)
	w.lit(`,"label":`)
	w.str(string(g.Label))
	if g.Score != nil {
		w.lit(`,"score":`)
		w.float(*g.Score)
	}
	if g.Confidence != nil {
		w.lit(`,"confidence":`)
		w.float(*g.Confidence)
	}
	w.optStr(`,"reason":`, g.Reason)
	if len(g.FailureModes) > 0 {
		w.lit(`,"failure_modes":`)
		w.strings(g.FailureModes)
	}
	if len(g.Details) > 0 {
		w.lit(`,"details":`)
		w.object(g.Details)
	}
	w.ch('}')
}

func (w *jsonAppender) ch(c byte)    { w.buf = append(w.buf, c) }
func (w *jsonAppender) lit(s string) { w.buf = append(w.buf, s...) }
func (w *jsonAppender) str(s string) { w.buf = appendString(w.buf, s) }

// int writes i; counts below 1000 (most of them) skip strconv's general path.
func (w *jsonAppender) int(i int64) {
	switch {
	case i < 0 || i >= 1000:
		w.buf = strconv.AppendInt(w.buf, i, 10)
	case i < 10:
		w.buf = append(w.buf, byte('0'+i))
	case i < 100:
		w.buf = append(w.buf, byte('0'+i/10), byte('0'+i%10))
	default:
		w.buf = append(w.buf, byte('0'+i/100), byte('0'+i/10%10), byte('0'+i%10))
	}
}

// float writes f as goccy does: strconv's shortest form, in exponent form
// below 1e-6 and from 1e21 on, with no tidying of the exponent (1e-07, not
// encoding/json's 1e-7).
func (w *jsonAppender) float(f float64) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		w.fail(fmt.Errorf("json: unsupported value: %v", f))
		return
	}
	if w.millis(f) {
		return
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	w.buf = strconv.AppendFloat(w.buf, f, format, -1, 64)
}

// millis writes f if it has at most three decimals, as scores and
// latencies (whole microseconds in milliseconds) do, and reports whether
// it did. Below 1e9 two such numbers are far more than a rounding error
// apart, so the shortest form that reads back as f is that decimal with
// its trailing zeros cut: the same text as strconv's, found far cheaper.
func (w *jsonAppender) millis(f float64) bool {
	if f == 0 {
		if math.Signbit(f) {
			w.lit("-0")
		} else {
			w.ch('0')
		}
		return true
	}
	if math.Abs(f) >= 1e9 {
		return false
	}
	thousandths := math.Round(f * 1000)
	if thousandths/1000 != f {
		return false
	}
	n := int64(thousandths)
	if n < 0 {
		w.ch('-')
		n = -n
	}
	w.int(n / 1000)
	if frac := n % 1000; frac != 0 {
		digits := [3]byte{byte('0' + frac/100), byte('0' + frac/10%10), byte('0' + frac%10)}
		end := 3
		for digits[end-1] == '0' {
			end--
		}
		w.buf = append(append(w.buf, '.'), digits[:end]...)
	}
	return true
}

func (w *jsonAppender) optStr(key, s string) {
	if s != "" {
		w.lit(key)
		w.str(s)
	}
}

// optFloat omits zero, negative zero included, as omitempty does.
func (w *jsonAppender) optFloat(key string, f float64) {
	if f != 0 {
		w.lit(key)
		w.float(f)
	}
}

// optRaw writes a json.RawMessage as goccy does: validated and compacted.
func (w *jsonAppender) optRaw(key string, raw json.RawMessage) {
	if len(raw) == 0 {
		return
	}
	w.lit(key)
	var err error
	if w.buf, err = appendCompact(w.buf, raw); err != nil {
		w.fail(fmt.Errorf("json: error calling MarshalJSON for type json.RawMessage: %w", err))
	}
}

func (w *jsonAppender) strings(list []string) {
	if list == nil {
		w.lit("null")
		return
	}
	w.ch('[')
	for i, s := range list {
		if i > 0 {
			w.ch(',')
		}
		w.str(s)
	}
	w.ch(']')
}

// object writes a map as goccy does: keys sorted by their encoded bytes
// (quotes included, which orders "a!" before "a"). Keys that differ only
// in invalid UTF-8 encode alike, and goccy then writes them in map order;
// here they are ordered by their raw bytes, so a line is always the same.
func (w *jsonAppender) object(m map[string]any) {
	if m == nil {
		w.lit("null")
		return
	}
	w.ch('{')
	if len(m) == 1 { // the common case: nothing to sort
		for k, v := range m {
			w.member(k, v)
		}
	} else if len(m) > 1 {
		var small [4]detailEntry // avoid allocating for a few keys
		entries := small[:0]
		for k, v := range m {
			entries = append(entries, detailEntry{k, v})
		}
		slices.SortFunc(entries, func(a, b detailEntry) int { return compareEncodedKeys(a.key, b.key) })
		for i, e := range entries {
			if i > 0 {
				w.ch(',')
			}
			w.member(e.key, e.value)
		}
	}
	w.ch('}')
}

func (w *jsonAppender) member(key string, v any) {
	w.str(key)
	w.ch(':')
	w.value(v)
}

type detailEntry struct {
	key   string
	value any
}

func compareEncodedKeys(a, b string) int {
	var ba, bb [64]byte
	if c := bytes.Compare(appendString(ba[:0], a), appendString(bb[:0], b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// value writes the types graders put in details by hand, and hands any
// other to goccy, which encodes it alone as it would inside the map.
func (w *jsonAppender) value(v any) {
	switch v := v.(type) {
	case nil:
		w.lit("null")
	case string:
		w.str(v)
	case bool:
		if v {
			w.lit("true")
		} else {
			w.lit("false")
		}
	case float64:
		w.float(v)
	case int:
		w.int(int64(v))
	case int64:
		w.int(v)
	case []string:
		w.strings(v)
	case []any:
		if v == nil {
			w.lit("null")
			return
		}
		w.ch('[')
		for i, e := range v {
			if i > 0 {
				w.ch(',')
			}
			w.value(e)
		}
		w.ch(']')
	case map[string]any:
		w.object(v)
	default:
		b, err := json.MarshalWithOption(v, json.DisableHTMLEscape())
		if err != nil {
			w.fail(err)
			return
		}
		w.buf = append(w.buf, b...)
	}
}

func (w *jsonAppender) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// plainByte marks the bytes a JSON string holds as they are.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString appends s as a JSON string the way goccy's Encoder does by
// default with HTML escaping off: quotes, backslashes and control
// characters escaped; each byte of invalid UTF-8 as \ufffd; U+2028 and
// U+2029 escaped; everything else as it is (<, > and & too, unlike
// appendJSONString for requests).
func appendString(dst []byte, s string) []byte {
	if isPlain(s) { // nearly every string
		return append(append(append(dst, '"'), s...), '"')
	}
	return appendEscaped(dst, s)
}

func appendEscaped(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Skip plain text 8 bytes at a time, then byte by byte up to the
		// byte that stopped it.
		i += plainChunks(s[i:])
		for i < len(s) && plainByte[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			dst = appendEscapedASCII(append(dst, s[start:i]...), c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(append(dst, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(append(dst, s[start:i]...), `\u202`...)
			dst = append(dst, hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// isPlain reports whether s is written as it is, all its bytes plain.
func isPlain(s string) bool {
	if len(s) < 8 {
		for i := 0; i < len(s); i++ {
			if !plainByte[s[i]] {
				return false
			}
		}
		return true
	}
	// Test 8 bytes at a time, the last 8 overlapping those before; no
	// early exit, as nearly every string is plain.
	flags := flagBits(load8(s[len(s)-8:]))
	for ; len(s) >= 16; s = s[16:] {
		flags |= flagBits(load8(s)) | flagBits(load8(s[8:]))
	}
	if len(s) >= 8 {
		flags |= flagBits(load8(s))
	}
	return flags&highBits == 0
}

// plainChunks returns the length of the leading 8-byte chunks of s whose
// bytes are all plain. A chunk that is not holds a byte that is not plain.
func plainChunks(s string) int {
	n := 0
	for ; len(s) >= 8; s = s[8:] {
		if flagBits(load8(s))&highBits != 0 {
			break
		}
		n += 8
	}
	return n
}

const highBits = 0x8080808080808080

// flagBits sets the high bit of each byte of x (and maybe of bytes above
// it) that is below 0x20, a quote, a backslash or not ASCII: it tests
// eight bytes at once, as goccy does. Borrows only carry upwards, so the
// lowest byte flagged is always a real one.
func flagBits(x uint64) uint64 {
	const ones = 0x0101010101010101
	return x | (x - ones*0x20) | ((x ^ ones*'"') - ones) | ((x ^ ones*'\\') - ones)
}

// load8 reads s's first 8 bytes as a little-endian number (one load).
func load8(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

const hexDigits = "0123456789abcdef"

func appendEscapedASCII(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
}

// appendCompact appends raw JSON with the whitespace between tokens
// removed, as goccy's Encoder writes a json.RawMessage (through goccy's
// Compact with HTML escaping off). It follows that function step by step,
// quirks included, so that the same inputs give the same bytes and the
// same inputs fail: a NUL byte ends the input, as goccy's sentinel does;
// strings are copied as they are, unchecked; a number is any run of
// digits, signs, dots and exponents that strconv.ParseFloat takes, so 01
// passes and 1e400 fails. On failure dst is returned unchanged.
//
// It copies the runs of bytes between whitespace rather than token by
// token, so JSON that is already compact is checked and copied at once.
func appendCompact(dst, raw []byte) ([]byte, error) {
	c := compactor{src: raw, dst: dst}
	i, err := c.value(0)
	if err == nil {
		if i = c.space(i); c.at(i) != 0 {
			err = c.syntax(i, "after the top-level value")
		}
	}
	if err != nil {
		return dst, err
	}
	return append(c.dst, c.src[c.from:i]...), nil
}

type compactor struct {
	src, dst []byte
	from     int // where the run not yet copied to dst starts
}

// at is src[i], or 0 past the end: goccy reads its input with a NUL
// appended.
func (c *compactor) at(i int) byte {
	if i < len(c.src) {
		return c.src[i]
	}
	return 0
}

// space skips whitespace, copying the run before it.
func (c *compactor) space(i int) int {
	if i >= len(c.src) || !jsonSpace[c.src[i]] {
		return i
	}
	c.dst = append(c.dst, c.src[c.from:i]...)
	for i < len(c.src) && jsonSpace[c.src[i]] {
		i++
	}
	c.from = i
	return i
}

var jsonSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

func (c *compactor) syntax(i int, where string) error {
	if c.at(i) == 0 {
		return fmt.Errorf("json: unexpected end of JSON input %s", where)
	}
	return fmt.Errorf("json: invalid character %q at offset %d %s", c.at(i), i, where)
}

func (c *compactor) value(i int) (int, error) {
	i = c.space(i)
	switch b := c.at(i); b {
	case '{':
		return c.object(i)
	case '[':
		return c.array(i)
	case '"':
		return c.string(i)
	case 't':
		return c.literal(i, "true")
	case 'f':
		return c.literal(i, "false")
	case 'n':
		return c.literal(i, "null")
	default:
		if b == '-' || '0' <= b && b <= '9' {
			return c.number(i)
		}
		return 0, c.syntax(i, "looking for a value")
	}
}

func (c *compactor) object(i int) (int, error) {
	i = c.space(i + 1)
	if c.at(i) == '}' {
		return i + 1, nil
	}
	for {
		var err error
		if i, err = c.string(c.space(i)); err != nil {
			return 0, err
		}
		if i = c.space(i); c.at(i) != ':' {
			return 0, c.syntax(i, "after an object key")
		}
		if i, err = c.value(i + 1); err != nil {
			return 0, err
		}
		i = c.space(i)
		switch c.at(i) {
		case '}':
			return i + 1, nil
		case ',':
		default:
			return 0, c.syntax(i, "after an object value")
		}
		i++
	}
}

func (c *compactor) array(i int) (int, error) {
	i = c.space(i + 1)
	if c.at(i) == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if i, err = c.value(i); err != nil {
			return 0, err
		}
		i = c.space(i)
		switch c.at(i) {
		case ']':
			return i + 1, nil
		case ',':
		default:
			return 0, c.syntax(i, "after an array element")
		}
		i++
	}
}

// string finds the end of a string, kept as it is: a quote not escaped by
// a backslash.
func (c *compactor) string(i int) (int, error) {
	if c.at(i) != '"' {
		return 0, c.syntax(i, "looking for a string")
	}
	for i++; i < len(c.src); i++ {
		if !stringStop[c.src[i]] {
			continue
		}
		switch c.src[i] {
		case '"':
			return i + 1, nil
		case '\\':
			if i++; c.at(i) == 0 {
				return 0, c.syntax(i, "in a string")
			}
		default: // NUL
			return 0, c.syntax(i, "in a string")
		}
	}
	return 0, c.syntax(i, "in a string")
}

// stringStop marks the bytes that end a string or change how it is read.
var stringStop = [256]bool{'"': true, '\\': true, 0: true}

// numberByte marks the bytes goccy reads as part of a number.
var numberByte = [256]bool{'0': true, '1': true, '2': true, '3': true, '4': true, '5': true, '6': true,
	'7': true, '8': true, '9': true, '.': true, 'e': true, 'E': true, '+': true, '-': true}

func (c *compactor) number(i int) (int, error) {
	start := i
	for i++; numberByte[c.at(i)]; i++ {
	}
	num := c.src[start:i]
	if !isPlainNumber(num) { // those ParseFloat always takes
		if _, err := strconv.ParseFloat(string(num), 64); err != nil {
			return 0, err
		}
	}
	return i, nil
}

// isPlainNumber reports whether num is digits with an optional minus,
// fraction and exponent of at most two digits, and at most 20 digits in
// all before it: a number ParseFloat takes (it could neither overflow nor
// be malformed).
func isPlainNumber(num []byte) bool {
	if len(num) > 0 && num[0] == '-' {
		num = num[1:]
	}
	mantissa := digitsLen(num)
	if mantissa == 0 || mantissa > 20 {
		return false
	}
	num = num[mantissa:]
	if len(num) > 0 && num[0] == '.' {
		n := digitsLen(num[1:])
		if n == 0 || mantissa+n > 20 {
			return false
		}
		num = num[1+n:]
	}
	if len(num) > 0 && (num[0] == 'e' || num[0] == 'E') {
		num = num[1:]
		if len(num) > 0 && (num[0] == '+' || num[0] == '-') {
			num = num[1:]
		}
		n := digitsLen(num)
		if n == 0 || n > 2 {
			return false
		}
		num = num[n:]
	}
	return len(num) == 0
}

func digitsLen(b []byte) int {
	n := 0
	for n < len(b) && '0' <= b[n] && b[n] <= '9' {
		n++
	}
	return n
}

func (c *compactor) literal(i int, word string) (int, error) {
	if !bytes.HasPrefix(c.src[i:], []byte(word)) {
		return 0, errors.New("json: invalid literal, expected " + word)
	}
	return i + len(word), nil
}

// startedAtLayout is Trace.StartedAt's format: RFC 3339 in UTC with
// milliseconds.
const startedAtLayout = "2006-01-02T15:04:05.000Z07:00"

// FormatStartedAt writes t as Trace.StartedAt, without time.Format's
// layout parsing (it is on every call's path). parseStartedAt reads it back.
func FormatStartedAt(t time.Time) string {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.Format(startedAtLayout)
	}
	hour, minute, sec := t.Clock()
	var b [24]byte
	digits := func(at, n, width int) {
		for i := at + width - 1; i >= at; i-- {
			b[i] = byte('0' + n%10)
			n /= 10
		}
	}
	digits(0, year, 4)
	b[4] = '-'
	digits(5, int(month), 2)
	b[7] = '-'
	digits(8, day, 2)
	b[10] = 'T'
	digits(11, hour, 2)
	b[13] = ':'
	digits(14, minute, 2)
	b[16] = ':'
	digits(17, sec, 2)
	b[19] = '.'
	digits(20, t.Nanosecond()/1e6, 3)
	b[23] = 'Z'
	return string(b[:])
}

// parseStartedAt reads what FormatStartedAt writes, without time.Parse
// (traces.parquet's writer reads it for every call). Anything else,
// out-of-range fields included, is not ok and left to time.Parse.
func parseStartedAt(s string) (time.Time, bool) {
	if len(s) != 24 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' || s[23] != 'Z' {
		return time.Time{}, false
	}
	ok := true
	num := func(from, to int) int {
		n := 0
		for i := from; i < to; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				ok = false
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	year, month, day := num(0, 4), num(5, 7), num(8, 10)
	hour, minute, sec, milli := num(11, 13), num(14, 16), num(17, 19), num(20, 23)
	if !ok || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, milli*1e6, time.UTC)
	return t, t.Day() == day // else the day is past the month's end
}
