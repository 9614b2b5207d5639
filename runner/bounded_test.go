package runner

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"testing"

	"github.com/selfevals/selfevals/internal/heaptest"
	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/runner/adapters"
)

// TestLargeRunHeapBounded runs 200,000 cases × 2 iterations through the
// executor against the in-process echo agent, with what a run keeps
// between calls and iterations: the dataset streamed from a file above
// the in-memory threshold, the aggregator of each iteration (the first
// fails every case with a reason of its own, so reasons spill), both
// iterations' pairs, metrics, and the first iteration's cases.jsonl
// streamed out. Under a low memory limit the collector runs often, and
// the live heap it finds must stay under a bound per case: the compact
// paths are the ones used (the map of tallies before them kept about
// 400 bytes a case an iteration, 160 MB here).
func TestLargeRunHeapBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("a 400,000-call run")
	}
	const cases = 200_000
	// Live bytes a case may cost, everything included: the index (about
	// 26), two iterations' aggregators (about 50 with the reasons), two
	// sets of pairs (48), the names and definitions cases.jsonl is written
	// with (8): 135 measured on a quiet machine, up to 165 on a loaded one
	// (more results wait in the executor's queues when it collects). The
	// state it replaced kept about 400.
	const perCase = 200
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(48 << 20))

	base := heaptest.Live()
	peak := heaptest.WatchLive(t)
	ds := writeBigDataset(t, cases)
	echo, err := adapters.NewBuiltin("echo")
	if err != nil {
		t.Fatal(err)
	}

	var pairs [2]repo.CasePairs
	var first *Aggregator
	for it := range 2 {
		agg := NewAggregatorOver(1, ds)
		e := &Executor{Adapter: echo, Parallelism: 8, Grade: gradeIteration(it), Experiment: "bounded", RunID: "run_bounded"}
		st, err := e.Run(context.Background(), ds, Iteration{Index: it, Repetitions: 1}, func(r *repo.Result) error {
			agg.Add(r)
			return nil
		})
		if err != nil || st.Results != cases {
			t.Fatalf("iteration %d: %d results, %v", it, st.Results, err)
		}
		m := agg.Metrics(0.95, nil)
		if want := float64(it); m["pass@1"].Value != want {
			t.Fatalf("iteration %d: pass@1 %v, want %v", it, m["pass@1"].Value, want)
		}
		pairs[it] = agg.Pairs()
		if it == 0 {
			first = agg
		}
	}
	if !pairs[0].AlignedWith(pairs[1]) || pairs[0].IDs != nil || pairs[0].Ranks != nil {
		t.Error("two iterations over every case should pair by the index, without IDs or ranks")
	}
	var out countingWriter
	if err := writeCaseVerdicts(&out, ds, first); err != nil {
		t.Fatal(err)
	}
	if out.lines != cases {
		t.Fatalf("cases.jsonl has %d lines, want %d", out.lines, cases)
	}
	runtime.GC()
	if p := os.Getenv("BOUNDED_HEAPPROFILE"); p != "" {
		f, _ := os.Create(p)
		pprof.WriteHeapProfile(f)
		f.Close()
	}
	got := peak() - base
	t.Logf("peak live heap %.1f MB over the %.1f MB before: %.0f bytes a case", float64(got)/1e6, float64(base)/1e6, float64(got)/cases)
	if got > perCase*cases {
		t.Errorf("peak live heap grew by %d bytes, more than %d a case (%d)", got, perCase, perCase*cases)
	}
	runtime.KeepAlive(pairs)
	runtime.KeepAlive(first)
}

// gradeIteration fails every case of iteration 0 with a reason naming
// it, and passes every case of the others.
func gradeIteration(it int) GradeFunc {
	return func(_ context.Context, c *repo.Case, t *repo.Trace) ([]repo.Grade, repo.Label, float64) {
		if it > 0 {
			return []repo.Grade{{Grader: "rules", Label: repo.Pass}}, repo.Pass, 1
		}
		g := repo.Grade{Grader: "rules", Label: repo.Fail, Reason: "output lacks " + c.Expected.MustInclude[0] + " of " + c.ID}
		return []repo.Grade{g}, repo.Fail, 0
	}
}

// writeBigDataset writes n cases in an order that is not their ID order.
func writeBigDataset(t testing.TB, n int) *repo.Dataset {
	path := filepath.Join(t.TempDir(), "cases.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := range n {
		j := (i * 7919) % n // a permutation: n is not a multiple of 7919
		fmt.Fprintf(&b, `{"id":"c%07d","input":{"text":"tok%d"},"expected":{"must_include":["tok%d"]}}`+"\n", j, j, j)
		if b.Len() > 1<<20 {
			f.WriteString(b.String())
			b.Reset()
		}
	}
	f.WriteString(b.String())
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	ds, err := repo.LoadDataset(path)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Index().InFileOrder() {
		t.Fatal("the dataset is meant to be out of ID order")
	}
	return ds
}

// countingWriter counts the lines written to it.
type countingWriter struct{ lines int }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.lines += strings.Count(string(p), "\n")
	return len(p), nil
}

var _ io.Writer = (*countingWriter)(nil)
