package repo

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-json"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/selfevals/selfevals/repo/internal/jsonwriter"
)

// goccyLine is how results.jsonl lines were written before AppendJSON: the
// goccy Encoder with HTML escaping off. AppendJSON must match it byte for byte.
func goccyLine(r *Result) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(r)
	return buf.Bytes(), err
}

// checkSameAsGoccy fails t unless AppendJSON writes what goccy writes, or
// both fail.
func checkSameAsGoccy(t *testing.T, r *Result) {
	t.Helper()
	want, wantErr := goccyLine(r)
	prefix := []byte("prefix;")
	got, err := r.AppendJSON(prefix)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("AppendJSON error %v, goccy error %v\nresult %#v", err, wantErr, r)
	}
	if !bytes.HasPrefix(got, prefix) {
		t.Fatalf("AppendJSON lost what dst held: %q", got)
	}
	if err != nil {
		if len(got) != len(prefix) {
			t.Fatalf("AppendJSON failed (%v) but appended %q", err, got[len(prefix):])
		}
		return
	}
	if got := got[len(prefix):]; !bytes.Equal(got, want) {
		t.Fatalf("AppendJSON\n%q\ngoccy\n%q", got, want)
	}
}

func fullResult() *Result {
	return &Result{
		Trace: Trace{
			ID: "tr_1", CaseID: "case_1", ParamsID: "p_1", Iteration: 2, Repetition: -1,
			Output:           "answer <b>&</b>",
			StructuredOutput: json.RawMessage("{\n  \"a\": [1, 2.5e3, true, null],\n  \"b\": \"x y\"\n}"),
			ToolCalls: []ToolCall{
				{Name: "search"},
				{Name: "lookup", Arguments: json.RawMessage(`{"q":"x"}`), Result: json.RawMessage(` [ "r" ] `), Error: "boom", DurationMS: 12.5},
			},
			Spans: []Span{
				{Kind: "llm_call"},
				{Kind: "tool_call", Name: "lookup", Start: "2025-01-02T03:04:05.678Z", DurationMS: 1e-7, Status: "ok", Attributes: json.RawMessage(`{"k": {}}`)},
			},
			Usage:   Usage{InputTokens: 10, OutputTokens: 20},
			CostUSD: 0.000123, CostReported: true, Model: "m-1", StartedAt: "2025-01-02T03:04:05.678Z", LatencyMS: 812.734,
			Error: "agent failed", ErrorKind: ErrAgent, Stderr: "line 1\nline 2", Truncated: true, Attempts: 3, Cached: true,
		},
		Grades: []Grade{
			{Grader: "rules", Label: Pass, Score: ptr(1.0), Reason: "ok", Details: map[string]any{"tools_invoked": []string{"search", "lookup"}}},
			{Grader: "judge", Label: Partial, Score: ptr(0.5), Confidence: ptr(0.0), Reason: "half", FailureModes: []string{"b", "a"},
				Details: map[string]any{"judge_model": "j", "notes": []string{"n"}, "attempts": 2, "nested": map[string]any{"z": nil, "a": []any{1.5, "s", false}}}},
			{Grader: "empty", Label: Error},
		},
		Label: Error, Score: 0.5,
	}
}

func TestResultAppendJSONMatchesGoccy(t *testing.T) {
	tests := []struct {
		name string
		r    *Result
	}{
		{"zero", &Result{}},
		{"empty grades", &Result{Grades: []Grade{}}},
		{"full", fullResult()},
		{"only output tokens", &Result{Trace: Trace{Usage: Usage{OutputTokens: 5}}}},
		{"only input tokens", &Result{Trace: Trace{Usage: Usage{InputTokens: 5}}}},
		{"empty lists and maps are omitted", &Result{Trace: Trace{ToolCalls: []ToolCall{}, Spans: []Span{}, StructuredOutput: json.RawMessage{}},
			Grades: []Grade{{Score: ptr(0.0), FailureModes: []string{}, Details: map[string]any{}}}}},
		{"negative zero", &Result{Trace: Trace{CostUSD: math.Copysign(0, -1), LatencyMS: math.Copysign(0, -1)}, Score: math.Copysign(0, -1)}},
		{"escapes", &Result{Trace: Trace{
			ID:     `quote " backslash \ slash /`,
			Output: "ctl \x00\x01\b\f\n\r\t\x1f\x7f html <>& seps \u2028\u2029 ok é日本🙂\ufffd",
			Stderr: "bad \xff \xe2\x80 \xed\xa0\x80 \xc0\xaf \xf4\x90\x80\x80 end\xe2",
			Model:  "\xe2\x80\xa8\xe2\x80\xa9\xe2\x80\xaa",
		}}},
		{"raw null", &Result{Trace: Trace{StructuredOutput: json.RawMessage("null")}}},
		{"raw with separators in strings", &Result{Trace: Trace{StructuredOutput: json.RawMessage("\"<\u2028>&\"")}}},
		{"details keys in goccy order", &Result{Grades: []Grade{{Details: map[string]any{
			"a": 1, "a!": 2, "a b": 3, "ab": 4, "": 5, `"q`: 6, "é": 7, "a\x00": 8, "b": 9, "B": 10, "\xff": 11,
		}}}}},
		{"details fallback types", &Result{Grades: []Grade{{Details: map[string]any{
			"label": Pass, "ints": []int{1, 2}, "f32": float32(0.1), "raw": json.RawMessage(" [1, 2] "),
			"struct": struct {
				A int `json:"a"`
			}{1}, "ptr": ptr("p"), "strmap": map[string]string{"b": "1", "a": "<&>"}, "nil slice": []string(nil),
			"nil map": map[string]any(nil), "nil any slice": []any(nil), "dur": time.Second,
		}}}}},
		{"invalid raw", &Result{Trace: Trace{StructuredOutput: json.RawMessage("{bad")}}},
		{"invalid raw in a tool call", &Result{Trace: Trace{ToolCalls: []ToolCall{{Name: "x", Arguments: json.RawMessage("1.2.3")}}}}},
		{"NaN score", &Result{Score: math.NaN()}},
		{"infinite latency", &Result{Trace: Trace{LatencyMS: math.Inf(1)}}},
		{"NaN in details", &Result{Grades: []Grade{{Details: map[string]any{"x": math.NaN()}}}}},
		{"infinite grade score", &Result{Grades: []Grade{{Score: ptr(math.Inf(-1))}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkSameAsGoccy(t, tt.r) })
	}
}

// A realistic line, spelled out, so the format can be read here.
func TestResultAppendJSONLine(t *testing.T) {
	got, err := realisticResult().AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"trace_id":"tr_3f9a1c2b7d4e5f60","case_id":"case_7c1e9a2b","params_id":"p_1a2b3c4d","iteration":3,"repetition":1,` +
		`"output":"The refund for order #48213 was approved; you'll see $42.17 back on your card within 3-5 business days.",` +
		`"usage":{"input_tokens":412,"output_tokens":37},"model":"gpt-4o-mini","started_at":"2025-03-14T09:26:53.589Z","latency_ms":812.734,"attempts":1,` +
		`"grades":[{"grader":"rules","label":"pass","score":1,"reason":"all deterministic rules satisfied","details":{"tools_invoked":[]}}],` +
		`"label":"pass","score":1}` + "\n"
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("line (-want +got):\n%s", diff)
	}
}

func TestResultAppendJSONFloats(t *testing.T) {
	for _, f := range []float64{
		0, 1, -1, 0.5, 0.1, 1.0 / 3, 100, 1e20, 1e21, -1e21, 123456789.123, 1e-6, 1e-7, 9.99e-7, -1e-300,
		5e-324, math.MaxFloat64, math.SmallestNonzeroFloat64, 1 << 53, 1<<53 + 1, 12345678901234567890, 2.5e-5,
	} {
		t.Run(fmt.Sprint(f), func(t *testing.T) {
			checkSameAsGoccy(t, &Result{Score: f, Trace: Trace{LatencyMS: f, CostUSD: f}, Grades: []Grade{{Score: &f, Details: map[string]any{"f": f}}}})
		})
	}
}

// Thousands of random results, odd values included, encode as goccy does.
func TestResultAppendJSONRandomMatchesGoccy(t *testing.T) {
	g := resultGen{rand.New(rand.NewPCG(1, 2)), false}
	for range 5000 {
		checkSameAsGoccy(t, g.result())
	}
}

// Lines read back as the results they were written from.
func TestResultAppendJSONRoundTrips(t *testing.T) {
	g := resultGen{rand.New(rand.NewPCG(3, 4)), true}
	rawType := reflect.TypeFor[json.RawMessage]()
	opts := cmp.Options{
		cmp.FilterPath(func(p cmp.Path) bool { return p.Last().Type() != rawType }, cmpopts.EquateEmpty()),
		// RawMessage fields are written compacted.
		cmp.Comparer(func(a, b json.RawMessage) bool { return bytes.Equal(compactJSON(t, a), compactJSON(t, b)) }),
	}
	for i := range 2000 {
		r := g.result()
		line, err := r.AppendJSON(nil)
		if err != nil {
			t.Fatalf("result %d: %v", i, err)
		}
		var back Result
		if err := json.Unmarshal(line, &back); err != nil {
			t.Fatalf("result %d: %v\n%s", i, err, line)
		}
		if diff := cmp.Diff(r, &back, opts); diff != "" {
			t.Fatalf("result %d read back (-wrote +read):\n%s\nline %s", i, diff, line)
		}
	}
}

func compactJSON(t *testing.T, raw []byte) []byte {
	if len(raw) == 0 {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	return buf.Bytes()
}

// resultGen makes random results. Clean ones hold only what reads back the
// same: valid UTF-8, finite numbers, valid JSON, JSON-native detail values.
type resultGen struct {
	r     *rand.Rand
	clean bool
}

func (g resultGen) maybe() bool { return g.r.IntN(2) == 0 }

func (g resultGen) result() *Result {
	r := &Result{Trace: Trace{
		ID: g.str(), CaseID: g.str(), ParamsID: g.str(),
		Iteration: g.int(), Repetition: g.int(),
	}}
	t := &r.Trace
	if g.maybe() {
		t.Output = g.str()
	}
	if g.maybe() {
		t.StructuredOutput = g.raw()
	}
	if g.maybe() {
		t.ToolCalls = make([]ToolCall, g.r.IntN(4))
		for i := range t.ToolCalls {
			t.ToolCalls[i] = g.toolCall()
		}
	}
	if g.maybe() {
		t.Spans = make([]Span, g.r.IntN(4))
		for i := range t.Spans {
			t.Spans[i] = g.span()
		}
		t.SpansDropped = g.r.IntN(3)
	}
	if g.maybe() {
		t.Usage = Usage{InputTokens: int64(g.int()), OutputTokens: int64(g.int())}
	}
	t.CostUSD = g.optFloat()
	t.LatencyMS = g.float()
	if g.maybe() {
		t.Model, t.StartedAt, t.Error, t.ErrorKind, t.Stderr = g.str(), g.str(), g.str(), g.str(), g.str()
	}
	t.Truncated, t.Cached, t.Attempts = g.maybe(), g.maybe(), g.int()
	if g.maybe() {
		r.Grades = make([]Grade, g.r.IntN(4))
		for i := range r.Grades {
			r.Grades[i] = g.grade()
		}
	}
	r.Label, r.Score = Label(g.str()), g.float()
	return r
}

func (g resultGen) toolCall() ToolCall {
	c := ToolCall{Name: g.str(), DurationMS: g.optFloat()}
	if g.maybe() {
		c.Arguments, c.Result, c.Error = g.raw(), g.raw(), g.str()
	}
	return c
}

func (g resultGen) span() Span {
	s := Span{Kind: g.str(), DurationMS: g.optFloat()}
	if g.maybe() {
		s.Name, s.Start, s.Status, s.Attributes = g.str(), g.str(), g.str(), g.raw()
	}
	if g.maybe() {
		s.SpanID, s.ParentID, s.OTelKind, s.StatusMessage = g.str(), g.str(), g.str(), g.str()
		s.Events = make([]SpanEvent, g.r.IntN(3))
		for i := range s.Events {
			s.Events[i] = SpanEvent{Name: g.str(), Time: g.str(), Attributes: g.raw()}
		}
	}
	return s
}

func (g resultGen) grade() Grade {
	gr := Grade{Grader: g.str(), Label: Label(g.str())}
	if g.maybe() {
		gr.Score = ptr(g.float())
	}
	if g.maybe() {
		gr.Confidence = ptr(g.float())
	}
	if g.maybe() {
		gr.Reason = g.str()
	}
	if g.maybe() {
		gr.FailureModes = make([]string, g.r.IntN(3))
		for i := range gr.FailureModes {
			gr.FailureModes[i] = g.str()
		}
	}
	if g.maybe() {
		gr.Details = g.object(0)
	}
	return gr
}

func (g resultGen) int() int {
	if g.maybe() {
		return 0
	}
	return g.r.IntN(2001) - 1000
}

// Pieces of strings: plain text and each kind of escape; the wild ones are
// invalid UTF-8.
var (
	cleanPieces = []string{"a", "Z", "0", " ", "hello world, ", "é", "日本", "🙂", "\u2028", "\u2029", "\ufffd", "\u202a",
		`"`, `\`, "/", "\n", "\r", "\t", "\b", "\f", "\x00", "\x1f", "\x7f", "<", ">", "&", "!", "tools_invoked"}
	wildPieces = []string{"\xff", "\x80", "\xe2\x80", "\xe2", "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80", "\xf0\x9f\x99"}
)

func (g resultGen) str() string {
	if g.r.IntN(4) == 0 {
		return ""
	}
	var b strings.Builder
	for range g.r.IntN(12) {
		if !g.clean && g.r.IntN(8) == 0 {
			b.WriteString(wildPieces[g.r.IntN(len(wildPieces))])
		} else {
			b.WriteString(cleanPieces[g.r.IntN(len(cleanPieces))])
		}
	}
	return b.String()
}

var specialFloats = []float64{0, 1, -1, 0.5, 0.1, 1e20, 1e21, 1e-6, 1e-7, 9.99e-7, 123456789.123, 5e-324, math.MaxFloat64}

func (g resultGen) float() float64 {
	switch g.r.IntN(5) {
	case 0:
		return specialFloats[g.r.IntN(len(specialFloats))]
	case 1:
		if !g.clean && g.r.IntN(20) == 0 {
			return []float64{math.NaN(), math.Inf(1), math.Inf(-1)}[g.r.IntN(3)]
		}
		f := math.Float64frombits(g.r.Uint64())
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return 0
		}
		return f
	case 2:
		return float64(g.r.Int64N(2e12)-1e12) / 1000 // latencies, scores
	default:
		return g.r.NormFloat64() * math.Pow(10, float64(g.r.IntN(61)-30))
	}
}

func (g resultGen) optFloat() float64 {
	if g.maybe() {
		return 0
	}
	return g.float()
}

var (
	cleanRaw = []string{"null", "true", "1", "-0.5e-3", `"s"`, "{}", "[]", ` { "a" : [ 1 , 2 ] } `, "[\n\t\"<\u2028>\",\r\n {}\n]"}
	wildRaw  = []string{"{bad", "1.2.3", "-", `"unterminated`, "01", "[1,]", "tru", " ", "1 2", `{"a" 1}`, "1\x00junk"}
)

func (g resultGen) raw() json.RawMessage {
	switch g.r.IntN(5) {
	case 0:
		return nil
	case 1:
		if !g.clean && g.r.IntN(4) == 0 {
			return json.RawMessage(wildRaw[g.r.IntN(len(wildRaw))])
		}
		return json.RawMessage(cleanRaw[g.r.IntN(len(cleanRaw))])
	default:
		// Random JSON, indented so that it needs compacting.
		clean := resultGen{g.r, true}
		b, err := json.MarshalIndent(clean.value(0), "", "  ")
		if err != nil {
			panic(err)
		}
		return b
	}
}

// object makes details: JSON-native values when clean, and, when not, also
// values of other Go types and nil maps and slices.
func (g resultGen) object(depth int) map[string]any {
	if !g.clean && g.r.IntN(10) == 0 {
		return nil
	}
	m := map[string]any{}
	encoded := map[string]bool{}
	for range g.r.IntN(11) {
		// goccy writes keys that encode alike (invalid UTF-8 becomes
		// \ufffd) in map order, which is random: keep one of them.
		k := g.key()
		if e := string(jsonwriter.AppendString(nil, k)); !encoded[e] {
			encoded[e] = true
			m[k] = g.value(depth + 1)
		}
	}
	return m
}

var mapKeys = []string{"a", "a!", "a b", "ab", "b", "B", "", `"q`, "é", "a\x00", "tools_invoked", "judge_model", "notes", "\u2028"}

func (g resultGen) key() string {
	if g.maybe() {
		return mapKeys[g.r.IntN(len(mapKeys))]
	}
	return g.str()
}

func (g resultGen) value(depth int) any {
	n := 6
	if depth < 3 {
		n = 8
	}
	if !g.clean {
		n += 6
	}
	switch g.r.IntN(n) {
	case 0:
		return nil
	case 1:
		return g.str()
	case 2:
		return g.maybe()
	case 3, 4:
		return g.float()
	case 5:
		return float64(g.int())
	case 6:
		list := make([]any, g.r.IntN(4))
		for i := range list {
			list[i] = g.value(depth + 1)
		}
		return list
	case 7:
		return g.object(depth)
	case 8:
		return g.int()
	case 9:
		if g.maybe() {
			return []string(nil)
		}
		return []string{g.str(), g.str()}
	case 10:
		return Label(g.str())
	case 11:
		return []int{g.int()}
	case 12:
		return float32(g.float())
	default:
		if g.maybe() {
			return []any(nil)
		}
		return g.raw()
	}
}

// realisticResult is a typical line: a ~100-byte answer, usage, latency
// and one deterministic grade.
func realisticResult() *Result {
	score := 1.0
	return &Result{
		Trace: Trace{
			ID: "tr_3f9a1c2b7d4e5f60", CaseID: "case_7c1e9a2b", ParamsID: "p_1a2b3c4d", Iteration: 3, Repetition: 1,
			Output: "The refund for order #48213 was approved; you'll see $42.17 back on your card within 3-5 business days.",
			Usage:  Usage{InputTokens: 412, OutputTokens: 37}, Model: "gpt-4o-mini",
			StartedAt: "2025-03-14T09:26:53.589Z", LatencyMS: 812.734, Attempts: 1,
		},
		Grades: []Grade{{Grader: "rules", Label: Pass, Score: &score, Reason: "all deterministic rules satisfied",
			Details: map[string]any{"tools_invoked": []string{}}}},
		Label: Pass, Score: 1,
	}
}

// toolResult is a line of a tool-using agent: the JSON fields go through
// goccy's Compact.
func toolResult() *Result {
	r := realisticResult()
	r.ToolCalls = []ToolCall{{Name: "lookup_order", Arguments: json.RawMessage(`{"order_id":"48213"}`),
		Result: json.RawMessage(`{"status":"refundable","amount":42.17}`), DurationMS: 41.2}}
	r.Grades[0].Details = map[string]any{"tools_invoked": []string{"lookup_order"}}
	return r
}

var benchResults = []struct {
	name string
	r    *Result
}{{"realistic", realisticResult()}, {"tools", toolResult()}}

func BenchmarkResultAppendJSON(b *testing.B) {
	for _, bb := range benchResults {
		b.Run(bb.name, func(b *testing.B) {
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = bb.r.AppendJSON(buf[:0]); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

// BenchmarkResultGoccy is the encoding AppendJSON replaces, with the
// Encoder reused as ResultWriter did.
func BenchmarkResultGoccy(b *testing.B) {
	for _, bb := range benchResults {
		b.Run(bb.name, func(b *testing.B) {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			b.ReportAllocs()
			for b.Loop() {
				buf.Reset()
				if err := enc.Encode(bb.r); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(buf.Len()))
		})
	}
}

func TestFormatStartedAtMatchesTimeFormat(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2026, 11, 26, 14, 5, 9, 7_654_321, time.UTC),
		time.Date(1999, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)),
		time.Now(),
	} {
		if got, want := FormatStartedAt(tm), tm.UTC().Format(startedAtLayout); got != want {
			t.Fatalf("FormatStartedAt = %s, want %s", got, want)
		}
	}
}

func ptr[T any](v T) *T { return &v }
