package stats

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// Reference values below come from scipy 1.10 / statsmodels 0.13; rerun with:
//
//	import numpy as np
//	from scipy.stats import binomtest, permutation_test
//	from statsmodels.stats.proportion import proportion_confint
//	def mcnemar(b, c): return binomtest(min(b, c), b + c, 0.5).pvalue
//	def newcombe(both, onlyA, onlyB, neither, conf=0.95):  # Newcombe 1998, method 10
//	    n = both + onlyA + onlyB + neither
//	    pA, pB = (both + onlyA) / n, (both + onlyB) / n
//	    lA, uA = proportion_confint(both + onlyA, n, 1 - conf, method="wilson")
//	    lB, uB = proportion_confint(both + onlyB, n, 1 - conf, method="wilson")
//	    m = (both + onlyA) * (onlyB + neither) * (both + onlyB) * (onlyA + neither)
//	    phi = 0.0
//	    if m > 0:
//	        x = both * neither - onlyA * onlyB
//	        x = x - n / 2 if x > n / 2 else (0 if x > 0 else x)
//	        phi = x / np.sqrt(m)
//	    d = pB - pA
//	    lo = d - np.sqrt((pB - lB)**2 - 2*phi*(pB - lB)*(uA - pA) + (uA - pA)**2)
//	    hi = d + np.sqrt((pA - lA)**2 - 2*phi*(pA - lA)*(uB - pB) + (uB - pB)**2)
//	    return d, max(lo, -1), min(hi, 1)
//	def signflip_p(d):
//	    d = np.asarray(d, float)
//	    return permutation_test((d, np.zeros_like(d)), lambda x, y, axis: np.mean(x - y, axis=axis),
//	        permutation_type="samples", vectorized=True, n_resamples=np.inf).pvalue
//	def signflip_ci(d, conf=0.95):  # invert the test: bisect on the shift
//	    d = np.asarray(d, float); a = 1 - conf; m = d.mean()
//	    ok = lambda delta: signflip_p(d - delta) >= a
//	    lo, hi = d.min() - 1, m
//	    for _ in range(60):
//	        mid = (lo + hi) / 2; lo, hi = (lo, mid) if ok(mid) else (mid, hi)
//	    L = hi; lo, hi = m, d.max() + 1
//	    for _ in range(60):
//	        mid = (lo + hi) / 2; lo, hi = (mid, hi) if ok(mid) else (lo, mid)
//	    return m, L, lo

func TestMinPairsToTest(t *testing.T) {
	for _, tt := range []struct {
		conf float64
		want int
	}{{0.95, 6}, {0.99, 8}, {0.90, 5}, {0.999, 11}, {0.5, 3}, {0, 1}} {
		if got := MinPairsToTest(tt.conf); got != tt.want {
			t.Errorf("MinPairsToTest(%v) = %d, want %d", tt.conf, got, tt.want)
		}
	}
	if MinPairsToTest(1) != math.MaxInt {
		t.Error("confidence 1 should need infinitely many pairs")
	}
}

func TestMcNemarExactScipy(t *testing.T) {
	for _, tt := range []struct {
		b, c int
		want float64
	}{{0, 6, 0.03125}, {1, 9, 0.021484375}, {2, 8, 0.109375}, {0, 4, 0.125}, {3, 12, 0.03515625}, {5, 5, 1}} {
		if got := McNemarExact(tt.b, tt.c); !near(got, tt.want, 1e-12) {
			t.Errorf("McNemarExact(%d, %d) = %v, want %v", tt.b, tt.c, got, tt.want)
		}
	}
}

func TestNewcombePaired(t *testing.T) {
	for _, tt := range []struct {
		both, onlyA, onlyB, neither int
		diff, lo, hi                float64
	}{
		{2, 0, 4, 0, 0.6666666667, 0.1311200272, 0.9032285889},
		{10, 2, 7, 5, 0.2083333333, -0.0383995165, 0.4207013456},
		{30, 1, 9, 10, 0.16, 0.0364852841, 0.2790694506},
		{0, 0, 6, 0, 1.0, 0.4479839562, 1.0},
		{12, 3, 3, 2, 0.0, -0.2507670921, 0.2507670921},
		{40, 5, 2, 53, -0.03, -0.0840540638, 0.0245629163},
		{8, 5, 10, 7, 0.1666666667, -0.0818787394, 0.3884859218},
	} {
		d, lo, hi := NewcombePaired(tt.both, tt.onlyA, tt.onlyB, tt.neither, 0.95)
		if !near(d, tt.diff, 1e-9) || !near(lo, tt.lo, 1e-9) || !near(hi, tt.hi, 1e-9) {
			t.Errorf("NewcombePaired(%d, %d, %d, %d) = %.10f [%.10f, %.10f], want %.10f [%.10f, %.10f]",
				tt.both, tt.onlyA, tt.onlyB, tt.neither, d, lo, hi, tt.diff, tt.lo, tt.hi)
		}
	}
	if d, lo, hi := NewcombePaired(0, 0, 0, 0, 0.95); d != 0 || lo != -1 || hi != 1 {
		t.Errorf("empty table: %v [%v, %v]", d, lo, hi)
	}
}

// Every table up to 60 pairs: the interval excludes 0 exactly when the
// exact McNemar p is below 1 − confidence, and Newcombe's interval alone
// never includes 0 where McNemar rejects (so PairedProportions only ever
// widens it).
func TestPairedProportionsAgreeWithMcNemar(t *testing.T) {
	for _, conf := range []float64{0.9, 0.95, 0.99} {
		for n := 1; n <= 60; n++ {
			for both := 0; both <= n; both++ {
				for onlyA := 0; both+onlyA <= n; onlyA++ {
					for onlyB := 0; both+onlyA+onlyB <= n; onlyB++ {
						neither := n - both - onlyA - onlyB
						d, lo, hi, p := PairedProportions(both, onlyA, onlyB, neither, conf)
						excludes := lo > 0 || hi < 0
						if excludes != (p < 1-conf) || lo > d || hi < d || lo < -1 || hi > 1 {
							t.Fatalf("conf %v table %d %d %d %d: %v [%v, %v] p=%v", conf, both, onlyA, onlyB, neither, d, lo, hi, p)
						}
						if _, nlo, nhi := NewcombePaired(both, onlyA, onlyB, neither, conf); p < 1-conf && nlo <= 0 && nhi >= 0 {
							t.Fatalf("conf %v table %d %d %d %d: Newcombe [%v, %v] holds 0 but p=%v", conf, both, onlyA, onlyB, neither, nlo, nhi, p)
						}
					}
				}
			}
		}
	}
}

func TestPairedSignFlipScipy(t *testing.T) {
	for _, tt := range []struct {
		d            []float64
		p            float64
		diff, lo, hi float64
	}{
		{[]float64{0.3, 0.5, 0.1, 0.7, 0.2, 0.4}, 0.03125, 0.3666666667, 0.1, 0.7},
		{[]float64{0.3, -0.1, 0.5, 0.2, 0.0, 0.4, -0.2, 0.6}, 0.109375, 0.2125, -0.05, 0.4666666667},
		{[]float64{1, 1, 1, 1, 1, 1}, 0.03125, 1, 1, 1},
		{[]float64{0.5, -0.25, 0.75, 0.1, 0.3, -0.05, 0.2, 0.4, 0.05, 0.6}, 0.033203125, 0.26, 0.0333333333, 0.4875},
	} {
		a := make([]float64, len(tt.d))
		for i := range a {
			a[i] = 0.25 // any a works: only b − a matters
		}
		b := make([]float64, len(tt.d))
		for i := range b {
			b[i] = a[i] + tt.d[i]
		}
		diff, lo, hi, p := PairedSignFlip(a, b, 0.95, 1)
		if !near(p, tt.p, 1e-12) || !near(diff, tt.diff, 1e-9) || !near(lo, tt.lo, 1e-9) || !near(hi, tt.hi, 1e-9) {
			t.Errorf("PairedSignFlip(%v) = %.10f [%.10f, %.10f] p=%v, want %.10f [%.10f, %.10f] p=%v", tt.d, diff, lo, hi, p, tt.diff, tt.lo, tt.hi, tt.p)
		}
	}
}

// bruteSignFlipP enumerates all 2^n sign assignments.
func bruteSignFlipP(d []float64) float64 {
	var obs float64
	for _, x := range d {
		obs += x
	}
	count := 0
	for mask := range 1 << len(d) {
		var s float64
		for i, x := range d {
			if mask>>i&1 == 1 {
				s -= x
			} else {
				s += x
			}
		}
		if math.Abs(s) >= math.Abs(obs)-1e-9 {
			count++
		}
	}
	return float64(count) / float64(int(1)<<len(d))
}

func TestPairedSignFlipProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for trial := range 300 {
		n := 1 + r.IntN(12)
		a, b := make([]float64, n), make([]float64, n)
		d := make([]float64, n)
		for i := range a {
			// Scores on a coarse grid, so ties and zero differences happen.
			a[i], b[i] = float64(r.IntN(5))/4, float64(r.IntN(5))/4
			d[i] = b[i] - a[i]
		}
		diff, lo, hi, p := PairedSignFlip(a, b, 0.95, 1)
		if want := bruteSignFlipP(d); !near(p, want, 1e-12) {
			t.Fatalf("trial %d %v: p = %v, brute force %v", trial, d, p, want)
		}
		if lo > diff || hi < diff {
			t.Fatalf("trial %d: %v not in [%v, %v]", trial, diff, lo, hi)
		}
		if n >= MinPairsToTest(0.95) != !math.IsInf(lo, -1) {
			t.Fatalf("trial %d n=%d: interval [%v, %v]", trial, n, lo, hi)
		}
		if excludes := lo > 0 || hi < 0; excludes != (p < 0.05) {
			t.Fatalf("trial %d %v: [%v, %v] disagrees with p=%v", trial, d, lo, hi, p)
		}
		// The ends are where the test starts to reject: just outside, the
		// shifted data are rejected; at the end, they are not.
		if !math.IsInf(lo, 0) && lo < hi {
			shift := func(delta float64) []float64 {
				s := make([]float64, n)
				for i := range s {
					s[i] = d[i] - delta
				}
				return s
			}
			if bruteSignFlipP(shift(lo-1e-6)) >= 0.05 || bruteSignFlipP(shift(hi+1e-6)) >= 0.05 || bruteSignFlipP(shift((lo+hi)/2)) < 0.05 {
				t.Fatalf("trial %d %v: [%v, %v] is not the inverted test", trial, d, lo, hi)
			}
		}
	}
	if d, lo, hi, p := PairedSignFlip(nil, nil, 0.95, 1); d != 0 || lo != 0 || hi != 0 || p != 1 {
		t.Errorf("empty: %v [%v, %v] p=%v", d, lo, hi, p)
	}
}

// Past ExactSignFlipLimit the test samples assignments: seeded, never
// p = 0, and close to the normal approximation it tends to.
func TestPairedSignFlipMonteCarlo(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	a, b := make([]float64, 40), make([]float64, 40)
	for i := range a {
		a[i] = r.Float64()
		b[i] = a[i] + 0.1 + 0.3*r.NormFloat64()
	}
	diff, lo, hi, p := PairedSignFlip(a, b, 0.95, 3)
	d2, lo2, hi2, p2 := PairedSignFlip(a, b, 0.95, 3)
	if diff != d2 || lo != lo2 || hi != hi2 || p != p2 {
		t.Error("same seed, different answer")
	}
	_, zlo, zhi, zp := pairedZ(a, b, 0.95)
	if !near(lo, zlo, 0.03) || !near(hi, zhi, 0.03) || !near(p, zp, 0.02) {
		t.Errorf("Monte Carlo %v [%v, %v] p=%v, normal approximation [%v, %v] p=%v", diff, lo, hi, p, zlo, zhi, zp)
	}
	c := make([]float64, 40)
	for i := range c {
		c[i] = a[i] + 5
	}
	if _, _, _, p := PairedSignFlip(a, c, 0.95, 3); p != 1.0/float64(SignFlipDraws+1) {
		t.Errorf("constant shift: p = %v, want the floor 1/(draws+1)", p)
	}
}

func TestNthSmallest(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for trial := range 500 {
		n := 1 + r.IntN(60)
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = float64(r.IntN(8)) // many ties
		}
		sorted := slices.Clone(xs)
		slices.Sort(sorted)
		k := r.IntN(n)
		if got := nthSmallest(xs, k); got != sorted[k] {
			t.Fatalf("trial %d: nthSmallest(%v, %d) = %v, want %v", trial, sorted, k, got, sorted[k])
		}
	}
}

// Level of the raw tests, without Compare's too-few rule: seeded null data
// sets (symmetric score differences; pass/fail with the same per-case rate
// for A and B) rejected at 95%. Both tests are exact, so at n ≤ 5, where
// no outcome reaches p < 0.05, they never reject.
func TestPairedTestsLevel(t *testing.T) {
	for _, n := range []int{2, 3, 5, 10, 30} {
		r := rand.New(rand.NewPCG(uint64(n), 21))
		reps := 2000
		if n > ExactSignFlipLimit {
			reps = 1500
		}
		rejSf, rejMc := 0, 0
		a, b := make([]float64, n), make([]float64, n)
		for range reps {
			for i := range a {
				a[i], b[i] = r.NormFloat64(), r.NormFloat64()
			}
			if _, _, _, p := PairedSignFlip(a, b, 0.95, 1); p < 0.05 {
				rejSf++
			}
			var cells [4]int
			for range n {
				rate := r.Float64()
				pa, pb := r.Float64() < rate, r.Float64() < rate
				switch {
				case pa && pb:
					cells[0]++
				case pa:
					cells[1]++
				case pb:
					cells[2]++
				default:
					cells[3]++
				}
			}
			if _, _, _, p := PairedProportions(cells[0], cells[1], cells[2], cells[3], 0.95); p < 0.05 {
				rejMc++
			}
		}
		sf, mc := float64(rejSf)/float64(reps), float64(rejMc)/float64(reps)
		t.Logf("n=%d: sign-flip %.4f, exact McNemar %.4f", n, sf, mc)
		if sf > 0.06 || mc > 0.06 || (n < MinPairsToTest(0.95) && (rejSf > 0 || rejMc > 0)) || (n >= 10 && sf < 0.03) {
			t.Errorf("n=%d: type-I error sign-flip %.4f, McNemar %.4f", n, sf, mc)
		}
	}
}

func BenchmarkPairedSignFlip20(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x, y := make([]float64, 20), make([]float64, 20)
	for i := range x {
		x[i], y[i] = r.Float64(), r.Float64()
	}
	for b.Loop() {
		PairedSignFlip(x, y, 0.95, 1)
	}
}
