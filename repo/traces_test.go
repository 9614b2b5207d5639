package repo

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goccy/go-json"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/selfevals/selfevals/repo/internal/jsonwriter"
)

func ptr[T any](v T) *T { return &v }

func readAllTraceRows(t testing.TB, path string) []TraceRow {
	t.Helper()
	var rows []TraceRow
	if err := ReadTraceRows(path, func(r TraceRow) error {
		rows = append(rows, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestTraceWriterRoundTrip(t *testing.T) {
	score := 0.25
	results := []Result{
		{ // spans, tool calls (one failed), graded, with structured output
			Trace: Trace{
				ID: "tr_0001", CaseID: "case_a", ParamsID: "par_x", Iteration: 2, Repetition: 1,
				Output:           "The refund was issued.",
				StructuredOutput: json.RawMessage(`{"refund":true}`),
				Spans: []Span{
					{Kind: "llm_call", Name: "plan", Start: "2025-03-01T10:00:00.125Z", DurationMS: 12.5, Status: "ok", Attributes: json.RawMessage(`{"gen_ai.request.model":"m1"}`)},
					{Kind: "llm_call", Start: "2025-03-01T12:00:00.5+02:00"}, // no name, duration, status; offset zone
				},
				ToolCalls: []ToolCall{
					{Name: "lookup", Arguments: json.RawMessage(`{"id":7}`), Result: json.RawMessage(`{"ok":true}`), DurationMS: 3},
					{Name: "refund", Arguments: json.RawMessage(`{}`), Error: "denied"},
				},
				Usage:     Usage{InputTokens: 120, OutputTokens: 30},
				CostUSD:   0.0021,
				Model:     "m1",
				StartedAt: "2025-03-01T10:00:00.100Z",
				LatencyMS: 41.5,
				Attempts:  2,
			},
			Grades: []Grade{{Grader: "g", Label: Partial, Score: &score}},
			Label:  Partial,
			Score:  score,
		},
		{ // a failed call: no start, no spans, stderr and truncation, cached, score 0
			Trace: Trace{
				ID: "tr_0002", CaseID: "case_b", ParamsID: "par_x",
				Error: "exit status 3", ErrorKind: ErrExit, Stderr: "boom\n", Truncated: true,
				Cached: true, Attempts: 1,
			},
			Label: Error,
		},
		{ // not graded, unparsable start
			Trace: Trace{ID: "tr_0003", CaseID: "case_c", ParamsID: "par_y", StartedAt: "yesterday", LatencyMS: 1},
		},
	}

	path := filepath.Join(t.TempDir(), "run", "traces.parquet")
	w, err := CreateTraceWriter(path, "run_1")
	if err != nil {
		t.Fatal(err)
	}
	for i := range results {
		if err := w.Write(&results[i]); err != nil {
			t.Fatal(err)
		}
	}
	// The writer keeps nothing of the caller's results: scribble over them.
	for i := range results {
		for j := range results[i].Spans {
			clear(results[i].Spans[j].Attributes)
		}
		results[i].Score = 99
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	common := func(trace, caseID, params string, it, rep int32) TraceRow {
		return TraceRow{RunID: "run_1", TraceID: trace, CaseID: caseID, ParamsID: params, Iteration: it, Repetition: rep}
	}
	with := func(r TraceRow, f func(*TraceRow)) TraceRow { f(&r); return r }
	a := common("tr_0001", "case_a", "par_x", 2, 1)
	b := common("tr_0002", "case_b", "par_x", 0, 0)
	c := common("tr_0003", "case_c", "par_y", 0, 0)
	want := []TraceRow{
		with(a, func(r *TraceRow) {
			r.SpanID, r.Kind, r.Name = "tr_0001/0", KindAgentCall, "call"
			r.Start = time.Date(2025, 3, 1, 10, 0, 0, 100e6, time.UTC)
			r.DurationMS, r.Status = ptr(41.5), "ok"
			r.Model, r.InputTokens, r.OutputTokens, r.CostUSD = "m1", ptr[int64](120), ptr[int64](30), ptr(0.0021)
			r.Output, r.Structured = "The refund was issued.", `{"refund":true}`
			r.Label, r.Score, r.Cached, r.Attempts = "partial", ptr(0.25), ptr(false), ptr[int32](2)
		}),
		with(a, func(r *TraceRow) {
			r.SpanID, r.ParentSpanID, r.Kind, r.Name = "tr_0001/1", "tr_0001/0", "llm_call", "plan"
			r.Start = time.Date(2025, 3, 1, 10, 0, 0, 125e6, time.UTC)
			r.DurationMS, r.Status, r.Attributes = ptr(12.5), "ok", `{"gen_ai.request.model":"m1"}`
		}),
		with(a, func(r *TraceRow) {
			r.SpanID, r.ParentSpanID, r.Kind = "tr_0001/2", "tr_0001/0", "llm_call"
			r.Start = time.Date(2025, 3, 1, 10, 0, 0, 500e6, time.UTC)
		}),
		with(a, func(r *TraceRow) {
			r.SpanID, r.ParentSpanID, r.Kind, r.Name = "tr_0001/3", "tr_0001/0", KindToolCall, "lookup"
			r.DurationMS, r.Status, r.ToolArgs, r.ToolResult = ptr(3.0), "ok", `{"id":7}`, `{"ok":true}`
		}),
		with(a, func(r *TraceRow) {
			r.SpanID, r.ParentSpanID, r.Kind, r.Name = "tr_0001/4", "tr_0001/0", KindToolCall, "refund"
			r.Status, r.Error, r.ToolArgs = "error", "denied", `{}`
		}),
		with(b, func(r *TraceRow) {
			r.SpanID, r.Kind, r.Name = "tr_0002/0", KindAgentCall, "call"
			r.DurationMS, r.Status, r.Error, r.ErrorKind = ptr(0.0), "error", "exit status 3", "exit_status"
			r.InputTokens, r.OutputTokens, r.CostUSD = ptr[int64](0), ptr[int64](0), ptr(0.0)
			r.Label, r.Score, r.Cached, r.Attempts = "error", ptr(0.0), ptr(true), ptr[int32](1)
			r.Attributes = `{"stderr":"boom\n","truncated":true}`
		}),
		with(c, func(r *TraceRow) {
			r.SpanID, r.Kind, r.Name = "tr_0003/0", KindAgentCall, "call"
			r.DurationMS, r.Status = ptr(1.0), "ok"
			r.InputTokens, r.OutputTokens, r.CostUSD = ptr[int64](0), ptr[int64](0), ptr(0.0)
			r.Cached, r.Attempts = ptr(false), ptr[int32](0)
		}),
	}
	got := readAllTraceRows(t, path)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("rows (-want +got):\n%s", d)
	}

	// The footer names the schema; nothing but the final file is left.
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := pf.Lookup("selfevals.schema"); v != TracesSchema {
		t.Errorf("selfevals.schema = %q, want %q", v, TracesSchema)
	}
	for _, col := range pf.Metadata().RowGroups[0].Columns {
		if c := col.MetaData.Codec.String(); c != "ZSTD" {
			t.Errorf("column %v: codec %s, want ZSTD", col.MetaData.PathInSchema, c)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("run directory holds %d entries, want only traces.parquet", len(entries))
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("traces.parquet has mode %v, want 0644", st.Mode().Perm())
	}
}

func TestTraceWriterEmptyRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "traces.parquet")
	w, err := CreateTraceWriter(path, "run_empty")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if rows := readAllTraceRows(t, path); len(rows) != 0 {
		t.Errorf("read %d rows from an empty run", len(rows))
	}
	// A second Close is harmless; a Write after Close is refused.
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := w.Write(&Result{}); err == nil {
		t.Error("Write after Close succeeded")
	}
}

// A run that dies before Close leaves no traces.parquet, only a temporary
// file under another name.
func TestTraceWriterCrashLeavesNoFinalFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "traces.parquet")
	w, err := CreateTraceWriter(path, "run_crash")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	vocab := traceVocabulary(rng)
	for i := range 1500 { // several batches, so pages reach the temp file
		r := syntheticResult(rng, vocab, i)
		if err := w.Write(&r); err != nil {
			t.Fatal(err)
		}
	}
	// No Close: the process "crashes" here.
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("traces.parquet exists before Close (stat err %v)", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want the one temporary file", len(entries))
	}
	if name := entries[0].Name(); name == "traces.parquet" || !strings.HasPrefix(name, ".") {
		t.Errorf("temporary file is named %q", name)
	}
	if err := ReadTraceRows(filepath.Join(dir, entries[0].Name()), func(TraceRow) error { return nil }); err == nil {
		t.Error("the unfinished temporary file reads as a Parquet file")
	}
	w.f.Close() // for Windows' sake; a real crash closes it too
}

// A failure of the file (here: closed under the writer) surfaces from
// Write or Close, and Close leaves neither the final nor the temporary file.
func TestTraceWriterFailure(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "traces.parquet")
	w, err := createTraceWriter(path, "run_fail", 100)
	if err != nil {
		t.Fatal(err)
	}
	w.f.Close()
	rng := rand.New(rand.NewPCG(11, 12))
	vocab := traceVocabulary(rng)
	var werr error
	for i := 0; i < 2000 && werr == nil; i++ {
		r := syntheticResult(rng, vocab, i)
		werr = w.Write(&r)
	}
	cerr := w.Close()
	if cerr == nil {
		t.Fatalf("Close succeeded on a closed file (Write: %v)", werr)
	}
	if werr != nil && cerr.Error() != werr.Error() {
		t.Errorf("Close: %v, want the Write failure %v", cerr, werr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left %d files behind, first %s", len(entries), entries[0].Name())
	}
}

// Enough results to cross batches and row groups: every row comes back in
// order and the file is split in bounded row groups.
func TestTraceWriterManyRowGroups(t *testing.T) {
	path := filepath.Join(t.TempDir(), "traces.parquet")
	const groupRows = 1000 // small, so that a quick test crosses many
	w, err := createTraceWriter(path, "run_many", groupRows)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	vocab := traceVocabulary(rng)
	const n = 2000
	wantRows := 0
	for i := range n {
		r := syntheticResult(rng, vocab, i)
		wantRows += 1 + len(r.Spans) + len(r.ToolCalls)
		if err := w.Write(&r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	next := 0
	rows := 0
	err = ReadTraceRows(path, func(r TraceRow) error {
		if r.Kind == KindAgentCall {
			if want := fmt.Sprintf("tr_%016x", next); r.TraceID != want || r.SpanID != want+"/0" {
				return fmt.Errorf("row %d: root of %s (%s), want %s", rows, r.TraceID, r.SpanID, want)
			}
			next++
		}
		rows++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rows != wantRows || next != n {
		t.Errorf("read %d rows and %d calls, want %d and %d", rows, next, wantRows, n)
	}
	f, _ := os.Open(path)
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	for i, rg := range pf.RowGroups() {
		if rg.NumRows() > groupRows {
			t.Errorf("row group %d holds %d rows, more than %d", i, rg.NumRows(), groupRows)
		}
	}
	if len(pf.RowGroups()) < wantRows/groupRows {
		t.Errorf("%d row groups for %d rows", len(pf.RowGroups()), rows)
	}
}

func TestReadTraceRowsRejectsOtherSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "traces.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	pw := parquet.NewGenericWriter[TraceRow](f, parquet.KeyValueMetadata("selfevals.schema", "traces/99"))
	if _, err := pw.Write([]TraceRow{{TraceID: "tr_1"}}); err != nil {
		t.Fatal(err)
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	err = ReadTraceRows(path, func(TraceRow) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "traces/99") {
		t.Errorf("err = %v, want one naming the schema traces/99", err)
	}
}

// traceStringColumns must name every STRING column, or the writer spends
// a comparison per value on useless min/max statistics.
func TestTraceStringColumnsMatchSchema(t *testing.T) {
	var got []string
	for _, f := range parquet.SchemaOf(TraceRow{}).Fields() {
		if f.Type().Kind() == parquet.ByteArray {
			got = append(got, f.Name())
		}
	}
	if d := cmp.Diff(traceStringColumns, got); d != "" {
		t.Errorf("traceStringColumns (-have +schema):\n%s", d)
	}
}

// TestTraceWriterSample writes a sample traces.parquet to
// $SELFEVALS_TRACE_SAMPLE for checking with other readers (DuckDB, pandas).
func TestTraceWriterSample(t *testing.T) {
	path := os.Getenv("SELFEVALS_TRACE_SAMPLE")
	if path == "" {
		t.Skip("set SELFEVALS_TRACE_SAMPLE=/some/traces.parquet to write a sample")
	}
	w, err := CreateTraceWriter(path, "run_sample")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 10))
	vocab := traceVocabulary(rng)
	for i := range 100_000 {
		r := syntheticResult(rng, vocab, i)
		if i == 7 {
			r.StartedAt, r.Spans[0].Start = "", "" // nulls for start
		}
		if err := w.Write(&r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// traceVocabulary is 4,000 made-up words; drawn with a Zipf law they give
// text that compresses about like prose (a small vocabulary would flatter
// every compressed format).
func traceVocabulary(rng *rand.Rand) []string {
	const letters = "etaoinshrdlcumwfgypbvkjxqz"
	words := make([]string, 4000)
	for i := range words {
		n := 2 + rng.IntN(9)
		b := make([]byte, n)
		for j := range b {
			b[j] = letters[min(rng.IntN(26), rng.IntN(26))] // skewed to common letters
		}
		words[i] = string(b)
	}
	return words
}

func traceText(rng *rand.Rand, vocab []string, size int) string {
	zipf := rand.NewZipf(rng, 1.1, 1, uint64(len(vocab)-1))
	var sb strings.Builder
	for sb.Len() < size {
		if sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		if rng.IntN(12) == 0 {
			fmt.Fprintf(&sb, "%d", rng.IntN(100000))
		} else {
			sb.WriteString(vocab[zipf.Uint64()])
		}
		if rng.IntN(15) == 0 {
			sb.WriteByte('.')
		}
	}
	return sb.String()
}

// syntheticResult is one realistic call: 200–500 bytes of output, an LLM
// span, a tool span and one tool call; one call in 20 fails.
func syntheticResult(rng *rand.Rand, vocab []string, i int) Result {
	start := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * 3 * time.Millisecond)
	id := fmt.Sprintf("tr_%016x", i)
	r := Result{
		Trace: Trace{
			ID: id, CaseID: fmt.Sprintf("case_%016x", i%2000), ParamsID: "par_5f2c8e1d9a0b7c64",
			Iteration: i / 50000, Repetition: (i / 2000) % 25,
			Output: traceText(rng, vocab, 200+rng.IntN(300)),
			Spans: []Span{
				{Kind: "llm_call", Name: "chat", Start: start.Add(time.Millisecond).Format("2006-01-02T15:04:05.000Z07:00"), DurationMS: float64(rng.IntN(900000)) / 1000, Status: "ok",
					Attributes: json.RawMessage(fmt.Sprintf(`{"gen_ai.request.model":"gpt-4o-mini","gen_ai.usage.input_tokens":%d,"gen_ai.usage.output_tokens":%d}`, 100+rng.IntN(900), 20+rng.IntN(300)))},
				{Kind: "tool", Name: "search", Start: start.Add(5 * time.Millisecond).Format("2006-01-02T15:04:05.000Z07:00"), DurationMS: float64(rng.IntN(50000)) / 1000, Status: "ok"},
			},
			ToolCalls: []ToolCall{{
				Name:       "search",
				Arguments:  json.RawMessage(fmt.Sprintf(`{"query":%q}`, traceText(rng, vocab, 30))),
				Result:     json.RawMessage(fmt.Sprintf(`{"hits":%d,"top":%q}`, rng.IntN(50), traceText(rng, vocab, 60))),
				DurationMS: float64(rng.IntN(50000)) / 1000,
			}},
			Usage:     Usage{InputTokens: int64(100 + rng.IntN(900)), OutputTokens: int64(20 + rng.IntN(300))},
			CostUSD:   float64(rng.IntN(5000)) / 1e6,
			Model:     "gpt-4o-mini",
			StartedAt: start.Format("2006-01-02T15:04:05.000Z07:00"),
			LatencyMS: float64(rng.IntN(2000000)) / 1000,
			Attempts:  1,
		},
		Label: Pass,
		Score: 1,
	}
	if rng.IntN(20) == 0 {
		r.Error, r.ErrorKind, r.Label, r.Score = "agent timed out after 30s", ErrTimeout, Error, 0
	}
	r.Grades = []Grade{{Grader: "contains", Label: r.Label, Reason: "must_include matched"}}
	return r
}

// BenchmarkTraceWriter measures the hot path: one result (root row, 2 spans,
// 1 tool call) per op, amortised over batches, row groups and the footer.
func BenchmarkTraceWriter(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	vocab := traceVocabulary(rng)
	pool := make([]Result, 4096)
	for i := range pool {
		pool[i] = syntheticResult(rng, vocab, i)
	}
	path := filepath.Join(b.TempDir(), "traces.parquet")
	w, err := CreateTraceWriter(path, "run_bench")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	var ms runtime.MemStats
	var peak uint64
	for i := range b.N {
		if err := w.Write(&pool[i%len(pool)]); err != nil {
			b.Fatal(err)
		}
		if i%65536 == 65535 { // live heap must not grow with the run
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	if err := w.Close(); err != nil { // the last row group and the footer count too
		b.Fatal(err)
	}
	b.StopTimer()
	// CPU time as well as wall time: on a shared machine the wall time
	// also counts other processes.
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/result")
	if peak > 0 {
		b.ReportMetric(float64(peak)/1e6, "heap-MB")
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.Size())/float64(b.N), "file-B/result")
}

// BenchmarkTraceJSONBaseline is what the same result costs as a line of
// results.jsonl (goccy/go-json), for reading BenchmarkTraceWriter's numbers
// on machines of unknown speed.
func BenchmarkTraceJSONBaseline(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	vocab := traceVocabulary(rng)
	pool := make([]Result, 4096)
	for i := range pool {
		pool[i] = syntheticResult(rng, vocab, i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for i := range b.N {
		if _, err := json.Marshal(&pool[i%len(pool)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/result")
}

// BenchmarkTraceFile100k writes 100,000 realistic results as traces.parquet
// and, for comparison, as JSONL (what results.jsonl holds), and reports
// sizes and write times. Run with -benchtime=1x.
func BenchmarkTraceFile100k(b *testing.B) {
	const n = 100_000
	rng := rand.New(rand.NewPCG(7, 8))
	vocab := traceVocabulary(rng)
	results := make([]Result, n)
	for i := range results {
		results[i] = syntheticResult(rng, vocab, i)
	}
	dir := b.TempDir()
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		pq := filepath.Join(dir, "traces.parquet")
		w, err := CreateTraceWriter(pq, "run_size")
		if err != nil {
			b.Fatal(err)
		}
		for i := range results {
			if err := w.Write(&results[i]); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		pqTime := time.Since(t0)

		t0 = time.Now()
		jl := filepath.Join(dir, "results.jsonl")
		f, err := os.Create(jl)
		if err != nil {
			b.Fatal(err)
		}
		bw := bufio.NewWriterSize(f, 64<<10)
		for i := range results {
			line, err := json.Marshal(&results[i])
			if err != nil {
				b.Fatal(err)
			}
			bw.Write(line)
			bw.WriteByte('\n')
		}
		if err := bw.Flush(); err != nil {
			b.Fatal(err)
		}
		f.Sync()
		f.Close()
		jlTime := time.Since(t0)

		t0 = time.Now()
		rows := 0
		if err := ReadTraceRows(pq, func(TraceRow) error { rows++; return nil }); err != nil {
			b.Fatal(err)
		}
		readTime := time.Since(t0)

		// The same JSONL through the same zstd level, in 4 MB frames: how
		// much of the difference is the compressor, how much the columns.
		data, err := os.ReadFile(jl)
		if err != nil {
			b.Fatal(err)
		}
		codec := &zstd.Codec{Level: zstd.SpeedFastest}
		zsize := 0
		var frame []byte
		for len(data) > 0 {
			chunk := data[:min(len(data), 4<<20)]
			data = data[len(chunk):]
			if frame, err = codec.Encode(frame[:0], chunk); err != nil {
				b.Fatal(err)
			}
			zsize += len(frame)
		}
		b.ReportMetric(float64(zsize)/1e6, "jsonl.zst-MB")

		pqSt, _ := os.Stat(pq)
		jlSt, _ := os.Stat(jl)
		b.ReportMetric(float64(pqSt.Size())/1e6, "parquet-MB")
		b.ReportMetric(float64(jlSt.Size())/1e6, "jsonl-MB")
		b.ReportMetric(float64(pqTime.Milliseconds()), "parquet-write-ms")
		b.ReportMetric(float64(jlTime.Milliseconds()), "jsonl-write-ms")
		b.ReportMetric(float64(readTime.Milliseconds()), "parquet-read-ms")
		b.ReportMetric(float64(rows), "rows")
	}
}

// processCPU is the user+system CPU time of this process so far, in ns.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

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
			CostUSD: 0.000123, Model: "m-1", StartedAt: "2025-01-02T03:04:05.678Z", LatencyMS: 812.734,
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

// The trace start parser's fast path reads exactly what time.Parse does.
func TestParseTraceTimeMatchesTimeParse(t *testing.T) {
	for _, s := range []string{
		"2026-11-27T03:22:05.123Z", "2024-02-29T23:59:59.999Z", "2025-02-29T10:00:00.000Z", "2026-04-31T10:00:00.000Z",
		"2026-13-01T10:00:00.000Z", "2026-00-10T10:00:00.000Z", "2026-01-00T10:00:00.000Z", "2026-01-01T24:00:00.000Z",
		"2026-01-01T10:60:00.000Z", "2026-01-01T10:00:60.000Z", "2026-01-01T10:00:00.00xZ", "2026-01-01T10:00:00.000+01:00",
		"2026-01-01T10:00:00Z", "2026-01-01T10:00:00.123456789Z", "0000-01-01T00:00:00.000Z", "not a time", "",
		"2026-01-01 10:00:00.000Z", "-026-01-01T10:00:00.000Z",
	} {
		want := time.Time{}
		if ts, err := time.Parse(time.RFC3339Nano, s); err == nil {
			want = ts.UTC()
		}
		if got := parseTraceTime(s); !got.Equal(want) || got.Location() != want.Location() {
			t.Errorf("parseTraceTime(%q) = %v, time.Parse gives %v", s, got, want)
		}
	}
}

// Pages larger than the codec's window still round-trip, and encoders are
// reused rather than made per page.
func TestTraceCodecRoundTrip(t *testing.T) {
	c := newTraceCodec()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 100, traceWindow, 3 * traceWindow} {
		src := make([]byte, n)
		for i := range src {
			src[i] = "abcdefgh"[rng.IntN(8)]
		}
		enc, err := c.Encode(nil, src)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := c.Decode(nil, enc)
		if err != nil || !bytes.Equal(dec, src) {
			t.Fatalf("%d bytes: round trip gave %d bytes, %v", n, len(dec), err)
		}
	}
	if len(c.free) != 1 {
		t.Errorf("%d encoders kept after sequential use, want 1", len(c.free))
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
