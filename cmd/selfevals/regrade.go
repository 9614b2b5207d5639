package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/selfevals/selfevals/graders"
	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
	"github.com/selfevals/selfevals/reports"
	"github.com/selfevals/selfevals/runner"
)

type regradeOptions struct {
	global   *globalOptions
	run      string
	grader   string
	spec     string
	format   string
	write    bool
	noCache  bool
	parallel int
	limit    int
}

// defaultFlipLimit is how many flipped verdicts regrade lists unless told:
// a page a person reads, where a rubric change on a large run can flip
// hundreds of thousands (all of them are counted).
const defaultFlipLimit = 200

func newRegradeCmd(io *IOStreams, g *globalOptions) *cobra.Command {
	opts := &regradeOptions{global: g}
	cmd := &cobra.Command{
		Use:   "regrade <run-id>|<slug>",
		Short: "Re-grade a recorded run with the current graders, without calling the agent",
		Long: `regrade reads the stored traces of a run (evals/runs/<slug>/<run-id>/results.jsonl)
and grades them again with the graders the experiment spec declares now, so
the effect of a rubric, template, judge or card change can be seen before it
is merged. The agent is never called; LLM judges are (their answers are
cached in evals/.cache/judge/ unless --no-cache).

It reports every verdict that flipped (case, iteration, repetition, grader,
old → new label, the new reason) and how pass@1, mean_score and the
re-run graders' pass rates moved in each iteration. With --grader only that
grader runs again and every other stored grade is kept.

Every flip is counted, but only the first --limit (default 200, by
iteration, case and repetition) are listed; --limit 0 lists them all.
Memory stays bounded whatever the run's size: results.jsonl is read once
and sorted by case in temporary files, then met with one pass over the
dataset; only the listed flips grow with --limit.

The run record is not changed. --write puts the re-graded results in
regrade.jsonl beside results.jsonl (same format), replacing an earlier one.

The spec is the one the run recorded in run.json; --spec overrides it. A
case edited since the run has a new ID: its results keep their stored grades
and are counted as missing.`,
		Example: `  selfevals regrade run_6aaa423b3bf9181e
  selfevals regrade hello --grader reply_judge          # the newest run of hello
  selfevals regrade run_6aaa423b3bf9181e --format json | jq .flip_count
  selfevals regrade hello --limit 0 --format json | jq '.flips[] | select(.new == "fail")'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.run = args[0]
			return runRegrade(cmd.Context(), io, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.grader, "grader", "", "re-run only this grader and keep the other stored grades")
	f.StringVar(&opts.spec, "spec", "", "the experiment spec whose graders to use (default: the run's spec)")
	formatVar(f, &opts.format, "md (or markdown) or json", "md", "json")
	f.BoolVar(&opts.write, "write", false, "write the re-graded results to regrade.jsonl in the run directory")
	f.BoolVar(&opts.noCache, "no-cache", false, "ask LLM judges even when a cached answer exists")
	countVar(f, &opts.parallel, "parallel", "traces re-graded at once (default 8; each judge keeps its own limit)")
	f.IntVar(&opts.limit, "limit", defaultFlipLimit, "list at most this many flipped verdicts, all counted (0: list all)")
	return cmd
}

func runRegrade(ctx context.Context, io *IOStreams, opts *regradeOptions) error {
	rep, err := regrade(ctx, io, opts)
	if err != nil {
		return err
	}
	if opts.format == "json" {
		return io.print(reports.RegradeJSON(rep))
	}
	fmt.Fprint(io.Out, reports.RegradeMarkdown(rep))
	return nil
}

// regrade loads the run and the spec whose graders to use, and grades the
// run's traces again.
func regrade(ctx context.Context, io *IOStreams, opts *regradeOptions) (*runner.RegradeReport, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if opts.limit < 0 {
		return nil, &repo.UserError{Msg: fmt.Sprintf("--limit %d is negative", opts.limit), Hint: "give how many flips to list, or 0 for all"}
	}
	env := opts.global.env
	evalsDir := opts.global.evalsDir()
	runDir, err := findRunDir(evalsDir, opts.run)
	if err != nil {
		return nil, err
	}
	if runDir == "" {
		return nil, repo.Userf("no recorded runs of %s under %s", opts.run, env.show(repo.Dir(evalsDir).AllRuns()))
	}
	man, err := runstore.At(runDir).Manifest()
	if err != nil {
		return nil, err
	}
	loadOpts, err := opts.global.loadOptions()
	if err != nil {
		return nil, err
	}
	specPath := runSpecPath(env, evalsDir, man, opts.spec)
	ls, err := repo.LoadExperiment(specPath, loadOpts)
	if err != nil {
		return nil, err
	}
	if ls.Slug != man.Experiment {
		return nil, &repo.UserError{Msg: fmt.Sprintf("%s is experiment %s, but run %s is of %s", env.show(specPath), ls.Slug, man.RunID, man.Experiment), Hint: "pass the spec of the run's experiment with --spec"}
	}
	factories, closeGraders := runner.GraderFactories(ls, evalsDir, runner.JudgeOptions{NoCache: opts.noCache, Env: env.agentEnv()})
	defer closeGraders()
	registry, err := graders.NewRegistry(ls.Spec.Graders, factories)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ls.Path, err)
	}
	if ls.Dataset.ID != man.DatasetID {
		fmt.Fprintf(io.ErrOut, "warning: the dataset changed since run %s; results of cases edited or removed since keep their stored grades\n", man.RunID)
	}
	return runner.Regrade(ctx, runDir, ls, registry, runner.RegradeOptions{Grader: opts.grader, Parallelism: opts.parallel, Write: opts.write, Limit: opts.limit})
}

// runSpecPath is the spec a run recorded, unless override names another.
// run.json keeps the path as it was given; from elsewhere, it is tried
// from the repository root.
func runSpecPath(env *Env, evalsDir string, man *repo.RunManifest, override string) string {
	if override != "" {
		return env.path(override)
	}
	spec := env.path(man.Spec)
	if alt := filepath.Join(filepath.Dir(filepath.Clean(evalsDir)), man.Spec); !fileExists(spec) && fileExists(alt) {
		return alt
	}
	return spec
}

// findRunDir resolves a run ID, or an experiment slug ("" for every
// experiment) to its newest run: "" when it has none.
func findRunDir(evalsDir, arg string) (string, error) {
	store := runstore.Open(evalsDir)
	if strings.HasPrefix(arg, "run_") {
		run, err := store.FindRun(arg)
		return run.Path(), err
	}
	runs, err := store.Runs(arg)
	if err != nil || len(runs) == 0 {
		return "", err
	}
	return runs[0].Path(), nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
