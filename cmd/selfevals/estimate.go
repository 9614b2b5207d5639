package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/reports"
	"github.com/selfevals/selfevals/runner"
)

type estimateOptions struct {
	global           *globalOptions
	costPerCall      float64
	judgeCostPerCall float64
	reps             int
	maxIter          int
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
calls in the newest run that recorded one.`,
		Example: `  selfevals estimate evals/experiments/support.yaml
  selfevals estimate evals/experiments/support.yaml --cost-per-call 0.003 --reps 5
  selfevals estimate evals/experiments/hello.yaml --judge-cost-per-call 0.0004`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEstimate(io, opts, args[0])
		},
	}
	cmd.Flags().Float64Var(&opts.costPerCall, "cost-per-call", 0, "USD per agent call (default: the mean of the last run)")
	cmd.Flags().Float64Var(&opts.judgeCostPerCall, "judge-cost-per-call", 0, "USD per LLM-judge call (default: each judge's mean in the last run)")
	countVar(cmd.Flags(), &opts.reps, "reps", "repetitions per case (default: the spec's)")
	countVar(cmd.Flags(), &opts.maxIter, "max-iterations", "iteration limit (default: the spec's)")
	return cmd
}

func runEstimate(io *IOStreams, opts *estimateOptions, path string) error {
	if opts.costPerCall < 0 || opts.judgeCostPerCall < 0 {
		return repo.Userf("--cost-per-call and --judge-cost-per-call must not be negative")
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
	e.Run.Override(opts.reps, opts.maxIter, 0)
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
