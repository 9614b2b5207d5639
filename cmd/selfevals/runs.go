package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/selfevals/selfevals/reports"
)

type runsOptions struct {
	global *globalOptions
	format string
}

func newRunsCmd(io *IOStreams, g *globalOptions) *cobra.Command {
	opts := &runsOptions{global: g}
	cmd := &cobra.Command{
		Use:   "runs [<slug>]",
		Short: "List recorded runs, newest first: state, iterations, best, calls, when",
		Long: `runs lists the run records under evals/runs/ (of one experiment when a slug
is given), newest first: the run ID, the experiment, the state (running,
completed, interrupted, failed), how many iterations were decided, the best
iteration within the guardrails with its primary metric, the agent calls
(and how many came from the cache), and when it started (UTC).

Give a run ID to selfevals show or selfevals report for the details.
--format json prints the same as a list of objects (empty: []).`,
		Example: `  selfevals runs
  selfevals runs pingpong
  selfevals runs pingpong --format json | jq -r '.[0].id'`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeSlugs(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRuns(io, opts, args)
		},
	}
	addExploreFormat(cmd, &opts.format)
	return cmd
}

func runRuns(io *IOStreams, opts *runsOptions, args []string) error {
	if err := checkExploreFormat(opts.format); err != nil {
		return err
	}
	ws, err := workspace(opts.global)
	if err != nil {
		return err
	}
	slug := ""
	if len(args) == 1 {
		slug = args[0]
	}
	rows, err := ws.Runs(slug)
	if err != nil {
		return err
	}
	if opts.format == "json" {
		return io.print(reports.ExploreJSON(rows))
	}
	if len(rows) == 0 {
		what := "no runs recorded"
		if slug != "" {
			what = "no runs of " + slug + " recorded"
		}
		fmt.Fprintf(io.ErrOut, "%s under %s; selfevals run <spec> makes one\n", what, opts.global.env.show(ws.Dir.AllRuns()))
		return nil
	}
	_, err = fmt.Fprint(io.Out, reports.RunList(rows))
	return err
}
