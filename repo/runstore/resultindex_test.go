package runstore

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/selfevals/selfevals/repo"
)

// synthResult is result i of a synthetic run: cases × iterations, labels
// cycling pass, fail, error.
func synthResult(i, cases int) *repo.Result {
	c := i % cases
	labels := []repo.Label{repo.Pass, repo.Pass, repo.Fail, repo.Error}
	return &repo.Result{Trace: repo.Trace{ID: fmt.Sprintf("tr_%08d", i), CaseID: fmt.Sprintf("case_%06d", c), ParamsID: "par_x",
		Iteration: i / cases, Output: fmt.Sprintf("answer %d", i), LatencyMS: 1.5}, Label: labels[i%len(labels)], Score: 1}
}

// writeRun writes results [from, to) of a synthetic run into dir's
// results.jsonl (appending) with the run's own writer.
func writeRun(t testing.TB, dir string, from, to, cases int) Run {
	t.Helper()
	run := At(dir)
	w, err := run.OpenResultWriter()
	if err != nil {
		t.Fatal(err)
	}
	for i := from; i < to; i++ {
		if err := w.Write(synthResult(i, cases)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return run
}

func openIndex(t *testing.T, run Run) *ResultIndex {
	t.Helper()
	ix, err := run.OpenResultIndex()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix
}

func TestResultIndexFindsEveryKindOfLookup(t *testing.T) {
	dir := t.TempDir()
	run := writeRun(t, dir, 0, 300, 100) // 100 cases × 3 iterations
	ix := openIndex(t, run)
	if ix.Len() != 300 || len(ix.Iterations()) != 3 {
		t.Fatalf("%d results, %d iterations", ix.Len(), len(ix.Iterations()))
	}
	c := ix.Iteration(1)
	if c.Calls != 100 || c.Labels["pass"] != 50 || c.Labels["fail"] != 25 || c.Labels["error"] != 25 {
		t.Errorf("iteration 1: %+v", c)
	}
	r, err := ix.At(123)
	if err != nil || r.ID != "tr_00000123" || r.Output != "answer 123" {
		t.Fatalf("At(123): %+v %v", r, err)
	}
	r, err = ix.ByTrace("tr_00000299")
	if err != nil || r == nil || r.CaseID != "case_000099" || r.Iteration != 2 {
		t.Fatalf("ByTrace: %+v %v", r, err)
	}
	if r, _ := ix.ByTrace("tr_missing"); r != nil {
		t.Errorf("found a trace that is not there: %+v", r)
	}
	var its []int
	ix.ByCase("case_000007", func(ord int, r *repo.Result) bool { its = append(its, r.Iteration); return true })
	if fmt.Sprint(its) != "[0 1 2]" {
		t.Errorf("case_000007 in iterations %v", its)
	}
	ord, err := ix.InIteration(2, 5)
	if err != nil || ord != 205 {
		t.Errorf("5th of iteration 2 is %d (%v), want 205", ord, err)
	}
	if ord, _ := ix.InIteration(2, 100); ord != -1 {
		t.Errorf("past the iteration's end: %d", ord)
	}
	if _, err := os.Stat(run.Dir().ResultsIndex()); err != nil {
		t.Errorf("the index is not cached beside the run: %v", err)
	}
}

// A live run appends after the index: the new lines are its tail until
// they are many, then the index grows to cover them.
func TestResultIndexFollowsALiveRun(t *testing.T) {
	dir := t.TempDir()
	run := writeRun(t, dir, 0, 100, 100)
	openIndex(t, run).Close()
	writeRun(t, dir, 100, 110, 100)
	ix := openIndex(t, run)
	tail := 0
	end, err := ix.EachTail(func(*repo.Result) error { tail++; return nil })
	st, _ := os.Stat(run.Dir().Results())
	if err != nil || ix.Len() != 100 || tail != 10 || end != st.Size() {
		t.Fatalf("indexed %d, tail %d to %d of %d (%v)", ix.Len(), tail, end, st.Size(), err)
	}
	// A torn line being written is neither indexed nor in the tail.
	f, _ := os.OpenFile(run.Dir().Results(), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"trace_id":"tr_half`)
	f.Close()
	ix = openIndex(t, run)
	if n, _ := ix.EachTail(func(*repo.Result) error { return nil }); n != st.Size() {
		t.Errorf("the tail read into a torn line: to %d, complete lines end at %d", n, st.Size())
	}
	os.Truncate(run.Dir().Results(), st.Size())

	// Many more lines: the index is extended over them.
	writeRun(t, dir, 110, 40_000, 20_000)
	ix = openIndex(t, run)
	if ix.Len() != 40_000 {
		t.Fatalf("after a long tail the index has %d results, want 40000", ix.Len())
	}
	if r, err := ix.ByTrace("tr_00000105"); err != nil || r == nil {
		t.Errorf("a line first read as tail is not found after the extension: %v", err)
	}
	if c := ix.Iteration(1); c.Calls != 20_010 { // 10 of the first batch, 20,000 of the second
		t.Errorf("iteration 1 has %d calls", c.Calls)
	}
}

// The index is never trusted when it is torn, or when results.jsonl is no
// longer the file it indexed.
func TestResultIndexRebuiltWhenTornOrStale(t *testing.T) {
	dir := t.TempDir()
	run := writeRun(t, dir, 0, 50, 50)
	openIndex(t, run).Close()
	idx := run.Dir().ResultsIndex()
	b, _ := os.ReadFile(idx)

	// Cut short, as a crash could leave it.
	os.WriteFile(idx, b[:len(b)-7], 0o644)
	if ix := openIndex(t, run); ix.Len() != 50 {
		t.Errorf("after a torn index: %d results", ix.Len())
	}
	// The same length, a byte flipped in a record.
	b2 := append([]byte(nil), b...)
	b2[indexHeaderSize+3] ^= 0xff
	os.WriteFile(idx, b2, 0o644)
	future := time.Now().Add(time.Minute)
	os.Chtimes(idx, future, future) // a new version of the file, checked again
	ix := openIndex(t, run)
	if r, err := ix.At(0); err != nil || r.ID != "tr_00000000" {
		t.Errorf("after a damaged index: %+v %v", r, err)
	}
	ix.Close()

	// results.jsonl replaced by another run's results of another size.
	os.Remove(run.Dir().Results())
	writeRun(t, dir, 1000, 1020, 10)
	ix = openIndex(t, run)
	if ix.Len() != 20 {
		t.Fatalf("after results.jsonl was replaced: %d results", ix.Len())
	}
	if r, _ := ix.At(0); r.ID != "tr_00001000" {
		t.Errorf("first result %s", r.ID)
	}
}

func TestResultIndexInAReadOnlyRun(t *testing.T) {
	if os.Getuid() == 0 {
		t.Skip("root writes anywhere")
	}
	dir := t.TempDir()
	run := writeRun(t, dir, 0, 10, 10)
	os.Chmod(dir, 0o555)
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	ix := openIndex(t, run)
	if ix.Len() != 10 {
		t.Fatalf("%d results", ix.Len())
	}
	if _, err := os.Stat(filepath.Join(dir, repo.ResultsIndexName)); err == nil {
		t.Error("an index was written into a read-only run directory")
	}
	os.Remove(indexPath(run.Dir()))
}

// benchResults writes a synthetic run of 300,000 results (about 57 MB)
// for one benchmark.
func benchResults(b *testing.B) (Run, int64) {
	run := writeRun(b, b.TempDir(), 0, 300_000, 150_000)
	st, err := os.Stat(run.Dir().Results())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	return run, st.Size()
}

// The floor: reading results.jsonl once, as cat would.
func BenchmarkResultsFileRead(b *testing.B) {
	run, _ := benchResults(b)
	for b.Loop() {
		f, err := os.Open(run.Dir().Results())
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, f)
		f.Close()
	}
}

// What every page did before the index: decode the whole file.
func BenchmarkResultsFullDecode(b *testing.B) {
	run, _ := benchResults(b)
	for b.Loop() {
		if err := run.Results(func(*repo.Result) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// Building results.idx from scratch (the first visit of a run).
func BenchmarkResultIndexBuild(b *testing.B) {
	run, _ := benchResults(b)
	for b.Loop() {
		os.Remove(run.Dir().ResultsIndex())
		ix, err := run.OpenResultIndex()
		if err != nil {
			b.Fatal(err)
		}
		ix.Close()
	}
}

// Opening the built index (every request) and finding one trace.
func BenchmarkResultIndexOpenAndLookup(b *testing.B) {
	run, _ := benchResults(b)
	b.SetBytes(0)
	if ix, err := run.OpenResultIndex(); err == nil {
		ix.Close()
	}
	i := 0
	for b.Loop() {
		ix, err := run.OpenResultIndex()
		if err != nil {
			b.Fatal(err)
		}
		id := fmt.Sprintf("tr_%08d", (i*7919)%300_000)
		if r, err := ix.ByTrace(id); err != nil || r == nil {
			b.Fatalf("%s: %v", id, err)
		}
		ix.Close()
		i++
	}
}

// The index's quick scan of a line agrees with the JSON decoder, or leaves
// the line to it.
func TestScanIndexLineAgreesWithTheDecoder(t *testing.T) {
	results := []*repo.Result{
		synthResult(7, 3),
		{Trace: repo.Trace{ID: "tr_1", CaseID: `we"ird\case`, Iteration: 2, Repetition: 1}, Label: repo.Fail},
		{Trace: repo.Trace{ID: "tr_2", CaseID: "c", Output: `,"label":"pass","score":1}`, StructuredOutput: []byte(`{"label":"error"}`)},
			Grades: []repo.Grade{{Grader: "g", Label: repo.Pass}, {Grader: "h", Label: repo.Partial}}, Label: repo.Partial},
		{Trace: repo.Trace{ID: "tr_3", CaseID: "ünï", Iteration: 12345}, Label: "custom"},
		{Trace: repo.Trace{ID: "tr_4", CaseID: "c4"}},
	}
	for _, r := range results {
		line, err := r.AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		body := bytes.TrimSpace(line)
		var want indexLine
		if err := repo.DecodeJSON(body, &want); err != nil {
			t.Fatal(err)
		}
		got, ok := scanIndexLine(body)
		w := entry{iteration: int32(want.Iteration), repetition: int32(want.Repetition), label: labelCode(want.Label), trace: idHash(want.ID), cas: idHash(want.CaseID)}
		if ok && got != w {
			t.Errorf("scan %+v, decoder %+v\n%s", got, want, body)
		}
		if !ok && !strings.ContainsRune(r.CaseID, '"') {
			t.Errorf("a plain line was left to the decoder: %s", body)
		}
	}
	for _, bad := range []string{`{"trace_id":"x"`, `{"trace_id":"a","case_id":"b","params_id":"c","iteration":1x,"repetition":0,"label":"pass","score":1}`, `{}`} {
		if e, ok := scanIndexLine([]byte(bad)); ok {
			t.Errorf("%s scanned as %+v", bad, e)
		}
	}
}
