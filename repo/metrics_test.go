package repo

import (
	"strings"
	"testing"
)

// "==" compares floating-point metrics as numbers, not bit patterns.
func TestEqualTargetToleratesRounding(t *testing.T) {
	eq := MetricTarget{Name: "mean_score", Operator: "==", Value: 0.3}
	if !eq.Met(0.1 + 0.2) {
		t.Error("0.1+0.2 does not meet == 0.3")
	}
	if eq.Met(0.3001) {
		t.Error("0.3001 meets == 0.3")
	}
	big := MetricTarget{Name: "tokens_total", Operator: "==", Value: 1e6}
	if !big.Met(1e6+1e-4) || big.Met(1e6+1) {
		t.Error("the tolerance does not scale with the value")
	}
}

// Each metric's own direction, as decide, compare, diff and the web use it.
func TestMetricDirections(t *testing.T) {
	for name, higher := range map[string]bool{
		"pass@1": true, "pass@3": true, "pass^2": true, "pass@1[rules]": true, "mean_score": true,
		"consistency_rate": true, "stability_score": true, "recovery_rate": true,
		"fail_rate": false, "error_rate": false, "latency_ms_p95": false, "cost_usd_total": false, "tokens_total": false,
	} {
		if HigherIsBetter(name) != higher {
			t.Errorf("HigherIsBetter(%s) = %v", name, !higher)
		}
		if own := OwnDirection(name); own.Better(1, 0) != higher {
			t.Errorf("OwnDirection(%s) prefers the wrong way", name)
		}
	}
}

// validate warns of a pass@k or pass^k target the spec's repetitions cannot
// measure (run --reps may still raise them).
func TestPassAtKAboveTheRepetitionsWarns(t *testing.T) {
	spec := strings.Replace(goodSpec, `primary: {name: pass@1, operator: ">=", value: 0.5}`,
		`primary: {name: pass@1, operator: ">=", value: 0.5}
    guardrails: [{name: "pass^3", operator: ">=", value: 0.5}]`, 1)
	root, path := specDir(t, spec, `{"input":{"text":"a"}}`+"\n")
	ls, err := LoadExperiment(path, LoadOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(ls.RepetitionWarnings(), "\n"); !strings.Contains(w, "pass^3 needs at least 3 repetitions per case; run.repetitions_per_case is 1") {
		t.Errorf("warnings: %q", w)
	}
}

// For a case with neither a name nor an id of its own, the definition hash
// follows from the case ID, so writing results needs no pass over the
// dataset; with a name or an id it does not.
func TestDefinitionOfIDMatchesCaseDefinition(t *testing.T) {
	root, path := specDir(t, goodSpec, `{"input":{"text":"a"},"expected":{"must_include":["x"]}}`+"\n"+`{"input":{"text":"b"}}`+"\n")
	ls, err := LoadExperiment(path, LoadOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if !ls.Dataset.DefinitionsAreIDs() {
		t.Fatal("unnamed cases without ids: definitions should follow from IDs")
	}
	n := 0
	if err := ls.Dataset.Each(func(c *Case) error {
		n++
		if got, want := DefinitionOfID(c.ID), CaseDefinition(c); got != want {
			t.Errorf("case %s: DefinitionOfID %s, CaseDefinition %s", c.ID, got, want)
		}
		return nil
	}); err != nil || n != 2 {
		t.Fatalf("%d cases, %v", n, err)
	}
	for _, line := range []string{`{"name":"n","input":{"text":"a"}}`, `{"id":"mine","input":{"text":"a"}}`} {
		root, path := specDir(t, goodSpec, line+"\n")
		ls, err := LoadExperiment(path, LoadOptions{Root: root})
		if err != nil {
			t.Fatal(err)
		}
		if ls.Dataset.DefinitionsAreIDs() {
			t.Errorf("%s: a named case or one with its own id needs its definition hashed", line)
		}
	}
}

// Numbers people read are never in scientific notation: a latency of ten
// seconds reads in whole milliseconds, a tiny cost in decimals.
func TestFormatNumberHasNoExponent(t *testing.T) {
	for _, c := range []struct {
		f    float64
		want string
	}{
		{10500.5, "10501"}, {10500, "10500"}, {123456.78, "123457"}, {-25000.4, "-25000"},
		{1234.5678, "1235"}, {0.5, "0.5"}, {0.123456, "0.1235"}, {0.00001234, "0.00001234"}, {3, "3"},
	} {
		if got := FormatNumber(c.f); got != c.want {
			t.Errorf("FormatNumber(%v) = %q, want %q", c.f, got, c.want)
		}
	}
}
