package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/selfevals/selfevals/reports"
	"github.com/selfevals/selfevals/runner"
)

func newCompareCmd(io *IOStreams, g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "compare <itr-a> <itr-b>",
		Short: "Compare two iterations: parameters, metrics with paired statistics, failure modes",
		Long: `compare finds two iterations in the run records under evals/runs/ (the newest
run that has each ID) and prints their parameter diff, every metric with
the difference, its confidence interval and a paired p-value on the cases
both ran, the failure-mode counts, and a recommendation. It warns when the
two are iterations of different experiments, of two versions of a spec,
or ran different datasets.`,
		Example: `  selfevals compare itr_2725549f68260415 itr_12786656873a28bf`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := g.evalsDir()
			a, err := runner.FindIteration(dir, args[0])
			if err != nil {
				return err
			}
			b, err := runner.FindIteration(dir, args[1])
			if err != nil {
				return err
			}
			for _, w := range reports.CompareWarnings(a, b) {
				fmt.Fprintln(io.ErrOut, "warning: "+w)
			}
			fmt.Fprint(io.Out, reports.Compare(a, b))
			return nil
		},
	}
}
