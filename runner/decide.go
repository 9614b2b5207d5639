package runner

import (
	"fmt"
	"math"
	"strings"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/runner/stats"
)

// Decision outcomes.
const (
	KeepCandidate         = "keep_candidate"
	Reject                = "reject"
	Investigate           = "investigate"
	RequireTradeoffReview = "require_tradeoff_review"
	SpawnSubexperiment    = "spawn_subexperiment"
)

// Decision is the verdict on one iteration, with its evidence.
type Decision struct {
	Outcome   string    `json:"outcome"`
	Rationale string    `json:"rationale"`
	Evidence  *Evidence `json:"evidence,omitempty"`
	Guardrail []Check   `json:"guardrails,omitempty"`
	Baseline  *int      `json:"baseline_iteration,omitempty"`
	// Violated is set when a guardrail failed: such an iteration never
	// becomes the best to beat.
	Violated bool `json:"guardrails_violated,omitempty"`
}

// Check is one guardrail's verdict: ok, violated or missing.
type Check struct {
	Name   string   `json:"name"`
	Target string   `json:"target"`
	Value  *float64 `json:"value,omitempty"`
	Status string   `json:"status"`
}

// Evidence is a paired comparison of the primary metric against the best
// iteration so far, on the cases both ran.
type Evidence struct {
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
	Delta  float64 `json:"delta"`
	Lo     float64 `json:"ci_low"`
	Hi     float64 `json:"ci_high"`
	P      float64 `json:"p_value"`
	Test   string  `json:"test"`
	Pairs  int     `json:"pairs"`
}

// Better reports whether a is better than b for the primary target.
func Better(t repo.MetricTarget, a, b float64) bool { return improvement(t, a, b) > 0 }

// improvement is how much better a is than b in the target's direction:
// higher for > and >=, lower for < and <=, closer to the value for ==.
func improvement(t repo.MetricTarget, a, b float64) float64 {
	switch t.Operator {
	case "<", "<=":
		return b - a
	case "==":
		return math.Abs(b-t.Value) - math.Abs(a-t.Value)
	}
	return a - b
}

// Decide applies the decision matrix (reference §7 with SPEC §7's
// changes): guardrails first, then the first iteration against the target,
// then the change against the best so far, paired on case IDs.
func Decide(e *repo.Experiment, cur *IterationSummary, best *IterationSummary) Decision {
	t := e.Target.Primary
	value, observed := cur.Metric(t.Name)
	var d Decision
	var violated, missing []string
	for _, g := range e.Target.Guardrails {
		v, ok := cur.Metric(g.Name)
		c := Check{Name: g.Name, Target: g.Operator + " " + repo.FormatNumber(g.Value)}
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
		out := Reject
		if e.Decision.IfGuardrailFails == "require_tradeoff_review" {
			out = RequireTradeoffReview
		}
		d.Outcome = out
		d.Violated = true
		d.Rationale = "guardrail violated: " + strings.Join(violated, "; ") + "; policy=" + e.Decision.IfGuardrailFails
		return d
	}
	if !observed {
		d.Outcome = Investigate
		d.Rationale = fmt.Sprintf("primary metric %s was not observed; %s", t.Name, guardNote)
		return d
	}
	if best == nil {
		first := "first iteration"
		if cur.Index > 0 {
			first = "first iteration within guardrails"
		}
		if t.Met(value) {
			d.Outcome = KeepCandidate
			d.Rationale = fmt.Sprintf("%s meets target: %s %s %s %s; %s", first, t.Name, fmtNum(value), t.Operator, fmtNum(t.Value), guardNote)
		} else {
			d.Outcome = Investigate
			d.Rationale = fmt.Sprintf("%s below target: %s %s, target %s %s; %s", first, t.Name, fmtNum(value), t.Operator, fmtNum(t.Value), guardNote)
		}
		return d
	}
	bi := best.Index
	d.Baseline = &bi
	ev := Compare(t, best, cur, e.Decision.Confidence)
	d.Evidence = ev
	gain := improvement(t, value, best.Primary)
	evidence := fmtEvidence(t.Name, value, ev, e.Decision.Confidence)
	switch {
	case gain <= 0 && t.Met(value):
		d.Outcome = Reject
		d.Rationale = fmt.Sprintf("no improvement over iteration %d: %s (still meets target); %s", bi, evidence, guardNote)
	case gain <= 0:
		d.Outcome = e.Decision.IfRegressionFails
		d.Rationale = fmt.Sprintf("no improvement and below target %s %s: %s; policy=%s", t.Operator, fmtNum(t.Value), evidence, e.Decision.IfRegressionFails)
	case e.Decision.Significance == "require" && ev != nil && ev.P >= 1-e.Decision.Confidence:
		d.Outcome = Investigate
		d.Rationale = fmt.Sprintf("improvement not significant: %s; significance=require", evidence)
	default:
		d.Outcome = KeepCandidate
		d.Rationale = fmt.Sprintf("improvement: %s; %s", evidence, guardNote)
	}
	return d
}

// Compare pairs two iterations on the cases both ran: exact McNemar and a
// paired bootstrap interval for pass rates (pass@1, fail_rate,
// pass@1[grader]), a paired bootstrap for score-like metrics. Other metrics
// (latency, cost, tokens) get no test: nil.
func Compare(t repo.MetricTarget, a, b *IterationSummary, confidence float64) *Evidence {
	pa, pb := commonCases(a.pairs, b.pairs)
	if len(pa) == 0 {
		return nil
	}
	va, _ := a.Metric(t.Name)
	vb, _ := b.Metric(t.Name)
	ev := &Evidence{Metric: t.Name, Value: vb, Delta: vb - va, Pairs: len(pa)}
	xa := make([]float64, len(pa))
	xb := make([]float64, len(pa))
	switch {
	case t.Name == "pass@1" || t.Name == "fail_rate":
		passFail := 0
		failPass := 0
		for i := range pa {
			passA, passB := pa[i].Pass, pb[i].Pass
			xa[i], xb[i] = b2f(passA), b2f(passB)
			if t.Name == "fail_rate" {
				xa[i], xb[i] = 1-xa[i], 1-xb[i]
			}
			if passA && !passB {
				passFail++
			}
			if !passA && passB {
				failPass++
			}
		}
		_, ev.Lo, ev.Hi, _ = stats.PairedMeanDiff(xa, xb, confidence, 1)
		ev.P = stats.McNemarExact(passFail, failPass)
		ev.Test = "exact McNemar"
	case t.Name == "mean_score" || t.Name == "consistency_rate" || t.Name == "stability_score":
		for i := range pa {
			xa[i], xb[i] = pa[i].Score, pb[i].Score
		}
		_, ev.Lo, ev.Hi, ev.P = stats.PairedMeanDiff(xa, xb, confidence, 1)
		ev.Test = "paired bootstrap"
	default:
		return &Evidence{Metric: t.Name, Value: vb, Delta: vb - va, Pairs: len(pa), P: math.NaN()}
	}
	return ev
}

// commonCases keeps, from two lists of pairs in case ID order, the cases
// both have: the i-th of each is the same case.
func commonCases(a, b []CasePair) (inA, inB []CasePair) {
	inA, inB = make([]CasePair, 0, min(len(a), len(b))), make([]CasePair, 0, min(len(a), len(b)))
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch c := strings.Compare(a[i].CaseID, b[j].CaseID); {
		case c < 0:
			i++
		case c > 0:
			j++
		default:
			inA, inB = append(inA, a[i]), append(inB, b[j])
			i++
			j++
		}
	}
	return inA, inB
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func fmtEvidence(name string, value float64, ev *Evidence, confidence float64) string {
	if ev == nil {
		return fmt.Sprintf("%s %s", name, fmtNum(value))
	}
	if ev.Test == "" {
		return fmt.Sprintf("%s %s (%s)", name, fmtNum(value), fmtSigned(ev.Delta))
	}
	return fmt.Sprintf("%s %s (%s, %.0f%% CI [%s, %s], p%s)", name, fmtNum(value), fmtSigned(ev.Delta), confidence*100, fmtSigned(ev.Lo), fmtSigned(ev.Hi), pClause(ev.P))
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
