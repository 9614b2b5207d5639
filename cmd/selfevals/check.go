package main

import (
	"fmt"

	"github.com/goccy/go-json"
	"github.com/spf13/cobra"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/check"
	"github.com/selfevals/selfevals/reports"
)

type checkOptions struct {
	format string
}

func newCheckCmd(io *IOStreams, g *globalOptions) *cobra.Command {
	opts := &checkOptions{}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Verify the evals/ directory: run records, committed results, refs",
		Long: `check verifies what selfevals wrote, as git fsck does for a repository,
and says how to repair each finding:

  - run records: run.json readable; a run killed or interrupted (resume it);
    results.jsonl and traces.parquet readable; no temporary file left by an
    interrupted write
  - committed results (evals/results/<slug>/): summary.json and cases.jsonl
    readable and written together; a spec for them; results of the spec's
    current dataset and definition
  - refs: selfevals/<slug> branches and refs/selfevals/candidates/ hold a
    commit the repository has; no lock file left by a killed update; no
    candidates of an experiment whose spec is gone

Errors (damage) exit 1; warnings alone (unfinished or out-of-date work that
a command takes care of) exit 0. check changes nothing.`,
		Example: `  selfevals check
  selfevals check --format json | jq '.findings[] | select(.severity == "error")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.format != "text" && opts.format != "json" {
				return repo.Userf("--format must be text or json, got %q", opts.format)
			}
			rep, err := check.Run(g.env.abs(g.evalsDir()))
			if err != nil {
				return err
			}
			if opts.format == "json" {
				b, err := json.MarshalIndentWithOption(rep, "", "  ", json.DisableHTMLEscape())
				if err != nil {
					return err
				}
				fmt.Fprintln(io.Out, string(b))
			} else {
				fmt.Fprint(io.Out, reports.CheckText(rep))
			}
			if n := rep.Errors(); n > 0 {
				return &exitError{code: exitFailure}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.format, "format", "text", "text or json")
	return cmd
}
