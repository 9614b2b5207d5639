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
	"github.com/selfevals/selfevals/reports"
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
	countVar(f, &opts.parallel, "parallel", "judge calls in flight (default: the grader's parallelism)")
	f.BoolVar(&opts.noCache, "no-cache", false, "ask the judge even when a cached answer exists")
	f.BoolVar(&opts.noWrite, "no-write", false, "print the metrics without writing the card")
	cmd.MarkFlagRequired("labels")
	return cmd
}

func runCalibrate(ctx context.Context, io *IOStreams, opts *calibrateOptions) error {
	if opts.labels == "" {
		return repo.Userf("--labels is required")
	}
	c, err := calibrate(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Fprint(io.Out, reports.CalibrationMarkdown(&c.Calibration))
	if m := c.Metrics; m.JudgeErrors == m.N {
		return &exitError{code: exitFailure, msg: fmt.Sprintf("the judge gave no verdict on any of the %d examples (first: %s); the card was not written", m.N, c.Disagreements()[0].Grade.Reason)}
	}
	if opts.noWrite {
		fmt.Fprint(io.Out, reports.CalibrationNotWritten)
		return nil
	}
	card, err := writeCalibratedCard(opts.global.env, c, opts.now())
	if err != nil {
		return err
	}
	fmt.Fprint(io.Out, reports.CalibratedCardMarkdown(card))
	return nil
}

// calibration is a judge measured, with the spec that declares it.
type calibration struct {
	reports.Calibration
	ls    *repo.LoadedSpec
	spec  repo.GraderSpec
	evals string
}

// calibrate runs the judge over every labelled example.
func calibrate(ctx context.Context, opts *calibrateOptions) (*calibration, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	env := opts.global.env
	evalsDir := opts.global.evalsDir()
	ls, spec, err := findGraderSpec(opts.global, opts.spec, opts.grader)
	if err != nil {
		return nil, err
	}
	examples, err := graders.ReadLabels(env.path(opts.labels))
	if err != nil {
		return nil, err
	}
	judge, closeJudge, err := runner.NewJudge(ls, spec, evalsDir, runner.JudgeOptions{NoCache: opts.noCache, IgnoreCard: true, Env: env.agentEnv()})
	if err != nil {
		return nil, err
	}
	defer closeJudge()
	parallel := opts.parallel
	if parallel <= 0 {
		parallel = max(spec.Parallelism, ls.Spec.Experiment.Run.Parallelism, 1)
	}
	items, m := graders.RunCalibration(ctx, judge, examples, parallel)
	if ctx.Err() != nil {
		return nil, &exitError{code: exitFailure, msg: "interrupted: the card was not written"}
	}
	return &calibration{Calibration: reports.Calibration{Grader: opts.grader, Labels: opts.labels, Spec: env.show(ls.Path), Items: items, Metrics: m}, ls: ls, spec: spec, evals: evalsDir}, nil
}

// writeCalibratedCard writes the metrics into the grader's card and reads
// it back to say where it stands.
func writeCalibratedCard(env *Env, c *calibration, now time.Time) (*reports.CalibratedCard, error) {
	path := runner.CardPath(c.ls, c.spec, c.evals)
	if err := repo.WriteCardMetrics(path, c.Grader, c.Metrics.CardMetrics(), c.Metrics.N, now); err != nil {
		return nil, err
	}
	card, err := repo.LoadGraderCard(path)
	if err != nil {
		return nil, fmt.Errorf("the card was written but does not load: %w", err)
	}
	out := &reports.CalibratedCard{Path: env.show(path), ByName: c.spec.Card == "", Blocking: card.Blocking, Problems: graders.ThresholdProblems(card)}
	if out.ByName {
		out.Rel, _ = filepath.Rel(filepath.Dir(c.ls.Path), path)
	}
	if c.spec.Blocking != nil {
		out.Blocking = *c.spec.Blocking
	}
	return out, nil
}

// findGraderSpec loads the spec declaring an llm_judge named grader: the
// given one, else the single spec under evals/experiments that declares it.
func findGraderSpec(g *globalOptions, specPath, grader string) (*repo.LoadedSpec, repo.GraderSpec, error) {
	env := g.env
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
			return repo.Userf("grader %s in %s is a %s grader; only llm_judge graders are calibrated", grader, env.show(ls.Path), s.Type)
		}
		return nil
	}
	if specPath != "" {
		ls, err := repo.LoadExperiment(env.path(specPath), loadOpts)
		if err != nil {
			return nil, repo.GraderSpec{}, err
		}
		s, ok := find(ls)
		if !ok {
			return nil, repo.GraderSpec{}, &repo.UserError{Msg: fmt.Sprintf("%s declares no grader %q", specPath, grader), Hint: "declared: " + strings.Join(ls.GraderNames(), ", ")}
		}
		return ls, s, check(ls, s)
	}
	evalsDir := g.evalsDir()
	files, err := repo.TreeFiles(evalsDir)
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
		return nil, repo.GraderSpec{}, &repo.UserError{Msg: fmt.Sprintf("no spec under %s declares a grader %q", env.show(filepath.Join(evalsDir, "experiments")), grader), Hint: "pass --spec <spec.yaml>"}
	case 1:
		return found[0], spec, check(found[0], spec)
	}
	var paths []string
	for _, ls := range found {
		paths = append(paths, env.show(ls.Path))
	}
	return nil, repo.GraderSpec{}, &repo.UserError{Msg: fmt.Sprintf("grader %q is declared by %d specs: %s", grader, len(found), strings.Join(paths, ", ")), Hint: "pick one with --spec"}
}
