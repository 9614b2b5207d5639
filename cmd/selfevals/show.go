package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/selfevals/selfevals/reports"
)

type showOptions struct {
	global *globalOptions
	format string
}

func newShowCmd(io *IOStreams, g *globalOptions) *cobra.Command {
	opts := &showOptions{global: g}
	cmd := &cobra.Command{
		Use:   "show <id>",
		Short: "Print anything by its ID: experiment, dataset, case, parameters, iteration, run, trace, failure mode…",
		Long: `show finds the entity an ID names and prints it. It knows every ID the tool
prints:

  exp_   an experiment: its spec, or what its runs recorded of an older spec
  ds_    a dataset: its file, its cases, the experiments and runs using it
  case_  a case (or a case's own id): where it is, its JSON, its committed verdicts
  par_   a parameters object: the specs that adopt it, the iterations that tried it
  itr_   an iteration: parameters, metrics with intervals, decision, failure modes
  run_   a run: its manifest and iterations
  fm_    a failure mode of the taxonomy
  tr_    a trace (one agent call): its output, grades, usage, cost and error
  agt_   an agent fingerprint: the specs whose agent has it, the runs that called it
  def_   a case definition: the cases that ask and judge exactly that

A unique prefix is enough (itr_27, or the hex part alone, which is not
looked for among traces and definitions); an ambiguous one
lists what it matches (exit 2). It reads specs, datasets, the taxonomy and
the run records under evals/; it writes nothing. --format json prints one
object with a "kind" field (lists are [], never null).`,
		Example: `  selfevals show run_6aaa423b3bf9181e
  selfevals show itr_2725
  selfevals show fm_schema_violation
  selfevals show exp_d7a8031d3d714dc6 --format json | jq .runs`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeIDs(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runShow(io, opts, args[0])
		},
	}
	addExploreFormat(cmd, &opts.format)
	return cmd
}

func runShow(io *IOStreams, opts *showOptions, id string) error {
	if err := checkExploreFormat(opts.format); err != nil {
		return err
	}
	ws, err := workspace(opts.global)
	if err != nil {
		return err
	}
	view, err := ws.Find(id)
	if err != nil {
		return err
	}
	if opts.format == "json" {
		return io.print(reports.ExploreJSON(view))
	}
	_, err = fmt.Fprint(io.Out, reports.ShowText(view))
	return err
}
