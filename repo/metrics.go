package repo

import (
	"math"
	"strconv"
	"strings"

	"github.com/selfevals/selfevals/internal/lazy"
)

// fixedMetrics are the metric names selfevals computes for every
// iteration. pass@N, pass^N and pass@1[<grader>] are patterns.
var fixedMetrics = []string{
	"pass@1", "consistency_rate", "stability_score", "recovery_rate", "mean_score",
	"error_rate", "fail_rate", "cost_usd_total", "cost_usd_per_case",
	"latency_ms_p50", "latency_ms_p95", "latency_ms_per_case_avg",
	"tokens_input_total", "tokens_output_total", "tokens_total",
}

var (
	passAtK     = lazy.Regexp(`^pass@([1-9][0-9]*)$`)
	passHatK    = lazy.Regexp(`^pass\^([1-9][0-9]*)$`)
	passAtGrade = lazy.Regexp(`^pass@1\[([A-Za-z0-9_.-]+)\]$`)
	reliability = lazy.Regexp(`^(pass@\d+|pass\^\d+|consistency_rate|stability_score|recovery_rate)$`)
)

// KnownMetric reports whether selfevals computes a metric of this name.
// graders lists the declared grader names for pass@1[<grader>].
func KnownMetric(name string, graders []string) bool {
	for _, m := range fixedMetrics {
		if m == name {
			return true
		}
	}
	if passAtK().MatchString(name) || passHatK().MatchString(name) {
		return true
	}
	if m := passAtGrade().FindStringSubmatch(name); m != nil {
		for _, g := range graders {
			if g == m[1] {
				return true
			}
		}
	}
	return false
}

// PassK is k of a pass@k or pass^k metric (hat for pass^k), or 0 for any
// other name. pass@1 is k = 1: the first repetition's pass rate.
func PassK(name string) (k int, hat bool) {
	m := passAtK().FindStringSubmatch(name)
	if m == nil {
		m, hat = passHatK().FindStringSubmatch(name), true
	}
	if m == nil {
		return 0, false
	}
	k, _ = strconv.Atoi(m[1])
	return k, hat
}

// UnmeasurableTargets are the primary target and guardrails that are
// pass@k or pass^k with k above the repetitions per case: with fewer than
// k repetitions pass^k is 0 and pass@k is pass@reps, whatever the agent
// does.
func (e *Experiment) UnmeasurableTargets() []MetricTarget {
	var out []MetricTarget
	for _, t := range append([]MetricTarget{e.Target.Primary}, e.Target.Guardrails...) {
		if k, _ := PassK(t.Name); k > e.Run.RepetitionsPerCase {
			out = append(out, t)
		}
	}
	return out
}

// MetricNames lists the metric names for messages.
func MetricNames() string {
	return strings.Join(fixedMetrics, ", ") + ", pass@<k>, pass^<k>, pass@1[<grader>]"
}

// MetricSuggestion proposes a known metric close to name.
func MetricSuggestion(name string) string {
	return Suggest(name, append(append([]string{}, fixedMetrics...), "pass@3", "pass^3"))
}

// Which way is better. The primary target orders values by its operator;
// every other metric by its own direction. Run decisions, compare, diff and
// the web UI all ask here.

// HigherIsBetter is a metric's own direction: pass rates and scores up;
// everything else (errors, failures, latency, cost, tokens) down.
func HigherIsBetter(name string) bool {
	switch {
	case strings.HasPrefix(name, "pass"), name == "mean_score", name == "consistency_rate", name == "recovery_rate", name == "stability_score":
		return true
	}
	return false
}

// Improvement is how much better a is than b in the target's direction:
// higher for > and >=, lower for < and <=, closer to the value for ==.
func (m MetricTarget) Improvement(a, b float64) float64 {
	switch m.Operator {
	case "<", "<=":
		return b - a
	case "==":
		return math.Abs(b-m.Value) - math.Abs(a-m.Value)
	}
	return a - b
}

// Better reports whether a is better than b for the target.
func (m MetricTarget) Better(a, b float64) bool { return m.Improvement(a, b) > 0 }

// OwnDirection is a target that orders a metric's values by the metric's
// own direction, for a metric that is not the primary target.
func OwnDirection(name string) MetricTarget {
	if HigherIsBetter(name) {
		return MetricTarget{Name: name, Operator: ">="}
	}
	return MetricTarget{Name: name, Operator: "<="}
}
