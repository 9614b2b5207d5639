package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/goccy/go-json"
	"github.com/spf13/cobra"

	"github.com/selfevals/selfevals/graders"
	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
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
}

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

The run record is not changed. --write puts the re-graded results in
regrade.jsonl beside results.jsonl (same format), replacing an earlier one.

The spec is the one the run recorded in run.json; --spec overrides it. A
case edited since the run has a new ID: its results keep their stored grades
and are counted as missing.`,
		Example: `  selfevals regrade run_6aaa423b3bf9181e
  selfevals regrade hello --grader reply_judge          # the newest run of hello
  selfevals regrade run_6aaa423b3bf9181e --format json | jq '.flips | length'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.run = args[0]
			return runRegrade(cmd.Context(), io, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.grader, "grader", "", "re-run only this grader and keep the other stored grades")
	f.StringVar(&opts.spec, "spec", "", "the experiment spec whose graders to use (default: the run's spec)")
	f.StringVar(&opts.format, "format", "md", "md or json")
	f.BoolVar(&opts.write, "write", false, "write the re-graded results to regrade.jsonl in the run directory")
	f.BoolVar(&opts.noCache, "no-cache", false, "ask LLM judges even when a cached answer exists")
	f.IntVar(&opts.parallel, "parallel", 0, "traces re-graded at once (default 8; each judge keeps its own limit)")
	return cmd
}

func runRegrade(ctx context.Context, io *IOStreams, opts *regradeOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if opts.format != "md" && opts.format != "json" {
		return repo.Userf("--format must be md or json, got %q", opts.format)
	}
	evalsDir := opts.global.evalsDir()
	runDir, err := findRunDir(evalsDir, opts.run)
	if err != nil {
		return err
	}
	man, err := runstore.At(runDir).Manifest()
	if err != nil {
		return err
	}
	specPath := opts.spec
	if specPath == "" {
		specPath = man.Spec
		if _, err := os.Stat(specPath); err != nil {
			// run.json keeps the path as it was given; from elsewhere,
			// try it from the repository root.
			if alt := filepath.Join(filepath.Dir(filepath.Clean(evalsDir)), man.Spec); fileExists(alt) {
				specPath = alt
			}
		}
	}
	loadOpts, err := opts.global.loadOptions()
	if err != nil {
		return err
	}
	ls, err := repo.LoadExperiment(specPath, loadOpts)
	if err != nil {
		return err
	}
	if ls.Slug != man.Experiment {
		return &repo.UserError{Msg: fmt.Sprintf("%s is experiment %s, but run %s is of %s", specPath, ls.Slug, man.RunID, man.Experiment), Hint: "pass the spec of the run's experiment with --spec"}
	}
	factories, closeGraders := runner.GraderFactories(ls, evalsDir, opts.noCache)
	defer closeGraders()
	registry, err := graders.NewRegistry(ls.Spec.Graders, factories)
	if err != nil {
		return fmt.Errorf("%s: %w", ls.Path, err)
	}
	if ls.Dataset.ID != man.DatasetID {
		fmt.Fprintf(io.ErrOut, "warning: the dataset changed since run %s; results of cases edited or removed since keep their stored grades\n", man.RunID)
	}
	rep, err := runner.Regrade(ctx, runDir, ls, registry, runner.RegradeOptions{Grader: opts.grader, Parallelism: opts.parallel, Write: opts.write})
	if err != nil {
		return err
	}
	if opts.format == "json" {
		b, err := json.MarshalIndentWithOption(rep, "", "  ", json.DisableHTMLEscape())
		if err != nil {
			return err
		}
		_, err = io.Out.Write(append(b, '\n'))
		return err
	}
	fmt.Fprint(io.Out, regradeMarkdown(rep))
	return nil
}

// findRunDir resolves a run ID, or an experiment slug to its newest run.
func findRunDir(evalsDir, arg string) (string, error) {
	store := runstore.Open(evalsDir)
	if strings.HasPrefix(arg, "run_") {
		run, err := store.FindRun(arg)
		return run.Path(), err
	}
	runs, err := store.Runs(arg)
	if err != nil {
		return "", err
	}
	if len(runs) == 0 {
		return "", repo.Userf("no recorded runs of %s under %s", arg, repo.Dir(evalsDir).AllRuns())
	}
	return runs[0].Path(), nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func regradeMarkdown(r *runner.RegradeReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Regrade: %s (%s)\n\n", r.Experiment, r.RunID)
	fmt.Fprintf(&b, "Re-graded %d of %d stored results with the current %s: %s. No agent was called.\n",
		r.Regraded, r.Results, plural(len(r.Graders), "grader", "graders"), strings.Join(r.Graders, ", "))
	if r.Missing > 0 {
		fmt.Fprintf(&b, "%d results kept their stored grades: their cases are no longer in the dataset.\n", r.Missing)
	}
	if r.Written != "" {
		fmt.Fprintf(&b, "The re-graded results are in %s.\n", r.Written)
	}
	b.WriteString("\n## Metrics\n\n")
	b.WriteString("| iteration | metric | before | after | Δ |\n|---:|---|---:|---:|---:|\n")
	for _, it := range r.Iterations {
		for _, m := range it.Metrics {
			delta := "—"
			if m.Old != nil && m.New != nil {
				delta = signed(m.New.Value - m.Old.Value)
			}
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s |\n", it.Index, cell(m.Name), metricCell(m.Old), metricCell(m.New), delta)
		}
	}
	if len(r.Flips) == 0 {
		b.WriteString("\nNo verdict flipped.\n")
		return b.String()
	}
	fmt.Fprintf(&b, "\n## Flipped verdicts (%d)\n\n", len(r.Flips))
	b.WriteString("| case | iteration | rep | grader | before → after | overall | reason |\n|---|---:|---:|---|---|---|---|\n")
	for _, f := range r.Flips {
		fmt.Fprintf(&b, "| %s | %d | %d | %s | %s → %s | %s → %s | %s |\n", cell(f.Case), f.Iteration, f.Repetition, cell(f.Grader),
			labelCell(f.Old), labelCell(f.New), labelCell(f.OldOverall), labelCell(f.NewOverall), cell(oneLine(f.Reason, 200)))
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func metricCell(m *repo.Metric) string {
	if m == nil {
		return "—"
	}
	return repo.FormatNumber(m.Value)
}

func labelCell(l repo.Label) string {
	if l == "" {
		return "—"
	}
	return string(l)
}

func signed(d float64) string {
	if d > 0 {
		return "+" + repo.FormatNumber(d)
	}
	if d == 0 {
		return "0"
	}
	return repo.FormatNumber(d)
}

// cell escapes a markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}
