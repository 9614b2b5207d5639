package main

import (
	"cmp"
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
		Use:   "diff [<rev-a> [<rev-b>] | <rev-a>...[<rev-b>]]",
		Short: "Compare results, datasets and specs across git revisions",
		Long: `diff compares evals/ at two git revisions, read straight from git objects
(nothing is checked out). With no argument it compares HEAD with the working
tree; with one, that revision with the working tree. Revisions are resolved
to commits first and kept apart by position (A, B), so diff main main works.

A...B compares the merge base of A and B with B: what B changed since it
left A, as git diff A...B, which is what a pull request changed. A B (and
A..B) compares the two tips; when A is not an ancestor of B, what landed
on A meanwhile shows as B's change, reversed, and a caveat says so and
names the A...B to run instead. In a range an omitted A is HEAD and an
omitted B the working tree (main... is the merge base of main and HEAD
against the working tree).

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
exact 'git fetch' command that brings it; so does a blob a partial clone
(--filter=blob:none) cannot fetch, and a submodule that is not checked out
gets its 'git submodule update --init'.

--fail-on regression exits 4 when an experiment's primary metric is
significantly worse or any case regressed.`,
		Example: `  selfevals diff                         # HEAD against the working tree
  selfevals diff main...HEAD --fail-on regression   # what this branch changed since it left main
  selfevals diff origin/main...                     # the same, against the working tree (CI, after a run)
  selfevals diff main HEAD                          # the two tips as they are
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
	a, b, caveat, err := diffSides(git, args)
	if err != nil {
		return err
	}
	d, err := reports.Diff(a, b, reports.DiffOptions{EvalsDir: rel, Experiment: opts.experiment})
	var outside *gitstore.LinkOutsideError
	if errors.As(err, &outside) {
		return &repo.UserError{Msg: err.Error()} // the repository's content, not a failure to read it
	}
	if err != nil {
		return err
	}
	if caveat != nil {
		d.Caveats = append([]reports.Caveat{*caveat}, d.Caveats...)
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
		fmt.Fprint(io.Out, reports.DiffMarkdown(d, commentMarkdownOptions(opts.global.env, dir, rel, d)))
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

// diffSides reads the arguments: none (HEAD against the working tree), one
// revision (it against the working tree), two revisions, or a range:
// A...B is the merge base of A and B against B (what B changed since it
// left A, as git diff A...B), A..B is A against B. In a range an omitted A
// is HEAD and an omitted B the working tree, as with one revision. When A
// is not an ancestor of B, the caveat says that changes that landed on A
// show as B's, and names the A...B that leaves them out.
func diffSides(git *gitstore.Git, args []string) (a, b reports.Revision, caveat *reports.Caveat, err error) {
	revA, revB, symmetric := "HEAD", "", false
	switch {
	case len(args) == 2 && (strings.Contains(args[0], "..") || strings.Contains(args[1], "..")):
		return a, b, nil, repo.Userf("a range is one argument: give %s...%s (what %s changed since it left %s) or %s %s", args[0], args[1], args[1], args[0], args[0], args[1])
	case len(args) == 2:
		revA, revB = args[0], args[1]
	case len(args) == 1:
		revA = args[0]
		if before, after, ok := strings.Cut(args[0], "..."); ok {
			revA, revB, symmetric = before, after, true
		} else if before, after, ok := strings.Cut(args[0], ".."); ok {
			revA, revB = before, after
		}
		if revA == "" {
			revA = "HEAD"
		}
		if strings.Contains(revB, "..") {
			return a, b, nil, repo.Userf("revision range %q: use A...B or A..B", args[0])
		}
	}
	b = reports.Revision{Name: "working tree", Tree: os.DirFS(git.Root())}
	headB := "HEAD" // the commit B's changes are measured from
	if revB != "" {
		if b, err = gitRevision(git, revB); err != nil {
			return a, b, nil, err
		}
		headB = revB
	}
	if symmetric {
		a, err = mergeBase(git, revA, headB)
		return a, b, nil, err
	}
	if a, err = gitRevision(git, revA); err != nil {
		return a, b, nil, err
	}
	return a, b, divergedCaveat(git, revA, headB, revB), nil
}

// mergeBase is the revision where b left a, named after both.
func mergeBase(git *gitstore.Git, a, b string) (reports.Revision, error) {
	base, err := git.MergeBase(a, b)
	if err != nil {
		return reports.Revision{}, &repo.UserError{Msg: err.Error()}
	}
	t, err := git.TreeAt(base)
	if err != nil {
		return reports.Revision{}, err
	}
	return reports.Revision{Name: fmt.Sprintf("merge base of %s and %s", a, b), Commit: t.Commit(), Tree: t}, nil
}

// divergedCaveat is the caveat for A not being an ancestor of B (nil when
// it is, or when history is too short to tell, as in a shallow clone).
func divergedCaveat(git *gitstore.Git, a, headB, revB string) *reports.Caveat {
	if ok, err := git.IsAncestor(a, headB); ok || err != nil {
		return nil
	}
	return &reports.Caveat{Kind: reports.CaveatDiverged, Message: fmt.Sprintf(
		"%s is not an ancestor of %s: changes that landed on %s since they diverged show here as changes of %s, reversed; "+
			"for what %s changed alone, run selfevals diff %s...%s", a, headB, a, cmp.Or(revB, "the working tree"), headB, a, revB)}
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
