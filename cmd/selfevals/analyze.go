package main

import (
	"errors"
	"fmt"
	stdio "io"
	"path/filepath"
	"regexp"
	"sync"

	"github.com/spf13/cobra"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
	"github.com/selfevals/selfevals/reports"
	"github.com/selfevals/selfevals/runner"
)

func newAnalyzeCmd(io *IOStreams, g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "analyze",
		Short: "Error analysis: pull failed traces for a coding agent, push its classifications back",
		Long: `analyze is the error-analysis handshake with an external coding agent (or a
person). pull writes a bundle of a run's failed traces and the live taxonomy
under evals/analysis/<slug>/; the agent classifies each trace following the
error-analysis skill and writes an AnalysisResult JSON; push checks that
result whole and records it: proposed modes become candidates in
evals/taxonomy.yaml, assignments go to evals/analysis/<slug>/assignments.jsonl
and become examples of their modes, hypotheses go to hypotheses.jsonl.

evals/analysis/ is yours to commit or ignore.`,
		Example: `  selfevals analyze pull pingpong --iteration 0
  selfevals skills show error-analysis
  selfevals analyze push evals/analysis/pingpong/run_6aaa423b3bf9181e-i0/result.json --by agent:claude`,
	}
	cmd.AddCommand(newAnalyzePullCmd(io, g), newAnalyzePushCmd(io, g))
	return cmd
}

type analyzePullOptions struct {
	global    *globalOptions
	iteration int
	all       bool
	run       string
	output    string
	limit     int
}

// defaultPullLimit is how many traces a bundle holds unless told: enough
// to see every frequent failure mode several times (error analysis reads
// about a hundred), little enough for a coding agent to read whole.
const defaultPullLimit = 200

func newAnalyzePullCmd(io *IOStreams, g *globalOptions) *cobra.Command {
	opts := &analyzePullOptions{global: g}
	cmd := &cobra.Command{
		Use:   "pull <slug>",
		Short: "Write an analysis bundle of a run's failed traces and print its path",
		Long: `pull reads the newest run of the experiment (or --run) and writes its failed
traces (label other than pass, or an agent error; --all adds the passing
ones) with the case each ran, the output, tool calls, grades and first
error, and the live (non-retired) taxonomy, to

  evals/analysis/<slug>/<run-id>[-i<N>][-all]/bundle.json   for a coding agent
  evals/analysis/<slug>/<run-id>[-i<N>][-all]/bundle.md     the same, to read

A bundle holds at most --limit traces (default 200; 0: no cap). When more
are selected it holds a sample, the same on every pull: the limit is
shared evenly among the groups of traces (each trace's first failure mode,
error:<kind> for agent errors, unclassified, or pass with --all), a group
with fewer traces giving its share to the others, and within a group the
traces are picked by a hash of their ID. The bundle's "sample" then lists
every group with its count in the run and in the bundle. The run is read
twice as a stream, so memory follows --limit, not the run's size.

It prints the path of bundle.json on stdout (a summary goes to stderr), so
an agent can be pointed at it directly. Pulling the same run again writes
the same bytes. -o writes bundle.json to another file instead, and -o -
to stdout, for a pipe.`,
		Example: `  selfevals analyze pull pingpong
  selfevals analyze pull pingpong --iteration 0
  selfevals analyze pull pingpong --run run_6aaa423b3bf9181e --all
  selfevals analyze pull pingpong -o - | jq '.traces | length'
  selfevals analyze pull pingpong --limit 50 -o - | jq .sample.groups`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("iteration") {
				opts.iteration = -1
			}
			return runAnalyzePull(io, opts, args[0])
		},
	}
	cmd.Flags().IntVar(&opts.iteration, "iteration", -1, "only this iteration's traces")
	cmd.Flags().BoolVar(&opts.all, "all", false, "include passing traces")
	cmd.Flags().StringVar(&opts.run, "run", "", "the run to pull from (default: the experiment's newest)")
	cmd.Flags().IntVar(&opts.limit, "limit", defaultPullLimit, "at most this many traces, a sample shared among failure modes (0: all)")
	cmd.Flags().StringVarP(&opts.output, "output", "o", "", `write bundle.json to this file instead ("-": stdout), and no bundle.md`)
	return cmd
}

func runAnalyzePull(io *IOStreams, opts *analyzePullOptions, slug string) error {
	env := opts.global.env
	dir := opts.global.evalsDir()
	if opts.limit < 0 {
		return &repo.UserError{Msg: fmt.Sprintf("--limit %d is negative", opts.limit), Hint: "give how many traces the bundle holds, or 0 for all"}
	}
	var runDir string
	if opts.run != "" {
		run, err := runstore.Open(dir).FindRun(opts.run)
		if err != nil {
			return err
		}
		man, err := run.Manifest()
		if err != nil {
			return err
		}
		if man.Experiment != slug {
			return repo.Userf("run %s is a run of %s, not %s", opts.run, man.Experiment, slug)
		}
		runDir = run.Path()
	} else {
		runs, err := runstore.Open(dir).Runs(slug)
		if err != nil {
			return err
		}
		if len(runs) == 0 {
			return &repo.UserError{Msg: fmt.Sprintf("no recorded runs of %s under %s", slug, env.show(repo.Dir(dir).AllRuns())),
				Hint: fmt.Sprintf("run it first: selfevals run %s", env.show(repo.Dir(dir).Spec(slug)))}
		}
		runDir = runs[0].Path()
	}
	po := runner.PullOptions{EvalsDir: dir, RunDir: runDir, All: opts.all, Limit: opts.limit}
	if opts.iteration >= 0 {
		it := opts.iteration
		po.Iteration = &it
	}
	if lo, err := opts.global.loadOptions(); err == nil {
		po.Load = lo
	}
	b, st, err := runner.PullBundle(po)
	if err != nil {
		return err
	}
	name := b.RunID
	if b.Iteration != nil {
		name += fmt.Sprintf("-i%d", *b.Iteration)
	}
	if opts.all {
		name += "-all"
	}
	out := filepath.Join(repo.Dir(dir).Analysis(slug), name)
	js, err := reports.BundleJSON(b)
	if err != nil {
		return err
	}
	if opts.output != "" {
		return writeBundleTo(io, env, opts.output, js, st)
	}
	jsonPath, mdPath := filepath.Join(out, "bundle.json"), filepath.Join(out, "bundle.md")
	if err := repo.WriteFileAtomic(jsonPath, js, 0o644); err != nil {
		return err
	}
	if err := repo.WriteFileAtomic(mdPath, []byte(reports.BundleMarkdown(b, filepath.ToSlash(env.show(out)))), 0o644); err != nil {
		return err
	}
	for _, w := range st.Warnings {
		fmt.Fprintf(io.ErrOut, "warning: %s\n", w)
	}
	what := "failed traces"
	if opts.all {
		what = "traces"
	}
	fmt.Fprintf(io.ErrOut, "%d %s of %d in run %s → %s (and bundle.md)\n", st.Selected, what, st.Considered, b.RunID, env.show(out))
	if st.InBundle < st.Selected {
		fmt.Fprintf(io.ErrOut, "the bundle holds a sample of %d, shared among failure modes (--limit to change it; its \"sample\" counts each)\n", st.InBundle)
	}
	if st.Selected == 0 && !opts.all {
		fmt.Fprintln(io.ErrOut, "nothing failed: the bundle is empty (--all includes passing traces)")
	} else {
		fmt.Fprintf(io.ErrOut, "next: classify it (selfevals skills show error-analysis), then\n  selfevals analyze push %s --by agent:<name>\n", env.show(filepath.Join(out, "result.json")))
	}
	fmt.Fprintln(io.Out, env.show(jsonPath))
	return nil
}

// writeBundleTo writes a bundle where -o says: stdout for "-", else the
// file; the summary goes to stderr, so stdout is only the bundle.
func writeBundleTo(io *IOStreams, env *Env, output string, js []byte, st runner.PullStats) error {
	for _, w := range st.Warnings {
		fmt.Fprintf(io.ErrOut, "warning: %s\n", w)
	}
	if output == "-" {
		_, err := io.Out.Write(js)
		fmt.Fprintf(io.ErrOut, "%d of %d traces in the bundle\n", st.InBundle, st.Considered)
		return err
	}
	if err := repo.WriteFileAtomic(env.path(output), js, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(io.ErrOut, "%d of %d traces in the bundle\n", st.InBundle, st.Considered)
	fmt.Fprintln(io.Out, env.show(env.path(output)))
	return nil
}

type analyzePushOptions struct {
	global     *globalOptions
	by         string
	experiment string
}

// byPattern is compiled on first use, not at every start.
var byPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(agent|human):[^\s:][^\s]*$`) })

func checkBy(by string) error {
	if !byPattern().MatchString(by) {
		return &repo.UserError{Msg: fmt.Sprintf("--by %q is not agent:NAME or human:NAME", by), Hint: "e.g. --by agent:claude or --by human:ann"}
	}
	return nil
}

func newAnalyzePushCmd(io *IOStreams, g *globalOptions) *cobra.Command {
	opts := &analyzePushOptions{global: g}
	cmd := &cobra.Command{
		Use:   "push <result.json | ->",
		Short: "Check an AnalysisResult and record its classifications, new modes and hypotheses",
		Long: `push reads an AnalysisResult (JSON; the format is in 'selfevals skills show
error-analysis') and checks all of it before writing anything: unknown keys,
assignments that set both or neither of mode_id and new_mode_slug, unknown
mode IDs, a new_mode_slug that is neither proposed nor in the taxonomy,
invalid slugs, and trace IDs that no run of the experiment recorded. Every
problem is listed with its position and JSON path, and nothing changes
(exit 2).

When the result is valid:
  proposed modes        become candidates in evals/taxonomy.yaml (proposed_by
                        --by, first_seen); a slug that exists is re-seen and
                        left alone
  assignments           go to evals/analysis/<slug>/assignments.jsonl (one line
                        per trace and mode) and become examples of their modes
  hypotheses            go to evals/analysis/<slug>/hypotheses.jsonl

Nothing is recorded twice: pushing the same result again changes no file.
The experiment is the result's "experiment", else --experiment, else the
one whose runs recorded the traces. "-" reads the result from stdin.`,
		Example: `  selfevals analyze push result.json --by agent:claude
  selfevals analyze push evals/analysis/pingpong/run_6aaa423b3bf9181e-i0/result.json --by human:ann
  my-classifier < bundle.json | selfevals analyze push - --by agent:my-classifier`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAnalyzePush(io, opts, args[0])
		},
	}
	cmd.Flags().StringVar(&opts.by, "by", "agent:unknown", "who classified: agent:NAME or human:NAME")
	cmd.Flags().StringVar(&opts.experiment, "experiment", "", "the experiment (slug) the traces belong to, when the result does not say")
	return cmd
}

func runAnalyzePush(io *IOStreams, opts *analyzePushOptions, path string) error {
	// A bad --by is reported together with the result's problems.
	byErr := checkBy(opts.by)
	env := opts.global.env
	req := repo.PushRequest{EvalsDir: opts.global.evalsDir(), ResultPath: env.path(path), Experiment: opts.experiment, By: opts.by}
	if path == "-" {
		data, err := stdio.ReadAll(io.In)
		if err != nil {
			return fmt.Errorf("reading the result from stdin: %w", err)
		}
		req.ResultPath, req.Result = "<stdin>", append([]byte{}, data...)
	}
	plan, err := runner.PlanPush(req)
	if byErr != nil {
		return errors.Join(byErr, err)
	}
	if err != nil {
		return err
	}
	if err := plan.Apply(); err != nil {
		return err
	}
	fmt.Fprintf(io.Out, "assignments applied : %d (%d new)\n", plan.Assignments, plan.NewAssignments)
	fmt.Fprintf(io.Out, "candidates created  : %d\n", len(plan.Created))
	fmt.Fprintf(io.Out, "candidates re-seen  : %d\n", len(plan.ReSeen))
	fmt.Fprintf(io.Out, "hypotheses recorded : %d (%d new)\n", plan.Hypotheses, plan.NewHypotheses)
	if len(plan.Changed) == 0 {
		fmt.Fprintln(io.Out, "\nnothing changed: everything in the result was already recorded")
	} else {
		fmt.Fprintln(io.Out, "\nwrote:")
		for _, p := range plan.Changed {
			fmt.Fprintf(io.Out, "  %s\n", env.show(p))
		}
	}
	if len(plan.Created) > 0 {
		fmt.Fprintln(io.Out, "\nnew candidates (review, then promote with `selfevals failuremode promote <id>`):")
		for _, id := range plan.Created {
			fmt.Fprintf(io.Out, "  %s\n", id)
		}
	}
	return nil
}
