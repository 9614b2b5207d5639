package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/gitstore"
	"github.com/selfevals/selfevals/repo/runstore"
	"github.com/selfevals/selfevals/reports"
	"github.com/selfevals/selfevals/runner"
)

type mergeOptions struct {
	global    *globalOptions
	paths     []string
	spec      string
	format    string
	noCommit  bool
	noPersist bool
	branch    string
}

func newMergeCmd(io *IOStreams, g *globalOptions) *cobra.Command {
	opts := &mergeOptions{global: g}
	cmd := &cobra.Command{
		Use:   "merge <run-dir>…",
		Short: "Combine the shards of a run (run --shard i/n) into the run one machine would have made",
		Long: `merge takes the run directories of every shard of a run (selfevals run
--shard i/n, on one machine or many) and combines them: it checks they
belong together (one experiment, dataset, agent, commit and n, and every
shard 1..n, each completed), replays their results iteration by iteration,
and decides each iteration exactly as an unsharded run would, convergence
and max_iterations included. It writes one merged run under evals/runs/,
evals/results/<slug>/ and the kept candidates' commits (on the commit the
shards ran), and prints the report: verdicts, metrics, result files and
candidate trees are the same as one unsharded run of the same calls.

Each <run-dir> is a shard's run directory (evals/runs/<slug>/<run-id>) or a
directory holding them at any depth, such as a folder of downloaded CI
artifacts or evals/runs/<slug> (runs made without --shard there are passed
over). The spec is the experiment's in this checkout (or --spec); it
must be the one the shards ran. Exit codes are run's: 0 when the run
completed, 2 for shards that do not belong together.`,
		Example: `  selfevals merge evals/runs/support/run_1a2b… evals/runs/support/run_3c4d…
  selfevals merge shards/                 # every shard's run directory, downloaded under shards/
  selfevals merge shards/ --format json
  selfevals merge shards/ --no-persist    # decide and report; write nothing git tracks`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.paths = args
			return runMerge(cmd.Context(), io, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.spec, "spec", "", "the experiment's spec (default: evals/experiments/<slug>.yaml of the shards' experiment)")
	formatVar(f, &opts.format, "report format: md (or markdown) or json", "md", "json")
	f.BoolVar(&opts.noCommit, "no-commit", false, "do not commit kept candidates to selfevals/<slug>")
	f.StringVar(&opts.branch, "candidate-branch", "", "commit kept candidates to this branch instead of selfevals/<slug>")
	f.BoolVar(&opts.noPersist, "no-persist", false, "record and report the merged run only: write nothing git tracks")
	return cmd
}

func runMerge(ctx context.Context, io *IOStreams, opts *mergeOptions) error {
	if opts.branch != "" {
		if err := gitstore.ValidBranchName(opts.branch); err != nil {
			return repo.Userf("--candidate-branch: %v", err)
		}
	}
	paths := make([]string, len(opts.paths))
	for i, p := range opts.paths {
		paths[i] = opts.global.env.path(p)
	}
	runs, err := runstore.FindShardRuns(paths)
	if err != nil {
		return err
	}
	shards, err := runstore.LoadShards(runs)
	if err != nil {
		return err
	}
	loadOpts, err := opts.global.loadOptions()
	if err != nil {
		return err
	}
	specPath := opts.global.env.path(opts.spec)
	if opts.spec == "" {
		if specPath, err = specOf(repo.Dir(opts.global.evalsDir()), shards.First().Experiment); err != nil {
			return err
		}
	}
	ls, err := repo.LoadExperiment(specPath, loadOpts)
	if err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	fmt.Fprintf(io.ErrOut, "%s: merging %d shard(s) of %d cases\n", ls.Slug, len(shards.Runs), ls.Dataset.Count)
	prog := newProgress(io, ls.Slug)
	session, err := runner.OpenMerge(ls, shards, runner.OpenOptions{
		EvalsDir: opts.global.evalsDir(), NoPersist: opts.noPersist,
		ToolVersion: toolVersion(), NoCommit: noCommitReason(opts.noCommit, loadOpts.Settings),
		CandidateBranch: opts.branch,
		OnIteration:     prog.iteration, OnResult: prog.result, OnDecided: prog.decided,
		Report: func(rs *repo.RunSummary) []byte { return []byte(reports.Markdown(rs)) },
	})
	if err != nil {
		prog.stop()
		return err
	}
	defer session.Close()
	rs, err := session.Run(ctx)
	prog.stop()
	if rs != nil {
		printReports(io, opts.format, []*repo.RunSummary{rs})
	}
	if err != nil {
		return err
	}
	if rs.State == repo.RunInterrupted {
		return &exitError{code: exitFailure, msg: "interrupted: merge again to finish"}
	}
	return nil
}
