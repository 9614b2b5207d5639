package main

import (
	"fmt"
	"path"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/gitstore"
	"github.com/selfevals/selfevals/reports"
	"github.com/selfevals/selfevals/runner"
)

func newCandidatesCmd(io *IOStreams, g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "candidates [<slug>]",
		Short: "List kept candidates committed to selfevals/<slug> branches",
		Long: `candidates lists the kept candidates that runs committed and HEAD has not
merged, newest first, with the run each came from.

The branch selfevals/<slug> holds the newest run's candidates (marked
current): each run's first candidate sits on the commit that was run, the
next ones on the previous. When a later run moves the branch, the earlier
run's candidates it no longer contains are kept under
refs/selfevals/candidates/<slug>/<run-id> and listed here too, so none is
lost. selfevals adopt <slug> [<commit>] adopts one into the working tree
(its parameters into the spec, its results into evals/results/<slug>/).`,
		Example: `  selfevals candidates
  selfevals candidates support-reply
  selfevals adopt support-reply            # the best kept candidate of the newest run
  selfevals adopt support-reply 1a2b3c4d   # a listed one`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			found, err := unmergedCandidates(g, args)
			if err != nil {
				return err
			}
			if len(found) == 0 {
				fmt.Fprintln(io.ErrOut, "no unmerged candidates")
				return nil
			}
			fmt.Fprint(io.Out, reports.CandidateList(found))
			return nil
		},
	}
}

// unmergedCandidates lists the candidates of the slug in args (else of
// every slug) that HEAD has not merged: the selfevals/<slug> branch first,
// then earlier runs' kept refs.
func unmergedCandidates(g *globalOptions, args []string) ([]reports.CandidateBranch, error) {
	gs, err := openGit(g)
	if err != nil {
		return nil, err
	}
	slugs, err := gs.CandidateSlugs()
	if err != nil {
		return nil, err
	}
	if len(args) == 1 {
		if !slices.Contains(slugs, args[0]) {
			return nil, repo.Userf("no candidates for %s: there is no branch %s and nothing under %s%s/",
				args[0], runner.CandidateBranch(args[0]), gitstore.CandidateRefPrefix, args[0])
		}
		slugs = args
	}
	var found []reports.CandidateBranch
	for _, slug := range slugs {
		lines, err := gs.Candidates(slug, runner.CandidateBranch(slug))
		if err != nil {
			return nil, fmt.Errorf("candidates of %s: %w", slug, err)
		}
		for _, l := range lines {
			note := "earlier run"
			if l.Current {
				note = "current"
			}
			found = append(found, reports.CandidateBranch{Name: l.Ref, Note: note, Commits: l.Commits})
		}
	}
	return found, nil
}

func newHistoryCmd(io *IOStreams, g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "history <slug>",
		Short: "Show the committed primary metric of an experiment at each commit that changed it",
		Long: `history walks the first-parent history of HEAD and prints, newest first,
each commit that changed evals/results/<slug>/summary.json with the primary
metric it recorded: the experiment's longitudinal view.`,
		Example: `  selfevals history support-reply`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			gs, err := openGit(g)
			if err != nil {
				return err
			}
			rel, err := gs.RelPath(repo.Dir(g.evalsDir()).Summary(args[0]))
			if err != nil {
				return repo.Userf("%v", err)
			}
			versions, err := gs.FileHistory("HEAD", rel)
			if err != nil {
				return err
			}
			if len(versions) == 0 {
				return repo.Userf("no commit of %s has %s; run the experiment and commit %s", args[0], rel, path.Dir(rel))
			}
			fmt.Fprint(io.Out, reports.HistoryTable(versions))
			return nil
		},
	}
}

func openGit(g *globalOptions) (*gitstore.Git, error) {
	dir := g.evalsDir()
	gs, err := gitstore.Open(filepath.Dir(filepath.Clean(dir)))
	if err != nil {
		if err == gitstore.ErrNotRepository {
			return nil, repo.Userf("%s is not inside a git repository", g.env.show(dir))
		}
		return nil, err
	}
	return gs, nil
}
