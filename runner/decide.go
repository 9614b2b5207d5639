package runner

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/paired"
	"github.com/selfevals/selfevals/repo/stats"
)

// Decide applies the decision matrix: guardrails first (a violated one
// rejects, or asks for a trade-off review, by policy), then the first
// iteration against the target, then the change against the best so far,
// paired on case IDs (a change that does not improve is rejected while the
// target is met, else handled by the regression policy; with significance
// "require" an improvement must also be significant to be kept).
func Decide(e *repo.Experiment, cur *repo.IterationSummary, best *repo.IterationSummary) repo.Decision {
	return DecideInSweep(e, cur, best, Sweep{})
}

// Sweep is what deciding an iteration knows of the sweep around it.
type Sweep struct {
	// Baseline is iteration 0: with significance "require" a candidate is
	// kept only when its gain over the baseline is proven. Nil: the best
	// so far is the base.
	Baseline *repo.IterationSummary
	// Comparisons is how many candidates the sweep may test against the
	// baseline. Each test gets an equal share of 1 − confidence
	// (Bonferroni: alpha spent in equal parts), so the chance that a sweep
	// keeps anything from noise stays below 1 − confidence however many
	// proposals it tries and wherever it stops. Iterations are decided as
	// they finish, so Holm's step-down, which needs every p-value first,
	// does not apply.
	Comparisons int
}

// DecideInSweep is Decide for an iteration of a sweep.
func DecideInSweep(e *repo.Experiment, cur, best *repo.IterationSummary, sw Sweep) repo.Decision {
	d := decide(e, cur, best, sw)
	// A guardrail nobody could observe (pass^3 with one repetition, a cost
	// no agent reported) cannot vouch for a candidate: it is not kept.
	var missing []string
	for _, c := range d.Guardrail {
		if c.Status == "missing" {
			missing = append(missing, c.Name)
		}
	}
	if d.Outcome == repo.KeepCandidate && len(missing) > 0 {
		d.Outcome = repo.Investigate
		d.Rationale += "; not kept: a candidate is kept only when every guardrail is observed (" + strings.Join(missing, ", ") + " was not)"
	}
	return d
}

func decide(e *repo.Experiment, cur *repo.IterationSummary, best *repo.IterationSummary, sw Sweep) repo.Decision {
	t := e.Target.Primary
	value, observed := cur.Metric(t.Name)
	var d repo.Decision
	var violated, missing []string
	for _, g := range e.Target.Guardrails {
		v, ok := cur.Metric(g.Name)
		c := repo.Check{Name: g.Name, Target: g.Operator + " " + repo.FormatNumber(g.Value)}
		switch {
		case !ok:
			c.Status = "missing"
			missing = append(missing, g.Name)
		case !g.Met(v):
			c.Status = "violated"
			c.Value = &v
			violated = append(violated, fmt.Sprintf("%s=%s fails %s %s", g.Name, fmtNum(v), g.Operator, fmtNum(g.Value)))
		default:
			c.Status = "ok"
			c.Value = &v
		}
		d.Guardrail = append(d.Guardrail, c)
	}
	guardNote := "guardrails ok"
	if len(e.Target.Guardrails) == 0 {
		guardNote = "no guardrails"
	}
	if len(missing) > 0 {
		guardNote = "guardrails not observed: " + strings.Join(missing, ", ")
	}
	if len(violated) > 0 {
		out := repo.Reject
		if e.Decision.IfGuardrailFails == "require_tradeoff_review" {
			out = repo.RequireTradeoffReview
		}
		d.Outcome = out
		d.Violated = true
		d.Rationale = "guardrail violated: " + strings.Join(violated, "; ") + "; policy=" + e.Decision.IfGuardrailFails
		return d
	}
	if !observed {
		d.Outcome = repo.Investigate
		d.Rationale = fmt.Sprintf("primary metric %s was not observed; %s", t.Name, guardNote)
		return d
	}
	if best == nil {
		first := "first iteration"
		if cur.Index > 0 {
			first = "first iteration within guardrails"
		}
		if t.Met(value) {
			d.Outcome = repo.KeepCandidate
			d.Rationale = fmt.Sprintf("%s meets target: %s %s %s %s; %s", first, t.Name, fmtNum(value), t.Operator, fmtNum(t.Value), guardNote)
		} else {
			d.Outcome = repo.Investigate
			d.Rationale = fmt.Sprintf("%s misses target: %s %s, target %s %s; %s", first, t.Name, fmtNum(value), t.Operator, fmtNum(t.Value), guardNote)
		}
		return d
	}
	bi := best.Index
	d.Baseline = &bi
	bestValue, _ := best.Metric(t.Name)
	ev := paired.Compare(t.Name, bestValue, value, best.Pairs, cur.Pairs, e.Decision.Confidence)
	d.Evidence = ev
	gain := t.Improvement(value, best.Primary)
	evidence := fmtEvidence(t.Name, value, ev, e.Decision.Confidence)
	switch {
	case gain <= 0 && t.Met(value):
		d.Outcome = repo.Reject
		d.Rationale = fmt.Sprintf("no improvement over iteration %d: %s (still meets target); %s", bi, evidence, guardNote)
	case gain <= 0:
		d.Outcome = e.Decision.IfRegressionFails
		d.Rationale = fmt.Sprintf("no improvement and target %s %s missed: %s; policy=%s", t.Operator, fmtNum(t.Value), evidence, e.Decision.IfRegressionFails)
	case e.Decision.Significance == "require" && sw.Baseline != nil && sw.Baseline != cur:
		over := "improvement: " + evidence + "; "
		if sw.Baseline == best {
			over = "" // the same comparison, at the corrected level below
		}
		onEvidence(&d, e, cur, value, sw, over, guardNote)
	case e.Decision.Significance == "require" && ev != nil && ev.Test == "":
		d.Outcome = repo.Investigate
		d.Rationale = fmt.Sprintf("improvement not shown: %s; significance=require", noTest(t.Name, ev, evidence))
	case e.Decision.Significance == "require" && !ev.Significant(e.Decision.Confidence):
		d.Outcome = repo.Investigate
		d.Rationale = fmt.Sprintf("improvement not significant: %s; significance=require", evidence)
	default:
		d.Outcome = repo.KeepCandidate
		d.Rationale = fmt.Sprintf("improvement: %s; %s", evidence, guardNote)
	}
	return d
}

// onEvidence decides a candidate that improved on the best so far, under
// significance "require": it is kept only when its gain over the baseline
// is significant at its share of 1 − confidence; an unproven gain is
// investigated, saying how many cases would tell.
// overBest is the rationale's opening on the gain over the best so far
// ("" when the best is the baseline).
func onEvidence(d *repo.Decision, e *repo.Experiment, cur *repo.IterationSummary, value float64, sw Sweep, overBest, guardNote string) {
	t := e.Target.Primary
	base := sw.Baseline
	level := (1 - e.Decision.Confidence) / float64(max(sw.Comparisons, 1))
	bi := base.Index
	d.Baseline = &bi
	baseValue, ok := base.Metric(t.Name)
	if !ok {
		d.Outcome = repo.Investigate
		d.Rationale = fmt.Sprintf("%snot proven: the baseline (iteration %d) has no %s to test against", overBest, bi, t.Name)
		return
	}
	ev := paired.Compare(t.Name, baseValue, value, base.Pairs, cur.Pairs, 1-level)
	d.Evidence = ev
	against := fmt.Sprintf("against the baseline (iteration %d): %s", bi, fmtEvidence(t.Name, value, ev, 1-level))
	share := fmt.Sprintf("α=%s (%s split over %s)", fmtP(level), repo.FormatNumber(round(1-e.Decision.Confidence, 6)), plural(max(sw.Comparisons, 1), "candidate"))
	switch {
	case ev == nil || ev.Test == "":
		d.Outcome = repo.Investigate
		d.Rationale = fmt.Sprintf("%snot proven %s; significance=require", overBest, noTest(t.Name, ev, against))
	case t.Better(value, baseValue) && ev.Significant(1-level):
		d.Outcome = repo.KeepCandidate
		d.Rationale = fmt.Sprintf("%sproven %s, p below %s; %s", overBest, against, share, guardNote)
	default:
		d.Outcome = repo.Investigate
		d.Rationale = fmt.Sprintf("%snot proven %s, at %s%s; significance=require", overBest, against, share, casesToTell(t, base.Pairs, cur.Pairs, level))
	}
}

// casesToTell says how many shared cases would show a gain of the size
// observed at the given level with 80 % power, for the rationale of a gain
// that is not yet proven: Connor's McNemar sample size for pass rates, the
// normal approximation of a paired test on the per-case differences for
// scores; "" when the data cannot say.
func casesToTell(t repo.MetricTarget, a, b repo.CasePairs, level float64) string {
	pa, pb := paired.Common(a, b)
	if len(pa) < 2 {
		return ""
	}
	// Per-case gains in the target's direction.
	sign := 1.0
	if t.Improvement(1, 0) < 0 {
		sign = -1
	}
	d := make([]float64, 0, len(pa))
	discordant := 0
	for i := range pa {
		if pa[i].Pass != pb[i].Pass {
			discordant++
		}
		va, okA := paired.Value(t.Name, pa[i])
		vb, okB := paired.Value(t.Name, pb[i])
		if !okA || !okB {
			return ""
		}
		d = append(d, sign*(vb-va))
	}
	mean, sd := stats.MeanSD(d)
	if mean <= 0 || sd == 0 {
		return ""
	}
	var n float64
	if paired.TestFor(t.Name) == paired.McNemar {
		need := paired.CasesNeeded(mean, float64(discordant)/float64(len(pa)), 1-level, 0)
		if need == math.MaxInt {
			return ""
		}
		n = float64(need)
	} else {
		z := stats.ZForConfidence(1-level) + stats.ZForConfidence(0.6) // two-sided level, one-sided 80 % power
		n = math.Ceil(z * z * sd * sd / (mean * mean))
	}
	if n <= float64(len(pa)) {
		return ""
	}
	return fmt.Sprintf("; a gain this size needs about %s cases to show (80%% power), the sweep has %d", repo.FormatNumber(n), len(pa))
}

func fmtEvidence(name string, value float64, ev *repo.Evidence, confidence float64) string {
	if ev == nil {
		return fmt.Sprintf("%s %s", name, fmtNum(value))
	}
	if ev.Test == "" && ev.Note != "" {
		return fmt.Sprintf("%s %s (%s; %s)", name, fmtNum(value), fmtSigned(ev.Delta), ev.Note)
	}
	if ev.Test == "" {
		return fmt.Sprintf("%s %s (%s)", name, fmtNum(value), fmtSigned(ev.Delta))
	}
	return fmt.Sprintf("%s %s (%s, %.0f%% CI [%s, %s], p%s)", name, fmtNum(value), fmtSigned(ev.Delta), confidence*100, fmtSigned(ev.Lo), fmtSigned(ev.Hi), pClause(*ev.P))
}

func fmtNum(f float64) string { return repo.FormatNumber(round(f, 4)) }

func fmtSigned(f float64) string {
	s := fmtNum(f)
	if f >= 0 || s == "0" {
		return "+" + strings.TrimPrefix(s, "+")
	}
	return s
}

// pClause is "=0.03" or "<0.001", to follow a "p".
func pClause(p float64) string {
	if p < 0.001 {
		return "<0.001"
	}
	return "=" + fmtP(p)
}

func fmtP(p float64) string {
	if p < 0.001 {
		return "<0.001"
	}
	return fmt.Sprintf("%.3g", p)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// noTest says why a comparison has no p-value: too few cases (the note says
// how many would do), or no paired test for the metric at all.
func noTest(metric string, ev *repo.Evidence, evidence string) string {
	if ev != nil && ev.Note != "" {
		return evidence
	}
	return evidence + "; " + metric + " has no paired test"
}
