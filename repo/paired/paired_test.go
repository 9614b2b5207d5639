package paired

import (
	"slices"
	"testing"

	"github.com/selfevals/selfevals/repo"
)

func TestCompareEvidence(t *testing.T) {
	mk := func(pass ...bool) (repo.CasePairs, float64) {
		var s repo.CasePairs
		n := 0
		for i, p := range pass {
			s.Add(string(rune('a'+i)), repo.CasePair{Pass: p, Score: b2f(p)})
			if p {
				n++
			}
		}
		return s, float64(n) / float64(len(pass))
	}
	// Two discordant pairs, both favouring B: exact McNemar p = 0.5.
	// (Until the too-few rule this fixture had 4 cases and asserted P = 0.5
	// and Delta = 0.5; 4 cases are now below MinPairsToTest, checked below.)
	a, va := mk(false, false, true, true, true, false)
	b, vb := mk(true, true, true, true, true, false)
	ev := Compare("pass@1", va, vb, a, b, 0.95)
	if ev.P == nil || *ev.P != 0.5 || ev.Delta != vb-va || ev.Test != "exact McNemar" || ev.Pairs != 6 || ev.Note != "" {
		t.Errorf("evidence %+v", ev)
	}
	if ev.Lo > 0 || ev.Hi < ev.Delta {
		t.Errorf("interval [%v, %v] should hold 0 and %v at p = 0.5", ev.Lo, ev.Hi, ev.Delta)
	}
	a, va = mk(false, false, true, true)
	b, vb = mk(true, true, true, true)
	ev = Compare("pass@1", va, vb, a, b, 0.95)
	if ev.P != nil || ev.Delta != 0.5 || ev.Lo != 0.5 || ev.Hi != 0.5 || ev.Test != "" || ev.Pairs != 4 ||
		ev.Note != "too few cases to test (n=4, at least 6 needed)" || ev.Significant(0.95) {
		t.Errorf("too few cases: evidence %+v", ev)
	}
}

// Iterations are paired on the cases both ran, matched by ID.
func TestCommonCases(t *testing.T) {
	a := repo.CasePairs{IDs: []string{"a", "c", "d"}, List: []repo.CasePair{{}, {Pass: true}, {Score: 0.5}}}
	b := repo.CasePairs{IDs: []string{"b", "c", "d", "e"}, List: []repo.CasePair{{}, {}, {Pass: true}, {}}}
	inA, inB := Common(a, b)
	wantA := []repo.CasePair{{Pass: true}, {Score: 0.5}}
	wantB := []repo.CasePair{{}, {Pass: true}}
	if !slices.Equal(inA, wantA) || !slices.Equal(inB, wantB) {
		t.Errorf("got %v %v, want %v %v", inA, inB, wantA, wantB)
	}
}

// Each metric is tested on its own per-case values: consistency on passes
// over repetitions, not on the mean score, so its interval holds its own Δ.
func TestEachMetricOnItsOwnValues(t *testing.T) {
	var a, b repo.CasePairs
	for i := range 12 {
		id := string(rune('a' + i))
		// Scores barely move; consistency moves from 1 of 3 to 3 of 3 on
		// the first eight cases.
		a.Add(id, repo.CasePair{Score: 0.5, Runs: 3, Passes: 1, Errors: 0, Timed: true, LatencyMS: 100})
		pb := repo.CasePair{Score: 0.52, Runs: 3, Passes: 1, Errors: 0, Timed: true, LatencyMS: 90}
		if i < 8 {
			pb.Passes = 3
		}
		b.Add(id, pb)
	}
	for _, metric := range []string{"consistency_rate", "stability_score", "pass@2", "pass^2", "latency_ms_per_case_avg"} {
		va, vb := SharedMean(metric, a.List), SharedMean(metric, b.List)
		ev := Compare(metric, va, vb, a, b, 0.95)
		if ev == nil || ev.Test != SignFlip || ev.P == nil {
			t.Fatalf("%s: %+v", metric, ev)
		}
		if ev.Lo > ev.Delta || ev.Delta > ev.Hi {
			t.Errorf("%s: Δ %v outside its own interval [%v, %v]", metric, ev.Delta, ev.Lo, ev.Hi)
		}
		if *ev.P >= 0.05 {
			t.Errorf("%s: p=%v for a change on 8 of 12 cases, all one way", metric, *ev.P)
		}
	}
	// Committed verdicts keep no latency: no test, and a note says why.
	va := repo.CasePairs{IDs: append([]string{"a"}, a.IDs[1:]...), List: append([]repo.CasePair{{Runs: 1}}, a.List[1:]...)}
	if ev := Compare("latency_ms_per_case_avg", 1, 2, va, b, 0.95); ev.Test != "" || ev.P != nil || ev.Note == "" {
		t.Errorf("latency without per-case values: %+v", ev)
	}
	if ev := Compare("latency_ms_p95", 1, 2, a, b, 0.95); ev.Test != "" || ev.P != nil {
		t.Errorf("a quantile got a test: %+v", ev)
	}
}
