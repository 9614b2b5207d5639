package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/reports"
)

type experimentsOptions struct {
	global *globalOptions
	format string
}

func newExperimentsCmd(io *IOStreams, g *globalOptions) *cobra.Command {
	opts := &experimentsOptions{global: g}
	cmd := &cobra.Command{
		Use:   "experiments",
		Short: "List the experiments: spec file, target, last run and its best iteration",
		Long: `experiments lists every spec under evals/experiments/ (and every experiment
that has runs but no spec any more), one line each: its slug, its file, its
primary target, the state and start of its newest run, and that run's best
iteration within its guardrails. A spec that does not load says why; run
selfevals validate for every problem. Nothing is run or written.

--format json prints the same as a list of objects (empty: []).`,
		Example: `  selfevals experiments
  selfevals experiments --format json | jq -r '.[].slug'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExperiments(io, opts)
		},
	}
	addExploreFormat(cmd, &opts.format)
	return cmd
}

func runExperiments(io *IOStreams, opts *experimentsOptions) error {
	if err := checkExploreFormat(opts.format); err != nil {
		return err
	}
	ws, err := workspace(opts.global)
	if err != nil {
		return err
	}
	rows, err := ws.Experiments()
	if err != nil {
		return err
	}
	if opts.format == "json" {
		return io.print(reports.ExploreJSON(rows))
	}
	if len(rows) == 0 {
		fmt.Fprintf(io.ErrOut, "no experiments under %s; selfevals init or selfevals examples copy pingpong makes one\n", opts.global.env.show(ws.Dir.Path()))
		return nil
	}
	_, err = fmt.Fprint(io.Out, reports.ExperimentList(rows))
	return err
}

// workspace is the evals/ directory the explore commands read.
func workspace(g *globalOptions) (reports.Workspace, error) {
	dir := g.evalsDir()
	if !fileExists(dir) {
		return reports.Workspace{}, &repo.UserError{Msg: "no evals directory at " + g.env.show(dir), Hint: "run selfevals init, or pass --dir"}
	}
	load, err := g.loadOptions()
	if err != nil {
		return reports.Workspace{}, err
	}
	return reports.Workspace{Dir: repo.Dir(dir), Load: load, ShowPath: g.env.show}, nil
}

// addExploreFormat adds --format to a command that prints text or JSON.
func addExploreFormat(cmd *cobra.Command, format *string) {
	cmd.Flags().StringVar(format, "format", "text", "text or json")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
}

func checkExploreFormat(format string) error {
	if format != "text" && format != "json" {
		return repo.Userf("--format must be text or json, got %q", format)
	}
	return nil
}
