package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/gitstore"
	"github.com/selfevals/selfevals/repo/runstore"
	"github.com/selfevals/selfevals/runner"
)

func newAdoptCmd(io *IOStreams, g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "adopt <slug> [<candidate>]",
		Short: "Adopt a kept candidate: its parameters into the spec, its results into evals/results",
		Long: `adopt takes a candidate that a run kept and committed to selfevals/<slug> and
writes it into the working tree: its parameters into the spec's parameters:
block (the rest of the spec, comments and formatting included, is kept) and
its result files into evals/results/<slug>/. Nothing else changes: not the
index, not HEAD, not the branch. Review with git diff and commit.

<candidate> is an iteration number of the newest run on selfevals/<slug>, a
commit there (a hash or a prefix of one), or any branch or ref whose tip is
a candidate (--candidate-branch, the refs selfevals candidates lists); by
default it is the best candidate the newest run kept. The spec must have no
uncommitted changes.

The plain-git equivalent is
  git checkout selfevals/<slug> -- evals/experiments/<slug>.yaml evals/results/<slug>/
which takes the candidate's whole spec file as it was when the run started.`,
		Example: `  selfevals adopt support-reply
  selfevals adopt support-reply 3f2a9c1
  selfevals adopt support-reply 2 && git add evals && git commit -m "support-reply: adopt iteration 2"`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			which := ""
			if len(args) == 2 {
				which = args[1]
			}
			return runAdopt(io, g, args[0], which)
		},
	}
}

func runAdopt(io *IOStreams, g *globalOptions, slug, which string) error {
	gs, err := openGit(g)
	if err != nil {
		return err
	}
	evals := repo.Dir(g.evalsDir())
	specPath, err := specOf(evals, slug)
	if err != nil {
		return err
	}
	specRel, err := gs.RelPath(specPath)
	if err != nil {
		return repo.Userf("%v", err)
	}
	if err := checkCommitted(gs, specPath, specRel); err != nil {
		return err
	}
	cand, err := chooseCandidate(gs, slug, which, summaryRel(gs, evals, slug))
	if err != nil {
		return err
	}
	if err := adoptCandidate(evals, specPath, slug, cand); err != nil {
		return err
	}
	c := cand.commit
	fmt.Fprintf(io.Out, "adopted %s %s (iteration %s of %s): %s\n", runner.CandidateBranch(slug), c.Hash[:12],
		cand.iteration(), cand.run(), primaryText(cand.summary))
	for _, p := range []string{specPath, evals.Summary(slug), evals.CaseVerdicts(slug)} {
		fmt.Fprintf(io.Out, "  wrote %s\n", g.env.show(p))
	}
	fmt.Fprintf(io.Out, "review with `git diff`, then commit: git add %s %s && git commit -m %q\n",
		g.env.show(specPath), g.env.show(evals.Results(slug)), fmt.Sprintf("%s: adopt iteration %s", slug, cand.iteration()))
	warnStale(io, g, specPath, cand.summary)
	return nil
}

// candidate is a commit of selfevals/<slug> with the result files it holds.
type candidate struct {
	commit      gitstore.Commit
	summary     *repo.ResultsSummary
	summaryJSON []byte
	casesJSONL  []byte
}

func (c *candidate) run() string       { v, _ := c.commit.Trailer(gitstore.TrailerRun); return v }
func (c *candidate) iteration() string { v, _ := c.commit.Trailer(gitstore.TrailerIteration); return v }

// specOf is the path of experiment slug's spec in the working tree.
func specOf(evals repo.Dir, slug string) (string, error) {
	for _, p := range evals.SpecCandidates(slug) {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", repo.Userf("no experiment %q: there is no %s", slug, evals.Spec(slug))
}

func summaryRel(gs *gitstore.Git, evals repo.Dir, slug string) string {
	rel, _ := gs.RelPath(evals.Summary(slug))
	return rel
}

// checkCommitted refuses a spec with uncommitted changes: adopting would
// mix them with the candidate's parameters. Line endings do not count (a
// checkout with core.autocrlf has CRLF where the commit has LF).
func checkCommitted(gs *gitstore.Git, specPath, specRel string) error {
	work, err := os.ReadFile(specPath)
	if err != nil {
		return err
	}
	head, err := gs.ReadFile("HEAD", specRel)
	if err != nil {
		if _, noHead := gs.ResolveCommit("HEAD"); noHead == nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return &repo.UserError{Msg: specRel + " is not committed", Hint: "commit it first (git add " + specRel + " && git commit), then adopt"}
	}
	if !bytes.Equal(bytes.ReplaceAll(work, []byte("\r\n"), []byte("\n")), bytes.ReplaceAll(head, []byte("\r\n"), []byte("\n"))) {
		return &repo.UserError{Msg: specRel + " has uncommitted changes", Hint: "commit or stash them (git stash), then adopt"}
	}
	return nil
}

// chooseCandidate finds the candidate which names, or by default the best
// the newest run on selfevals/<slug> kept.
func chooseCandidate(gs *gitstore.Git, slug, which, summaryPath string) (*candidate, error) {
	branch := runner.CandidateBranch(slug)
	commits, _ := gs.Log("refs/heads/"+branch, "", gitstore.TrailerRun)
	if which != "" {
		return namedCandidate(gs, commits, branch, which, summaryPath)
	}
	if len(commits) == 0 {
		return nil, &repo.UserError{Msg: fmt.Sprintf("no candidates for %s: the branch %s has no kept candidate", slug, branch),
			Hint: "run the experiment; each kept candidate is committed to " + branch}
	}
	newest, _ := commits[0].Trailer(gitstore.TrailerRun)
	var best *candidate
	for _, c := range commits {
		if run, _ := c.Trailer(gitstore.TrailerRun); run != newest {
			continue
		}
		cand, err := readCandidate(gs, c, summaryPath)
		if err != nil {
			return nil, err
		}
		if best == nil || betterCandidate(cand, best) {
			best = cand
		}
	}
	return best, nil
}

// namedCandidate finds the candidate which names: an iteration of the
// newest run on the branch, a commit of the branch by a hash prefix, or any
// revision (another branch, a kept ref) whose commit is a candidate.
func namedCandidate(gs *gitstore.Git, commits []gitstore.Commit, branch, which, summaryPath string) (*candidate, error) {
	var newest string
	if len(commits) > 0 {
		newest, _ = commits[0].Trailer(gitstore.TrailerRun)
	}
	for _, c := range commits {
		run, _ := c.Trailer(gitstore.TrailerRun)
		it, _ := c.Trailer(gitstore.TrailerIteration)
		if run == newest && it == which || len(which) >= 4 && strings.HasPrefix(c.Hash, strings.ToLower(which)) {
			return readCandidate(gs, c, summaryPath)
		}
	}
	// A number is an iteration, and a short hex string no commit: git
	// would take "7" or "7a" for an abbreviated hash.
	if _, err := strconv.Atoi(which); err != nil && !shortHex(which) {
		if at, err := gs.Log(which, "", ""); err == nil && len(at) > 0 {
			if _, ok := at[0].Trailer(gitstore.TrailerRun); ok {
				return readCandidate(gs, at[0], summaryPath)
			}
		}
	}
	return nil, &repo.UserError{Msg: fmt.Sprintf("no candidate %q on %s", which, branch),
		Hint: fmt.Sprintf("name an iteration of the newest run, a commit of `git log %s`, or a branch or ref whose tip is a candidate (selfevals candidates)", branch)}
}

// shortHex reports whether s could only name a commit as a hash prefix
// too short to be one (git wants 4 digits).
func shortHex(s string) bool {
	if len(s) >= 4 {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}

// betterCandidate: a beats b on the primary target; on a tie the newer
// (listed first) stays.
func betterCandidate(a, b *candidate) bool {
	if a.summary.Primary == nil || b.summary.Primary == nil {
		return b.summary.Primary == nil && a.summary.Primary != nil
	}
	return a.summary.Target.Better(*a.summary.Primary, *b.summary.Primary)
}

// readCandidate reads the result files a candidate commit holds.
func readCandidate(gs *gitstore.Git, c gitstore.Commit, summaryPath string) (*candidate, error) {
	tree, err := gs.TreeAt(c.Hash)
	if err != nil {
		return nil, err
	}
	sum, err := tree.ReadFile(summaryPath)
	if err != nil {
		return nil, fmt.Errorf("candidate %s: %w", c.Hash[:12], err)
	}
	cases, err := tree.ReadFile(filepath.ToSlash(filepath.Join(filepath.Dir(summaryPath), repo.CaseVerdictsName)))
	if err != nil {
		return nil, fmt.Errorf("candidate %s: %w", c.Hash[:12], err)
	}
	s, err := repo.ReadSummary(sum)
	if err != nil {
		return nil, fmt.Errorf("candidate %s: %s: %w", c.Hash[:12], summaryPath, err)
	}
	return &candidate{commit: c, summary: s, summaryJSON: sum, casesJSONL: cases}, nil
}

// adoptCandidate writes the candidate's parameters into the spec and its
// result files into evals/results/<slug>/.
func adoptCandidate(evals repo.Dir, specPath, slug string, c *candidate) error {
	raw, err := os.ReadFile(specPath)
	if err != nil {
		return err
	}
	spec, err := repo.RewriteParameters(raw, c.summary.Parameters)
	if err != nil {
		return fmt.Errorf("rewriting the parameters of %s: %w", specPath, err)
	}
	st, err := os.Stat(specPath)
	if err != nil {
		return err
	}
	if !bytes.Equal(spec, raw) {
		if err := repo.WriteFileAtomic(specPath, spec, st.Mode().Perm()); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(evals.Results(slug), 0o755); err != nil {
		return err
	}
	return runstore.Open(evals.Path()).WriteResults(slug, c.summaryJSON, c.casesJSONL)
}

func primaryText(s *repo.ResultsSummary) string {
	if s.Primary == nil {
		return s.Target.Name + " not observed"
	}
	return s.Target.Name + " " + strconv.FormatFloat(*s.Primary, 'g', 4, 64)
}

// warnStale says when the candidate was run on another spec or dataset
// than the working tree's: its results then describe something else.
func warnStale(io *IOStreams, g *globalOptions, specPath string, s *repo.ResultsSummary) {
	loadOpts, err := g.loadOptions()
	if err != nil {
		return
	}
	ls, err := repo.LoadExperiment(specPath, loadOpts)
	if err != nil {
		return
	}
	if ls.ID != s.Experiment.ID || ls.Dataset.ID != s.DatasetID {
		fmt.Fprintf(io.ErrOut, "warning: the candidate was run on another version of the spec or dataset (%s, %s; now %s, %s): rerun the experiment to refresh its results\n",
			s.Experiment.ID, s.DatasetID, ls.ID, ls.Dataset.ID)
	}
}
