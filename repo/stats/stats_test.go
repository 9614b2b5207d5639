package stats

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

func TestMean(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{}, 0},
		{[]float64{3}, 3},
		{[]float64{1, 2, 3, 4}, 2.5},
		{[]float64{-1, 1}, 0},
	}
	for _, tt := range tests {
		if got := Mean(tt.in); got != tt.want {
			t.Errorf("Mean(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	ten := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	tests := []struct {
		sorted []float64
		p      float64
		want   float64
	}{
		{nil, 50, 0},
		{[]float64{7}, 95, 7},
		{[]float64{1, 2, 3, 4}, 50, 2.5},
		{ten, 50, 5.5},
		{ten, 95, 9.55},
		{ten, 0, 1},
		{ten, 100, 10},
		{ten, -5, 1},
		{ten, 250, 10},
		{ten, math.NaN(), 1},
		{[]float64{100, 200}, 25, 125},
	}
	for _, tt := range tests {
		if got := Percentile(tt.sorted, tt.p); !near(got, tt.want, 1e-12) {
			t.Errorf("Percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
		}
	}
}

func TestZForConfidence(t *testing.T) {
	tests := []struct {
		conf, want float64
	}{
		{0.95, 1.959963984540054},
		{0.99, 2.5758293035489004},
		{0.90, 1.6448536269514722},
		{0.50, 0.6744897501960817},
		{0.999999, 4.891638475698843},
		{0.0001, 0.00012533141373155},
		{0, 0},
		{-1, 0},
	}
	for _, tt := range tests {
		if got := ZForConfidence(tt.conf); !near(got, tt.want, 1e-9) {
			t.Errorf("ZForConfidence(%v) = %.12f, want %.12f", tt.conf, got, tt.want)
		}
	}
	if got := ZForConfidence(1); !math.IsInf(got, 1) {
		t.Errorf("ZForConfidence(1) = %v, want +Inf", got)
	}
}

func TestNormalQuantileInvertsCDF(t *testing.T) {
	// Both tails and the centre of Acklam's three regions.
	for _, p := range []float64{1e-300, 1e-12, 0.001, 0.02, 0.02425, 0.3, 0.5, 0.7, 0.97575, 0.99, 1 - 1e-12} {
		x := normalQuantile(p)
		back := 0.5 * math.Erfc(-x/math.Sqrt2)
		if math.Abs(back-p)/p > 1e-12 {
			t.Errorf("CDF(normalQuantile(%g)) = %g", p, back)
		}
	}
	if !math.IsInf(normalQuantile(0), -1) || !math.IsInf(normalQuantile(1), 1) || !math.IsNaN(normalQuantile(2)) {
		t.Error("normalQuantile edges wrong")
	}
}

func TestWilson(t *testing.T) {
	tests := []struct {
		s, n   int
		conf   float64
		lo, hi float64
	}{
		{8, 10, 0.95, 0.4902, 0.9433},
		{0, 10, 0.95, 0, 0.2775},
		{10, 10, 0.95, 0.7225, 1},
		{50, 100, 0.95, 0.4038, 0.5962},
		{1, 1, 0.95, 0.2065, 1},
		{0, 0, 0.95, 0, 1},
		{81, 263, 0.95, 0.2553, 0.3662},
	}
	for _, tt := range tests {
		lo, hi := Wilson(tt.s, tt.n, tt.conf)
		if !near(lo, tt.lo, 5e-5) || !near(hi, tt.hi, 5e-5) {
			t.Errorf("Wilson(%d, %d, %v) = [%.4f, %.4f], want [%.4f, %.4f]", tt.s, tt.n, tt.conf, lo, hi, tt.lo, tt.hi)
		}
	}
}

func TestWilsonContainsEstimate(t *testing.T) {
	for n := 1; n <= 60; n++ {
		for s := 0; s <= n; s++ {
			for _, conf := range []float64{0.5, 0.9, 0.95, 0.999} {
				lo, hi := Wilson(s, n, conf)
				p := float64(s) / float64(n)
				if lo < 0 || hi > 1 || lo > p || hi < p {
					t.Fatalf("Wilson(%d, %d, %v) = [%v, %v] does not contain %v within [0,1]", s, n, conf, lo, hi, p)
				}
			}
		}
	}
	// Wider confidence, wider interval.
	lo90, hi90 := Wilson(30, 50, 0.90)
	lo99, hi99 := Wilson(30, 50, 0.99)
	if lo99 >= lo90 || hi99 <= hi90 {
		t.Errorf("99%% interval [%v,%v] not wider than 90%% [%v,%v]", lo99, hi99, lo90, hi90)
	}
}

func TestBootstrap(t *testing.T) {
	values := []float64{0.2, 0.9, 0.4, 0.7, 1, 0, 0.5, 0.6, 0.8, 0.3}
	lo, hi := Bootstrap(values, Mean, 0.95, 2000, 42)
	m := Mean(values)
	if !(lo < m && m < hi) {
		t.Errorf("interval [%v, %v] does not contain mean %v", lo, hi, m)
	}
	// The normal-theory interval is about mean ± 0.19 here; the bootstrap
	// should be in that neighbourhood.
	if !near(lo, m-0.19, 0.06) || !near(hi, m+0.19, 0.06) {
		t.Errorf("interval [%v, %v] far from the normal approximation around %v", lo, hi, m)
	}
	lo2, hi2 := Bootstrap(values, Mean, 0.95, 2000, 42)
	if lo2 != lo || hi2 != hi {
		t.Errorf("same seed gave [%v,%v] then [%v,%v]", lo, hi, lo2, hi2)
	}
	lo3, hi3 := Bootstrap(values, Mean, 0.95, 2000, 43)
	if lo3 == lo && hi3 == hi {
		t.Errorf("different seeds gave identical intervals [%v,%v]", lo, hi)
	}

	if lo, hi := Bootstrap([]float64{4, 4, 4}, Mean, 0.95, 100, 1); lo != 4 || hi != 4 {
		t.Errorf("constant values: [%v, %v], want [4, 4]", lo, hi)
	}
	if lo, hi := Bootstrap(nil, Mean, 0.95, 100, 1); lo != 0 || hi != 0 {
		t.Errorf("empty: [%v, %v], want [0, 0]", lo, hi)
	}
	// resamples ≤ 0 falls back to the default instead of dividing by zero.
	if lo, hi := Bootstrap(values, Mean, 0.95, 0, 1); !(lo < m && m < hi) {
		t.Errorf("default resamples: [%v, %v]", lo, hi)
	}
}

func TestPairedBootstrap(t *testing.T) {
	a := []float64{0, 1, 0, 1, 0, 1, 0, 0, 1, 0}

	t.Run("constant shift", func(t *testing.T) {
		b := make([]float64, len(a))
		for i := range a {
			b[i] = a[i] + 1
		}
		diff, lo, hi, p := PairedBootstrap(a, b, 0.95, 999, 7)
		if diff != 1 || lo != 1 || hi != 1 {
			t.Errorf("diff %v [%v, %v], want 1 [1, 1]", diff, lo, hi)
		}
		if want := 2.0 / 1000; p != want {
			t.Errorf("p = %v, want the floor %v", p, want)
		}
	})
	t.Run("identical", func(t *testing.T) {
		diff, lo, hi, p := PairedBootstrap(a, a, 0.95, 500, 7)
		if diff != 0 || lo != 0 || hi != 0 || p != 1 {
			t.Errorf("got %v [%v, %v] p=%v, want 0 [0, 0] p=1", diff, lo, hi, p)
		}
	})
	t.Run("negative shift", func(t *testing.T) {
		b := []float64{0, 0, 0, 0, 0, 1, 0, 0, 0, 0}
		diff, lo, hi, p := PairedBootstrap(a, b, 0.95, 2000, 7)
		if !near(diff, -0.3, 1e-12) || !(lo <= diff && diff <= hi) || hi > 0 {
			t.Errorf("got %v [%v, %v]", diff, lo, hi)
		}
		if p <= 0 || p > 0.2 {
			t.Errorf("p = %v, want small", p)
		}
	})
	t.Run("noise", func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		x, y := make([]float64, 200), make([]float64, 200)
		for i := range x {
			x[i] = r.Float64()
			y[i] = x[i] + r.NormFloat64()*0.1
		}
		diff, lo, hi, p := PairedBootstrap(x, y, 0.95, 2000, 7)
		if !(lo <= diff && diff <= hi) || lo > 0 || hi < 0 {
			t.Errorf("no true difference, got %v [%v, %v]", diff, lo, hi)
		}
		if p < 0.05 || p > 1 {
			t.Errorf("p = %v, want not significant", p)
		}
		_, _, _, p2 := PairedBootstrap(x, y, 0.95, 2000, 7)
		if p2 != p {
			t.Errorf("same seed gave p %v then %v", p, p2)
		}
	})
	t.Run("empty", func(t *testing.T) {
		diff, lo, hi, p := PairedBootstrap(nil, nil, 0.95, 100, 1)
		if diff != 0 || lo != 0 || hi != 0 || p != 1 {
			t.Errorf("got %v [%v, %v] p=%v", diff, lo, hi, p)
		}
	})
	t.Run("length mismatch panics", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Error("no panic")
			}
		}()
		PairedBootstrap([]float64{1}, []float64{1, 2}, 0.95, 10, 1)
	})
}

func TestPairedBootstrapProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := range 200 {
		n := 1 + r.IntN(30)
		a, b := make([]float64, n), make([]float64, n)
		for i := range a {
			a[i] = float64(r.IntN(2))
			b[i] = float64(r.IntN(2))
		}
		diff, lo, hi, p := PairedBootstrap(a, b, 0.95, 200, uint64(trial))
		if p < 0 || p > 1 || math.IsNaN(p) {
			t.Fatalf("trial %d: p = %v", trial, p)
		}
		if lo > hi || lo < -1 || hi > 1 {
			t.Fatalf("trial %d: interval [%v, %v]", trial, lo, hi)
		}
		if diff < -1 || diff > 1 {
			t.Fatalf("trial %d: diff %v", trial, diff)
		}
	}
}

// exactMcNemar sums the binomial tail with big rationals.
func exactMcNemar(b, c int) float64 {
	n := int64(b + c)
	k := int64(min(b, c))
	sum, term := new(big.Int), big.NewInt(1) // term = C(n, i)
	for i := int64(0); i <= k; i++ {
		sum.Add(sum, term)
		term.Mul(term, big.NewInt(n-i))
		term.Quo(term, big.NewInt(i+1))
	}
	sum.Mul(sum, big.NewInt(2))
	p, _ := new(big.Rat).SetFrac(sum, new(big.Int).Lsh(big.NewInt(1), uint(n))).Float64()
	return min(p, 1)
}

func TestMcNemarExact(t *testing.T) {
	tests := []struct {
		b, c int
		want float64
	}{
		{1, 9, 0.021484375},
		{9, 1, 0.021484375},
		{0, 0, 1},
		{0, 5, 0.0625},
		{5, 5, 1},
		{3, 4, 1},
		{0, 1, 1},
		{2, 8, 0.109375},
		{0, 20, 1.9073486328125e-06},
	}
	for _, tt := range tests {
		if got := McNemarExact(tt.b, tt.c); !near(got, tt.want, 1e-12) {
			t.Errorf("McNemarExact(%d, %d) = %v, want %v", tt.b, tt.c, got, tt.want)
		}
	}
	if !math.IsNaN(McNemarExact(-1, 3)) {
		t.Error("negative count should give NaN")
	}
}

func TestMcNemarExactLargeCounts(t *testing.T) {
	for _, bc := range [][2]int{{40, 60}, {400, 500}, {1000, 1100}, {3000, 3100}, {1, 2000}, {2500, 2500}} {
		got, want := McNemarExact(bc[0], bc[1]), exactMcNemar(bc[0], bc[1])
		if math.Abs(got-want) > 1e-9*want && math.Abs(got-want) > 1e-300 {
			t.Errorf("McNemarExact(%d, %d) = %v, want %v", bc[0], bc[1], got, want)
		}
	}
	// Far beyond what binomial coefficients in float64 could hold.
	for _, bc := range [][2]int{{1_000_000, 1_003_000}, {5_000_000, 5_000_000}, {0, 10_000_000}} {
		p := McNemarExact(bc[0], bc[1])
		if math.IsNaN(p) || p < 0 || p > 1 {
			t.Errorf("McNemarExact(%d, %d) = %v, want a probability", bc[0], bc[1], p)
		}
	}
	// At n = 2,003,000 a difference of 3000 is about 2.1 standard deviations.
	if p := McNemarExact(1_000_000, 1_003_000); p < 0.02 || p > 0.05 {
		t.Errorf("McNemarExact(1e6, 1.003e6) = %v, want about 0.034", p)
	}
}

func TestPassAtK(t *testing.T) {
	tests := []struct {
		n, c, k int
		want    float64
	}{
		{5, 2, 2, 0.7},
		{5, 2, 1, 0.4},
		{5, 0, 3, 0},
		{5, 5, 1, 1},
		{5, 3, 3, 1},          // C(2,3) = 0: any 3 of 5 include a pass
		{10, 3, 5, 11.0 / 12}, // 1 − 21/252
		{3, 1, 5, 1},          // k > n: any pass among all samples
		{3, 0, 5, 0},
		{0, 0, 1, 0},
		{5, 2, 0, 0},
	}
	for _, tt := range tests {
		if got := PassAtK(tt.n, tt.c, tt.k); !near(got, tt.want, 1e-12) {
			t.Errorf("PassAtK(%d, %d, %d) = %v, want %v", tt.n, tt.c, tt.k, got, tt.want)
		}
	}
}

func TestPassHatK(t *testing.T) {
	tests := []struct {
		n, c, k int
		want    float64
	}{
		{5, 2, 2, 0.1},
		{5, 2, 1, 0.4},
		{10, 7, 3, 35.0 / 120},
		{5, 5, 5, 1},
		{5, 4, 5, 0},
		{3, 3, 5, 0}, // fewer samples than k
		{5, 2, 0, 1},
		{0, 0, 1, 0},
	}
	for _, tt := range tests {
		if got := PassHatK(tt.n, tt.c, tt.k); !near(got, tt.want, 1e-12) {
			t.Errorf("PassHatK(%d, %d, %d) = %v, want %v", tt.n, tt.c, tt.k, got, tt.want)
		}
	}
}

func TestPassAtKProperties(t *testing.T) {
	for n := 1; n <= 40; n++ {
		for c := 0; c <= n; c++ {
			prevAt, prevHat := 0.0, 1.0
			for k := 1; k <= n; k++ {
				at, hat := PassAtK(n, c, k), PassHatK(n, c, k)
				if at < 0 || at > 1 || hat < 0 || hat > 1 {
					t.Fatalf("n=%d c=%d k=%d: pass@k %v pass^k %v out of [0,1]", n, c, k, at, hat)
				}
				if at < prevAt-1e-12 || hat > prevHat+1e-12 {
					t.Fatalf("n=%d c=%d k=%d: pass@k must not fall and pass^k must not rise with k", n, c, k)
				}
				if hat > at+1e-12 {
					t.Fatalf("n=%d c=%d k=%d: pass^k %v > pass@k %v", n, c, k, hat, at)
				}
				prevAt, prevHat = at, hat
			}
			if p := float64(c) / float64(n); !near(PassAtK(n, c, 1), p, 1e-12) || !near(PassHatK(n, c, 1), p, 1e-12) {
				t.Fatalf("n=%d c=%d: k=1 should be c/n", n, c)
			}
		}
	}
	// Large n stays finite where binomial coefficients would overflow.
	if got := PassAtK(100000, 10, 1000); math.IsNaN(got) || got <= 0 || got >= 1 {
		t.Errorf("PassAtK(1e5, 10, 1000) = %v", got)
	}
}

func TestLargeSamplesUseTheNormalApproximation(t *testing.T) {
	values := make([]float64, 4000)
	for i := range values {
		values[i] = float64(i % 2) // mean 0.5, sd ≈ 0.5
	}
	lo, hi := MeanInterval(values, 0.95, 1)
	half := 1.959964 * math.Sqrt(0.25*4000/3999) / math.Sqrt(4000)
	if math.Abs(lo-(0.5-half)) > 1e-6 || math.Abs(hi-(0.5+half)) > 1e-6 {
		t.Errorf("MeanInterval = [%v, %v], want 0.5 ± %v", lo, hi, half)
	}
	// Small samples still bootstrap and agree roughly with the approximation.
	blo, bhi := MeanInterval(values[:1000], 0.95, 1)
	if blo > 0.5 || bhi < 0.5 || bhi-blo > 0.08 {
		t.Errorf("bootstrap interval [%v, %v]", blo, bhi)
	}
	b := make([]float64, len(values))
	copy(b, values)
	for i := 0; i < 400; i++ {
		b[2*i] = 1 // 400 more passes
	}
	diff, dlo, dhi, p := PairedMeanDiff(values, b, 0.95, 1)
	if math.Abs(diff-0.1) > 1e-9 || dlo > 0.1 || dhi < 0.1 || p > 1e-6 {
		t.Errorf("PairedMeanDiff = %v [%v, %v] p=%v", diff, dlo, dhi, p)
	}
	if _, _, _, p := PairedMeanDiff(values, values, 0.95, 1); p != 1 {
		t.Errorf("no difference: p=%v", p)
	}
}
