package runner

import (
	"math"
	"slices"
	"strings"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/stats"
)

// Aggregator folds results into an iteration's metrics (repo's metric
// names) as they stream in.
//
// Per-case state lives in dense columns indexed by a slot: a case's rank
// in its dataset's CaseIndex, or, for a case the dataset does not have
// (or with no dataset), a slot after them. A column that every case would
// hold at its default (cost, errors, failure modes, reasons, scores that
// follow from the label) is allocated only when a case first needs it. At
// a million cases with one repetition an iteration holds about 10 MB:
// a label byte, a latency and two bits per case.
type Aggregator struct {
	reps  int
	index *repo.CaseIndex // nil: every case is an extra
	// Extras: cases the index lacks, at slots index.Len() + k.
	extraIDs  []string
	extraSlot map[string]int
	byIDExtra []int // extra slots in ID order, made when asked

	seen  bitset // by slot: a result came
	cases int

	// By slot*reps + rep.
	labels []uint8 // a code of labelNames; 0: not run
	ran    bitset  // a result for the repetition came
	lat    []float64
	// scores is nil while every score is what the label implies (1 for a
	// pass, else 0), as deterministic graders give.
	scores []float64

	// By slot, allocated when first needed.
	errs    []uint16  // results whose call failed
	cost    []float64 // summed as results come
	modeSet []uint32  // the case's distinct failure modes, interned
	reason  []uint64  // the first failing grade's reason, in reasons

	labelNames []repo.Label
	modes      modeSets
	reasons    textStore
	// Latencies of results for a repetition out of range, or again for
	// one already in: kept for the percentiles and the case's total.
	oddLat     []float64
	oddCaseLat map[int]float64

	graders   map[string][2]int // grader → rep-0 passes, rep-0 grades
	modeCount map[string]int
	calls     int
	errors    int
	cached    int
	costSeen  bool
	tokensIn  int64
	tokensOut int64
}

// NewAggregator starts an empty aggregation for reps repetitions per case.
func NewAggregator(reps int) *Aggregator {
	return NewAggregatorOver(reps, nil)
}

// NewAggregatorOver starts an aggregation of the cases of ds (nil: any
// cases), for reps repetitions per case: its state is indexed by the
// dataset's case ranks. A result for a case ds lacks is still counted.
func NewAggregatorOver(reps int, ds *repo.Dataset) *Aggregator {
	a := &Aggregator{
		reps: max(reps, 1), labelNames: []repo.Label{""},
		graders: map[string][2]int{}, modeCount: map[string]int{},
	}
	if ds != nil {
		a.index = ds.Index()
	}
	if n := a.indexLen(); n > 0 {
		a.seen = newBitset(n)
		a.labels = make([]uint8, n*a.reps)
		a.ran = newBitset(n * a.reps)
		a.lat = make([]float64, n*a.reps)
	}
	return a
}

func (a *Aggregator) indexLen() int {
	if a.index == nil {
		return 0
	}
	return a.index.Len()
}

// slot finds (or makes) the slot of a case.
func (a *Aggregator) slot(id string) int {
	if r, ok := a.index.Rank(id); ok {
		return r
	}
	if s, ok := a.extraSlot[id]; ok {
		return s
	}
	if a.extraSlot == nil {
		a.extraSlot = map[string]int{}
	}
	s := a.indexLen() + len(a.extraIDs)
	a.extraIDs = append(a.extraIDs, id)
	a.extraSlot[id] = s
	a.seen.grow(s + 1)
	a.ran.grow((s + 1) * a.reps)
	a.labels = append(a.labels, make([]uint8, a.reps)...)
	a.lat = append(a.lat, make([]float64, a.reps)...)
	if a.scores != nil {
		a.scores = append(a.scores, make([]float64, a.reps)...)
	}
	a.errs = growTo(a.errs, s+1)
	a.cost = growTo(a.cost, s+1)
	a.modeSet = growTo(a.modeSet, s+1)
	a.reason = growTo(a.reason, s+1)
	return s
}

// growTo extends an allocated column to n entries; nil stays nil.
func growTo[T any](col []T, n int) []T {
	if col == nil || len(col) >= n {
		return col
	}
	return append(col, make([]T, n-len(col))...)
}

// column returns col, allocated for every slot when it is still nil.
func column[T any](col []T, slots int) []T {
	if col == nil {
		col = make([]T, slots)
	}
	return col
}

func (a *Aggregator) slots() int { return a.indexLen() + len(a.extraIDs) }

// labelCode interns a label.
func (a *Aggregator) labelCode(l repo.Label) uint8 {
	for i, n := range a.labelNames {
		if n == l {
			return uint8(i)
		}
	}
	if len(a.labelNames) == math.MaxUint8 {
		panic("runner: more than 254 distinct labels") // repo has five
	}
	a.labelNames = append(a.labelNames, l)
	return uint8(len(a.labelNames) - 1)
}

// impliedScore is the score a label implies, as deterministic graders give.
func impliedScore(l repo.Label) float64 {
	if l == repo.Pass {
		return 1
	}
	return 0
}

// Add folds one result in.
func (a *Aggregator) Add(r *repo.Result) {
	s := a.slot(r.CaseID)
	if !a.seen.get(s) {
		a.seen.set(s)
		a.cases++
	}
	a.addRun(s, r)
	if r.CostUSD != 0 {
		a.cost = column(a.cost, a.slots())
		a.cost[s] += r.CostUSD
	}
	if r.Failed() {
		a.errs = column(a.errs, a.slots())
		a.errs[s]++
		a.errors++
	}
	a.addReason(s, r)
	a.calls++
	if r.Cached {
		a.cached++
	}
	if r.CostUSD > 0 || r.CostReported {
		a.costSeen = true
	}
	a.tokensIn += r.Usage.InputTokens
	a.tokensOut += r.Usage.OutputTokens
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
			a.modeCount[m]++
			a.modeSet = column(a.modeSet, a.slots())
			a.modeSet[s] = a.modes.with(a.modeSet[s], m)
		}
	}
}

// addRun records the repetition's label, score and latency.
func (a *Aggregator) addRun(s int, r *repo.Result) {
	rep := r.Repetition
	if rep < 0 || rep >= a.reps || a.ran.get(s*a.reps+rep) {
		a.oddLat = append(a.oddLat, r.LatencyMS)
		if a.oddCaseLat == nil {
			a.oddCaseLat = map[int]float64{}
		}
		a.oddCaseLat[s] += r.LatencyMS
		if rep < 0 || rep >= a.reps {
			return
		}
	} else {
		a.lat[s*a.reps+rep] = r.LatencyMS
	}
	i := s*a.reps + rep
	a.ran.set(i)
	a.labels[i] = a.labelCode(r.Label)
	if a.scores == nil && r.Score != impliedScore(r.Label) {
		a.scores = make([]float64, len(a.labels))
		for j, c := range a.labels {
			a.scores[j] = impliedScore(a.labelNames[c])
		}
	}
	if a.scores != nil {
		a.scores[i] = r.Score
	}
}

// addReason keeps the first failing grade's reason, repetition 0's first.
func (a *Aggregator) addReason(s int, r *repo.Result) {
	if r.Label == repo.Pass || (r.Repetition != 0 && a.reason != nil && a.reason[s] != 0) {
		return
	}
	for _, g := range r.Grades {
		if g.Label != repo.Pass && g.Reason != "" {
			a.reason = column(a.reason, a.slots())
			a.reason[s] = a.reasons.put(g.Reason)
			return
		}
	}
}

// label is the label of a case's repetition ("" when it did not run).
func (a *Aggregator) label(s, rep int) repo.Label { return a.labelNames[a.labels[s*a.reps+rep]] }

func (a *Aggregator) score(s, rep int) float64 {
	if a.scores == nil {
		return impliedScore(a.label(s, rep))
	}
	return a.scores[s*a.reps+rep]
}

// outcome is what a case's repetitions add up to.
type outcome struct {
	runs, passes int
	scoreSum     float64
	latSum       float64
}

func (a *Aggregator) outcome(s int) outcome {
	var o outcome
	for rep := range a.reps {
		i := s*a.reps + rep
		if a.ran.get(i) {
			o.latSum += a.lat[i]
		}
		l := a.label(s, rep)
		if l == "" {
			continue
		}
		o.runs++
		o.scoreSum += a.score(s, rep)
		if l == repo.Pass {
			o.passes++
		}
	}
	if a.oddCaseLat != nil {
		o.latSum += a.oddCaseLat[s]
	}
	return o
}

func (a *Aggregator) caseCost(s int) float64 {
	if a.cost == nil {
		return 0
	}
	return a.cost[s]
}

func (a *Aggregator) caseErrors(s int) int {
	if a.errs == nil {
		return 0
	}
	return int(a.errs[s])
}

// Calls is the number of results folded in.
func (a *Aggregator) Calls() int { return a.calls }

// CacheHits is how many results came from the cache.
func (a *Aggregator) CacheHits() int { return a.cached }

// FailureModes counts failure modes over every grade of every repetition.
func (a *Aggregator) FailureModes() map[string]int { return a.modeCount }

// eachCase calls fn for every case a result came for, in case ID order:
// the deterministic order of bootstrap inputs, pairs and cases.jsonl.
func (a *Aggregator) eachCase(fn func(s int, id string)) {
	n := a.indexLen()
	extras := a.extrasByID()
	e := 0
	for r := range n {
		if !a.seen.get(r) {
			continue
		}
		id := a.index.ID(r)
		for ; e < len(extras) && a.extraIDs[extras[e]-n] < id; e++ {
			fn(extras[e], a.extraIDs[extras[e]-n])
		}
		fn(r, id)
	}
	for ; e < len(extras); e++ {
		fn(extras[e], a.extraIDs[extras[e]-n])
	}
}

// extrasByID is the extra slots in ID order, sorted again only after a
// new extra came.
func (a *Aggregator) extrasByID() []int {
	if len(a.byIDExtra) != len(a.extraIDs) {
		n := a.indexLen()
		a.byIDExtra = a.byIDExtra[:0]
		for k := range a.extraIDs {
			a.byIDExtra = append(a.byIDExtra, n+k)
		}
		slices.SortFunc(a.byIDExtra, func(x, y int) int { return strings.Compare(a.extraIDs[x-n], a.extraIDs[y-n]) })
	}
	return a.byIDExtra
}

// Pairs returns, per case in case ID order, the repetition-0 pass and the
// mean score: what paired comparisons between iterations need. Which case
// each is, the dataset's index says (24 bytes a case, no string); only
// when some cases of the index did not run (a shard) does each carry its
// rank, and only with cases the index lacks its ID.
func (a *Aggregator) Pairs() repo.CasePairs {
	out := repo.CasePairs{List: make([]repo.CasePair, 0, a.cases), Index: a.index}
	every := len(a.extraIDs) == 0 && a.cases == a.indexLen()
	if len(a.extraIDs) > 0 {
		out.IDs = make([]string, 0, a.cases)
	} else if !every {
		out.Ranks = make([]uint32, 0, a.cases)
	}
	a.eachCase(func(s int, id string) {
		o := a.outcome(s)
		p := repo.CasePair{Pass: a.label(s, 0) == repo.Pass, Runs: int16(o.runs), Errors: int16(a.caseErrors(s)), Timed: true, Passes: int16(o.passes)}
		if o.runs > 0 {
			p.Score = o.scoreSum / float64(o.runs)
			p.CostUSD, p.LatencyMS = float32(a.caseCost(s)/float64(o.runs)), float32(o.latSum/float64(o.runs))
		}
		out.List = append(out.List, p)
		switch {
		case out.IDs != nil:
			out.IDs = append(out.IDs, id)
		case out.Ranks != nil:
			out.Ranks = append(out.Ranks, uint32(s))
		}
	})
	return out
}

// Metrics computes every fixed metric, plus the pass@k and pass^k named
// in extra. Intervals are at the given confidence: Wilson for proportions,
// a seeded bootstrap for means (the normal approximation past
// stats.BootstrapLimit cases).
func (a *Aggregator) Metrics(confidence float64, extra []string) map[string]repo.Metric {
	m := map[string]repo.Metric{}
	n := a.cases
	prop := func(name string, k, total int) {
		met := repo.Metric{N: total, Observed: total > 0}
		if total > 0 {
			met.Value = float64(k) / float64(total)
			lo, hi := stats.Wilson(k, total, confidence)
			met.Lo, met.Hi = &lo, &hi
		}
		m[name] = met
	}
	mean := func(name string, each func(yield func(float64))) {
		m[name] = meanMetric(each, confidence)
	}

	pass0, failed0, recovered := 0, 0, 0
	// The latency per case is only averaged: summed in the order
	// stats.Mean would sum it, it needs no list.
	totalCost, latencySum := 0.0, 0.0
	a.eachCase(func(s int, _ string) {
		o := a.outcome(s)
		if l0 := a.label(s, 0); l0 == repo.Pass {
			pass0++
		} else if l0 != "" {
			failed0++
			for rep := 1; rep < a.reps; rep++ {
				if a.label(s, rep) == repo.Pass {
					recovered++
					break
				}
			}
		}
		totalCost += a.caseCost(s)
		latencySum += o.latSum
	})
	prop("pass@1", pass0, n)
	prop("fail_rate", n-pass0, n)
	mean("consistency_rate", a.perCase(func(o outcome, _ int) (float64, bool) { return float64(o.passes) / float64(o.runs), o.runs > 0 }))
	m["stability_score"] = m["consistency_rate"]
	if failed0 > 0 {
		prop("recovery_rate", recovered, failed0)
	} else {
		// Nothing failed first, so nothing could be recovered: the rate is
		// undefined, not 0 (a ">=" guardrail would block a perfect run).
		m["recovery_rate"] = repo.Metric{}
	}
	mean("mean_score", a.perCase(func(o outcome, _ int) (float64, bool) { return o.scoreSum / float64(o.runs), o.runs > 0 }))
	prop("error_rate", a.errors, a.calls)
	for g, t := range a.graders {
		prop("pass@1["+g+"]", t[0], t[1])
	}

	for _, name := range extra {
		k, hat := repo.PassK(name)
		if k == 0 || (k == 1 && !hat) { // pass@1 is computed above
			continue
		}
		if !a.allRan(k) || n == 0 {
			// Unbiased estimators need at least k repetitions per case.
			m[name] = repo.Metric{N: n}
			continue
		}
		mean(name, a.perCase(func(o outcome, _ int) (float64, bool) {
			if hat {
				return stats.PassHatK(o.runs, o.passes, k), true
			}
			return stats.PassAtK(o.runs, o.passes, k), true
		}))
	}

	m["cost_usd_total"] = repo.Metric{Value: totalCost, N: n, Observed: a.costSeen}
	if a.costSeen {
		mean("cost_usd_per_case", a.perCase(func(_ outcome, s int) (float64, bool) { return a.caseCost(s), true }))
	} else {
		m["cost_usd_per_case"] = repo.Metric{N: n}
	}
	lat := a.latencies()
	slices.Sort(lat)
	obs := len(lat) > 0
	m["latency_ms_p50"] = repo.Metric{Value: round3(stats.Percentile(lat, 50)), N: len(lat), Observed: obs}
	m["latency_ms_p95"] = repo.Metric{Value: round3(stats.Percentile(lat, 95)), N: len(lat), Observed: obs}
	perCaseAvg := 0.0
	if n > 0 {
		perCaseAvg = latencySum / float64(n)
	}
	m["latency_ms_per_case_avg"] = repo.Metric{Value: round3(perCaseAvg), N: n, Observed: obs}
	tokObs := a.tokensIn+a.tokensOut > 0
	m["tokens_input_total"] = repo.Metric{Value: float64(a.tokensIn), N: a.calls, Observed: tokObs}
	m["tokens_output_total"] = repo.Metric{Value: float64(a.tokensOut), N: a.calls, Observed: tokObs}
	m["tokens_total"] = repo.Metric{Value: float64(a.tokensIn + a.tokensOut), N: a.calls, Observed: tokObs}
	return m
}

// allRan reports whether every case ran at least k repetitions.
func (a *Aggregator) allRan(k int) bool {
	all := true
	a.eachCase(func(s int, _ string) { all = all && a.outcome(s).runs >= k })
	return all
}

// perCase turns a case's value (ok: it has one) into the sequence of
// values over the cases, in case ID order, for meanMetric.
func (a *Aggregator) perCase(value func(o outcome, s int) (float64, bool)) func(yield func(float64)) {
	return func(yield func(float64)) {
		a.eachCase(func(s int, _ string) {
			if v, ok := value(a.outcome(s), s); ok {
				yield(v)
			}
		})
	}
}

// meanMetric is the mean of the values each yields, with its interval:
// the bootstrap over a list of them up to stats.BootstrapLimit values;
// past it, the normal approximation stats.MeanInterval takes, in the same
// arithmetic but over two passes instead of a list (a million cases would
// need 8 MB a metric).
func meanMetric(each func(yield func(float64)), confidence float64) repo.Metric {
	n, sum := 0, 0.0
	each(func(v float64) { n++; sum += v })
	if n <= stats.BootstrapLimit {
		vals := make([]float64, 0, n)
		each(func(v float64) { vals = append(vals, v) })
		met := repo.Metric{N: len(vals), Observed: len(vals) > 0, Value: stats.Mean(vals)}
		if len(vals) > 1 {
			lo, hi := stats.MeanInterval(vals, confidence, 1)
			met.Lo, met.Hi = &lo, &hi
		} else if len(vals) == 1 {
			met.Lo, met.Hi = &met.Value, &met.Value
		}
		return met
	}
	mean := sum / float64(n)
	var ss float64
	each(func(v float64) { ss += (v - mean) * (v - mean) })
	sd := math.Sqrt(ss / float64(n-1))
	half := stats.ZForConfidence(confidence) * sd / math.Sqrt(float64(n))
	lo, hi := mean-half, mean+half
	return repo.Metric{N: n, Observed: true, Value: mean, Lo: &lo, Hi: &hi}
}

// latencies is every result's latency, in no particular order.
func (a *Aggregator) latencies() []float64 {
	out := make([]float64, 0, a.calls)
	for i, l := range a.lat {
		if a.ran.get(i) {
			out = append(out, l)
		}
	}
	return append(out, a.oddLat...)
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// Verdicts returns one verdict per case, in case ID order (see
// EachVerdict).
func (a *Aggregator) Verdicts() []repo.CaseVerdict {
	out := make([]repo.CaseVerdict, 0, a.cases)
	_ = a.EachVerdict(func(v *repo.CaseVerdict) error {
		v.FailureModes = slices.Clone(v.FailureModes)
		out = append(out, *v)
		return nil
	})
	return out
}

// EachVerdict calls fn with each case's verdict, in case ID order: the
// repetition-0 label, the mean score and pass rate over repetitions, and
// the failure modes seen. Names are filled in by the caller, which
// streams the dataset. The verdict and its failure modes are reused
// between calls: fn must copy what it keeps.
func (a *Aggregator) EachVerdict(fn func(*repo.CaseVerdict) error) error {
	var err error
	var v repo.CaseVerdict
	a.eachCase(func(s int, id string) {
		if err != nil {
			return
		}
		v = repo.CaseVerdict{CaseID: id, Label: a.label(s, 0)}
		if a.reason != nil && a.reason[s] != 0 {
			v.Reason, err = a.reasons.get(a.reason[s])
			if err != nil {
				return
			}
		}
		o := a.outcome(s)
		v.Repetitions = o.runs
		if o.runs > 0 {
			v.Score = round3(o.scoreSum / float64(o.runs))
			v.PassRate = round3(float64(o.passes) / float64(o.runs))
		}
		if a.modeSet != nil {
			v.FailureModes = a.modes.sets[a.modeSet[s]]
		}
		err = fn(&v)
	})
	return err
}
