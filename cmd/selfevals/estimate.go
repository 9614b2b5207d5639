package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
	"github.com/selfevals/selfevals/reports"
	"github.com/selfevals/selfevals/runner"
)

type estimateOptions struct {
	global           *globalOptions
	costPerCall      float64
	judgeCostPerCall float64
	reps             int
	maxIter          int
	parallel         int
	shards           int
	latency          time.Duration
}

func newEstimateCmd(io *IOStreams, g *globalOptions) *cobra.Command {
	opts := &estimateOptions{global: g}
	cmd := &cobra.Command{
		Use:   "estimate <spec>",
		Short: "Estimate agent calls and cost of a run before starting it",
		Long: `estimate counts the iterations a run would make (the baseline plus the
proposals, within max_iterations), the agent calls (cases × repetitions ×
iterations) and the cost: calls × --cost-per-call, or × the mean cost per
call of the newest run of this experiment that reported a cost.

Each llm_judge grader is a model call per trace it grades (the cases that
run it × repetitions × iterations; fewer when the judge cache already has
the answer), priced by --judge-cost-per-call or by the mean cost of its
calls in the newest run that recorded one.

--shard n splits the cases n ways as 'run --shard i/n' does (by case ID, or
by thread, so a thread stays in one shard) and says each shard's calls and
wall time. A shard's wall time is, per iteration, its calls spread over
run.parallelism slots (or --parallel), never less than its longest thread,
whose turns run one after another; at --latency per call, or the mean
latency of the newest run's calls. The split run takes as long as its
largest shard.`,
		Example: `  selfevals estimate evals/experiments/support.yaml
  selfevals estimate evals/experiments/support.yaml --cost-per-call 0.003 --reps 5
  selfevals estimate evals/experiments/hello.yaml --judge-cost-per-call 0.0004
  selfevals estimate evals/experiments/support.yaml --shard 8 --latency 40s --parallel 4`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEstimate(io, opts, args[0])
		},
	}
	cmd.Flags().Float64Var(&opts.costPerCall, "cost-per-call", 0, "USD per agent call (default: the mean of the last run)")
	cmd.Flags().Float64Var(&opts.judgeCostPerCall, "judge-cost-per-call", 0, "USD per LLM-judge call (default: each judge's mean in the last run)")
	countVar(cmd.Flags(), &opts.reps, "reps", "repetitions per case (default: the spec's)")
	countVar(cmd.Flags(), &opts.maxIter, "max-iterations", "iteration limit (default: the spec's)")
	countVar(cmd.Flags(), &opts.parallel, "parallel", "agent calls in flight per shard (default: the spec's run.parallelism)")
	countVar(cmd.Flags(), &opts.shards, "shard", "split the cases n ways as run --shard i/n does: calls and wall time per shard")
	cmd.Flags().DurationVar(&opts.latency, "latency", 0, "wall time of one agent call, for --shard (default: the mean of the last run)")
	return cmd
}

func runEstimate(io *IOStreams, opts *estimateOptions, path string) error {
	if opts.costPerCall < 0 || opts.judgeCostPerCall < 0 {
		return repo.Userf("--cost-per-call and --judge-cost-per-call must not be negative")
	}
	if opts.latency < 0 {
		return repo.Userf("--latency must not be negative")
	}
	if opts.shards > repo.MaxShards {
		return repo.Userf("--shard %d: n must be at most %d", opts.shards, repo.MaxShards)
	}
	loadOpts, err := opts.global.loadOptions()
	if err != nil {
		return err
	}
	ls, err := repo.LoadExperiment(opts.global.env.path(path), loadOpts)
	if err != nil {
		return err
	}
	e := &ls.Spec.Experiment
	e.Run.Override(opts.reps, opts.maxIter, opts.parallel)
	reps, maxIter := e.Run.RepetitionsPerCase, e.Run.MaxIterations
	iterations, err := runner.CountIterations(e, maxIter)
	if err != nil {
		return err
	}
	est := &reports.Estimate{Slug: ls.Slug, ID: ls.ID, Cases: ls.Dataset.Count, Repetitions: reps, Iterations: iterations, CostPerCall: opts.costPerCall}
	if est.CostPerCall <= 0 {
		est.CostPerCall, est.MeanOf, _ = runner.CostPerCall(opts.global.evalsDir(), ls.Slug)
	}
	if est.Judges, err = judgeEstimates(opts, ls); err != nil {
		return err
	}
	if opts.shards > 0 {
		if err := shardEstimates(opts, ls, est); err != nil {
			return err
		}
	}
	fmt.Fprint(io.Out, reports.EstimateText(est))
	return nil
}

// judgeEstimates counts and prices the calls of each LLM judge of the spec.
func judgeEstimates(opts *estimateOptions, ls *repo.LoadedSpec) ([]reports.JudgeEstimate, error) {
	traces, err := ls.JudgeCalls()
	if err != nil {
		return nil, err
	}
	var out []reports.JudgeEstimate
	for _, g := range ls.Spec.Graders {
		name := g.GraderName()
		n, ok := traces[name]
		if !ok {
			continue
		}
		j := reports.JudgeEstimate{Grader: name, Traces: n, CostPerCall: opts.judgeCostPerCall, Known: opts.judgeCostPerCall > 0}
		if !j.Known {
			j.CostPerCall, j.MeanOf, j.Known = runner.JudgeCostPerCall(opts.global.evalsDir(), ls.Slug, name)
		}
		out = append(out, j)
	}
	return out, nil
}

// shardEstimates fills in what each of --shard n shards holds, and the
// latency that times them.
func shardEstimates(opts *estimateOptions, ls *repo.LoadedSpec, est *reports.Estimate) error {
	sizes, err := ls.Dataset.ShardSizes(opts.shards)
	if err != nil {
		return err
	}
	for _, s := range sizes {
		est.Shards = append(est.Shards, reports.ShardEstimate{Cases: s.Cases, LongestThread: s.LongestThread})
	}
	est.Parallel = ls.Spec.Experiment.Run.Parallelism
	est.Latency = opts.latency
	if est.Latency == 0 {
		est.Latency, est.LatencyOf = meanLatency(opts.global.evalsDir(), ls.Slug)
	}
	return nil
}

// meanLatency is the mean wall time of the agent calls of the newest run
// of an experiment that made any (answers from the cache took no time of
// the agent's), with that run's directory; 0 when no run did.
func meanLatency(evalsDir, slug string) (time.Duration, string) {
	runs, _ := runstore.Open(evalsDir).Runs(slug)
	for _, run := range runs {
		var total float64
		n := 0
		run.Results(func(r *repo.Result) error {
			if !r.Cached {
				total += r.LatencyMS
				n++
			}
			return nil
		})
		if n > 0 && total > 0 {
			return time.Duration(total / float64(n) * float64(time.Millisecond)), run.Path()
		}
	}
	return 0, ""
}
