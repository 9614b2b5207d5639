package repo

import "github.com/goccy/go-json"

// Request is what every adapter sends to the agent: one JSON object per
// call (on stdin, as an HTTP body, or as a worker line).
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
	// TraceParent is the W3C traceparent of the call when the run captures
	// OpenTelemetry spans (agent.otlp): the agent's spans belong under it.
	// Workers, long-lived, find it only here.
	TraceParent string `json:"traceparent,omitempty"`
}

// Response is what an agent answers. Every field is optional, but an
// answer has at least an output or an error.
type Response struct {
	Output           string          `json:"output,omitempty"`
	StructuredOutput json.RawMessage `json:"structured_output,omitempty"`
	ToolCalls        []ToolCall      `json:"tool_calls,omitempty"`
	Spans            []Span          `json:"spans,omitempty"`
	// SpansDropped counts OTLP spans past agent.otlp's caps (set by the
	// run, not the agent).
	SpansDropped int     `json:"spans_dropped,omitempty"`
	Usage        Usage   `json:"usage,omitzero"`
	CostUSD      float64 `json:"cost_usd,omitempty"`
	Model        string  `json:"model,omitempty"`
	Error        string  `json:"error,omitempty"`
	// CostReported is set when the agent reported a cost, 0 included: a
	// free call is a measured cost of 0, not a cost nobody measured.
	CostReported bool `json:"cost_reported,omitempty"`
}

// ToolCall is one tool the agent invoked.
type ToolCall struct {
	Name       string          `json:"name"`
	Arguments  json.RawMessage `json:"arguments,omitempty"`
	Result     json.RawMessage `json:"result,omitempty"`
	Error      string          `json:"error,omitempty"`
	DurationMS float64         `json:"duration_ms,omitempty"`
}

// Span is one timed step inside an agent call (llm_call, tool_call, …),
// reported in the agent's answer or received over OTLP (agent.otlp).
//
// A received span keeps its OpenTelemetry identity: SpanID and ParentID are
// hex span IDs, ParentID empty for a span directly under the call; Kind is
// its gen_ai.operation.name (chat, execute_tool, invoke_agent, …) or "span",
// OTelKind its span kind (client, internal, …), Status ok, error or unset.
type Span struct {
	Kind          string          `json:"kind"`
	Name          string          `json:"name,omitempty"`
	SpanID        string          `json:"span_id,omitempty"`
	ParentID      string          `json:"parent_id,omitempty"`
	OTelKind      string          `json:"otel_kind,omitempty"`
	Start         string          `json:"start,omitempty"`
	DurationMS    float64         `json:"duration_ms,omitempty"`
	Status        string          `json:"status,omitempty"`
	StatusMessage string          `json:"status_message,omitempty"`
	Attributes    json.RawMessage `json:"attributes,omitempty"`
	Events        []SpanEvent     `json:"events,omitempty"`
}

// SpanEvent is a timestamped event inside a span (an exception, a log).
type SpanEvent struct {
	Name       string          `json:"name"`
	Time       string          `json:"time,omitempty"`
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
	// SpansDropped counts the call's OTLP spans past agent.otlp's caps.
	SpansDropped int     `json:"spans_dropped,omitempty"`
	Usage        Usage   `json:"usage,omitzero"`
	CostUSD      float64 `json:"cost_usd,omitempty"`
	CostReported bool    `json:"cost_reported,omitempty"` // see Response
	Model        string  `json:"model,omitempty"`

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
