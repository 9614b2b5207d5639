package runner

import (
	"strings"
	"testing"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/runner/adapters"
)

// Nothing failed on the first try, so nothing could be recovered: the
// recovery rate is not observed (not 0, which a ">=" guardrail would block).
func TestRecoveryRateUndefinedWithoutFailures(t *testing.T) {
	a := NewAggregator(2)
	for rep := range 2 {
		a.Add(&repo.Result{Trace: repo.Trace{CaseID: "c", Repetition: rep}, Label: repo.Pass, Score: 1})
	}
	if m := a.Metrics(0.95, nil)["recovery_rate"]; m.Observed {
		t.Errorf("recovery_rate observed as %v with no failure to recover from", m.Value)
	}
}

// A pass@k or pass^k target needs k repetitions: the run refuses to start
// rather than measure a number the agent cannot move.
func TestOpenRefusesPassAtKAboveTheRepetitions(t *testing.T) {
	spec := strings.Replace(lowerIsBetter, `primary: {name: cost_usd_per_case, operator: "<=", value: 0.5}`,
		`primary: {name: "pass^3", operator: ">=", value: 0.5}`, 1)
	ls := loadSpec(t, spec, "{\"input\":{\"text\":\"a\"}}\n")
	agent, _ := adapters.NewBuiltin("echo")
	_, err := Open(ls, OpenOptions{EvalsDir: t.TempDir(), Adapter: agent, Fingerprint: "agt_test", NoCache: true, NoCommit: "test"})
	if !repo.IsUserError(err) || !strings.Contains(err.Error(), "pass^3 needs at least 3 repetitions per case; the run has 1") {
		t.Fatalf("error %v", err)
	}
	ls.Spec.Experiment.Run.RepetitionsPerCase = 3 // as --reps 3 sets it
	s, err := Open(ls, OpenOptions{EvalsDir: t.TempDir(), Adapter: agent, Fingerprint: "agt_test", NoCache: true, NoCommit: "test"})
	if err != nil {
		t.Fatalf("with 3 repetitions: %v", err)
	}
	s.Close()
}
