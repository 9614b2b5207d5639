package runner

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"iter"
	"maps"
	"slices"
	"sync"

	"github.com/selfevals/selfevals/graders"
	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/extsort"
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
	// Limit is how many flips the report lists, first by iteration, case
	// and repetition; every flip is counted. 0 lists all.
	Limit int

	budget int // bytes the sort holds before it spills; 0: extsort.Budget (tests set less)
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
	Missing    int                `json:"missing"`    // results whose case is no longer in the dataset (kept as stored)
	FlipCount  int                `json:"flip_count"` // every flip; Flips lists the first Limit
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
//
// Memory stays bounded whatever the run's size: results.jsonl is read once
// and sorted on disk by the place of each result's case in the dataset
// file, then joined with one pass over the dataset; per iteration only the
// compact aggregations are held, and flips are counted but only the first
// opts.Limit are kept.
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
	sorted, err := sortByCasePlace(ctx, run, ls.Dataset.Index(), cmp.Or(opts.budget, extsort.Budget))
	if err != nil {
		return nil, err
	}
	defer sorted.Close()

	var w *runstore.ResultWriter
	if opts.Write {
		if w, err = run.CreateRegraded(); err != nil {
			return nil, err
		}
		rep.Written = run.Dir().Regraded()
	}
	col := newRegradeCollector(rep, ls.Dataset, max(man.Repetitions, 1), opts.Limit, w)
	if err := regradeAll(ctx, sorted, ls.Dataset, registry, opts, col); err != nil {
		return nil, err
	}
	confidence := man.Confidence
	if confidence <= 0 || confidence >= 1 {
		confidence = 0.95
	}
	col.finish(confidence)
	return rep, nil
}

// regradeAll grades the sorted results again over opts.Parallelism
// workers and folds each into col, then closes col's writer.
func regradeAll(ctx context.Context, sorted *extsort.Sorter, ds *repo.Dataset, registry *graders.Registry, opts RegradeOptions, col *regradeCollector) error {
	type job struct {
		old *repo.Result
		c   *repo.Case
	}
	type pair struct {
		old, new *repo.Result
		c        *repo.Case
	}
	work := make(chan job, 64)
	done := make(chan pair, 64)
	par := opts.Parallelism
	if par <= 0 {
		par = 8
	}
	var wg sync.WaitGroup
	for range par {
		wg.Go(func() {
			for j := range work {
				done <- pair{j.old, regradeOne(ctx, j.old, j.c, registry, opts.Grader), j.c}
			}
		})
	}
	var collectErr error
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for p := range done {
			if err := col.add(p.old, p.new, p.c); err != nil && collectErr == nil {
				collectErr = err
			}
		}
	}()
	readErr := joinCases(sorted, ds, func(r *repo.Result, c *repo.Case) error {
		select {
		case work <- job{r, c}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(work)
	wg.Wait()
	close(done)
	<-collected
	if err := col.close(); err != nil && collectErr == nil {
		collectErr = err
	}
	switch {
	case readErr != nil && ctx.Err() == nil:
		return readErr
	case collectErr != nil:
		return collectErr
	case ctx.Err() != nil:
		return fmt.Errorf("regrade interrupted: %w", ctx.Err())
	}
	return nil
}

// missingPlace prefixes the sort key of a result whose case the dataset
// lacks: after every case of the dataset, by case ID.
const missingPlace = "\xff\xff\xff\xff"

// sortByCasePlace reads results.jsonl once and sorts its results on disk
// by the place of their case in the dataset file (then in file order), so
// a single pass over the dataset meets each case's results together.
func sortByCasePlace(ctx context.Context, run runstore.Run, index *repo.CaseIndex, budget int) (*extsort.Sorter, error) {
	placeOf := placesByRank(index)
	sorter := extsort.NewSorter(budget)
	var key, line []byte
	err := run.Results(func(r *repo.Result) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		key = key[:0]
		if rank, ok := index.Rank(r.CaseID); ok {
			place := rank
			if placeOf != nil {
				place = int(placeOf[rank])
			}
			key = binary.BigEndian.AppendUint32(key, uint32(place))
		} else {
			key = append(append(key, missingPlace...), r.CaseID...)
		}
		var err error
		if line, err = r.AppendJSON(line[:0]); err != nil {
			return err
		}
		return sorter.Add(string(key), line)
	})
	if err != nil {
		sorter.Close()
		return nil, err
	}
	return sorter, nil
}

// placesByRank inverts the index's place → rank: nil when the file lists
// its cases in ID order (a place is then its rank). Four bytes a case.
func placesByRank(index *repo.CaseIndex) []uint32 {
	if index == nil || index.InFileOrder() {
		return nil
	}
	out := make([]uint32, index.Len())
	for place := range out {
		out[index.RankAt(place)] = uint32(place)
	}
	return out
}

// joinCases walks the sorted results beside the dataset, streamed once in
// file order, and calls fn with each result and its case (nil when the
// dataset no longer has it).
func joinCases(sorted *extsort.Sorter, ds *repo.Dataset, fn func(*repo.Result, *repo.Case) error) error {
	var dsErr error
	next, stop := iter.Pull(func(yield func(*repo.Case) bool) {
		dsErr = ds.Each(func(c *repo.Case) error {
			if !yield(c) {
				return repo.ErrStop
			}
			return nil
		})
	})
	defer stop()
	place, ended := -1, false
	var cur *repo.Case
	err := sorted.Each(func(key string, val []byte) error {
		var r repo.Result
		if err := repo.DecodeJSON(val, &r); err != nil {
			return fmt.Errorf("reading a sort file: %w", err)
		}
		var c *repo.Case
		if len(key) == 4 {
			want := int(binary.BigEndian.Uint32([]byte(key)))
			for !ended && place < want {
				nc, ok := next()
				cur, ended = nc, !ok
				place++
			}
			// The ID check guards against a file edited since it was loaded.
			if place == want && cur != nil && cur.ID == r.CaseID {
				c = cur
			}
		}
		return fn(&r, c)
	})
	stop()
	return cmp.Or(err, dsErr)
}

// regradeCollector folds the old and new gradings into per-iteration
// aggregations, counts flips and keeps the first ones, and writes the
// new results. It runs on one goroutine.
type regradeCollector struct {
	rep     *RegradeReport
	ds      *repo.Dataset
	reps    int
	w       *runstore.ResultWriter
	werr    error
	oldAgg  map[int]*Aggregator
	newAgg  map[int]*Aggregator
	flipped map[int]int
	flips   *smallest[Flip]
}

func newRegradeCollector(rep *RegradeReport, ds *repo.Dataset, reps, limit int, w *runstore.ResultWriter) *regradeCollector {
	return &regradeCollector{rep: rep, ds: ds, reps: reps, w: w,
		oldAgg: map[int]*Aggregator{}, newAgg: map[int]*Aggregator{}, flipped: map[int]int{},
		flips: newSmallest(limit, compareFlips)}
}

func (col *regradeCollector) add(old, nr *repo.Result, c *repo.Case) error {
	it := old.Iteration
	if col.oldAgg[it] == nil {
		col.oldAgg[it], col.newAgg[it] = NewAggregatorOver(col.reps, col.ds), NewAggregatorOver(col.reps, col.ds)
	}
	col.oldAgg[it].Add(old)
	col.newAgg[it].Add(nr)
	col.rep.Results++
	if c == nil {
		col.rep.Missing++
	} else {
		col.rep.Regraded++
	}
	if old.Label != nr.Label {
		col.flipped[it]++
	}
	for _, f := range flipsOf(old, nr, c) {
		col.rep.FlipCount++
		col.flips.Offer(f)
	}
	if col.w != nil && col.werr == nil {
		col.werr = col.w.Write(nr)
	}
	return col.werr
}

// close closes the writer of regrade.jsonl, if any.
func (col *regradeCollector) close() error {
	if col.w == nil {
		return nil
	}
	return col.w.Close()
}

func compareFlips(a, b Flip) int {
	return cmp.Or(cmp.Compare(a.Iteration, b.Iteration), cmp.Compare(a.Case, b.Case), cmp.Compare(a.CaseID, b.CaseID),
		cmp.Compare(a.Repetition, b.Repetition), cmp.Compare(a.Grader, b.Grader))
}

// finish fills the report's flips and each iteration's metric moves.
func (col *regradeCollector) finish(confidence float64) {
	rep := col.rep
	rep.Flips = append(rep.Flips, col.flips.Sorted()...)
	metricNames := []string{"pass@1", "mean_score"}
	for _, g := range rep.Graders {
		metricNames = append(metricNames, "pass@1["+g+"]")
	}
	its := slices.Sorted(maps.Keys(col.oldAgg))
	for _, it := range its {
		om, nm := col.oldAgg[it].Metrics(confidence, nil), col.newAgg[it].Metrics(confidence, nil)
		ri := RegradeIteration{Index: it, Results: col.oldAgg[it].Calls(), Flipped: col.flipped[it]}
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
