package runner

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/selfevals/selfevals/graders"
	"github.com/selfevals/selfevals/internal/heaptest"
	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
)

// regradeRun writes a run of the cases of writeBigDataset (n) × iters
// iterations, one repetition, with the run store's writer, in a shuffled
// order (as parallel calls finish), plus `gone` results of iteration 0
// whose case the dataset lacks. Every result is stored as a pass; the
// output of case j lacks its token when j%10 == 0, so the deterministic
// grader now fails it: n/10 flips an iteration.
func regradeRun(tb testing.TB, n, iters, gone int) string {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "run")
	run := runstore.At(dir)
	if err := run.Create(); err != nil {
		tb.Fatal(err)
	}
	if err := run.WriteManifest(&repo.RunManifest{RunID: "run_regrade", Experiment: "big", Repetitions: 1, Confidence: 0.95}); err != nil {
		tb.Fatal(err)
	}
	w, err := run.OpenResultWriter()
	if err != nil {
		tb.Fatal(err)
	}
	order := make([]int, n*iters)
	for i := range order {
		order[i] = i
	}
	rng := rand.New(rand.NewPCG(5, 6))
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	pad := strings.Repeat(" lorem ipsum", 30)
	write := func(id string, j, it int, out string) {
		r := &repo.Result{Trace: repo.Trace{ID: fmt.Sprintf("tr_%s_%d", id, it), CaseID: id, Iteration: it, Output: out + pad, LatencyMS: 1},
			Label: repo.Pass, Score: 1, Grades: []repo.Grade{{Grader: "deterministic", Label: repo.Pass}}}
		if err := w.Write(r); err != nil {
			tb.Fatal(err)
		}
	}
	for _, k := range order {
		j, it := k%n, k/n
		out := fmt.Sprintf("tok%d", j)
		if j%10 == 0 {
			out = "nothing"
		}
		write(fmt.Sprintf("c%07d", j), j, it, out)
	}
	for g := range gone {
		write(fmt.Sprintf("gone%04d", g), g, 0, "whatever")
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// regradeSpec is the spec regrade grades with: the dataset, and the
// deterministic grader (must_include).
func regradeSpec(tb testing.TB, n int) (*repo.LoadedSpec, *graders.Registry) {
	ds := writeBigDataset(tb, n)
	reg, err := graders.NewRegistry(nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return &repo.LoadedSpec{Path: "evals/experiments/big.yaml", Slug: "big", Dataset: ds}, reg
}

// TestRegradeSpilledMatchesInMemory regrades one run with a sort that
// spills to many files and one that spills none: the same report, with
// flips counted in full, listed up to the limit, first by case.
func TestRegradeSpilledMatchesInMemory(t *testing.T) {
	t.Parallel()
	const n = 3001
	dir := regradeRun(t, n, 2, 7)
	ls, reg := regradeSpec(t, n)
	var reps []*RegradeReport
	for _, budget := range []int{1 << 10, 1 << 30} {
		rep, err := Regrade(context.Background(), dir, ls, reg, RegradeOptions{Limit: 25, Parallelism: 3, budget: budget})
		if err != nil {
			t.Fatal(err)
		}
		reps = append(reps, rep)
	}
	if !reflect.DeepEqual(reps[0], reps[1]) {
		t.Errorf("spilled and in-memory reports differ:\n%+v\n%+v", reps[0], reps[1])
	}
	r := reps[0]
	flips := (n + 9) / 10
	if r.Results != 2*n+7 || r.Regraded != 2*n || r.Missing != 7 || r.FlipCount != 2*flips || len(r.Flips) != 25 {
		t.Fatalf("results %d regraded %d missing %d flips %d (%d listed)", r.Results, r.Regraded, r.Missing, r.FlipCount, len(r.Flips))
	}
	if f := r.Flips[0]; f.Iteration != 0 || f.CaseID != "c0000000" || f.Old != repo.Pass || f.New != repo.Fail {
		t.Errorf("first flip %+v", f)
	}
	if f := r.Flips[24]; f.CaseID != "c0000240" || f.Iteration != 0 {
		t.Errorf("25th flip %+v, want case c0000240 of iteration 0", f)
	}
	for _, it := range r.Iterations {
		if it.Flipped != flips || it.Metrics[0].Name != "pass@1" || it.Metrics[0].Old.Value != 1 {
			t.Errorf("iteration %d: %d flipped, metrics %+v", it.Index, it.Flipped, it.Metrics[0])
		}
	}
}

// TestLargeRegradeInBoundedMemory regrades 300,000 stored results (150,000
// cases × 2 iterations, 150 MB of results.jsonl) under a 48 MiB soft
// memory limit, writing regrade.jsonl, and samples the live heap: the
// results are sorted through temporary files and met with the streamed
// dataset, so what is held is the sort's budget and the compact
// aggregations, not the run (the map of cases and the list of every flip
// it replaced held the dataset and 30,000 flips).
func TestLargeRegradeInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("regrades 300,000 results")
	}
	const n = 150_001
	dir := regradeRun(t, n, 2, 0)
	ls, reg := regradeSpec(t, n)
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(48 << 20))
	base := heaptest.Live()
	peak := heaptest.WatchLive(t)
	rep, err := Regrade(context.Background(), dir, ls, reg, RegradeOptions{Limit: 200, Write: true})
	if err != nil {
		t.Fatal(err)
	}
	got := peak() - base
	t.Logf("regrade of %d results: live heap peaked %.1f MB over the %.1f MB before", rep.Results, float64(got)/1e6, float64(base)/1e6)
	if got > 48<<20 {
		t.Errorf("live heap grew by %d MB regrading", got>>20)
	}
	if rep.Results != 2*n || rep.FlipCount != 2*((n+9)/10) || len(rep.Flips) != 200 {
		t.Errorf("%d results, %d flips, %d listed", rep.Results, rep.FlipCount, len(rep.Flips))
	}
	if lines := countLines(t, runstore.At(dir).Dir().Regraded()); lines != 2*n {
		t.Errorf("regrade.jsonl has %d lines, want %d", lines, 2*n)
	}
	runtime.KeepAlive(ls)
}

func countLines(t *testing.T, path string) int {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		n++
	}
	return n
}

// BenchmarkRegradeStream regrades 40,000 results (20,000 cases × 2
// iterations) with the deterministic grader; bytes are results.jsonl's,
// so MB/s compares with BenchmarkRegradeReadFloor.
func BenchmarkRegradeStream(b *testing.B) {
	const n = 20_001
	dir := regradeRun(b, n, 2, 0)
	ls, reg := regradeSpec(b, n)
	b.SetBytes(fileBytes(b, runstore.At(dir).Dir().Results()))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Regrade(context.Background(), dir, ls, reg, RegradeOptions{Limit: 200}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRegradeReadFloor decodes the same results.jsonl and nothing
// else: the floor of regrade and analyze pull.
func BenchmarkRegradeReadFloor(b *testing.B) {
	dir := regradeRun(b, 20_001, 2, 0)
	b.SetBytes(fileBytes(b, runstore.At(dir).Dir().Results()))
	b.ReportAllocs()
	for b.Loop() {
		if err := runstore.At(dir).Results(func(*repo.Result) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

func fileBytes(tb testing.TB, path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return st.Size()
}
