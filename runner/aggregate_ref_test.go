// The aggregator as it was before its state went into dense columns (a
// map of per-case tallies): the oracle the compact one must match exactly.

package runner

import (
	"slices"
	"strings"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/stats"
)

// refTally is what the aggregator keeps per case: small and fixed-size per
// repetition, so memory grows with cases only by a few words.
type refTally struct {
	id     string
	labels []repo.Label // by repetition; "" when not run
	scores []float64
	cost   float64
	latMS  float64
	modes  []string // distinct failure modes over all repetitions
	reason string   // the first failing grade's reason, repetition 0 first
	errors int
}

// refAggregator folds results into an iteration's metrics (repo's metric
// names) as they stream in.
type refAggregator struct {
	reps  int
	cases map[string]*refTally
	order []*refTally // as the cases came
	// sorted is order sorted by case ID, made when first asked for after
	// a new case came.
	sorted    []*refTally
	graders   map[string][2]int // grader → rep-0 passes, rep-0 grades
	modes     map[string]int
	latencies []float64
	calls     int
	errors    int
	cached    int
	costSeen  bool
	tokensIn  int64
	tokensOut int64
	// The unused rest of the chunks newTally hands out.
	tallies []refTally
	labels  []repo.Label
	scores  []float64
}

// newRefAggregator starts an empty aggregation for reps repetitions per case.
func newRefAggregator(reps int) *refAggregator {
	return newRefAggregatorFor(reps, 0)
}

// newRefAggregatorFor is newRefAggregator sized for the number of cases expected.
func newRefAggregatorFor(reps, cases int) *refAggregator {
	reps = max(reps, 1)
	cases = min(max(cases, 0), 1<<20) // a hint, not a promise
	return &refAggregator{
		reps: reps, cases: make(map[string]*refTally, cases), order: make([]*refTally, 0, cases),
		latencies: make([]float64, 0, min(cases*reps, 1<<20)),
		graders:   map[string][2]int{}, modes: map[string]int{},
	}
}

// refTallyChunk is how many case tallies newTally allocates at once.
const refTallyChunk = 256

// newTally hands out a zeroed tally from a chunk allocated for many cases:
// one allocation per chunk rather than three per case.
func (a *refAggregator) newTally() *refTally {
	if len(a.tallies) == 0 {
		a.tallies = make([]refTally, refTallyChunk)
		a.labels = make([]repo.Label, refTallyChunk*a.reps)
		a.scores = make([]float64, refTallyChunk*a.reps)
	}
	ct := &a.tallies[0]
	ct.labels, ct.scores = a.labels[:a.reps:a.reps], a.scores[:a.reps:a.reps]
	a.tallies, a.labels, a.scores = a.tallies[1:], a.labels[a.reps:], a.scores[a.reps:]
	return ct
}

// Add folds one result in.
func (a *refAggregator) Add(r *repo.Result) {
	ct := a.cases[r.CaseID]
	if ct == nil {
		ct = a.newTally()
		ct.id = r.CaseID
		a.cases[r.CaseID] = ct
		a.order = append(a.order, ct)
	}
	if r.Repetition >= 0 && r.Repetition < a.reps {
		ct.labels[r.Repetition] = r.Label
		ct.scores[r.Repetition] = r.Score
	}
	ct.cost += r.CostUSD
	ct.latMS += r.LatencyMS
	if r.Failed() {
		ct.errors++
	}
	if (ct.reason == "" || r.Repetition == 0) && r.Label != repo.Pass {
		for _, g := range r.Grades {
			if g.Label != repo.Pass && g.Reason != "" {
				ct.reason = g.Reason
				break
			}
		}
	}
	a.calls++
	if r.Failed() {
		a.errors++
	}
	if r.Cached {
		a.cached++
	}
	if r.CostUSD > 0 || r.CostReported {
		a.costSeen = true
	}
	a.tokensIn += r.Usage.InputTokens
	a.tokensOut += r.Usage.OutputTokens
	a.latencies = append(a.latencies, r.LatencyMS)
	for _, g := range r.Grades {
		if r.Repetition == 0 {
			t := a.graders[g.Grader]
			if g.Label == repo.Pass {
				t[0]++
			}
			t[1]++
			a.graders[g.Grader] = t
		}
		for _, m := range g.FailureModes {
			a.modes[m]++
			if !slices.Contains(ct.modes, m) {
				ct.modes = append(ct.modes, m)
			}
		}
	}
}

// Calls is the number of results folded in.
func (a *refAggregator) Calls() int { return a.calls }

// CacheHits is how many results came from the cache.
func (a *refAggregator) CacheHits() int { return a.cached }

// FailureModes counts failure modes over every grade of every repetition.
func (a *refAggregator) FailureModes() map[string]int { return a.modes }

// byID is every case's tally in case ID order: the deterministic order
// of bootstrap inputs and of cases.jsonl.
func (a *refAggregator) byID() []*refTally {
	if len(a.sorted) != len(a.order) {
		a.sorted = append(a.sorted[:0], a.order...)
		slices.SortFunc(a.sorted, func(x, y *refTally) int { return strings.Compare(x.id, y.id) })
	}
	return a.sorted
}

// Pairs returns, per case in case ID order, the repetition-0 pass and the
// mean score: what paired comparisons between iterations need.
func (a *refAggregator) Pairs() repo.CasePairs {
	var out repo.CasePairs
	for _, ct := range a.byID() {
		n, sum := 0, 0.0
		for i, l := range ct.labels {
			if l != "" {
				n++
				sum += ct.scores[i]
			}
		}
		p := repo.CasePair{Pass: ct.labels[0] == repo.Pass, Runs: int16(n), Errors: int16(ct.errors), Timed: true}
		for _, l := range ct.labels {
			if l == repo.Pass {
				p.Passes++
			}
		}
		if n > 0 {
			p.Score = sum / float64(n)
			p.CostUSD, p.LatencyMS = float32(ct.cost/float64(n)), float32(ct.latMS/float64(n))
		}
		out.Add(ct.id, p)
	}
	return out
}

// Metrics computes every fixed metric, plus the pass@k and pass^k named
// in extra. Intervals are at the given confidence: Wilson for proportions,
// a seeded bootstrap for means (the normal approximation past
// stats.BootstrapLimit cases).
func (a *refAggregator) Metrics(confidence float64, extra []string) map[string]repo.Metric {
	m := map[string]repo.Metric{}
	n := len(a.order)
	tallies := a.byID() // deterministic bootstrap input
	prop := func(name string, k, total int) {
		met := repo.Metric{N: total, Observed: total > 0}
		if total > 0 {
			met.Value = float64(k) / float64(total)
			lo, hi := stats.Wilson(k, total, confidence)
			met.Lo, met.Hi = &lo, &hi
		}
		m[name] = met
	}
	mean := func(name string, vals []float64) {
		met := repo.Metric{N: len(vals), Observed: len(vals) > 0, Value: stats.Mean(vals)}
		if len(vals) > 1 {
			lo, hi := stats.MeanInterval(vals, confidence, 1)
			met.Lo, met.Hi = &lo, &hi
		} else if len(vals) == 1 {
			met.Lo, met.Hi = &met.Value, &met.Value
		}
		m[name] = met
	}

	pass0, failed0, recovered := 0, 0, 0
	consistency := make([]float64, 0, n)
	scores := make([]float64, 0, n)
	passes := make([]int, 0, n)
	runs := make([]int, 0, n)
	for _, ct := range tallies {
		c, r, sum := 0, 0, 0.0
		for i, l := range ct.labels {
			if l == "" {
				continue
			}
			r++
			sum += ct.scores[i]
			if l == repo.Pass {
				c++
			}
		}
		passes = append(passes, c)
		runs = append(runs, r)
		if ct.labels[0] == repo.Pass {
			pass0++
		} else if ct.labels[0] != "" {
			failed0++
			for _, l := range ct.labels[1:] {
				if l == repo.Pass {
					recovered++
					break
				}
			}
		}
		if r > 0 {
			consistency = append(consistency, float64(c)/float64(r))
			scores = append(scores, sum/float64(r))
		}
	}
	prop("pass@1", pass0, n)
	prop("fail_rate", n-pass0, n)
	mean("consistency_rate", consistency)
	m["stability_score"] = m["consistency_rate"]
	if failed0 > 0 {
		prop("recovery_rate", recovered, failed0)
	} else {
		// Nothing failed first, so nothing could be recovered: the rate is
		// undefined, not 0 (a ">=" guardrail would block a perfect run).
		m["recovery_rate"] = repo.Metric{}
	}
	mean("mean_score", scores)
	prop("error_rate", a.errors, a.calls)
	for g, t := range a.graders {
		prop("pass@1["+g+"]", t[0], t[1])
	}

	for _, name := range extra {
		k, hat := repo.PassK(name)
		if k == 0 || (k == 1 && !hat) { // pass@1 is computed above
			continue
		}
		var vals []float64
		enough := true
		for i := range passes {
			if runs[i] < k {
				enough = false
				break
			}
			if hat {
				vals = append(vals, stats.PassHatK(runs[i], passes[i], k))
			} else {
				vals = append(vals, stats.PassAtK(runs[i], passes[i], k))
			}
		}
		if !enough || len(vals) == 0 {
			// Unbiased estimators need at least k repetitions per case.
			m[name] = repo.Metric{N: n}
			continue
		}
		mean(name, vals)
	}

	costs := make([]float64, 0, n)
	perCaseLatency := make([]float64, 0, n)
	totalCost := 0.0
	for _, ct := range tallies {
		costs = append(costs, ct.cost)
		totalCost += ct.cost
		perCaseLatency = append(perCaseLatency, ct.latMS)
	}
	m["cost_usd_total"] = repo.Metric{Value: totalCost, N: n, Observed: a.costSeen}
	if a.costSeen {
		mean("cost_usd_per_case", costs)
	} else {
		m["cost_usd_per_case"] = repo.Metric{N: n}
	}
	lat := slices.Clone(a.latencies)
	slices.Sort(lat)
	obs := len(lat) > 0
	m["latency_ms_p50"] = repo.Metric{Value: round3(stats.Percentile(lat, 50)), N: len(lat), Observed: obs}
	m["latency_ms_p95"] = repo.Metric{Value: round3(stats.Percentile(lat, 95)), N: len(lat), Observed: obs}
	m["latency_ms_per_case_avg"] = repo.Metric{Value: round3(stats.Mean(perCaseLatency)), N: n, Observed: obs}
	tokObs := a.tokensIn+a.tokensOut > 0
	m["tokens_input_total"] = repo.Metric{Value: float64(a.tokensIn), N: a.calls, Observed: tokObs}
	m["tokens_output_total"] = repo.Metric{Value: float64(a.tokensOut), N: a.calls, Observed: tokObs}
	m["tokens_total"] = repo.Metric{Value: float64(a.tokensIn + a.tokensOut), N: a.calls, Observed: tokObs}
	return m
}

// Verdicts returns one verdict per case: the repetition-0 label, the mean
// score and pass rate over repetitions, and the failure modes seen. Names
// are filled in by the caller, which streams the dataset.
func (a *refAggregator) Verdicts() []repo.CaseVerdict {
	out := make([]repo.CaseVerdict, 0, len(a.cases))
	for _, ct := range a.byID() {
		v := repo.CaseVerdict{CaseID: ct.id, Label: ct.labels[0], Reason: ct.reason}
		passes, sum := 0, 0.0
		for i, l := range ct.labels {
			if l == "" {
				continue
			}
			v.Repetitions++
			sum += ct.scores[i]
			if l == repo.Pass {
				passes++
			}
		}
		if v.Repetitions > 0 {
			v.Score = round3(sum / float64(v.Repetitions))
			v.PassRate = round3(float64(passes) / float64(v.Repetitions))
		}
		v.FailureModes = slices.Sorted(slices.Values(ct.modes))
		out = append(out, v)
	}
	return out
}
