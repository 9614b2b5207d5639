package runner

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/selfevals/selfevals/graders"
	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
)

// RegradeOptions say which graders to re-run and how.
type RegradeOptions struct {
	// Grader, when set, re-runs only that grader and keeps every other
	// stored grade; otherwise every current grader runs and the stored
	// grades are replaced.
	Grader string
	// Parallelism is how many traces are re-graded at once (default 8);
	// each judge still holds to its own parallelism.
	Parallelism int
	// Write writes the re-graded results to regrade.jsonl in the run
	// directory.
	Write bool
}

// Flip is one grader's verdict on one trace that changed.
type Flip struct {
	CaseID     string     `json:"case_id"`
	Case       string     `json:"case"`
	Iteration  int        `json:"iteration"`
	Repetition int        `json:"repetition"`
	Grader     string     `json:"grader"`
	Old        repo.Label `json:"old"` // "" when the grader had not graded it
	New        repo.Label `json:"new"` // "" when the grader no longer grades it
	OldOverall repo.Label `json:"old_overall"`
	NewOverall repo.Label `json:"new_overall"`
	Reason     string     `json:"reason"` // the new grade's reason
}

// MetricMove is one metric of one iteration before and after regrading.
type MetricMove struct {
	Name string       `json:"name"`
	Old  *repo.Metric `json:"old"` // nil when not observed
	New  *repo.Metric `json:"new"`
}

// RegradeIteration is how an iteration's metrics moved.
type RegradeIteration struct {
	Index   int          `json:"iteration"`
	Results int          `json:"results"`
	Flipped int          `json:"flipped"` // results whose overall label changed
	Metrics []MetricMove `json:"metrics"`
}

// RegradeReport is what a regrade found.
type RegradeReport struct {
	RunID      string             `json:"run_id"`
	Experiment string             `json:"experiment"`
	Spec       string             `json:"spec"`
	Graders    []string           `json:"graders"` // the graders re-run
	Results    int                `json:"results"`
	Regraded   int                `json:"regraded"`
	Missing    int                `json:"missing"` // results whose case is no longer in the dataset (kept as stored)
	Flips      []Flip             `json:"flips"`
	Iterations []RegradeIteration `json:"iterations"`
	Written    string             `json:"written,omitempty"`
	AgentCalls int                `json:"agent_calls"` // always 0: regrading never calls the agent
}

// Regrade re-grades every stored trace of a run with the current graders
// and reports which verdicts flipped and how each iteration's metrics moved.
// It calls no agent: the traces in results.jsonl hold everything graders
// need. Results whose case is no longer in the dataset (a case edited since
// the run has a new ID) keep their stored grades and are counted as missing.
func Regrade(ctx context.Context, runDir string, ls *repo.LoadedSpec, registry *graders.Registry, opts RegradeOptions) (*RegradeReport, error) {
	run := runstore.At(runDir)
	man, err := run.Manifest()
	if err != nil {
		return nil, err
	}
	names := registry.Names()
	if opts.Grader != "" && !slices.Contains(names, opts.Grader) {
		return nil, &repo.UserError{Msg: fmt.Sprintf("grader %q is not declared in %s", opts.Grader, ls.Path), Hint: "declared: " + joinNames(names)}
	}
	rep := &RegradeReport{RunID: man.RunID, Experiment: man.Experiment, Spec: ls.Path, Graders: names, Flips: []Flip{}}
	if opts.Grader != "" {
		rep.Graders = []string{opts.Grader}
	}
	cases, err := ls.Dataset.Cases()
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*repo.Case, len(cases))
	for i := range cases {
		byID[cases[i].ID] = &cases[i]
	}

	var w *runstore.ResultWriter
	if opts.Write {
		if w, err = run.CreateRegraded(); err != nil {
			return nil, err
		}
		rep.Written = run.Dir().Regraded()
	}

	type pair struct{ old, new *repo.Result }
	work := make(chan *repo.Result, 64)
	done := make(chan pair, 64)
	par := opts.Parallelism
	if par <= 0 {
		par = 8
	}
	var wg sync.WaitGroup
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for old := range work {
				done <- pair{old, regradeOne(ctx, old, byID[old.CaseID], registry, opts.Grader)}
			}
		}()
	}

	reps := max(man.Repetitions, 1)
	oldAgg, newAgg := map[int]*Aggregator{}, map[int]*Aggregator{}
	flipped := map[int]int{}
	var collectErr error
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for p := range done {
			it := p.old.Iteration
			if oldAgg[it] == nil {
				oldAgg[it], newAgg[it] = NewAggregator(reps), NewAggregator(reps)
			}
			oldAgg[it].Add(p.old)
			newAgg[it].Add(p.new)
			rep.Results++
			if byID[p.old.CaseID] == nil {
				rep.Missing++
			} else {
				rep.Regraded++
			}
			if p.old.Label != p.new.Label {
				flipped[it]++
			}
			c := byID[p.old.CaseID]
			rep.Flips = append(rep.Flips, flipsOf(p.old, p.new, c)...)
			if w != nil && collectErr == nil {
				collectErr = w.Write(p.new)
			}
		}
	}()

	readErr := run.Results(func(r *repo.Result) error {
		select {
		case work <- r:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(work)
	wg.Wait()
	close(done)
	<-collected
	if w != nil {
		if err := w.Close(); err != nil && collectErr == nil {
			collectErr = err
		}
	}
	switch {
	case readErr != nil:
		return nil, readErr
	case collectErr != nil:
		return nil, collectErr
	case ctx.Err() != nil:
		return nil, fmt.Errorf("regrade interrupted: %w", ctx.Err())
	}

	sort.Slice(rep.Flips, func(i, j int) bool {
		a, b := rep.Flips[i], rep.Flips[j]
		if a.Iteration != b.Iteration {
			return a.Iteration < b.Iteration
		}
		if a.Case != b.Case {
			return a.Case < b.Case
		}
		if a.CaseID != b.CaseID {
			return a.CaseID < b.CaseID
		}
		if a.Repetition != b.Repetition {
			return a.Repetition < b.Repetition
		}
		return a.Grader < b.Grader
	})
	confidence := man.Confidence
	if confidence <= 0 || confidence >= 1 {
		confidence = 0.95
	}
	metricNames := []string{"pass@1", "mean_score"}
	for _, g := range rep.Graders {
		metricNames = append(metricNames, "pass@1["+g+"]")
	}
	its := make([]int, 0, len(oldAgg))
	for it := range oldAgg {
		its = append(its, it)
	}
	sort.Ints(its)
	for _, it := range its {
		om, nm := oldAgg[it].Metrics(confidence, nil), newAgg[it].Metrics(confidence, nil)
		ri := RegradeIteration{Index: it, Results: oldAgg[it].Calls(), Flipped: flipped[it]}
		for _, name := range metricNames {
			mv := MetricMove{Name: name}
			if m, ok := om[name]; ok && m.Observed {
				mv.Old = &m
			}
			if m, ok := nm[name]; ok && m.Observed {
				mv.New = &m
			}
			if mv.Old != nil || mv.New != nil {
				ri.Metrics = append(ri.Metrics, mv)
			}
		}
		rep.Iterations = append(rep.Iterations, ri)
	}
	return rep, nil
}

// regradeOne grades one stored trace again. The trace is never changed;
// only grades, label and score are new.
func regradeOne(ctx context.Context, old *repo.Result, c *repo.Case, registry *graders.Registry, only string) *repo.Result {
	nr := *old
	if c == nil {
		return &nr
	}
	if only == "" {
		nr.Grades, nr.Label, nr.Score = registry.Grade(ctx, c, &nr.Trace)
		return &nr
	}
	var g graders.Grader
	for _, x := range registry.ForCase(c) {
		if x.Name() == only {
			g = x
		}
	}
	if g == nil {
		return &nr // the case does not run this grader
	}
	ng := g.Grade(ctx, c, &nr.Trace)
	if ng.Grader == "" {
		ng.Grader = g.Name()
	}
	nr.Grades = slices.Clone(old.Grades)
	replaced := false
	for i := range nr.Grades {
		if nr.Grades[i].Grader == only {
			nr.Grades[i], replaced = ng, true
		}
	}
	if !replaced {
		nr.Grades = append(nr.Grades, ng)
	}
	nr.Label, nr.Score = repo.Combine(nr.Grades)
	return &nr
}

// flipsOf lists the graders whose label changed between two gradings of
// one trace.
func flipsOf(old, nr *repo.Result, c *repo.Case) []Flip {
	before := map[string]repo.Grade{}
	var order []string
	for _, g := range old.Grades {
		if _, ok := before[g.Grader]; !ok {
			order = append(order, g.Grader)
		}
		before[g.Grader] = g
	}
	after := map[string]repo.Grade{}
	for _, g := range nr.Grades {
		if _, ok := before[g.Grader]; !ok {
			if _, ok := after[g.Grader]; !ok {
				order = append(order, g.Grader)
			}
		}
		after[g.Grader] = g
	}
	var out []Flip
	for _, name := range order {
		b, a := before[name], after[name]
		if b.Label == a.Label {
			continue
		}
		f := Flip{CaseID: old.CaseID, Case: old.CaseID, Iteration: old.Iteration, Repetition: old.Repetition, Grader: name,
			Old: b.Label, New: a.Label, OldOverall: old.Label, NewOverall: nr.Label, Reason: a.Reason}
		if c != nil {
			f.Case = c.DisplayName()
		}
		if f.New == "" {
			f.Reason = "the grader no longer runs on this case"
		}
		out = append(out, f)
	}
	return out
}

func joinNames(names []string) string {
	s := ""
	for i, n := range names {
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s
}
