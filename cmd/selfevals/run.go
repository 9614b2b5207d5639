package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/gitstore"
	"github.com/selfevals/selfevals/reports"
	"github.com/selfevals/selfevals/runner"
)

type runOptions struct {
	global   *globalOptions
	specs    []string
	reps     int
	parallel int
	maxIter  int
	format   string
	noCache  bool
	noCommit bool
	resume   bool
	branch   string

	noPersist bool   // --no-persist
	shardFlag string // --shard i/n
	shard     *repo.Shard
}

func newRunCmd(io *IOStreams, g *globalOptions) *cobra.Command {
	opts := &runOptions{global: g}
	cmd := &cobra.Command{
		Use:   "run <spec>…",
		Short: "Run experiments: call the agent on every case, grade, sweep, decide",
		Long: `run loads each experiment spec, runs iteration 0 on the adopted parameters and
one iteration per proposal after it, grades every trace, aggregates metrics
with 95% intervals, and decides keep / reject / investigate against the best
iteration so far.

A complete iteration 0 is written to evals/results/<slug>/ (summary.json,
cases.jsonl: commit them); adopt a kept candidate with selfevals adopt.
Ctrl-C or SIGTERM keeps every finished call in the run record, but the
iteration it stopped is neither decided, written to evals/results nor
committed; --resume finishes it. A second signal ends the process at once.
--no-persist explores without touching anything git tracks: the run is
recorded under evals/runs/ and reported, but evals/results/ is not written
and no candidate is committed.

The report goes to stdout (markdown, or JSON with --format json); progress
goes to stderr. Every result is appended to evals/runs/<slug>/<run-id>/
as it arrives. Ctrl-C stops cleanly: in-flight calls are cancelled and
everything that finished is kept and reported.

Kept candidates are committed to the branch selfevals/<slug> (or
--candidate-branch), on the commit that was run; the working tree, the
index and HEAD are not touched. A rerun with the same results commits
nothing new, and earlier runs' candidates the branch moves off are kept
under refs/selfevals/candidates/<slug>/ (see selfevals candidates).

--shard i/n runs shard i of n: the cases whose ID (or thread) falls in it,
for every proposal of the sweep, chosen the same way on every machine and
whatever the file's order. auto/n takes i from JOB_COMPLETION_INDEX (a
Kubernetes Indexed Job's, 0-based). A shard decides and commits nothing
and takes only its own lock, so shards run side by side in one checkout or
on many machines; selfevals merge combines their run directories into the
run one machine would have made.`,
		Example: `  selfevals run evals/experiments/pingpong.yaml
  selfevals run evals/experiments/pingpong.yaml --reps 5 --no-persist   # explore; git sees no change
  selfevals run evals/experiments/support.yaml --reps 3 --parallel 32
  selfevals run evals/experiments/*.yaml --max-iterations 1 --format json
  selfevals run evals/experiments/support.yaml --resume   # after a crash or Ctrl-C
  selfevals run evals/experiments/support.yaml --candidate-branch selfevals/support-v2
  selfevals run evals/experiments/support.yaml --shard 2/4   # then: selfevals merge <the 4 run directories>`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.specs = args
			return runRun(cmd.Context(), io, opts)
		},
	}
	f := cmd.Flags()
	countVar(f, &opts.reps, "reps", "repetitions per case (default: the spec's run.repetitions_per_case)")
	countVar(f, &opts.parallel, "parallel", "agent calls in flight (default: the spec's run.parallelism)")
	countVar(f, &opts.maxIter, "max-iterations", "stop after N iterations (1 runs only the baseline)")
	formatVar(f, &opts.format, "report format: md (or markdown) or json", "md", "json")
	f.BoolVar(&opts.noCache, "no-cache", false, "call the agent even when a cached answer exists")
	f.BoolVar(&opts.noCommit, "no-commit", false, "do not commit kept candidates to selfevals/<slug>")
	f.StringVar(&opts.branch, "candidate-branch", "", "commit kept candidates to this branch instead of selfevals/<slug>")
	f.BoolVar(&opts.resume, "resume", false, "continue the last unfinished run of each experiment, skipping every call that finished")
	f.StringVar(&opts.shardFlag, "shard", "", "run shard `i/n` of the cases (1 ≤ i ≤ n; auto/n reads JOB_COMPLETION_INDEX), undecided, for selfevals merge")
	f.BoolVar(&opts.noPersist, "no-persist", false, "record and report the run only: write nothing git tracks (no evals/results, no candidate commit)")
	return cmd
}

func runRun(ctx context.Context, io *IOStreams, opts *runOptions) error {
	if err := opts.check(); err != nil {
		return err
	}
	if err := opts.parseShard(); err != nil {
		return err
	}
	warmRunEncoders()
	loadOpts, err := opts.global.loadOptions()
	if err != nil {
		return err
	}
	specs, err := loadSpecs(opts, loadOpts)
	if err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	var reportsOut []*repo.RunSummary
	defer func() { printReports(io, opts.format, reportsOut) }()
	for _, ls := range specs {
		for _, w := range ls.Warnings {
			fmt.Fprintln(io.ErrOut, "warning: "+w)
		}
		rs, err := runOne(ctx, io, opts, ls, loadOpts.Settings)
		if rs != nil {
			reportsOut = append(reportsOut, rs)
		}
		if err != nil {
			return err
		}
		if rs.State == repo.RunInterrupted {
			return &exitError{code: exitFailure, msg: "interrupted: finished calls were kept"}
		}
	}
	return nil
}

// check refuses flag values that make no sense before anything loads.
func (opts *runOptions) check() error {
	if opts.format != "md" && opts.format != "json" {
		return repo.Userf("--format must be md or json, got %q", opts.format)
	}
	for _, n := range []struct {
		flag string
		v    int
	}{{"--reps", opts.reps}, {"--parallel", opts.parallel}, {"--max-iterations", opts.maxIter}} {
		if n.v < 0 {
			return repo.Userf("%s must be a positive number", n.flag)
		}
	}
	if opts.reps > 100 {
		return repo.Userf("--reps must be at most 100")
	}
	if opts.branch != "" {
		if err := gitstore.ValidBranchName(opts.branch); err != nil {
			return repo.Userf("--candidate-branch: %v", err)
		}
		if len(opts.specs) > 1 {
			return repo.Userf("--candidate-branch names one branch: run one spec with it, not %d", len(opts.specs))
		}
	}
	return nil
}

// parseShard reads --shard, which runs one spec's slice, undecided.
func (opts *runOptions) parseShard() error {
	if opts.shardFlag == "" {
		return nil
	}
	sh, err := repo.ParseShard(opts.shardFlag, opts.global.env.Getenv("JOB_COMPLETION_INDEX"))
	if err != nil {
		return err
	}
	switch {
	case len(opts.specs) > 1:
		return repo.Userf("--shard runs a slice of one experiment: give one spec, not %d", len(opts.specs))
	case opts.branch != "":
		return repo.Userf("--shard and --candidate-branch: a shard commits nothing (give --candidate-branch to selfevals merge)")
	}
	opts.shard = &sh
	return nil
}

// loadSpecs loads every spec before any runs, so a typo in the third spec
// does not surface after the first two have run for an hour; the problems
// of all of them come back together.
func loadSpecs(opts *runOptions, loadOpts repo.LoadOptions) ([]*repo.LoadedSpec, error) {
	resumeGC := pauseGC()
	defer resumeGC()
	var specs []*repo.LoadedSpec
	var problems repo.Problems
	for _, p := range opts.specs {
		ls, err := repo.LoadExperiment(opts.global.env.path(p), loadOpts)
		var ps repo.Problems
		switch {
		case errors.As(err, &ps):
			problems = append(problems, ps...)
		case err != nil:
			return nil, err
		default:
			specs = append(specs, ls)
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return specs, nil
}

func printReports(io *IOStreams, format string, rss []*repo.RunSummary) {
	for i, rs := range rss {
		if format == "json" {
			b, err := reports.JSON(rs)
			if err == nil {
				io.Out.Write(b)
			}
			continue
		}
		if i > 0 {
			fmt.Fprintln(io.Out)
		}
		fmt.Fprint(io.Out, reports.Markdown(rs))
	}
}

// runOne runs one experiment and writes its run directory.
func runOne(ctx context.Context, io *IOStreams, opts *runOptions, ls *repo.LoadedSpec, settings repo.Settings) (*repo.RunSummary, error) {
	ls.Spec.Experiment.Run.Override(opts.reps, opts.maxIter, opts.parallel)
	prog := newProgress(io, ls.Slug)
	defer prog.stop()
	total := ls.Dataset.Count
	session, err := runner.Open(ls, runner.OpenOptions{
		NoPersist: opts.noPersist,
		EvalsDir:  opts.global.evalsDir(), NoCache: opts.noCache, Resume: opts.resume,
		ToolVersion: toolVersion(), NoCommit: noCommitReason(opts.noCommit, settings),
		CandidateBranch: opts.branch,
		OnIteration:     prog.iteration, OnResult: prog.result, OnDecided: prog.decided,
		Report: func(rs *repo.RunSummary) []byte { return []byte(reports.Markdown(rs)) },
		Env:    opts.global.env.agentEnv(),
		Shard:  opts.shard,
	})
	if err != nil {
		return nil, err
	}
	defer session.Close()
	if sh := opts.shard; sh != nil {
		fmt.Fprintf(io.ErrOut, "%s: shard %s: %d of %d cases, recorded in %s\n", ls.Slug, sh, sh.Cases, total, opts.global.env.show(session.Record.Run.Path()))
	}
	if session.Record.Resumed {
		fmt.Fprintf(io.ErrOut, "%s: resuming %s\n", ls.Slug, session.Record.RunID)
	}
	return session.Run(ctx)
}

// noCommitReason says why kept candidates are not committed, or "".
func noCommitReason(noCommit bool, settings repo.Settings) string {
	switch {
	case noCommit:
		return "--no-commit"
	case settings.Results.CommitCandidates != nil && !*settings.Results.CommitCandidates:
		return "results.commit_candidates is false in selfevals.yaml"
	}
	return ""
}
