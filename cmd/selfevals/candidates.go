package main

import (
	"fmt"
	"path"
	"path/filepath"

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
		Long: `candidates lists the commits that runs made on the selfevals/<slug> branches
(one per kept candidate) that are not yet merged into HEAD, newest first,
with the run and iteration they came from. Merge a branch to adopt its
newest candidate.`,
		Example: `  selfevals candidates
  selfevals candidates support-reply
  git merge selfevals/support-reply`,
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

// unmergedCandidates lists the selfevals/<slug> branches (the one of the
// slug in args, else all) that have commits HEAD has not merged.
func unmergedCandidates(g *globalOptions, args []string) ([]reports.CandidateBranch, error) {
	gs, err := openGit(g)
	if err != nil {
		return nil, err
	}
	var branches []string
	if len(args) == 1 {
		branches = []string{runner.CandidateBranch(args[0])}
	} else if branches, err = gs.Branches("selfevals/"); err != nil {
		return nil, err
	}
	var found []reports.CandidateBranch
	for _, b := range branches {
		commits, err := gs.BranchCommits(b, "HEAD")
		if err != nil {
			if len(args) == 1 {
				return nil, repo.Userf("no candidates for %s: %v", args[0], err)
			}
			continue
		}
		if len(commits) > 0 {
			found = append(found, reports.CandidateBranch{Name: b, Commits: commits})
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
