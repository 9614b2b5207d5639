package runner

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/selfevals/selfevals/internal/heaptest"
	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
)

// pullRun writes a run of n results in a shuffled order under a fresh
// evals directory: result i fails with failure mode mode_<i%4> unless
// i%3 is 0 (a pass), or, when i%50 is 1, has an agent error. It returns
// the evals directory and the run directory.
func pullRun(tb testing.TB, n int) (string, string) {
	tb.Helper()
	evals := filepath.Join(tb.TempDir(), "evals")
	dir := filepath.Join(evals, "runs", "big", "run_pull")
	run := runstore.At(dir)
	if err := run.Create(); err != nil {
		tb.Fatal(err)
	}
	if err := run.WriteManifest(&repo.RunManifest{RunID: "run_pull", Experiment: "big", Repetitions: 1}); err != nil {
		tb.Fatal(err)
	}
	tax := "modes:\n  - slug: mode_0\n    title: Mode 0\n    definition: The first synthetic mode.\n    status: official\n    proposed_by: seed\n"
	if err := os.WriteFile(repo.Dir(evals).Taxonomy(), []byte(tax), 0o644); err != nil {
		tb.Fatal(err)
	}
	w, err := run.OpenResultWriter()
	if err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	pad := strings.Repeat(" lorem ipsum", 30)
	for _, i := range rng.Perm(n) {
		r := &repo.Result{Trace: repo.Trace{ID: fmt.Sprintf("tr_%07d", i), CaseID: fmt.Sprintf("c%07d", i), Output: "answer" + pad},
			Label: repo.Fail, Grades: []repo.Grade{{Grader: "rules", Label: repo.Fail, Reason: "wrong", FailureModes: []string{fmt.Sprintf("mode_%d", i%4)}}}}
		switch {
		case i%50 == 1:
			r.Label, r.Error, r.ErrorKind, r.Grades = repo.Error, "connection refused", "agent_error", nil
		case i%3 == 0:
			r.Label, r.Score, r.Grades = repo.Pass, 1, []repo.Grade{{Grader: "rules", Label: repo.Pass}}
		}
		if err := w.Write(r); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return evals, dir
}

// TestPullSamplesEvenlyAndAlike checks a capped bundle: the limit shared
// among the failure modes and agent errors, every group counted, the
// same traces on every pull; uncapped or under the cap, every trace.
func TestPullSamplesEvenlyAndAlike(t *testing.T) {
	t.Parallel()
	const n = 6000
	evals, dir := pullRun(t, n)
	opts := PullOptions{EvalsDir: evals, RunDir: dir, Limit: 43}
	b, st, err := PullBundle(opts)
	if err != nil {
		t.Fatal(err)
	}
	errs := n / 50 // i%50 == 1
	failed := 0
	for i := range n {
		if i%50 == 1 || i%3 != 0 {
			failed++
		}
	}
	if st.Considered != n || st.Selected != failed || st.InBundle != 43 || len(b.Traces) != 43 || b.Sample == nil || b.Sample.Selected != failed {
		t.Fatalf("stats %+v, %d traces, sample %+v", st, len(b.Traces), b.Sample)
	}
	// Five groups share 43: 9, 9, 9, 8, 8 in name order.
	inBundle, traces := map[string]int{}, 0
	for _, g := range b.Sample.Groups {
		inBundle[g.Group] = g.InBundle
		traces += g.Traces
	}
	want := map[string]int{"error:agent_error": 9, "mode_0": 9, "mode_1": 9, "mode_2": 8, "mode_3": 8}
	if !reflect.DeepEqual(inBundle, want) || traces != failed || b.Sample.Groups[0].Traces != errs {
		t.Errorf("groups %+v", b.Sample.Groups)
	}
	for _, tr := range b.Traces {
		if tr.Grade.Label == repo.Pass {
			t.Errorf("a passing trace in a bundle of failures: %s", tr.TraceID)
		}
	}
	again, _, err := PullBundle(opts)
	if err != nil || !reflect.DeepEqual(b, again) {
		t.Errorf("a second pull differs (%v)", err)
	}

	for _, limit := range []int{0, failed} {
		b, st, err := PullBundle(PullOptions{EvalsDir: evals, RunDir: dir, Limit: limit})
		if err != nil || len(b.Traces) != failed || b.Sample != nil || st.InBundle != failed {
			t.Errorf("limit %d: %d traces, sample %+v, %v", limit, len(b.Traces), b.Sample, err)
		}
	}
}

// TestLargePullInBoundedMemory pulls a 200-trace bundle from 300,000
// results (about 200,000 failed; 140 MB of results.jsonl) under a 48 MiB
// soft memory limit, sampling the live heap: the bundle it replaced held
// every failed trace, far more than the file's size in memory.
func TestLargePullInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("pulls from 300,000 results")
	}
	evals, dir := pullRun(t, 300_000)
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(48 << 20))
	base := heaptest.Live()
	peak := heaptest.WatchLive(t)
	b, st, err := PullBundle(PullOptions{EvalsDir: evals, RunDir: dir, Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	got := peak() - base
	t.Logf("pull of %d from %d selected: live heap peaked %.1f MB over the %.1f MB before", len(b.Traces), st.Selected, float64(got)/1e6, float64(base)/1e6)
	if got > 16<<20 {
		t.Errorf("live heap grew by %d MB pulling", got>>20)
	}
	if len(b.Traces) != 200 || st.Considered != 300_000 {
		t.Errorf("%d traces of %d", len(b.Traces), st.Considered)
	}
}

// BenchmarkPullStream pulls a 200-trace bundle from 40,000 results; bytes
// are results.jsonl's, so MB/s compares with BenchmarkPullReadFloor.
func BenchmarkPullStream(b *testing.B) {
	evals, dir := pullRun(b, 40_000)
	b.SetBytes(fileBytes(b, runstore.At(dir).Dir().Results()))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := PullBundle(PullOptions{EvalsDir: evals, RunDir: dir, Limit: 200}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPullReadFloor decodes the same results.jsonl and nothing else.
func BenchmarkPullReadFloor(b *testing.B) {
	_, dir := pullRun(b, 40_000)
	b.SetBytes(fileBytes(b, runstore.At(dir).Dir().Results()))
	b.ReportAllocs()
	for b.Loop() {
		if err := runstore.At(dir).Results(func(*repo.Result) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
