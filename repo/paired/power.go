package paired

import (
	"math"

	"github.com/selfevals/selfevals/repo/stats"
)

// Power is the power MinDetectableEffect and CasesNeeded plan for when
// given zero or less.
const Power = 0.8

// CasesNeeded is about how many paired cases the two-sided exact McNemar
// test needs to detect a change of effect in pass rate (B − A, either
// sign) with the given power at the given confidence, when a share
// discordance of cases changes outcome between A and B (discordance ≥
// |effect|; the observed (onlyA + onlyB)/n is a fair plug-in). It uses
// Connor's normal approximation (R. J. Connor, "Sample size for testing
// differences in proportions for the paired-sample design", Biometrics
// 43:207–211, 1987):
//
//	n = (z_{α/2}·√ψ + z_β·√(ψ − δ²))² / δ²,  ψ = discordance, δ = effect,
//
// raised to stats.MinPairsToTest, below which no outcome is significant.
// The exact test is a little more conservative than the approximation at
// small n, so treat the answer as "about". It returns math.MaxInt when the
// change cannot be detected: effect 0, or discordance below |effect|.
func CasesNeeded(effect, discordance, confidence, power float64) int {
	if power <= 0 {
		power = Power
	}
	d := math.Abs(effect)
	if d == 0 || discordance < d || discordance > 1 || math.IsNaN(discordance) {
		return math.MaxInt
	}
	za, zb := stats.ZForConfidence(confidence), stats.ZForConfidence(2*power-1)
	root := za*math.Sqrt(discordance) + zb*math.Sqrt(discordance-d*d)
	n := math.Ceil(root * root / (d * d))
	if math.IsInf(n, 0) || math.IsNaN(n) || n > math.MaxInt32 {
		return math.MaxInt
	}
	return max(int(n), stats.MinPairsToTest(confidence))
}

// MinDetectableEffect is the smallest change in pass rate (B − A, as a
// positive number) that n paired cases detect with the given power by the
// exact McNemar test at the given confidence, when a share discordance of
// cases changes outcome: CasesNeeded solved for the effect (by bisection;
// Connor's n falls as the effect grows). It returns +Inf when no change up
// to discordance is detectable, in particular below stats.MinPairsToTest.
func MinDetectableEffect(n int, discordance, confidence, power float64) float64 {
	if n < stats.MinPairsToTest(confidence) || discordance <= 0 || discordance > 1 ||
		CasesNeeded(discordance, discordance, confidence, power) > n {
		return math.Inf(1)
	}
	lo, hi := 0.0, discordance // CasesNeeded(hi) ≤ n < CasesNeeded(lo)
	for range 60 {
		mid := (lo + hi) / 2
		if CasesNeeded(mid, discordance, confidence, power) <= n {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}
