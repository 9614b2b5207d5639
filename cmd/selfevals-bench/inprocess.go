package main

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"time"

	"github.com/selfevals/selfevals/graders"
	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
	"github.com/selfevals/selfevals/runner"
	"github.com/selfevals/selfevals/runner/adapters"
)

// runInProcess drives the executor directly: the spec's adapter and
// graders, one iteration per grid level, results appended to a
// results.jsonl. It measures the executor without the loop, aggregation,
// report or process start-up. Peak RSS is this whole process's.
func runInProcess(w *workload, cfg config) (row, error) {
	ls, err := repo.LoadExperiment(w.spec, repo.LoadOptions{Root: w.root})
	if err != nil {
		return row{}, err
	}
	adapter, err := adapters.New(ls.Spec.Agent, adapters.Options{RepoRoot: ls.Root, Parallelism: cfg.parallel, Timeout: ls.Spec.Experiment.Run.Timeout.D()})
	if err != nil {
		return row{}, err
	}
	defer adapter.Close()
	registry, err := graders.NewRegistry(ls.Spec.Graders, nil)
	if err != nil {
		return row{}, err
	}
	out, err := runstore.OpenResultWriterAt(filepath.Join(w.root, fmt.Sprintf("results-%d.jsonl", time.Now().UnixNano())))
	if err != nil {
		return row{}, err
	}
	e := &runner.Executor{
		Adapter: adapter, Parallelism: cfg.parallel, Timeout: ls.Spec.Experiment.Run.Timeout.D(),
		Experiment: ls.Slug, RunID: "run_bench",
		Grade: registry.Grade,
	}
	start := time.Now()
	calls := 0
	for i := range cfg.iterations {
		level := 1.0
		if cfg.iterations > 1 {
			level = float64(i) / float64(cfg.iterations-1)
		}
		it := runner.Iteration{Index: i, Params: repo.Parameters{"model_params": map[string]any{"level": level}}, Repetitions: cfg.reps}
		st, err := e.Run(context.Background(), ls.Dataset, it, out.Write)
		if err != nil {
			out.Close()
			return row{}, err
		}
		calls += st.Results
	}
	if err := out.Close(); err != nil {
		return row{}, err
	}
	wall := time.Since(start)
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return row{tool: "executor (in-process)", cfg: cfg, calls: calls, wall: wall, rssMB: float64(ru.Maxrss) / 1024}, nil
}
