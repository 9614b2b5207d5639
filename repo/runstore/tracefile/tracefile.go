// Package tracefile writes and reads traces.parquet, a run's spans as
// columns for analytical tools (the schema is runstore.TraceRow). It is the
// only code that links parquet.
package tracefile

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
	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"

	"github.com/selfevals/selfevals/repo/internal/fault"
)

const tracesSchemaKey = "selfevals.schema"

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
//
// Batches are made as they are needed, the first of traceFirstBatchRows
// rows and each next one twice as large up to traceBatchRows: a run of a
// few calls would otherwise allocate and zero 3,072 rows (about 1.6 MB) it
// never fills, a few milliseconds of every small run's start.
const (
	traceBatchRows      = 1024
	traceFirstBatchRows = 16
	traceBatches        = 3
	traceRowGroupRows   = 8 * 1024
)

// traceRowValues backs the pointer columns of the row at the same index of
// a batch, so building a row allocates nothing for them.
type traceRowValues struct {
	duration, cost, score float64
	inTokens, outTokens   int64
	attempts              int32
	cached                bool
}

type traceBatch struct {
	rows []runstore.TraceRow // never grown: its capacity is the batch's size
	vals []traceRowValues    // len cap(rows)
}

func newTraceBatch(rows int) *traceBatch {
	return &traceBatch{rows: make([]runstore.TraceRow, 0, rows), vals: make([]traceRowValues, rows)}
}

// Writer streams a run's spans into traces.parquet (zstd), one row per
// span. Rows go to a temporary file beside the final one, renamed on Close,
// so a crash never leaves a half-written traces.parquet. Its methods are
// for one goroutine at a time.
type Writer struct {
	path, tmp string
	runID     string
	f         *os.File
	pw        *parquet.GenericWriter[runstore.TraceRow] // made and used by encode, then by Close

	cur     *traceBatch      // the batch Write fills
	made    int              // batches made, at most traceBatches
	full    chan *traceBatch // to the encoder
	free    chan *traceBatch // back from the encoder, emptied
	encoded chan struct{}    // closed when the encoder has stopped
	encErr  atomic.Pointer[error]

	dirSyncs *repo.Syncs // nil: Close syncs the directory itself

	ids  []byte // scratch for span IDs
	ends []int  // where each span ID in ids ends
	err  error  // first failure; every later call returns it
	done bool
}

// Create starts traces.parquet at path for the run runID.
func Create(path string, runID string) (*Writer, error) {
	return create(path, runID, traceRowGroupRows)
}

func create(path, runID string, rowGroupRows int64) (*Writer, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, repo.TempPattern(path))
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
		parquet.KeyValueMetadata(tracesSchemaKey, runstore.TracesSchema),
		parquet.KeyValueMetadata("selfevals.run_id", runID),
	}
	// Min/max of strings (hashes, free text, and IDs found in every row
	// group) prune nothing and cost a comparison per value; numbers and
	// times keep theirs. Each option takes one column path.
	for _, col := range runstore.TraceStringColumns {
		opts = append(opts, parquet.SkipPageBounds(col), parquet.SkipPageStatistics(col))
	}
	w := &Writer{
		path:    path,
		tmp:     f.Name(),
		runID:   runID,
		f:       f,
		full:    make(chan *traceBatch, traceBatches),
		free:    make(chan *traceBatch, traceBatches),
		encoded: make(chan struct{}),
	}
	w.cur, w.made = newTraceBatch(traceFirstBatchRows), 1
	go w.encode(opts)
	return w, nil
}

// encode runs in its own goroutine: it writes each full batch and returns
// it emptied. After a failure it keeps emptying batches so Write never
// blocks, and the failure surfaces on the next Write or Close. It makes the
// Parquet writer itself, a millisecond or two of reflection on the row
// type that the run's start need not wait for.
func (w *Writer) encode(opts []parquet.WriterOption) {
	defer close(w.encoded)
	w.pw = parquet.NewGenericWriter[runstore.TraceRow](w.f, opts...)
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
func (w *Writer) Write(r *repo.Result) error {
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
	row.Kind = runstore.KindAgentCall
	row.Name = "call"
	row.Start = parseTraceTime(t.StartedAt)
	v.duration = t.LatencyMS
	row.DurationMS = &v.duration
	row.Status = runstore.StatusOK
	if t.Error != "" {
		row.Status = runstore.StatusError
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
	if t.Stderr != "" || t.Truncated || t.SpansDropped != 0 {
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
		if s.SpanID != "" {
			// An OTLP span keeps its place in the agent's tree.
			row.SpanID = t.ID + "/" + s.SpanID
			if s.ParentID != "" {
				row.ParentSpanID = t.ID + "/" + s.ParentID
			}
			row.OTelKind = s.OTelKind
			row.Error = s.StatusMessage
			row.Events = spanEvents(s.Events)
		}
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
		row.Kind = runstore.KindToolCall
		row.Name = c.Name
		if c.DurationMS != 0 {
			v.duration = c.DurationMS
			row.DurationMS = &v.duration
		}
		row.Status = runstore.StatusOK
		if c.Error != "" {
			row.Status = runstore.StatusError
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
func (w *Writer) next(t *repo.Trace) (*runstore.TraceRow, *traceRowValues) {
	b := w.cur
	if len(b.rows) == cap(b.rows) {
		if w.failed() != nil {
			return nil, nil
		}
		grown := 2 * cap(b.rows) // read before the encoder owns b
		w.full <- b
		b = w.nextBatch(grown)
		w.cur = b
	}
	i := len(b.rows)
	b.rows = b.rows[:i+1]
	b.rows[i] = runstore.TraceRow{
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

// nextBatch returns an empty batch of min(rows, traceBatchRows) rows: a new
// one while fewer than traceBatches exist, else one back from the encoder,
// replaced by a new one when it is smaller (so at most traceBatches stay
// alive).
func (w *Writer) nextBatch(rows int) *traceBatch {
	rows = min(rows, traceBatchRows)
	if w.made < traceBatches {
		w.made++
		return newTraceBatch(rows)
	}
	b := <-w.free
	if cap(b.rows) < rows {
		return newTraceBatch(rows)
	}
	return b
}

// failed records and returns the encoder's failure, if any.
func (w *Writer) failed() error {
	if w.err == nil {
		if p := w.encErr.Load(); p != nil {
			w.err = *p
		}
	}
	return w.err
}

// Close writes the footer, syncs the file and renames it to its final name.
// After a failure, Close removes the temporary file and returns the failure.
func (w *Writer) Close() error {
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
		err = fault.Point("rename traces.parquet")
	}
	if err == nil {
		err = os.Rename(w.tmp, w.path)
	}
	if err != nil {
		os.Remove(w.tmp)
		w.err = err
		return err
	}
	// Sync the directory so the rename itself survives a crash, now or
	// with the other files of the run.
	if w.dirSyncs != nil {
		w.dirSyncs.Dir(filepath.Dir(w.path))
	} else {
		repo.SyncDir(filepath.Dir(w.path))
	}
	return nil
}

// DeferDirSync leaves the fsync of the directory after Close's rename to
// syncs (the file itself is synced before the rename either way).
func (w *Writer) DeferDirSync(syncs *repo.Syncs) { w.dirSyncs = syncs }

// parseTraceTime reads an RFC 3339 timestamp; anything else is the zero
// time, which is written as null.
func parseTraceTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	if ts, ok := repo.ParseStartedAt(s); ok {
		return ts
	}
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return ts.UTC()
}

func rootAttributes(t *repo.Trace) string {
	b, err := json.Marshal(struct {
		Stderr       string `json:"stderr,omitempty"`
		Truncated    bool   `json:"truncated,omitempty"`
		SpansDropped int    `json:"spans_dropped,omitempty"`
	}{t.Stderr, t.Truncated, t.SpansDropped})
	if err != nil {
		return ""
	}
	return string(b)
}

// spanEvents is an OTLP span's events as JSON text; "" when it has none.
func spanEvents(events []repo.SpanEvent) string {
	if len(events) == 0 {
		return ""
	}
	b, err := json.Marshal(events)
	if err != nil {
		return ""
	}
	return string(b)
}

// ReadRows calls fn with every row of the traces.parquet at path, in
// file order, stopping at fn's first error. Rows are fn's to keep. A file
// the Parquet library cannot decode is an error, even where the library
// panics on it (a corrupted page can make it index out of range).
func ReadRows(path string, fn func(runstore.TraceRow) error) (err error) {
	inFn := false
	defer func() {
		if r := recover(); r != nil {
			if inFn {
				panic(r) // the caller's own bug: not ours to hide
			}
			err = fmt.Errorf("%s: not a readable Parquet file (corrupted: %v)", path, r)
		}
	}()
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
	if v, ok := pf.Lookup(tracesSchemaKey); ok && v != runstore.TracesSchema {
		return fmt.Errorf("%s: trace schema %q, this selfevals reads %q: upgrade selfevals to read it", path, v, runstore.TracesSchema)
	}
	r := parquet.NewGenericReader[runstore.TraceRow](pf)
	defer r.Close()
	buf := make([]runstore.TraceRow, 256)
	for {
		clear(buf) // so the reader allocates fresh pointers for every row
		n, err := r.Read(buf)
		for i := range n {
			inFn = true
			ferr := fn(buf[i])
			inFn = false
			if ferr != nil {
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
