package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/selfevals/selfevals/graders"
	"github.com/selfevals/selfevals/repo"
)

// Loop runs an experiment: iteration 0 on the adopted parameters, then one
// iteration per proposal, until the proposer is exhausted, max_iterations,
// convergence, or an interrupt.
type Loop struct {
	Spec     *repo.LoadedSpec
	Executor *Executor
	// Calls, when set, makes the calls instead of the executor (merge
	// replays the calls that shards made); RunID is then the run's.
	Calls CallSource
	RunID string
	// Shard, when set, runs one slice of the cases for every proposal
	// without deciding: the merge of all shards decides, convergence
	// included.
	Shard       *repo.Shard
	Graders     *graders.Registry
	Fingerprint string
	// Sink receives every result after aggregation (the results writer).
	Sink func(*repo.Result) error
	// OnIteration is called when an iteration starts (total calls expected)
	// and OnResult after each result: progress reporting.
	OnIteration func(index int, hypothesis string, calls int)
	OnResult    func()
	// OnDecided is called with each finished iteration and its aggregation
	// (iterations.jsonl, the committed result, candidate commits).
	OnDecided func(*repo.IterationSummary, *Aggregator) error
	// Done and Replay resume a run: calls that finished before are skipped
	// and their stored results replayed into the aggregation.
	Done   func(iteration int, caseID string, rep int) bool
	Replay func(iteration int, fn func(*repo.Result) error) error
}

// CallSource makes an iteration's calls and hands each result to sink:
// the Executor, or a replay of calls made elsewhere.
type CallSource interface {
	Run(ctx context.Context, ds *repo.Dataset, it Iteration, sink func(*repo.Result) error) (Stats, error)
}

func (l *Loop) calls() CallSource {
	if l.Calls != nil {
		return l.Calls
	}
	return l.Executor
}

func (l *Loop) runID() string {
	if l.RunID != "" {
		return l.RunID
	}
	return l.Executor.RunID
}

// Run runs the loop. An interrupt (ctx cancelled) ends it with Terminated
// "interrupted": the iterations that finished are decided and kept, the one
// it stopped is only noted (rs.Unfinished), undecided.
func (l *Loop) Run(ctx context.Context) (*repo.RunSummary, error) {
	e := &l.Spec.Spec.Experiment
	maxIter := e.Run.MaxIterations
	rs := &repo.RunSummary{
		RunID: l.runID(), Slug: l.Spec.Slug, Name: e.Name, Goal: e.Goal, ExpID: l.Spec.ID,
		DatasetID: l.Spec.Dataset.ID, Cases: l.Spec.Dataset.Count, Fingerprint: l.Fingerprint,
		Target: e.Target.Primary, Guardrails: e.Target.Guardrails, Confidence: e.Decision.Confidence, Strategy: e.Proposer.Strategy,
		MaxIter: maxIter, StartedAt: time.Now().UTC(), State: repo.RunRunning, SpecPath: l.Spec.Path,
		Shard: l.Shard,
	}
	if rs.Strategy == "" {
		rs.Strategy = "none"
	}
	proposer, err := NewProposer(e)
	if err != nil {
		return nil, err
	}
	next := &proposals{e: e, proposer: proposer, seen: map[string]bool{}}
	// Every iteration after the baseline is a candidate tested against it.
	planned, err := CountIterations(e, maxIter)
	if err != nil {
		return nil, err
	}
	comparisons := max(planned-1, 1)
	var best *repo.IterationSummary
	var recent []float64
	for index := 0; ; {
		if index >= maxIter {
			rs.Terminated = "max_iterations"
			break
		}
		prop, pid, stop, err := next.next(index, rs.Iterations)
		if err != nil {
			return nil, err
		}
		if stop != "" {
			rs.Terminated = stop
			break
		}
		if pid == "" {
			continue // the same parameters never run twice in one run
		}
		sum, agg, interrupted, err := l.runIteration(ctx, index, prop, pid)
		if err != nil {
			return rs, err
		}
		if interrupted {
			// An unfinished iteration is never decided: its metrics stand
			// on whichever calls happened to finish first. Its results
			// stay in the run record for --resume.
			rs.Terminated = "interrupted"
			l.noteUnfinished(rs, index, prop, agg)
			break
		}
		if l.Shard == nil {
			sw := Sweep{Comparisons: comparisons}
			if len(rs.Iterations) > 0 {
				sw.Baseline = rs.Iterations[0]
			}
			sum.Decision = DecideInSweep(e, sum, best, sw)
		} else {
			sum.Decision = repo.Decision{Rationale: fmt.Sprintf("not decided: shard %s runs a slice of the cases; `selfevals merge` of every shard decides", l.Shard)}
		}
		rs.Iterations = append(rs.Iterations, sum)
		rs.Calls += sum.Calls
		rs.CacheHits += sum.CacheHits
		if l.OnDecided != nil {
			if err := l.OnDecided(sum, agg); err != nil {
				return rs, err
			}
		}
		if repo.BeatsBest(e.Target.Primary, sum, best) {
			best = sum
		}
		recent = append(recent, sum.Primary)
		if l.Shard == nil && converged(e.Target.Primary, recent, e.Run.Convergence.Delta(), e.Run.Convergence.Patience) {
			rs.Terminated = "converged"
			break
		}
		index++
	}
	if best != nil && l.Shard == nil {
		b := best.Index
		rs.Best = &b
	}
	rs.EndedAt = time.Now().UTC()
	rs.State = repo.RunCompleted
	if rs.Terminated == "interrupted" {
		rs.State = repo.RunInterrupted
	}
	return rs, nil
}

// noteUnfinished records, in the summary and as a warning, the iteration
// an interrupt stopped and how far it got.
func (l *Loop) noteUnfinished(rs *repo.RunSummary, index int, prop Proposal, agg *Aggregator) {
	planned := l.Spec.Dataset.Count * l.Spec.Spec.Experiment.Run.RepetitionsPerCase
	done := 0
	if agg != nil {
		done = agg.Calls()
	}
	rs.Unfinished = &repo.UnfinishedIteration{Index: index, Hypothesis: prop.Hypothesis, CallsFinished: done, CallsPlanned: planned}
	rs.Warnings = append(rs.Warnings, fmt.Sprintf(
		"interrupted during iteration %d after %d of %d calls: it was not decided, and nothing from it was written to evals/results or committed; `selfevals run --resume %s` finishes it",
		index, done, planned, l.Spec.Path))
}

// proposals hands the loop its next parameters: the adopted ones first (or
// the agent as configured when there are none and nothing to try), then the
// proposer's, each set at most once.
type proposals struct {
	e        *repo.Experiment
	proposer Proposer
	seen     map[string]bool
}

// next is iteration index's proposal and its parameters' ID; pid is empty
// when the proposal repeats parameters already run (skip it), stop says why
// the run ends when there is nothing left to try.
func (p *proposals) next(index int, done []*repo.IterationSummary) (prop Proposal, pid, stop string, err error) {
	adopted := index == 0 && p.e.Parameters != nil
	if adopted {
		prop = Proposal{Params: p.e.Parameters, Hypothesis: "adopted parameters (baseline)"}
	} else {
		var ok bool
		prop, ok = p.proposer.Next(summariesOf(done))
		if !ok && index > 0 {
			return prop, "", "search_space_exhausted: " + p.proposer.Exhausted(), nil
		}
		if !ok {
			// Nothing adopted and nothing to try: the agent as
			// configured is still worth a baseline.
			prop = Proposal{Params: repo.Parameters{}, Hypothesis: "the agent as configured (baseline)"}
		}
	}
	pid = prop.Params.ID()
	if p.seen[pid] {
		return prop, "", "", nil
	}
	p.seen[pid] = true
	if touched := TouchedSurfaces(p.e, prop.Params); len(touched) > 0 && !adopted {
		return prop, "", "", repo.Userf("proposal %q touches non-editable surfaces %v", prop.Hypothesis, touched)
	}
	return prop, pid, "", nil
}

// runIteration runs one proposal over every case and repetition (replaying
// the calls a resumed run already made) and aggregates it, undecided. An
// interrupt ends it early: sum is nil and agg holds what finished.
func (l *Loop) runIteration(ctx context.Context, index int, prop Proposal, pid string) (sum *repo.IterationSummary, agg *Aggregator, interrupted bool, err error) {
	e := &l.Spec.Spec.Experiment
	reps := e.Run.RepetitionsPerCase
	agg = NewAggregatorOver(reps, l.Spec.Dataset)
	if l.OnIteration != nil {
		l.OnIteration(index, prop.Hypothesis, l.Spec.Dataset.Count*reps)
	}
	add := func(r *repo.Result) {
		agg.Add(r)
		if l.OnResult != nil {
			l.OnResult()
		}
	}
	var skip func(string, int) bool
	if l.Replay != nil && l.Done != nil {
		skip = func(caseID string, rep int) bool { return l.Done(index, caseID, rep) }
		if err := l.Replay(index, func(r *repo.Result) error { add(r); return nil }); err != nil {
			return nil, nil, false, err
		}
	}
	start := time.Now()
	st, runErr := l.calls().Run(ctx, l.Spec.Dataset, Iteration{Index: index, Params: prop.Params, ParamsID: pid, Repetitions: reps, Skip: skip},
		func(r *repo.Result) error {
			add(r)
			if l.Sink != nil {
				return l.Sink(r)
			}
			return nil
		})
	interrupted = runErr != nil && errors.Is(runErr, context.Canceled)
	if runErr != nil && !interrupted {
		return nil, nil, false, runErr
	}
	// An interrupt that came after the last call finished leaves the
	// iteration complete: it is decided like any other.
	if interrupted {
		if agg.Calls() < l.Spec.Dataset.Count*reps {
			return nil, agg, true, nil
		}
		interrupted = false
	}
	extra := append(append([]string{}, e.Reliability.Metrics...), e.Target.Primary.Name)
	for _, g := range e.Target.Guardrails {
		extra = append(extra, g.Name)
	}
	sum = &repo.IterationSummary{
		Index: index, ParamsID: pid, Params: prop.Params, Hypothesis: prop.Hypothesis,
		Metrics: agg.Metrics(e.Decision.Confidence, extra), FailureModes: agg.FailureModes(),
		Calls: st.Calls, CacheHits: st.CacheHits, Errors: st.Errors, DurationMS: st.elapsedSince(start).Milliseconds(),
		Pairs: agg.Pairs(),
	}
	sum.ID, _ = repo.HashID("itr", map[string]any{"experiment": l.Spec.ID, "parameters": pid, "dataset": l.Spec.Dataset.ID, "agent": l.Fingerprint})
	sum.Primary, _ = sum.Metric(e.Target.Primary.Name)
	if e.ErrorAnalysis.Enabled {
		if fr, ok := sum.Metric("fail_rate"); ok && fr > e.ErrorAnalysis.Trigger.ThresholdValue() {
			sum.AnalysisDue = fmt.Sprintf("fail rate %.0f%% is above the %.0f%% threshold: the failed traces of this iteration are due for error analysis",
				fr*100, e.ErrorAnalysis.Trigger.ThresholdValue()*100)
		}
	}
	return sum, agg, interrupted, nil
}

// converged: the latest value improved on the best of the previous
// patience values by less than minDelta, in the better direction.
func converged(t repo.MetricTarget, recent []float64, minDelta float64, patience int) bool {
	if len(recent) < patience+1 {
		return false
	}
	tail := recent[len(recent)-patience-1:]
	bestPrev := tail[0]
	for _, v := range tail[1 : len(tail)-1] {
		if t.Better(v, bestPrev) {
			bestPrev = v
		}
	}
	return t.Improvement(tail[len(tail)-1], bestPrev) < minDelta
}

func summariesOf(its []*repo.IterationSummary) []repo.IterationSummary {
	out := make([]repo.IterationSummary, len(its))
	for i, s := range its {
		out[i] = *s
	}
	return out
}
