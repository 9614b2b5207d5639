package repo

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/goccy/go-json"
	"github.com/parquet-go/parquet-go"
)

// TracesSchema is the value of the "selfevals.schema" key in the footer of
// every traces.parquet; it changes when a column changes meaning or type.
const TracesSchema = "traces/1"

const tracesSchemaKey = "selfevals.schema"

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
// after the spans), both children of the root.
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
//	span_id            STRING (delta)                  <trace_id>/<n>; n = 0 for the root row
//	parent_span_id     STRING (delta, null)            null on the root row, else the root's span_id
//	case_id            STRING (delta)                  the case the call answered
//	params_id          STRING (dict)                   par_… ID of the parameters tried
//	iteration          INT32                           loop iteration (0 = adopted configuration)
//	repetition         INT32                           repetition of the case within the iteration
//	kind               STRING (dict)                   agent_call | tool_call | the span's own kind (llm_call, …)
//	name               STRING (dict, null)             "call" on the root, the tool's name, or the span's name
//	start              TIMESTAMP(MICROS, UTC) (null)   when the call or span began; null if not reported or unparsable
//	duration_ms        DOUBLE (null)                   root: latency of the (last attempt of the) call; spans and tools: as reported
//	status             STRING (dict, null)             root and tools: ok | error; spans: as reported
//	error              STRING (null)                   root: the call's error message; tools: the tool's error
//	error_kind         STRING (dict, null)             root: agent_error, timeout, exit_status, … (SPEC §5)
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
//	attributes         STRING (null)                   spans: attributes as JSON text; root: {"stderr", "truncated"} when set
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
}

// Tuning of the writer. Write only fills batches of rows; a goroutine of
// the writer's own hands each full batch to parquet-go (one call per batch,
// not per row), which encodes and compresses it, so the caller's hot path
// pays for building rows and little else. At most traceBatches batches
// exist, so a slow disk holds Write back instead of growing memory, and a
// row group is closed every traceRowGroupRows rows so the compressed pages
// parquet-go keeps until the row group is written stay bounded (a few MB)
// however long the run. Closing the file writes the last, open row group
// while the run waits: with 8k rows that takes about 5 ms, with 64k rows it
// took 15-25 ms at the end of a 20,000-call run, for files about 5 % smaller.
const (
	traceBatchRows    = 1024
	traceBatches      = 3
	traceRowGroupRows = 8 * 1024
)

// traceStringColumns are the STRING columns of TraceRow.
var traceStringColumns = []string{
	"run_id", "trace_id", "span_id", "parent_span_id", "case_id", "params_id", "kind", "name",
	"status", "error", "error_kind", "model", "output", "structured_output", "label",
	"tool_arguments", "tool_result", "attributes",
}

// traceRowValues backs the pointer columns of the row at the same index of
// a batch, so building a row allocates nothing for them.
type traceRowValues struct {
	duration, cost, score float64
	inTokens, outTokens   int64
	attempts              int32
	cached                bool
}

type traceBatch struct {
	rows []TraceRow       // cap traceBatchRows, never grown
	vals []traceRowValues // len traceBatchRows
}

// TraceWriter streams a run's spans into traces.parquet (zstd), one row per
// span. Rows go to a temporary file beside the final one, renamed on Close,
// so a crash never leaves a half-written traces.parquet. Its methods are
// for one goroutine at a time.
type TraceWriter struct {
	path, tmp string
	runID     string
	f         *os.File
	pw        *parquet.GenericWriter[TraceRow]

	cur     *traceBatch      // the batch Write fills
	full    chan *traceBatch // to the encoder
	free    chan *traceBatch // back from the encoder, emptied
	encoded chan struct{}    // closed when the encoder has stopped
	encErr  atomic.Pointer[error]

	ids  []byte // scratch for span IDs
	ends []int  // where each span ID in ids ends
	err  error  // first failure; every later call returns it
	done bool
}

// CreateTraceWriter starts traces.parquet at path for the run runID.
func CreateTraceWriter(path string, runID string) (*TraceWriter, error) {
	return createTraceWriter(path, runID, traceRowGroupRows)
}

func createTraceWriter(path, runID string, rowGroupRows int64) (*TraceWriter, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, TempPattern(path))
	if err != nil {
		return nil, err
	}
	opts := []parquet.WriterOption{
		// zstd at its fastest level (traceCodec): measured, about 20 %
		// less CPU than the default level for files 4 % larger (snappy:
		// 30 % less CPU, 30 % larger; parquet-go's lz4 was ten times
		// slower).
		parquet.Compression(newTraceCodec()),
		parquet.MaxRowsPerRowGroup(rowGroupRows),
		parquet.KeyValueMetadata(tracesSchemaKey, TracesSchema),
		parquet.KeyValueMetadata("selfevals.run_id", runID),
	}
	// Min/max of strings (hashes, free text, and IDs found in every row
	// group) prune nothing and cost a comparison per value; numbers and
	// times keep theirs. Each option takes one column path.
	for _, col := range traceStringColumns {
		opts = append(opts, parquet.SkipPageBounds(col), parquet.SkipPageStatistics(col))
	}
	pw := parquet.NewGenericWriter[TraceRow](f, opts...)
	w := &TraceWriter{
		path:    path,
		tmp:     f.Name(),
		runID:   runID,
		f:       f,
		pw:      pw,
		full:    make(chan *traceBatch, traceBatches),
		free:    make(chan *traceBatch, traceBatches),
		encoded: make(chan struct{}),
	}
	for range traceBatches {
		w.free <- &traceBatch{
			rows: make([]TraceRow, 0, traceBatchRows),
			vals: make([]traceRowValues, traceBatchRows),
		}
	}
	w.cur = <-w.free
	go w.encode()
	return w, nil
}

// encode runs in its own goroutine: it writes each full batch and returns
// it emptied. After a failure it keeps emptying batches so Write never
// blocks, and the failure surfaces on the next Write or Close.
func (w *TraceWriter) encode() {
	defer close(w.encoded)
	failed := false
	for b := range w.full {
		if !failed {
			if _, err := w.pw.Write(b.rows); err != nil {
				err = fmt.Errorf("writing %s: %w", w.path, err)
				w.encErr.Store(&err)
				failed = true
			}
		}
		clear(b.rows) // drop references to the results' strings
		b.rows = b.rows[:0]
		w.free <- b
	}
}

// Write appends the rows of one result: its root row, then its spans, then
// its tool calls. It keeps no reference to r's slices.
func (w *TraceWriter) Write(r *Result) error {
	if w.done {
		return errors.New("traces: write after Close")
	}
	if err := w.failed(); err != nil {
		return err
	}
	t := &r.Trace
	n := 1 + len(t.Spans) + len(t.ToolCalls)

	// All span IDs of the call in one allocation: "<id>/0<id>/1…", sliced.
	ids := w.ids[:0]
	ends := w.ends[:0]
	for i := range n {
		ids = append(ids, t.ID...)
		ids = append(ids, '/')
		ids = strconv.AppendInt(ids, int64(i), 10)
		ends = append(ends, len(ids))
	}
	w.ids, w.ends = ids, ends
	all := string(ids)
	spanID := func(i int) string {
		from := 0
		if i > 0 {
			from = ends[i-1]
		}
		return all[from:ends[i]]
	}
	root := spanID(0)

	row, v := w.next(t)
	if row == nil {
		return w.err
	}
	row.SpanID = root
	row.Kind = KindAgentCall
	row.Name = "call"
	row.Start = parseTraceTime(t.StartedAt)
	v.duration = t.LatencyMS
	row.DurationMS = &v.duration
	row.Status = StatusOK
	if t.Error != "" {
		row.Status = StatusError
	}
	row.Error = t.Error
	row.ErrorKind = t.ErrorKind
	row.Model = t.Model
	v.inTokens, v.outTokens, v.cost = t.Usage.InputTokens, t.Usage.OutputTokens, t.CostUSD
	row.InputTokens, row.OutputTokens, row.CostUSD = &v.inTokens, &v.outTokens, &v.cost
	row.Output = t.Output
	if len(t.StructuredOutput) > 0 {
		row.Structured = string(t.StructuredOutput)
	}
	if r.Label != "" {
		row.Label = string(r.Label)
		v.score = r.Score
		row.Score = &v.score
	}
	v.cached, v.attempts = t.Cached, int32(t.Attempts)
	row.Cached, row.Attempts = &v.cached, &v.attempts
	if t.Stderr != "" || t.Truncated {
		row.Attributes = rootAttributes(t)
	}

	k := 1
	for i := range t.Spans {
		s := &t.Spans[i]
		row, v := w.next(t)
		if row == nil {
			return w.err
		}
		row.SpanID = spanID(k)
		k++
		row.ParentSpanID = root
		row.Kind = s.Kind
		row.Name = s.Name
		row.Start = parseTraceTime(s.Start)
		if s.DurationMS != 0 {
			v.duration = s.DurationMS
			row.DurationMS = &v.duration
		}
		row.Status = s.Status
		if len(s.Attributes) > 0 {
			row.Attributes = string(s.Attributes)
		}
	}
	for i := range t.ToolCalls {
		c := &t.ToolCalls[i]
		row, v := w.next(t)
		if row == nil {
			return w.err
		}
		row.SpanID = spanID(k)
		k++
		row.ParentSpanID = root
		row.Kind = KindToolCall
		row.Name = c.Name
		if c.DurationMS != 0 {
			v.duration = c.DurationMS
			row.DurationMS = &v.duration
		}
		row.Status = StatusOK
		if c.Error != "" {
			row.Status = StatusError
		}
		row.Error = c.Error
		if len(c.Arguments) > 0 {
			row.ToolArgs = string(c.Arguments)
		}
		if len(c.Result) > 0 {
			row.ToolResult = string(c.Result)
		}
	}
	return nil
}

// next returns a cleared row slot with the call's identifying columns set,
// handing the batch to the encoder first when it is full; nil after a
// failure.
func (w *TraceWriter) next(t *Trace) (*TraceRow, *traceRowValues) {
	b := w.cur
	if len(b.rows) == cap(b.rows) {
		if w.failed() != nil {
			return nil, nil
		}
		w.full <- b
		b = <-w.free
		w.cur = b
	}
	i := len(b.rows)
	b.rows = b.rows[:i+1]
	b.rows[i] = TraceRow{
		RunID:      w.runID,
		TraceID:    t.ID,
		CaseID:     t.CaseID,
		ParamsID:   t.ParamsID,
		Iteration:  int32(t.Iteration),
		Repetition: int32(t.Repetition),
	}
	b.vals[i] = traceRowValues{}
	return &b.rows[i], &b.vals[i]
}

// failed records and returns the encoder's failure, if any.
func (w *TraceWriter) failed() error {
	if w.err == nil {
		if p := w.encErr.Load(); p != nil {
			w.err = *p
		}
	}
	return w.err
}

// Close writes the footer, syncs the file and renames it to its final name.
// After a failure, Close removes the temporary file and returns the failure.
func (w *TraceWriter) Close() error {
	if w.done {
		return w.err
	}
	w.done = true
	if len(w.cur.rows) > 0 {
		w.full <- w.cur
	}
	w.cur = nil
	close(w.full)
	<-w.encoded
	err := w.failed()
	if err == nil {
		if err = w.pw.Close(); err != nil {
			err = fmt.Errorf("writing %s: %w", w.path, err)
		}
	}
	if err == nil {
		err = w.f.Chmod(0o644) // CreateTemp made it 0600
	}
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(w.tmp, w.path)
	}
	if err != nil {
		os.Remove(w.tmp)
		w.err = err
		return err
	}
	// Sync the directory so the rename itself survives a crash.
	if d, derr := os.Open(filepath.Dir(w.path)); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// parseTraceTime reads an RFC 3339 timestamp; anything else is the zero
// time, which is written as null.
func parseTraceTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	if ts, ok := parseStartedAt(s); ok {
		return ts
	}
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return ts.UTC()
}

func rootAttributes(t *Trace) string {
	b, err := json.Marshal(struct {
		Stderr    string `json:"stderr,omitempty"`
		Truncated bool   `json:"truncated,omitempty"`
	}{t.Stderr, t.Truncated})
	if err != nil {
		return ""
	}
	return string(b)
}

// ReadTraceRows calls fn with every row of the traces.parquet at path, in
// file order, stopping at fn's first error. Rows are fn's to keep.
func ReadTraceRows(path string, fn func(TraceRow) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return fmt.Errorf("%s: not a readable Parquet file: %w", path, err)
	}
	if v, ok := pf.Lookup(tracesSchemaKey); ok && v != TracesSchema {
		return fmt.Errorf("%s: trace schema %q, this selfevals reads %q: upgrade selfevals to read it", path, v, TracesSchema)
	}
	r := parquet.NewGenericReader[TraceRow](pf)
	defer r.Close()
	buf := make([]TraceRow, 256)
	for {
		clear(buf) // so the reader allocates fresh pointers for every row
		n, err := r.Read(buf)
		for i := range n {
			if ferr := fn(buf[i]); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
	}
}
