package paired

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/stats"
)

// Simulations of Compare as decisions use it, seeded so they are
// reproducible. Type-I error is the share of null data sets called
// significant at 95%; coverage the share of intervals holding the true
// change. Below MinPairsToTest (n = 2, 3, 5 at 95%) there is no test, so
// the type-I error is 0 there. Exact McNemar is conservative at small n
// (its attainable levels are few), so only the upper bound is asserted for
// it; the sign-flip test is exact for symmetric differences and its level
// at n = 10 is 25/512 ≈ 0.049, so it is held within [0.03, 0.06].

const simConfidence = 0.95

func cases(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("c%03d", i)
	}
	return ids
}

// passFail draws n pairs whose cells (both pass, A only, B only, neither)
// have probabilities p; with p nil each case has its own pass rate, the
// same for A and B (the null).
func passFail(r *rand.Rand, n int, p *[4]float64) (a, b repo.CasePairs, va, vb float64) {
	for _, id := range cases(n) {
		var pa, pb bool
		if p == nil {
			rate := r.Float64()
			pa, pb = r.Float64() < rate, r.Float64() < rate
		} else {
			u := r.Float64()
			switch {
			case u < p[0]:
				pa, pb = true, true
			case u < p[0]+p[1]:
				pa = true
			case u < p[0]+p[1]+p[2]:
				pb = true
			}
		}
		a.Add(id, repo.CasePair{Pass: pa})
		b.Add(id, repo.CasePair{Pass: pb})
		va, vb = va+b2f(pa)/float64(n), vb+b2f(pb)/float64(n)
	}
	return a, b, va, vb
}

// scores draws n pairs of scores whose differences are shift plus
// symmetric noise.
func scores(r *rand.Rand, n int, shift float64) (a, b repo.CasePairs, va, vb float64) {
	for _, id := range cases(n) {
		base := r.Float64()
		sa, sb := base+0.2*r.NormFloat64(), base+shift+0.2*r.NormFloat64()
		a.Add(id, repo.CasePair{Score: sa})
		b.Add(id, repo.CasePair{Score: sb})
		va, vb = va+sa/float64(n), vb+sb/float64(n)
	}
	return a, b, va, vb
}

const reps = 2000

// scoreReps is fewer past stats.ExactSignFlipLimit, where each sign-flip
// test costs 10,000 Monte Carlo draws.
func scoreReps(n int) int {
	if n > stats.ExactSignFlipLimit {
		return 400
	}
	return reps
}

func TestTypeIError(t *testing.T) {
	for _, n := range []int{2, 3, 5, 10, 30} {
		r := rand.New(rand.NewPCG(uint64(n), 11))
		rejMc, rejSf := 0, 0
		for range reps {
			a, b, va, vb := passFail(r, n, nil)
			if Compare("pass@1", va, vb, a, b, simConfidence).Significant(simConfidence) {
				rejMc++
			}
		}
		for range scoreReps(n) {
			a, b, va, vb := scores(r, n, 0)
			if Compare("mean_score", va, vb, a, b, simConfidence).Significant(simConfidence) {
				rejSf++
			}
		}
		mc, sf := float64(rejMc)/reps, float64(rejSf)/float64(scoreReps(n))
		t.Logf("n=%d: type-I error exact McNemar %.4f, sign-flip %.4f", n, mc, sf)
		if mc > 0.06 || sf > 0.06 {
			t.Errorf("n=%d: type-I error McNemar %.4f, sign-flip %.4f, want ≤ 0.06", n, mc, sf)
		}
		if n >= 10 && (sf < 0.03) {
			t.Errorf("n=%d: sign-flip type-I error %.4f, want ≥ 0.03", n, sf)
		}
		if n < stats.MinPairsToTest(simConfidence) && (rejMc > 0 || rejSf > 0) {
			t.Errorf("n=%d: rejected without a test", n)
		}
	}
}

func TestCoverage(t *testing.T) {
	tables := []*[4]float64{{0.5, 0.1, 0.2, 0.2}, {0.3, 0.05, 0.35, 0.3}, {0.6, 0, 0.2, 0.2}, {0.4, 0.2, 0.2, 0.2}}
	for _, n := range []int{10, 30} {
		r := rand.New(rand.NewPCG(uint64(n), 12))
		for _, p := range tables {
			truth, hit := p[2]-p[1], 0
			for range reps {
				a, b, va, vb := passFail(r, n, p)
				if ev := Compare("pass@1", va, vb, a, b, simConfidence); ev.Lo <= truth+1e-12 && truth <= ev.Hi+1e-12 {
					hit++
				}
			}
			cov := float64(hit) / reps
			t.Logf("n=%d: Newcombe coverage %.4f at true change %+.2f (cells %v)", n, cov, truth, *p)
			if cov < 0.93 {
				t.Errorf("n=%d cells %v: coverage %.4f, want ≥ 0.93", n, *p, cov)
			}
		}
		for _, shift := range []float64{0, 0.05, 0.2, 0.5} {
			hit := 0
			for range scoreReps(n) {
				a, b, va, vb := scores(r, n, shift)
				if ev := Compare("mean_score", va, vb, a, b, simConfidence); ev.Lo <= shift && shift <= ev.Hi {
					hit++
				}
			}
			cov := float64(hit) / float64(scoreReps(n))
			t.Logf("n=%d: sign-flip coverage %.4f at true shift %+.2f", n, cov, shift)
			if cov < 0.93 {
				t.Errorf("n=%d shift %v: coverage %.4f, want ≥ 0.93", n, shift, cov)
			}
		}
	}
}
