package tracefile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
)

func ptr[T any](v T) *T { return &v }

func readAllTraceRows(t testing.TB, path string) []runstore.TraceRow {
	t.Helper()
	var rows []runstore.TraceRow
	if err := ReadRows(path, func(r runstore.TraceRow) error {
		rows = append(rows, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestTraceWriterRoundTrip(t *testing.T) {
	score := 0.25
	results := []repo.Result{
		{ // spans, tool calls (one failed), graded, with structured output
			Trace: repo.Trace{
				ID: "tr_0001", CaseID: "case_a", ParamsID: "par_x", Iteration: 2, Repetition: 1,
				Output:           "The refund was issued.",
				StructuredOutput: json.RawMessage(`{"refund":true}`),
				Spans: []repo.Span{
					{Kind: "llm_call", Name: "plan", Start: "2025-03-01T10:00:00.125Z", DurationMS: 12.5, Status: "ok", Attributes: json.RawMessage(`{"gen_ai.request.model":"m1"}`)},
					{Kind: "llm_call", Start: "2025-03-01T12:00:00.5+02:00"}, // no name, duration, status; offset zone
				},
				ToolCalls: []repo.ToolCall{
					{Name: "lookup", Arguments: json.RawMessage(`{"id":7}`), Result: json.RawMessage(`{"ok":true}`), DurationMS: 3},
					{Name: "refund", Arguments: json.RawMessage(`{}`), Error: "denied"},
				},
				Usage:     repo.Usage{InputTokens: 120, OutputTokens: 30},
				CostUSD:   0.0021,
				Model:     "m1",
				StartedAt: "2025-03-01T10:00:00.100Z",
				LatencyMS: 41.5,
				Attempts:  2,
			},
			Grades: []repo.Grade{{Grader: "g", Label: repo.Partial, Score: &score}},
			Label:  repo.Partial,
			Score:  score,
		},
		{ // a failed call: no start, no spans, stderr and truncation, cached, score 0
			Trace: repo.Trace{
				ID: "tr_0002", CaseID: "case_b", ParamsID: "par_x",
				Error: "exit status 3", ErrorKind: repo.ErrExit, Stderr: "boom\n", Truncated: true,
				Cached: true, Attempts: 1,
			},
			Label: repo.Error,
		},
		{ // not graded, unparsable start
			Trace: repo.Trace{ID: "tr_0003", CaseID: "case_c", ParamsID: "par_y", StartedAt: "yesterday", LatencyMS: 1},
		},
	}

	path := filepath.Join(t.TempDir(), "run", "traces.parquet")
	w, err := Create(path, "run_1")
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

	common := func(trace, caseID, params string, it, rep int32) runstore.TraceRow {
		return runstore.TraceRow{RunID: "run_1", TraceID: trace, CaseID: caseID, ParamsID: params, Iteration: it, Repetition: rep}
	}
	with := func(r runstore.TraceRow, f func(*runstore.TraceRow)) runstore.TraceRow { f(&r); return r }
	a := common("tr_0001", "case_a", "par_x", 2, 1)
	b := common("tr_0002", "case_b", "par_x", 0, 0)
	c := common("tr_0003", "case_c", "par_y", 0, 0)
	want := []runstore.TraceRow{
		with(a, func(r *runstore.TraceRow) {
			r.SpanID, r.Kind, r.Name = "tr_0001/0", runstore.KindAgentCall, "call"
			r.Start = time.Date(2025, 3, 1, 10, 0, 0, 100e6, time.UTC)
			r.DurationMS, r.Status = ptr(41.5), "ok"
			r.Model, r.InputTokens, r.OutputTokens, r.CostUSD = "m1", ptr[int64](120), ptr[int64](30), ptr(0.0021)
			r.Output, r.Structured = "The refund was issued.", `{"refund":true}`
			r.Label, r.Score, r.Cached, r.Attempts = "partial", ptr(0.25), ptr(false), ptr[int32](2)
		}),
		with(a, func(r *runstore.TraceRow) {
			r.SpanID, r.ParentSpanID, r.Kind, r.Name = "tr_0001/1", "tr_0001/0", "llm_call", "plan"
			r.Start = time.Date(2025, 3, 1, 10, 0, 0, 125e6, time.UTC)
			r.DurationMS, r.Status, r.Attributes = ptr(12.5), "ok", `{"gen_ai.request.model":"m1"}`
		}),
		with(a, func(r *runstore.TraceRow) {
			r.SpanID, r.ParentSpanID, r.Kind = "tr_0001/2", "tr_0001/0", "llm_call"
			r.Start = time.Date(2025, 3, 1, 10, 0, 0, 500e6, time.UTC)
		}),
		with(a, func(r *runstore.TraceRow) {
			r.SpanID, r.ParentSpanID, r.Kind, r.Name = "tr_0001/3", "tr_0001/0", runstore.KindToolCall, "lookup"
			r.DurationMS, r.Status, r.ToolArgs, r.ToolResult = ptr(3.0), "ok", `{"id":7}`, `{"ok":true}`
		}),
		with(a, func(r *runstore.TraceRow) {
			r.SpanID, r.ParentSpanID, r.Kind, r.Name = "tr_0001/4", "tr_0001/0", runstore.KindToolCall, "refund"
			r.Status, r.Error, r.ToolArgs = "error", "denied", `{}`
		}),
		with(b, func(r *runstore.TraceRow) {
			r.SpanID, r.Kind, r.Name = "tr_0002/0", runstore.KindAgentCall, "call"
			r.DurationMS, r.Status, r.Error, r.ErrorKind = ptr(0.0), "error", "exit status 3", "exit_status"
			r.InputTokens, r.OutputTokens, r.CostUSD = ptr[int64](0), ptr[int64](0), ptr(0.0)
			r.Label, r.Score, r.Cached, r.Attempts = "error", ptr(0.0), ptr(true), ptr[int32](1)
			r.Attributes = `{"stderr":"boom\n","truncated":true}`
		}),
		with(c, func(r *runstore.TraceRow) {
			r.SpanID, r.Kind, r.Name = "tr_0003/0", runstore.KindAgentCall, "call"
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
	if v, _ := pf.Lookup("selfevals.schema"); v != runstore.TracesSchema {
		t.Errorf("selfevals.schema = %q, want %q", v, runstore.TracesSchema)
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
	w, err := Create(path, "run_empty")
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
	if err := w.Write(&repo.Result{}); err == nil {
		t.Error("Write after Close succeeded")
	}
}

// A run that dies before Close leaves no traces.parquet, only a temporary
// file under another name.
func TestTraceWriterCrashLeavesNoFinalFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "traces.parquet")
	w, err := Create(path, "run_crash")
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
	if err := ReadRows(filepath.Join(dir, entries[0].Name()), func(runstore.TraceRow) error { return nil }); err == nil {
		t.Error("the unfinished temporary file reads as a Parquet file")
	}
	w.f.Close() // for Windows' sake; a real crash closes it too
}

// A failure of the file (here: closed under the writer) surfaces from
// Write or Close, and Close leaves neither the final nor the temporary file.
func TestTraceWriterFailure(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "traces.parquet")
	w, err := create(path, "run_fail", 100)
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
	w, err := create(path, "run_many", groupRows)
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
	err = ReadRows(path, func(r runstore.TraceRow) error {
		if r.Kind == runstore.KindAgentCall {
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
	pw := parquet.NewGenericWriter[runstore.TraceRow](f, parquet.KeyValueMetadata("selfevals.schema", "traces/99"))
	if _, err := pw.Write([]runstore.TraceRow{{TraceID: "tr_1"}}); err != nil {
		t.Fatal(err)
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	err = ReadRows(path, func(runstore.TraceRow) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "traces/99") {
		t.Errorf("err = %v, want one naming the schema traces/99", err)
	}
}

// runstore.TraceStringColumns must name every STRING column, or the writer spends
// a comparison per value on useless min/max statistics.
func TestTraceStringColumnsMatchSchema(t *testing.T) {
	var got []string
	for _, f := range parquet.SchemaOf(runstore.TraceRow{}).Fields() {
		if f.Type().Kind() == parquet.ByteArray {
			got = append(got, f.Name())
		}
	}
	if d := cmp.Diff(runstore.TraceStringColumns, got); d != "" {
		t.Errorf("runstore.TraceStringColumns (-have +schema):\n%s", d)
	}
}

// TestTraceWriterSample writes a sample traces.parquet to
// $SELFEVALS_TRACE_SAMPLE for checking with other readers (DuckDB, pandas).
func TestTraceWriterSample(t *testing.T) {
	path := os.Getenv("SELFEVALS_TRACE_SAMPLE")
	if path == "" {
		t.Skip("set SELFEVALS_TRACE_SAMPLE=/some/traces.parquet to write a sample")
	}
	w, err := Create(path, "run_sample")
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
func syntheticResult(rng *rand.Rand, vocab []string, i int) repo.Result {
	start := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * 3 * time.Millisecond)
	id := fmt.Sprintf("tr_%016x", i)
	r := repo.Result{
		Trace: repo.Trace{
			ID: id, CaseID: fmt.Sprintf("case_%016x", i%2000), ParamsID: "par_5f2c8e1d9a0b7c64",
			Iteration: i / 50000, Repetition: (i / 2000) % 25,
			Output: traceText(rng, vocab, 200+rng.IntN(300)),
			Spans: []repo.Span{
				{Kind: "llm_call", Name: "chat", Start: start.Add(time.Millisecond).Format("2006-01-02T15:04:05.000Z07:00"), DurationMS: float64(rng.IntN(900000)) / 1000, Status: "ok",
					Attributes: json.RawMessage(fmt.Sprintf(`{"gen_ai.request.model":"gpt-4o-mini","gen_ai.usage.input_tokens":%d,"gen_ai.usage.output_tokens":%d}`, 100+rng.IntN(900), 20+rng.IntN(300)))},
				{Kind: "tool", Name: "search", Start: start.Add(5 * time.Millisecond).Format("2006-01-02T15:04:05.000Z07:00"), DurationMS: float64(rng.IntN(50000)) / 1000, Status: "ok"},
			},
			ToolCalls: []repo.ToolCall{{
				Name:       "search",
				Arguments:  json.RawMessage(fmt.Sprintf(`{"query":%q}`, traceText(rng, vocab, 30))),
				Result:     json.RawMessage(fmt.Sprintf(`{"hits":%d,"top":%q}`, rng.IntN(50), traceText(rng, vocab, 60))),
				DurationMS: float64(rng.IntN(50000)) / 1000,
			}},
			Usage:     repo.Usage{InputTokens: int64(100 + rng.IntN(900)), OutputTokens: int64(20 + rng.IntN(300))},
			CostUSD:   float64(rng.IntN(5000)) / 1e6,
			Model:     "gpt-4o-mini",
			StartedAt: start.Format("2006-01-02T15:04:05.000Z07:00"),
			LatencyMS: float64(rng.IntN(2000000)) / 1000,
			Attempts:  1,
		},
		Label: repo.Pass,
		Score: 1,
	}
	if rng.IntN(20) == 0 {
		r.Error, r.ErrorKind, r.Label, r.Score = "agent timed out after 30s", repo.ErrTimeout, repo.Error, 0
	}
	r.Grades = []repo.Grade{{Grader: "contains", Label: r.Label, Reason: "must_include matched"}}
	return r
}

// BenchmarkTraceWriter measures the hot path: one result (root row, 2 spans,
// 1 tool call) per op, amortised over batches, row groups and the footer.
func BenchmarkTraceWriter(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	vocab := traceVocabulary(rng)
	pool := make([]repo.Result, 4096)
	for i := range pool {
		pool[i] = syntheticResult(rng, vocab, i)
	}
	path := filepath.Join(b.TempDir(), "traces.parquet")
	w, err := Create(path, "run_bench")
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
	pool := make([]repo.Result, 4096)
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
	results := make([]repo.Result, n)
	for i := range results {
		results[i] = syntheticResult(rng, vocab, i)
	}
	dir := b.TempDir()
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		pq := filepath.Join(dir, "traces.parquet")
		w, err := Create(pq, "run_size")
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
		if err := ReadRows(pq, func(runstore.TraceRow) error { rows++; return nil }); err != nil {
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

// smallTraceFile writes a traces.parquet of a few rows and returns its bytes.
func smallTraceFile(t testing.TB) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "traces.parquet")
	w, err := Create(path, "run_fuzz")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		r := &repo.Result{Trace: repo.Trace{ID: fmt.Sprintf("tr_%d", i), CaseID: "case", Output: strings.Repeat("answer ", i+1),
			Spans: []repo.Span{{Kind: "llm_call", Name: "plan", DurationMS: 3}}}, Label: repo.Pass}
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// A corrupted traces.parquet is an error, never a panic: flip bytes of a
// good file and read it.
func FuzzReadRowsCorrupted(f *testing.F) {
	good := smallTraceFile(f)
	f.Add(uint32(0), byte(0xff), uint8(1))
	f.Add(uint32(len(good)-9), byte(0x7f), uint8(4))
	f.Add(uint32(len(good)/2), byte(0x01), uint8(16))
	f.Fuzz(func(t *testing.T, at uint32, xor byte, span uint8) {
		data := bytes.Clone(good)
		for i := range int(span) {
			data[(int(at)+i)%len(data)] ^= xor
		}
		path := filepath.Join(t.TempDir(), "traces.parquet")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_ = ReadRows(path, func(runstore.TraceRow) error { return nil })
	})
}

// A corrupted byte in the footer, where the Parquet library panics on
// some values, reads as rows or an error. (Every 7th byte of the last
// 2,200: each read costs milliseconds.)
func TestReadRowsNeverPanicsOnACorruptedByte(t *testing.T) {
	good := smallTraceFile(t)
	path := filepath.Join(t.TempDir(), "traces.parquet")
	errs, guarded := 0, 0
	for at := max(0, len(good)-2200); at < len(good); at += 7 {
		data := bytes.Clone(good)
		data[at] ^= 0xa5
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := ReadRows(path, func(runstore.TraceRow) error { return nil }); err != nil {
			errs++
			if strings.Contains(err.Error(), "(corrupted:") {
				guarded++
			}
		}
	}
	if errs == 0 || guarded == 0 {
		t.Errorf("%d corruptions noticed, %d of them panics turned into errors: the test no longer reaches the guard", errs, guarded)
	}
}

// Batches start small, so a run of a few calls allocates little, and grow
// to traceBatchRows, never more than traceBatches of them alive.
func TestTraceWriterBatchesGrowToTheirBound(t *testing.T) {
	w, err := Create(filepath.Join(t.TempDir(), "traces.parquet"), "run_grow")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if got := cap(w.cur.rows); got != traceFirstBatchRows {
		t.Fatalf("first batch holds %d rows, want %d", got, traceFirstBatchRows)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	vocab := traceVocabulary(rng)
	for i := range 4 * traceBatches * traceBatchRows {
		r := syntheticResult(rng, vocab, i)
		if err := w.Write(&r); err != nil {
			t.Fatal(err)
		}
		if w.made > traceBatches {
			t.Fatalf("%d batches made, more than %d", w.made, traceBatches)
		}
	}
	if got := cap(w.cur.rows); got != traceBatchRows {
		t.Errorf("after many rows the batch holds %d rows, want %d", got, traceBatchRows)
	}
}
