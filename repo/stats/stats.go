// Package stats holds the statistics behind every number selfevals reports:
// interval estimates for rates and means, paired tests for comparisons, and
// the pass@k family of estimators. Everything is deterministic: resampling
// methods take a seed, so the same run gives the same intervals everywhere.
package stats

import (
	"math"
	"math/rand/v2"
	"slices"
)

// DefaultResamples is the number of bootstrap resamples used when a caller
// passes zero or less.
const DefaultResamples = 2000

// Mean is the arithmetic mean of values; 0 for none.
func Mean(values []float64) float64 {
	if len(values) == 0 {
		return 0
	}
	var sum float64
	for _, v := range values {
		sum += v
	}
	return sum / float64(len(values))
}

// Percentile is the p-th percentile (p in 0..100) of sorted values, linearly
// interpolated between the two nearest ranks (numpy's default), so p50 of
// [1, 2, 3, 4] is 2.5. p outside 0..100 is clamped; an empty slice gives 0.
func Percentile(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if math.IsNaN(p) || p <= 0 {
		return sorted[0]
	}
	if p >= 100 {
		return sorted[n-1]
	}
	rank := p / 100 * float64(n-1)
	i := int(rank)
	frac := rank - float64(i)
	if i+1 >= n {
		return sorted[n-1]
	}
	return sorted[i] + frac*(sorted[i+1]-sorted[i])
}

// ZForConfidence is the two-sided standard normal critical value for a
// confidence level: 0.95 → 1.959964. A level of 0 or less gives 0; 1 or more
// gives +Inf.
func ZForConfidence(confidence float64) float64 {
	if math.IsNaN(confidence) || confidence <= 0 {
		return 0
	}
	if confidence >= 1 {
		return math.Inf(1)
	}
	return normalQuantile(1 - (1-confidence)/2)
}

// normalQuantile is the inverse of the standard normal CDF, by Acklam's
// rational approximation (relative error 1.15e-9) refined by one Halley step
// against math.Erfc, which brings it to full double precision.
func normalQuantile(p float64) float64 {
	switch {
	case math.IsNaN(p) || p < 0 || p > 1:
		return math.NaN()
	case p == 0:
		return math.Inf(-1)
	case p == 1:
		return math.Inf(1)
	}
	const (
		a1, a2, a3 = -3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02
		a4, a5, a6 = 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00
		b1, b2, b3 = -5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02
		b4, b5     = 6.680131188771972e+01, -1.328068155288572e+01
		c1, c2, c3 = -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00
		c4, c5, c6 = -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00
		d1, d2, d3 = 7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00
		d4         = 3.754408661907416e+00
		pLow       = 0.02425
	)
	var x float64
	switch {
	case p < pLow:
		q := math.Sqrt(-2 * math.Log(p))
		x = (((((c1*q+c2)*q+c3)*q+c4)*q+c5)*q + c6) / ((((d1*q+d2)*q+d3)*q+d4)*q + 1)
	case p <= 1-pLow:
		q := p - 0.5
		r := q * q
		x = (((((a1*r+a2)*r+a3)*r+a4)*r+a5)*r + a6) * q / (((((b1*r+b2)*r+b3)*r+b4)*r+b5)*r + 1)
	default:
		q := math.Sqrt(-2 * math.Log1p(-p))
		x = -(((((c1*q+c2)*q+c3)*q+c4)*q+c5)*q + c6) / ((((d1*q+d2)*q+d3)*q+d4)*q + 1)
	}
	// Halley refinement: e is the CDF error at x.
	e := 0.5*math.Erfc(-x/math.Sqrt2) - p
	u := e * math.Sqrt(2*math.Pi) * math.Exp(x*x/2)
	return x - u/(1+x*u/2)
}

// Wilson is the Wilson score interval for a proportion of successes out of
// n. It stays inside [0, 1] and behaves at 0/n and n/n, where the normal
// approximation collapses to a point. n = 0 gives the whole range [0, 1].
func Wilson(successes, n int, confidence float64) (lo, hi float64) {
	if n <= 0 {
		return 0, 1
	}
	successes = min(max(successes, 0), n)
	z := ZForConfidence(confidence)
	if math.IsInf(z, 1) {
		return 0, 1
	}
	nf := float64(n)
	p := float64(successes) / nf
	z2 := z * z
	denom := 1 + z2/nf
	center := (p + z2/(2*nf)) / denom
	half := z * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf)) / denom
	lo, hi = max(center-half, 0), min(center+half, 1)
	// Rounding can push a bound a hair past the point estimate at 0/n and n/n.
	return min(lo, p), max(hi, p)
}

// newRand is the resampling source: PCG, so a seed gives the same stream on
// every platform and Go version.
func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// Bootstrap is the percentile bootstrap interval of stat over values: stat
// is computed on resamples (drawn with replacement, same size) and the
// interval is the central confidence fraction of those results. stat
// receives a scratch slice it must not keep. The same seed gives the same
// interval. Empty values give 0, 0; resamples ≤ 0 means DefaultResamples.
func Bootstrap(values []float64, stat func([]float64) float64, confidence float64, resamples int, seed uint64) (lo, hi float64) {
	n := len(values)
	if n == 0 {
		return 0, 0
	}
	if resamples <= 0 {
		resamples = DefaultResamples
	}
	r := newRand(seed)
	sample := make([]float64, n)
	results := make([]float64, resamples)
	for i := range results {
		for j := range sample {
			sample[j] = values[r.IntN(n)]
		}
		results[i] = stat(sample)
	}
	return percentileInterval(results, confidence)
}

// percentileInterval sorts results in place and returns its central
// confidence fraction.
func percentileInterval(results []float64, confidence float64) (lo, hi float64) {
	slices.Sort(results)
	alpha := 1 - confidence
	if math.IsNaN(alpha) || alpha < 0 {
		alpha = 0
	}
	if alpha > 1 {
		alpha = 1
	}
	return Percentile(results, 100*alpha/2), Percentile(results, 100*(1-alpha/2))
}

// PairedBootstrap compares two measurements of the same items, a (before)
// and b (after). It is not used for decisions: its p-value floor of about
// 2/resamples does not depend on n, so with a handful of pairs it rejects a
// true null far more often than 1 − confidence; PairedSignFlip is the
// paired test for scores.
//
// a[i] and b[i] belong to the same case. diff is the
// mean of b[i] − a[i]; lo and hi are its percentile bootstrap interval,
// resampling whole pairs so the pairing is kept.
//
// p is a two-sided bootstrap p-value for "no difference": the share of
// resampled mean differences that land on the far side of zero from diff
// (zero itself counts as the far side), doubled and capped at 1. The share is
// (k+1)/(resamples+1) rather than k/resamples, because a finite number of
// resamples cannot show that a difference is impossible; so p is never 0,
// and its floor is about 2/resamples. diff = 0 gives p = 1.
//
// a and b must have the same length (the caller pairs them on case IDs); it
// panics otherwise, since that is a bug in the caller. Empty input gives
// 0, 0, 0, 1.
func PairedBootstrap(a, b []float64, confidence float64, resamples int, seed uint64) (diff, lo, hi, p float64) {
	if len(a) != len(b) {
		panic("stats.PairedBootstrap: a and b have different lengths")
	}
	n := len(a)
	if n == 0 {
		return 0, 0, 0, 1
	}
	if resamples <= 0 {
		resamples = DefaultResamples
	}
	d := make([]float64, n)
	for i := range d {
		d[i] = b[i] - a[i]
	}
	diff = Mean(d)
	r := newRand(seed)
	results := make([]float64, resamples)
	farSide := 0
	for i := range results {
		var sum float64
		for range n {
			sum += d[r.IntN(n)]
		}
		m := sum / float64(n)
		results[i] = m
		if (diff > 0 && m <= 0) || (diff < 0 && m >= 0) {
			farSide++
		}
	}
	lo, hi = percentileInterval(results, confidence)
	if diff == 0 {
		return diff, lo, hi, 1
	}
	p = min(1, 2*float64(farSide+1)/float64(resamples+1))
	return diff, lo, hi, p
}

// McNemarExact is the exact two-sided McNemar test on the discordant pairs
// of a paired pass/fail comparison: b items went pass→fail and c went
// fail→pass. Under "no change" each discordant pair is a fair coin, so p is
// twice the smaller binomial tail of Binomial(b+c, 1/2), capped at 1. b+c = 0
// gives 1; a negative count gives NaN.
//
// The tail is summed from its largest term downward using term ratios, with
// only the largest term from log-gamma, so it neither overflows nor loses
// precision at large counts.
func McNemarExact(b, c int) float64 {
	if b < 0 || c < 0 {
		return math.NaN()
	}
	n := b + c
	if n == 0 {
		return 1
	}
	k := min(b, c)
	nf := float64(n)
	// log of C(n, k) / 2^n, the largest term of the lower tail (k ≤ n/2).
	lgN, _ := math.Lgamma(nf + 1)
	lgK, _ := math.Lgamma(float64(k) + 1)
	lgNK, _ := math.Lgamma(float64(n-k) + 1)
	logTop := lgN - lgK - lgNK - nf*math.Ln2
	// Sum of C(n, i)/C(n, k) for i = k, k-1, …, 0.
	sum, term := 1.0, 1.0
	for i := k; i > 0; i-- {
		term *= float64(i) / float64(n-i+1) // C(n, i-1) / C(n, i)
		sum += term
		if term < sum*1e-17 {
			break
		}
	}
	return min(1, 2*math.Exp(logTop+math.Log(sum)))
}

// PassAtK is the unbiased estimator of pass@k from n samples of which c
// passed: the chance that at least one of k samples drawn without
// replacement passes, 1 − C(n−c, k)/C(n, k). It is computed as the product
// 1 − Π_{i=n−c+1..n} (1 − k/i), which never forms a binomial coefficient.
// As in the reference, a case with fewer than k samples counts whether any
// of them passed (k is clamped to n). k ≤ 0 or n ≤ 0 gives 0.
func PassAtK(n, c, k int) float64 {
	if n <= 0 || k <= 0 {
		return 0
	}
	c = min(max(c, 0), n)
	k = min(k, n)
	if n-c < k {
		return 1
	}
	miss := 1.0
	for i := n - c + 1; i <= n; i++ {
		miss *= 1 - float64(k)/float64(i)
	}
	return 1 - miss
}

// PassHatK estimates pass^k, the chance that k samples drawn without
// replacement from n (c of them passing) all pass: C(c, k)/C(n, k), computed
// as Π_{i=0..k−1} (c−i)/(n−i). As in the reference, a case with fewer than
// k samples cannot show k passes and gives 0. k ≤ 0 gives 1.
func PassHatK(n, c, k int) float64 {
	if k <= 0 {
		return 1
	}
	c = min(max(c, 0), n)
	if k > n || c < k {
		return 0
	}
	p := 1.0
	for i := range k {
		p *= float64(c-i) / float64(n-i)
	}
	return p
}

// BootstrapLimit is the sample size above which MeanInterval and
// PairedMeanDiff use the normal approximation instead of resampling. The
// percentile bootstrap of a mean converges to that approximation as n grows,
// and resampling costs resamples × n draws: at ten thousand cases it would
// cost more than the agent calls it summarises.
const BootstrapLimit = 1000

// MeanInterval is the confidence interval of the mean of values: a seeded
// percentile bootstrap up to BootstrapLimit values, mean ± z·s/√n beyond.
func MeanInterval(values []float64, confidence float64, seed uint64) (lo, hi float64) {
	n := len(values)
	if n <= BootstrapLimit {
		return Bootstrap(values, Mean, confidence, 1000, seed)
	}
	m, sd := MeanSD(values)
	half := ZForConfidence(confidence) * sd / math.Sqrt(float64(n))
	return m - half, m + half
}

// PairedMeanDiff is PairedSignFlip up to BootstrapLimit pairs and, beyond,
// the normal approximation: diff ± z·s_d/√n with a two-sided z-test p-value,
// which the sign-flip distribution of the mean approaches as n grows and
// which costs O(n) instead of SignFlipDraws × n.
func PairedMeanDiff(a, b []float64, confidence float64, seed uint64) (diff, lo, hi, p float64) {
	n := len(a)
	if n <= BootstrapLimit || len(b) != n {
		return PairedSignFlip(a, b, confidence, seed)
	}
	return pairedZ(a, b, confidence)
}

// pairedZ is the normal approximation to the paired mean difference.
func pairedZ(a, b []float64, confidence float64) (diff, lo, hi, p float64) {
	n := len(a)
	d := make([]float64, n)
	for i := range d {
		d[i] = b[i] - a[i]
	}
	m, sd := MeanSD(d)
	se := sd / math.Sqrt(float64(n))
	half := ZForConfidence(confidence) * se
	switch {
	case m == 0:
		p = 1
	case se == 0:
		p = 0
	default:
		p = math.Erfc(math.Abs(m/se) / math.Sqrt2)
	}
	return m, m - half, m + half, p
}

// MeanSD is the mean and the sample standard deviation.
func MeanSD(values []float64) (mean, sd float64) {
	n := float64(len(values))
	if n == 0 {
		return 0, 0
	}
	mean = Mean(values)
	if n < 2 {
		return mean, 0
	}
	var ss float64
	for _, v := range values {
		ss += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(ss / (n - 1))
}
