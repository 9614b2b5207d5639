package stats

import (
	"math"
	"math/bits"
)

// ExactSignFlipLimit is the largest number of pairs for which
// PairedSignFlip enumerates every sign assignment (2^20 of them, halved by
// symmetry); beyond it the test samples SignFlipDraws assignments.
const ExactSignFlipLimit = 20

// SignFlipDraws is the number of random sign assignments PairedSignFlip
// draws past ExactSignFlipLimit pairs.
const SignFlipDraws = 10000

// MinPairsToTest is the smallest number of pairs at which a two-sided exact
// sign test (exact McNemar, sign-flip permutation) can give p < 1 −
// confidence: the most extreme outcome, every pair moving the same way, has
// p = 2·2⁻ⁿ, so n must satisfy 2·2⁻ⁿ < α. At 95% that is 6 (p = 0.03125;
// five pairs can do no better than 0.0625). A confidence of 1 or more
// returns math.MaxInt; 0 or less returns 1.
func MinPairsToTest(confidence float64) int {
	alpha := 1 - confidence
	switch {
	case math.IsNaN(alpha) || alpha <= 0:
		return math.MaxInt
	case alpha >= 1:
		return 1
	}
	n := 1
	for 2*math.Exp2(-float64(n)) >= alpha {
		n++
	}
	return n
}

// NewcombePaired is the confidence interval for the difference of two
// paired proportions, rate B − rate A, by Newcombe's hybrid score method
// (method 10 of R. G. Newcombe, "Improved confidence intervals for the
// difference between binomial proportions based on paired data", Statistics
// in Medicine 17:2635–2650, 1998; worked example in Altman et al.,
// "Statistics with Confidence", 2nd ed., p. 52). It combines the Wilson
// intervals of the two rates, with the correlation between them estimated
// by the continuity-corrected phi coefficient, so it stays inside [−1, 1],
// does not collapse to a point at 0 or n discordant pairs, and, unlike a
// bootstrap of the difference, agrees closely with the exact McNemar test.
//
// both counts successes in A and B, onlyA successes in A only, onlyB in B
// only, neither in neither. No pairs give 0, −1, 1.
func NewcombePaired(both, onlyA, onlyB, neither int, confidence float64) (diff, lo, hi float64) {
	n := both + onlyA + onlyB + neither
	if n <= 0 {
		return 0, -1, 1
	}
	nf := float64(n)
	pA, pB := float64(both+onlyA)/nf, float64(both+onlyB)/nf
	diff = pB - pA
	lA, uA := Wilson(both+onlyA, n, confidence)
	lB, uB := Wilson(both+onlyB, n, confidence)
	// Newcombe's phi: zero when a margin is empty; a positive AD − BC is
	// reduced by n/2 (and floored at 0), a negative one is used as is.
	phi := 0.0
	margins := float64(both+onlyA) * float64(onlyB+neither) * float64(both+onlyB) * float64(onlyA+neither)
	if margins > 0 {
		x := float64(both)*float64(neither) - float64(onlyA)*float64(onlyB)
		switch {
		case x > nf/2:
			x -= nf / 2
		case x > 0:
			x = 0
		}
		phi = x / math.Sqrt(margins)
	}
	spread := func(x, y float64) float64 { return math.Sqrt(max(0, x*x-2*phi*x*y+y*y)) }
	lo = diff - spread(pB-lB, uA-pA)
	hi = diff + spread(pA-lA, uB-pB)
	return diff, max(lo, -1), min(hi, 1)
}

// PairedSignFlip is the exact sign-flip permutation test (Fisher's
// randomization test for paired data) on d = b − a, with the confidence
// interval obtained by inverting it. Under "no difference" each d[i] is as
// likely to be +|d[i]| as −|d[i]|, so the two-sided p-value is the share of
// sign assignments whose mean is at least as far from zero as the observed
// mean. Up to ExactSignFlipLimit pairs every assignment is enumerated and p
// is exact; beyond, SignFlipDraws seeded random assignments are drawn and p
// is (k+1)/(draws+1), counting the observed assignment, so p is never 0.
//
// The interval is every shift δ that the same test, applied to d − δ, does
// not reject at p < 1 − confidence (Hartigan 1969; Lehmann & Romano,
// "Testing Statistical Hypotheses", §5.8). For one assignment, the set of δ
// at which it is at least as extreme as the observation is the interval
// between the mean of its flipped and of its unflipped differences; every
// such interval contains the sample mean, so the acceptance region is an
// interval whose ends are order statistics of those means. It therefore
// agrees with p exactly (zero is inside iff p ≥ 1 − confidence) and has
// exact coverage when the differences are symmetric about the true shift,
// at every n. When no outcome of n pairs could be significant (n below
// MinPairsToTest) the interval is unbounded: lo = −Inf, hi = +Inf.
//
// a and b must have the same length; it panics otherwise. Empty input gives
// 0, 0, 0, 1.
func PairedSignFlip(a, b []float64, confidence float64, seed uint64) (diff, lo, hi, p float64) {
	if len(a) != len(b) {
		panic("stats.PairedSignFlip: a and b have different lengths")
	}
	n := len(a)
	if n == 0 {
		return 0, 0, 0, 1
	}
	d := make([]float64, n)
	var total, scale float64
	for i := range d {
		d[i] = b[i] - a[i]
		total += d[i]
		scale = max(scale, math.Abs(d[i]))
	}
	diff = total / float64(n)

	// los and his hold, per non-identity assignment, the ends of the δ
	// interval where it is at least as extreme; always counts the
	// assignments (no flip, or all flipped) that are as extreme at every δ.
	var los, his []float64
	always, m := 0, 0
	add := func(flipped float64, k int) {
		if k == 0 || k == n {
			always++
			return
		}
		x, y := flipped/float64(k), (total-flipped)/float64(n-k)
		los, his = append(los, min(x, y)), append(his, max(x, y))
	}
	if n <= ExactSignFlipLimit {
		// Flipping every sign gives the same |mean|, so fix d[0] unflipped
		// and walk the other 2^(n−1) − 1 assignments in Gray-code order,
		// each step flipping one sign.
		m = 1 << (n - 1)
		los, his = make([]float64, 0, m-1), make([]float64, 0, m-1)
		always = 1
		inFlip := make([]bool, n)
		flipped, k := 0.0, 0
		for g := 1; g < m; g++ {
			i := bits.TrailingZeros(uint(g)) + 1
			inFlip[i] = !inFlip[i]
			if inFlip[i] {
				flipped, k = flipped+d[i], k+1
			} else {
				flipped, k = flipped-d[i], k-1
			}
			if k == 0 {
				flipped = 0 // drop the rounding left by undoing every flip
			}
			add(flipped, k)
		}
	} else {
		m = SignFlipDraws + 1
		los, his = make([]float64, 0, SignFlipDraws), make([]float64, 0, SignFlipDraws)
		always = 1 // the observed assignment
		r := newRand(seed)
		for range SignFlipDraws {
			var flipped float64
			k := 0
			var word uint64
			for i := range n {
				if i%64 == 0 {
					word = r.Uint64()
				}
				// Branch-free: a random bit is a branch predicted half the time.
				bit := word & 1
				flipped += d[i] * float64(bit)
				k += int(bit)
				word >>= 1
			}
			add(flipped, k)
		}
	}

	// p: assignments whose interval holds 0, allowing for rounding in ties.
	tol := 1e-12 * scale
	count := always
	for i := range los {
		if los[i] <= tol && his[i] >= -tol {
			count++
		}
	}
	mf := float64(m)
	p = min(1, float64(count)/mf)

	// Accept δ while at least ⌈α·m⌉ assignments are as extreme.
	alpha := 1 - confidence
	need := int(math.Ceil(alpha*mf - 1e-9))
	j := need - always // how many non-identity intervals must hold δ
	if j <= 0 || j > len(los) {
		return diff, math.Inf(-1), math.Inf(1), p
	}
	lo, hi = nthSmallest(los, j-1), nthSmallest(his, len(his)-j)
	// Keep the interval consistent with p when an end is 0 up to rounding.
	if lo > 0 && lo <= tol {
		lo = 0
	}
	if hi < 0 && hi >= -tol {
		hi = 0
	}
	return diff, lo, hi, p
}

// PairedProportions compares two paired pass/fail rates, B − A, on a 2×2
// table of counts (see NewcombePaired): p is the exact McNemar test on the
// discordant pairs and lo, hi is Newcombe's hybrid score interval. Where
// the two disagree it is always the same way, the interval excluding 0
// while the exact test does not reject (never the reverse at n ≤ 60, which
// the tests check exhaustively), so the interval is then stretched to 0:
// widening keeps its coverage and a report never shows a CI that excludes
// zero next to p ≥ 1 − confidence.
func PairedProportions(both, onlyA, onlyB, neither int, confidence float64) (diff, lo, hi, p float64) {
	diff, lo, hi = NewcombePaired(both, onlyA, onlyB, neither, confidence)
	p = McNemarExact(onlyA, onlyB)
	if p >= 1-confidence {
		lo, hi = min(lo, 0), max(hi, 0)
	}
	return diff, lo, hi, p
}

// nthSmallest is the k-th smallest (from 0) of xs, by quickselect with a
// median-of-three pivot; it reorders xs. Only one order statistic is
// needed per end, and there can be half a million of them.
func nthSmallest(xs []float64, k int) float64 {
	lo, hi := 0, len(xs)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		pivot := max(min(xs[lo], xs[mid]), min(max(xs[lo], xs[mid]), xs[hi]))
		i, j := lo, hi
		for i <= j {
			for xs[i] < pivot {
				i++
			}
			for xs[j] > pivot {
				j--
			}
			if i <= j {
				xs[i], xs[j] = xs[j], xs[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return xs[k]
		}
	}
	return xs[k]
}
