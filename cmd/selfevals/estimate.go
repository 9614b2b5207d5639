package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/runner"
)

type estimateOptions struct {
	global      *globalOptions
	costPerCall float64
	reps        int
	maxIter     int
}

func newEstimateCmd(io *IOStreams, g *globalOptions) *cobra.Command {
	opts := &estimateOptions{global: g}
	cmd := &cobra.Command{
		Use:   "estimate <spec>",
		Short: "Estimate agent calls and cost of a run before starting it",
		Long: `estimate counts the iterations a run would make (the baseline plus the
proposals, within max_iterations), the agent calls (cases × repetitions ×
iterations) and the cost: calls × --cost-per-call, or × the mean cost per
call of the newest run of this experiment that reported a cost.`,
		Example: `  selfevals estimate evals/experiments/support.yaml
  selfevals estimate evals/experiments/support.yaml --cost-per-call 0.003 --reps 5`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEstimate(io, opts, args[0])
		},
	}
	cmd.Flags().Float64Var(&opts.costPerCall, "cost-per-call", 0, "USD per agent call (default: the mean of the last run)")
	cmd.Flags().IntVar(&opts.reps, "reps", 0, "repetitions per case (default: the spec's)")
	cmd.Flags().IntVar(&opts.maxIter, "max-iterations", 0, "iteration limit (default: the spec's)")
	return cmd
}

func runEstimate(io *IOStreams, opts *estimateOptions, path string) error {
	if opts.costPerCall < 0 || opts.reps < 0 || opts.maxIter < 0 {
		return repo.Userf("--cost-per-call, --reps and --max-iterations must not be negative")
	}
	loadOpts, err := opts.global.loadOptions()
	if err != nil {
		return err
	}
	ls, err := repo.LoadExperiment(path, loadOpts)
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
	calls := ls.Dataset.Count * reps * iterations
	fmt.Fprintf(io.Out, "experiment:  %s (%s)\n", ls.Slug, ls.ID)
	fmt.Fprintf(io.Out, "iterations:  %d (at most; convergence may stop earlier)\n", iterations)
	fmt.Fprintf(io.Out, "calls:       %d = %d cases × %d repetitions × %d iterations\n", calls, ls.Dataset.Count, reps, iterations)
	switch {
	case opts.costPerCall > 0:
		fmt.Fprintf(io.Out, "cost:        $%.2f at $%g per call\n", float64(calls)*opts.costPerCall, opts.costPerCall)
	default:
		if per, dir, ok := runner.CostPerCall(opts.global.evalsDir(), ls.Slug); ok {
			fmt.Fprintf(io.Out, "cost:        $%.2f at $%.6f per call (mean of %s)\n", float64(calls)*per, per, dir)
		} else {
			fmt.Fprintf(io.Out, "cost:        unknown: no earlier run reported a cost; pass --cost-per-call\n")
		}
	}
	return nil
}
