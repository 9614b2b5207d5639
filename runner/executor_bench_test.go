package runner

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
	"github.com/selfevals/selfevals/runner/adapters"
)

// benchCases is the dataset size of one benchmark operation.
const benchCases = 2000

func mustInclude(_ context.Context, c *repo.Case, t *repo.Trace) ([]repo.Grade, repo.Label, float64) {
	l := repo.Fail
	if strings.Contains(t.Output, c.Expected.MustInclude[0]) {
		l = repo.Pass
	}
	g := []repo.Grade{{Grader: "rules", Label: l}}
	label, score := repo.Combine(g)
	return g, label, score
}

// benchExecutor runs b.N iterations of benchCases calls and reports the
// per-call cost (ns/call, allocs/call, B/call).
func benchExecutor(b *testing.B, e *Executor, sink func(*repo.Result) error) {
	ds := writeDataset(b, benchCases)
	it := Iteration{Params: repo.Parameters{"model_params": map[string]any{"level": 1.0}}, Repetitions: 1}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		it.Index = i
		if _, err := e.Run(context.Background(), ds, it, sink); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	calls := float64(b.N * benchCases)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/calls, "ns/call")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/calls, "allocs/call")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/calls, "B/call")
}

func echoExecutor(b *testing.B, parallel int) *Executor {
	echo, err := adapters.NewBuiltin("echo")
	if err != nil {
		b.Fatal(err)
	}
	return &Executor{Adapter: echo, Parallelism: parallel, Grade: mustInclude, Experiment: "bench", RunID: "run_bench"}
}

// BenchmarkExecutorEcho is the executor's own overhead: the builtin echo
// agent, must_include grading, an in-memory sink (dataset read from disk
// included).
func BenchmarkExecutorEcho(b *testing.B) {
	for _, p := range []int{1, 8, 64} {
		b.Run("parallel="+strconv.Itoa(p), func(b *testing.B) {
			n := 0
			benchExecutor(b, echoExecutor(b, p), func(*repo.Result) error { n++; return nil })
		})
	}
}

// BenchmarkExecutorEchoResultsFile adds writing results.jsonl.
func BenchmarkExecutorEchoResultsFile(b *testing.B) {
	w, err := runstore.At(b.TempDir()).OpenResultWriter()
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	benchExecutor(b, echoExecutor(b, 8), w.Write)
}

// BenchmarkExecutorEchoCached serves every call from the cache.
func BenchmarkExecutorEchoCached(b *testing.B) {
	c, err := OpenCache(b.TempDir(), "agt_bench")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	e := echoExecutor(b, 8)
	e.Cache = c
	ds := writeDataset(b, benchCases)
	it := Iteration{Params: repo.Parameters{"model_params": map[string]any{"level": 1.0}}}
	if _, err := e.Run(context.Background(), ds, it, func(*repo.Result) error { return nil }); err != nil {
		b.Fatal(err)
	}
	benchExecutor(b, e, func(r *repo.Result) error {
		if !r.Cached {
			b.Fatal("cache miss")
		}
		return nil
	})
}
