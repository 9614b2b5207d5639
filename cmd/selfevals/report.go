package main

import (
	"github.com/spf13/cobra"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
	"github.com/selfevals/selfevals/reports"
)

type reportOptions struct {
	global *globalOptions
	format string
}

func newReportCmd(io *IOStreams, g *globalOptions) *cobra.Command {
	opts := &reportOptions{global: g}
	cmd := &cobra.Command{
		Use:   "report [<slug>|<run-id>]",
		Short: "Print the report of a recorded run",
		Long: `report rebuilds a run's report from its record under evals/runs/: the
newest run of an experiment (by slug), a run by ID, or the newest run of
all when no argument is given. Nothing is called or re-graded.

Formats: md (terminals and pull requests), json (versioned schema), junit
(JUnit XML for CI test reporters: one testcase per case of iteration 0, the
adopted configuration, whose verdicts are the committed
results/<slug>/cases.jsonl; failures carry the grader's reason) and html
(one self-contained page: inline CSS, SVG and script, nothing fetched:
the cases counted by label and grouped by failure mode, the first failing
cases in full, the next ones in a list paged in the browser, the first
passing cases). Both read the run's results once and stream, so a run of a
million cases takes bounded memory.`,
		Example: `  selfevals report pingpong
  selfevals report run_6aaa423b3bf9181e --format json | jq .best_iteration
  selfevals report pingpong --format junit > junit.xml
  selfevals report pingpong --format html > report.html`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReport(io, opts, args)
		},
	}
	formatVar(cmd.Flags(), &opts.format, "md (or markdown), json, junit or html", "md", "json", "junit", "html")
	return cmd
}

func runReport(io *IOStreams, opts *reportOptions, args []string) error {
	dir := opts.global.evalsDir()
	shown := opts.global.env.show(dir)
	slug := ""
	if len(args) == 1 {
		slug = args[0]
	}
	runDir, err := findRunDir(dir, slug)
	switch {
	case err != nil:
		return err
	case runDir == "" && slug == "":
		return repo.Userf("no recorded runs under %s", shown)
	case runDir == "":
		return repo.Userf("no recorded runs of %s under %s", slug, shown)
	}
	rs, err := runstore.At(runDir).Summary()
	if err != nil {
		return err
	}
	return reports.RenderTo(io.Out, rs, runDir, opts.format)
}

// print writes what a renderer returned to stdout, unless it failed.
func (s *IOStreams) print(b []byte, err error) error {
	if err != nil {
		return err
	}
	_, err = s.Out.Write(b)
	return err
}
