package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/gitstore"
	"github.com/selfevals/selfevals/reports"
)

type diffOptions struct {
	global     *globalOptions
	experiment string
	format     string
	failOn     string
}

func newDiffCmd(io *IOStreams, g *globalOptions) *cobra.Command {
	opts := &diffOptions{global: g}
	cmd := &cobra.Command{
		Use:   "diff [<rev-a> [<rev-b>]]",
		Short: "Compare results, datasets and specs across git revisions",
		Long: `diff compares evals/ at two git revisions, read straight from git objects
(nothing is checked out). With no argument it compares HEAD with the working
tree; with one, that revision with the working tree. Revisions are resolved
to commits first and kept apart by position (A, B), so diff main main works.

Per experiment: a metric table (A and B over all cases; the paired Δ,
confidence interval, p and verdict on the cases both results share: exact
McNemar on pass/fail, a sign-flip permutation test on scores); per case: regressed,
fixed, still failing, new, removed, renamed (the same definition under
another name or ID, paired with itself) and definition changed (a new
definition hash under the same ID, or the same name with a new content
hash: an edited case is never counted as a regression or a fix); dataset
changes by content hash; spec and grader changes field by field; taxonomy
changes. Caveats come first: changed graders (spec or grader cards) or a
changed agent fingerprint, which can move results by themselves. The
markdown is the pull-request comment ('selfevals comment' posts it).

In a shallow clone (a CI checkout), a revision that was not fetched gets the
exact 'git fetch' command that brings it.

--fail-on regression exits 4 when an experiment's primary metric is
significantly worse or any case regressed.`,
		Example: `  selfevals diff                         # HEAD against the working tree
  selfevals diff main HEAD --fail-on regression
  selfevals diff origin/main --format md > evals-diff.md
  selfevals diff HEAD~3 HEAD --experiment support-reply --format json | jq .experiments[0].cases.regressed`,
		Args: cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDiff(io, opts, args)
		},
	}
	cmd.Flags().StringVar(&opts.experiment, "experiment", "", "only this experiment (slug)")
	formatVar(cmd.Flags(), &opts.format, "md (or markdown) or json", "md", "json")
	cmd.Flags().StringVar(&opts.failOn, "fail-on", "", "regression: exit 4 when a primary metric got significantly worse or a case regressed")
	return cmd
}

func runDiff(io *IOStreams, opts *diffOptions, args []string) error {
	if opts.failOn != "" && opts.failOn != "regression" {
		return repo.Userf("--fail-on must be regression, got %q", opts.failOn)
	}
	dir := opts.global.evalsDir()
	git, err := gitstore.Open(dir)
	if errors.Is(err, gitstore.ErrNotRepository) {
		return &repo.UserError{Msg: fmt.Sprintf("diff compares git revisions, but %s is not inside a git repository", opts.global.env.show(dir)), Hint: "run it in your checkout, or pass --dir"}
	}
	if err != nil {
		return err
	}
	rel, err := git.RelPath(dir)
	if err != nil {
		return &repo.UserError{Msg: err.Error()}
	}
	revA := "HEAD"
	if len(args) > 0 {
		revA = args[0]
	}
	a, err := gitRevision(git, revA)
	if err != nil {
		return err
	}
	b := reports.Revision{Name: "working tree", Tree: os.DirFS(git.Root())}
	if len(args) > 1 {
		if b, err = gitRevision(git, args[1]); err != nil {
			return err
		}
	}
	d, err := reports.Diff(a, b, reports.DiffOptions{EvalsDir: rel, Experiment: opts.experiment})
	if err != nil {
		return err
	}
	if opts.format == "json" {
		out, err := reports.DiffJSON(d)
		if err != nil {
			return err
		}
		if _, err := io.Out.Write(out); err != nil {
			return err
		}
	} else {
		mo := reports.DiffMarkdownOptions{ToolVersion: toolVersion()}
		env := opts.global.env
		if server, ghRepo := env.Getenv("GITHUB_SERVER_URL"), env.Getenv("GITHUB_REPOSITORY"); server != "" && ghRepo != "" {
			mo.CommitURL = strings.TrimRight(server, "/") + "/" + ghRepo + "/commit/"
		}
		fmt.Fprint(io.Out, reports.DiffMarkdown(d, mo))
	}
	if opts.failOn == "regression" && d.Regressed() {
		var why []string
		for _, e := range d.Experiments {
			if e.Regressed {
				why = append(why, e.Slug+": "+strings.Join(e.Reasons, ", "))
			}
		}
		return &exitError{code: exitGate, msg: "regression (--fail-on regression): " + strings.Join(why, "; ")}
	}
	return nil
}

// gitRevision resolves rev to a commit's tree; a revision that does not
// resolve is bad input (exit 2), with the fetch command in a shallow clone.
func gitRevision(git *gitstore.Git, rev string) (reports.Revision, error) {
	t, err := git.TreeAt(rev)
	if err != nil {
		return reports.Revision{}, &repo.UserError{Msg: err.Error()}
	}
	return reports.Revision{Name: rev, Commit: t.Commit(), Tree: t}, nil
}
