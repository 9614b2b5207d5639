package runstore

import "time"

// The schema of traces.parquet. The file is written and read by
// runstore/tracefile (the only code that links parquet); its rows and
// names live here so that readers of the run record need not.

// TracesSchema is the value of the "selfevals.schema" key in the footer of
// every traces.parquet; it changes when a column changes meaning or type.
const TracesSchema = "traces/1"

// Row kinds and statuses the writer produces itself; span rows carry the
// agent's own kind and status.
const (
	KindAgentCall = "agent_call"
	KindToolCall  = "tool_call"
	StatusOK      = "ok"
	StatusError   = "error"
)

// TraceRow is one row of traces.parquet: one span of one agent call. Each
// call gives a root row (kind "agent_call", span "<trace_id>/0"), then one
// row per response span ("<trace_id>/1", …) and one per tool call (numbered
// after the spans), both children of the root. A span received over OTLP
// (agent.otlp) keeps its own identity instead: span "<trace_id>/<its hex
// span ID>", its parent the row of its parent span, or the root for the
// agent's top spans; the tool calls its execute_tool spans gave are tool
// rows as well.
//
// Optional string columns hold null for "" (Go reads null back as ""); the
// pointer columns are null where the column does not apply to the row's
// kind, so 0 stays distinguishable from "not reported". Columns marked dict
// are dictionary-encoded (few distinct values); the IDs of calls and cases
// are DELTA_BYTE_ARRAY, which stores a repeated or shared prefix once without
// hashing every value (for case IDs, measured: less CPU than a dictionary
// and a file 3 % smaller, with 10,000 cases or with 2,000).
//
//	column             type                            meaning
//	run_id             STRING (dict)                   the run that wrote the row
//	trace_id           STRING (delta)                  tr_… ID of the agent call; same on all rows of a call
//	span_id            STRING (delta)                  <trace_id>/<n>; n = 0 for the root row; <trace_id>/<hex> for OTLP spans
//	parent_span_id     STRING (delta, null)            null on the root row, else the root's span_id or the OTLP parent's
//	case_id            STRING (delta)                  the case the call answered
//	params_id          STRING (dict)                   par_… ID of the parameters tried
//	iteration          INT32                           loop iteration (0 = adopted configuration)
//	repetition         INT32                           repetition of the case within the iteration
//	kind               STRING (dict)                   agent_call | tool_call | the span's own kind (llm_call, …)
//	name               STRING (dict, null)             "call" on the root, the tool's name, or the span's name
//	start              TIMESTAMP(MICROS, UTC) (null)   when the call or span began; null if not reported or unparsable
//	duration_ms        DOUBLE (null)                   root: latency of the (last attempt of the) call; spans and tools: as reported
//	status             STRING (dict, null)             root and tools: ok | error; spans: as reported (OTLP: ok | error | unset)
//	error              STRING (null)                   root: the call's error message; tools: the tool's error; spans: the status message
//	error_kind         STRING (dict, null)             root: agent_error, timeout, exit_status, … (repo.Err… kinds)
//	model              STRING (dict, null)             root: model the agent reported
//	input_tokens       INT64 (null)                    root: input tokens (0 if not reported)
//	output_tokens      INT64 (null)                    root: output tokens (0 if not reported)
//	cost_usd           DOUBLE (null)                   root: cost in US dollars (0 if not reported)
//	output             STRING (null)                   root: final output text
//	structured_output  STRING (null)                   root: structured output as JSON text
//	label              STRING (dict, null)             root: combined (worst-of) label: pass, partial, fail, error, skipped; null if not graded
//	score              DOUBLE (null)                   root: combined score in [0, 1]; null if not graded
//	cached             BOOLEAN (null)                  root: served from the agent-call cache
//	attempts           INT32 (null)                    root: calls made, retries included
//	tool_arguments     STRING (null)                   tool rows: arguments as JSON text
//	tool_result        STRING (null)                   tool rows: result as JSON text
//	attributes         STRING (null)                   spans: attributes as JSON text; root: {"stderr", "truncated", "spans_dropped"} when set
//	otel_kind          STRING (dict, null)             OTLP spans: internal | server | client | producer | consumer
//	events             STRING (null)                   OTLP spans: events as a JSON array of {name, time, attributes}
//
// With DuckDB: SELECT label, avg(duration_ms) FROM 'traces.parquet' WHERE
// kind = 'agent_call' GROUP BY label.
type TraceRow struct {
	RunID        string    `parquet:"run_id,dict"`
	TraceID      string    `parquet:"trace_id,delta"`
	SpanID       string    `parquet:"span_id,delta"`
	ParentSpanID string    `parquet:"parent_span_id,optional,delta"`
	CaseID       string    `parquet:"case_id,delta"`
	ParamsID     string    `parquet:"params_id,dict"`
	Iteration    int32     `parquet:"iteration"`
	Repetition   int32     `parquet:"repetition"`
	Kind         string    `parquet:"kind,dict"`
	Name         string    `parquet:"name,optional,dict"`
	Start        time.Time `parquet:"start,optional,timestamp(microsecond)"`
	DurationMS   *float64  `parquet:"duration_ms,optional"`
	Status       string    `parquet:"status,optional,dict"`
	Error        string    `parquet:"error,optional"`
	ErrorKind    string    `parquet:"error_kind,optional,dict"`
	Model        string    `parquet:"model,optional,dict"`
	InputTokens  *int64    `parquet:"input_tokens,optional"`
	OutputTokens *int64    `parquet:"output_tokens,optional"`
	CostUSD      *float64  `parquet:"cost_usd,optional"`
	Output       string    `parquet:"output,optional"`
	Structured   string    `parquet:"structured_output,optional"`
	Label        string    `parquet:"label,optional,dict"`
	Score        *float64  `parquet:"score,optional"`
	Cached       *bool     `parquet:"cached,optional"`
	Attempts     *int32    `parquet:"attempts,optional"`
	ToolArgs     string    `parquet:"tool_arguments,optional"`
	ToolResult   string    `parquet:"tool_result,optional"`
	Attributes   string    `parquet:"attributes,optional"`
	OTelKind     string    `parquet:"otel_kind,optional,dict"`
	Events       string    `parquet:"events,optional"`
}

// TraceStringColumns are the STRING columns of TraceRow.
var TraceStringColumns = []string{
	"run_id", "trace_id", "span_id", "parent_span_id", "case_id", "params_id", "kind", "name",
	"status", "error", "error_kind", "model", "output", "structured_output", "label",
	"tool_arguments", "tool_result", "attributes", "otel_kind", "events",
}
