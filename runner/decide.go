package runner

import (
	"fmt"
	"strings"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/paired"
)

// Decide applies the decision matrix: guardrails first (a violated one
// rejects, or asks for a trade-off review, by policy), then the first
// iteration against the target, then the change against the best so far,
// paired on case IDs (a change that does not improve is rejected while the
// target is met, else handled by the regression policy; with significance
// "require" an improvement must also be significant to be kept).
func Decide(e *repo.Experiment, cur *repo.IterationSummary, best *repo.IterationSummary) repo.Decision {
	d := decide(e, cur, best)
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

func decide(e *repo.Experiment, cur *repo.IterationSummary, best *repo.IterationSummary) repo.Decision {
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
	case e.Decision.Significance == "require" && ev != nil && ev.Test == "":
		d.Outcome = repo.Investigate
		d.Rationale = fmt.Sprintf("improvement not shown: %s; %s has no paired test, and significance=require", evidence, t.Name)
	case e.Decision.Significance == "require" && !ev.Significant(e.Decision.Confidence):
		d.Outcome = repo.Investigate
		d.Rationale = fmt.Sprintf("improvement not significant: %s; significance=require", evidence)
	default:
		d.Outcome = repo.KeepCandidate
		d.Rationale = fmt.Sprintf("improvement: %s; %s", evidence, guardNote)
	}
	return d
}

func fmtEvidence(name string, value float64, ev *repo.Evidence, confidence float64) string {
	if ev == nil {
		return fmt.Sprintf("%s %s", name, fmtNum(value))
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
