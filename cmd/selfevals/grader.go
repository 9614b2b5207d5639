package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/selfevals/selfevals/graders"
	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/runner"
)

func newGraderCmd(io *IOStreams, g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "grader",
		Short: "Work with graders: calibrate an LLM judge against human labels",
		Long: `grader groups the commands that look after graders themselves, as opposed to
the agents they grade. An LLM judge is a model under test too: calibrate it
against outputs people labelled before letting it block anything.`,
		Example: `  selfevals grader calibrate reply_judge --labels evals/graders/reply_judge.labels.jsonl`,
	}
	cmd.AddCommand(newGraderCalibrateCmd(io, g))
	return cmd
}

type calibrateOptions struct {
	global   *globalOptions
	grader   string
	labels   string
	spec     string
	parallel int
	noCache  bool
	noWrite  bool
	now      func() time.Time
}

func newGraderCalibrateCmd(io *IOStreams, g *globalOptions) *cobra.Command {
	opts := &calibrateOptions{global: g, now: time.Now}
	cmd := &cobra.Command{
		Use:   "calibrate <grader> --labels <file.jsonl>",
		Short: "Measure an LLM judge against human labels and record it in its grader card",
		Long: `calibrate runs the llm_judge grader <grader> (as the experiment spec declares
it: rubric, template, judge adapter) over every human-labelled output in the
labels file, and compares its verdicts with the people's:

  precision, recall, F1   for the positive label pass
  macro-F1                mean F1 over the labels seen
  Cohen's kappa           agreement beyond chance
  accuracy
  high-risk false negatives   high_risk examples people passed and the judge did not

It prints them with the confusion matrix and the disagreements, and writes
them into the grader's card (the spec's card:, else evals/graders/<grader>.yaml,
created if missing) with calibrated_at, calibration_size and state:
calibrated. Comments and other keys of an existing card are kept. A blocking
judge whose card misses its thresholds runs as advisory (grade skipped).

The labels file has one JSON object a line ("//" lines are comments):

  {"case_id": "optional", "input": {...}, "output": "the agent's text",
   "expected": {...optional...}, "label": "pass|fail|partial", "high_risk": false}

The spec is found among evals/experiments/*.yaml by the grader's name;
--spec picks one when several declare it. Judge answers are cached in
evals/.cache/judge/ like a run's (--no-cache to ask again).`,
		Example: `  selfevals grader calibrate reply_judge --labels evals/graders/reply_judge.labels.jsonl
  selfevals grader calibrate rubric_judge --labels labels.jsonl --spec evals/experiments/support.yaml --no-write`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.grader = args[0]
			return runCalibrate(cmd.Context(), io, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.labels, "labels", "", "the human labels (JSONL; required)")
	f.StringVar(&opts.spec, "spec", "", "the experiment spec declaring the grader (default: the one spec under evals/experiments that does)")
	f.IntVar(&opts.parallel, "parallel", 0, "judge calls in flight (default: the grader's parallelism)")
	f.BoolVar(&opts.noCache, "no-cache", false, "ask the judge even when a cached answer exists")
	f.BoolVar(&opts.noWrite, "no-write", false, "print the metrics without writing the card")
	cmd.MarkFlagRequired("labels")
	return cmd
}

func runCalibrate(ctx context.Context, io *IOStreams, opts *calibrateOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if opts.labels == "" {
		return repo.Userf("--labels is required")
	}
	evalsDir := opts.global.evalsDir()
	ls, spec, err := findGraderSpec(opts.global, opts.spec, opts.grader)
	if err != nil {
		return err
	}
	examples, err := graders.ReadLabels(opts.labels)
	if err != nil {
		return err
	}
	judge, closeJudge, err := runner.NewJudge(ls, spec, evalsDir, runner.JudgeOptions{NoCache: opts.noCache, IgnoreCard: true})
	if err != nil {
		return err
	}
	defer closeJudge()
	parallel := opts.parallel
	if parallel <= 0 {
		parallel = max(spec.Parallelism, ls.Spec.Experiment.Run.Parallelism, 1)
	}
	items, m := graders.RunCalibration(ctx, judge, examples, parallel)
	if ctx.Err() != nil {
		return &exitError{code: exitFailure, msg: "interrupted: the card was not written"}
	}

	out := io.Out
	fmt.Fprintf(out, "# Calibration of %s\n\n", opts.grader)
	fmt.Fprintf(out, "%d labelled outputs from %s, judged by %s as %s declares it.\n\n", m.N, opts.labels, opts.grader, ls.Path)
	fmt.Fprintln(out, "| metric | value |")
	fmt.Fprintln(out, "|---|---:|")
	row := func(name string, v *float64) {
		fmt.Fprintf(out, "| %s | %s |\n", name, fmtOpt(v))
	}
	row("precision (pass)", m.Precision)
	row("recall (pass)", m.Recall)
	row("F1 (pass)", m.F1)
	row("macro-F1", m.MacroF1)
	row("Cohen's kappa", m.Kappa)
	acc := m.Accuracy
	row("accuracy", &acc)
	fmt.Fprintf(out, "| high-risk false negatives | %d |\n", m.HighRiskFalseNegatives)
	fmt.Fprintf(out, "| judge errors | %d |\n", m.JudgeErrors)

	fmt.Fprintln(out, "\n## Confusion (rows: people, columns: judge)")
	fmt.Fprintln(out)
	var cols []repo.Label
	for _, s := range m.Labels {
		cols = append(cols, s.Label)
	}
	fmt.Fprint(out, "| people \\ judge |")
	for _, c := range cols {
		fmt.Fprintf(out, " %s |", c)
	}
	fmt.Fprint(out, "\n|---|")
	for range cols {
		fmt.Fprint(out, "---:|")
	}
	fmt.Fprintln(out)
	for _, r := range cols {
		if m.Confusion[r] == nil {
			continue
		}
		fmt.Fprintf(out, "| %s |", r)
		for _, c := range cols {
			fmt.Fprintf(out, " %d |", m.Confusion[r][c])
		}
		fmt.Fprintln(out)
	}

	var disagree []graders.CalibrationItem
	for _, it := range items {
		if it.Grade.Label != it.Example.Label {
			disagree = append(disagree, it)
		}
	}
	if len(disagree) > 0 {
		fmt.Fprintf(out, "\n## Disagreements (%d)\n\n", len(disagree))
		for i, it := range disagree {
			if i == 20 {
				fmt.Fprintf(out, "- … and %d more\n", len(disagree)-20)
				break
			}
			hr := ""
			if it.Example.HighRisk {
				hr = " (high risk)"
			}
			fmt.Fprintf(out, "- %s:%d%s: people %s, judge %s — %s\n", opts.labels, it.Example.Line, hr, it.Example.Label, it.Grade.Label, oneLine(it.Grade.Reason, 160))
		}
	}

	if m.JudgeErrors == m.N {
		return &exitError{code: exitFailure, msg: fmt.Sprintf("the judge gave no verdict on any of the %d examples (first: %s); the card was not written", m.N, disagree[0].Grade.Reason)}
	}
	if opts.noWrite {
		fmt.Fprintln(out, "\nThe card was not written (--no-write).")
		return nil
	}
	path := runner.CardPath(ls, spec, evalsDir)
	if err := repo.WriteCardMetrics(path, opts.grader, m.CardMetrics(), m.N, opts.now()); err != nil {
		return err
	}
	card, err := repo.LoadGraderCard(path)
	if err != nil {
		return fmt.Errorf("the card was written but does not load: %w", err)
	}
	fmt.Fprintf(out, "\nWrote the metrics into %s (state: calibrated).\n", path)
	if spec.Card == "" {
		rel, _ := filepath.Rel(filepath.Dir(ls.Path), path)
		fmt.Fprintf(out, "The run reads it as the grader's card by its name; card: %s in the spec says so explicitly.\n", rel)
	}
	blocking := card.Blocking
	if spec.Blocking != nil {
		blocking = *spec.Blocking
	}
	if probs := graders.ThresholdProblems(card); len(probs) > 0 {
		if blocking {
			fmt.Fprintf(out, "Below its thresholds (%s): as a blocking grader it runs as advisory (skipped) until it meets them.\n", strings.Join(probs, "; "))
		} else {
			fmt.Fprintf(out, "Below the blocking thresholds (%s); it is not blocking, so it grades normally.\n", strings.Join(probs, "; "))
		}
	} else {
		fmt.Fprintln(out, "It meets its thresholds.")
	}
	return nil
}

// findGraderSpec loads the spec declaring an llm_judge named grader: the
// given one, else the single spec under evals/experiments that declares it.
func findGraderSpec(g *globalOptions, specPath, grader string) (*repo.LoadedSpec, repo.GraderSpec, error) {
	loadOpts, err := g.loadOptions()
	if err != nil {
		return nil, repo.GraderSpec{}, err
	}
	find := func(ls *repo.LoadedSpec) (repo.GraderSpec, bool) {
		for _, s := range ls.Spec.Graders {
			if s.GraderName() == grader {
				return s, true
			}
		}
		return repo.GraderSpec{}, false
	}
	check := func(ls *repo.LoadedSpec, s repo.GraderSpec) error {
		if s.Type != "llm_judge" {
			return repo.Userf("grader %s in %s is a %s grader; only llm_judge graders are calibrated", grader, ls.Path, s.Type)
		}
		return nil
	}
	if specPath != "" {
		ls, err := repo.LoadExperiment(specPath, loadOpts)
		if err != nil {
			return nil, repo.GraderSpec{}, err
		}
		s, ok := find(ls)
		if !ok {
			return nil, repo.GraderSpec{}, &repo.UserError{Msg: fmt.Sprintf("%s declares no grader %q", specPath, grader), Hint: "declared: " + strings.Join(ls.GraderNames(), ", ")}
		}
		return ls, s, check(ls, s)
	}
	files, err := repo.TreeFiles(g.evalsDir())
	if err != nil {
		return nil, repo.GraderSpec{}, err
	}
	var found []*repo.LoadedSpec
	var spec repo.GraderSpec
	var loadErrs []error
	for _, f := range files {
		if f.Kind != repo.KindSpec {
			continue
		}
		ls, err := repo.LoadExperiment(f.Path, loadOpts)
		if err != nil {
			loadErrs = append(loadErrs, err)
			continue
		}
		if s, ok := find(ls); ok {
			found = append(found, ls)
			spec = s
		}
	}
	switch len(found) {
	case 0:
		if len(loadErrs) > 0 {
			return nil, repo.GraderSpec{}, fmt.Errorf("no loadable spec declares grader %q; some specs did not load:\n%w", grader, errors.Join(loadErrs...))
		}
		return nil, repo.GraderSpec{}, &repo.UserError{Msg: fmt.Sprintf("no spec under %s declares a grader %q", filepath.Join(g.evalsDir(), "experiments"), grader), Hint: "pass --spec <spec.yaml>"}
	case 1:
		return found[0], spec, check(found[0], spec)
	}
	var paths []string
	for _, ls := range found {
		paths = append(paths, ls.Path)
	}
	return nil, repo.GraderSpec{}, &repo.UserError{Msg: fmt.Sprintf("grader %q is declared by %d specs: %s", grader, len(found), strings.Join(paths, ", ")), Hint: "pick one with --spec"}
}

func fmtOpt(v *float64) string {
	if v == nil {
		return "—"
	}
	return repo.FormatNumber(*v)
}

// oneLine flattens s to one line of at most n bytes (for table cells and
// lists).
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		cut := n
		for cut > 0 && s[cut]&0xC0 == 0x80 {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
