package paired

import (
	"slices"
	"testing"

	"github.com/selfevals/selfevals/repo"
)

func TestCompareEvidence(t *testing.T) {
	mk := func(pass ...bool) ([]repo.CasePair, float64) {
		var s []repo.CasePair
		n := 0
		for i, p := range pass {
			s = append(s, repo.CasePair{CaseID: string(rune('a' + i)), Pass: p, Score: b2f(p)})
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
	a := []repo.CasePair{{CaseID: "a"}, {CaseID: "c", Pass: true}, {CaseID: "d", Score: 0.5}}
	b := []repo.CasePair{{CaseID: "b"}, {CaseID: "c"}, {CaseID: "d", Pass: true}, {CaseID: "e"}}
	inA, inB := Common(a, b)
	wantA := []repo.CasePair{{CaseID: "c", Pass: true}, {CaseID: "d", Score: 0.5}}
	wantB := []repo.CasePair{{CaseID: "c"}, {CaseID: "d", Pass: true}}
	if !slices.Equal(inA, wantA) || !slices.Equal(inB, wantB) {
		t.Errorf("got %v %v, want %v %v", inA, inB, wantA, wantB)
	}
}
