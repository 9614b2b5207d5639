package paired

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/selfevals/selfevals/repo/stats"
)

// Connor's formula, from Python:
//
//	from math import sqrt
//	from scipy.stats import norm
//	def cases_needed(d, psi, conf=0.95, power=0.8):
//	    za, zb = norm.ppf(1 - (1 - conf) / 2), norm.ppf(power)
//	    return (za * sqrt(psi) + zb * sqrt(psi - d * d)) ** 2 / d ** 2
//
// gives 154.599, 311.587, 56.450, 23.658, 1959.860 for the rows below and
// 292.602 for (0.1, 0.2) at 99% confidence and 90% power.
func TestCasesNeeded(t *testing.T) {
	for _, tt := range []struct {
		effect, discordance, conf, power float64
		want                             int
	}{
		{0.1, 0.2, 0.95, 0.8, 155},
		{-0.1, 0.2, 0.95, 0, 155}, // either sign; power 0 means 80%
		{0.05, 0.1, 0.95, 0.8, 312},
		{0.2, 0.3, 0.95, 0.8, 57},
		{0.3, 0.3, 0.95, 0.8, 24},
		{0.02, 0.1, 0.95, 0.8, 1960},
		{0.1, 0.2, 0.99, 0.9, 293},
		{1, 1, 0.95, 0.8, 6}, // Connor says 4; the exact test needs 6
		{0, 0.2, 0.95, 0.8, math.MaxInt},
		{0.3, 0.2, 0.95, 0.8, math.MaxInt},
	} {
		if got := CasesNeeded(tt.effect, tt.discordance, tt.conf, tt.power); got != tt.want {
			t.Errorf("CasesNeeded(%v, %v, %v, %v) = %d, want %d", tt.effect, tt.discordance, tt.conf, tt.power, got, tt.want)
		}
	}
}

func TestMinDetectableEffect(t *testing.T) {
	for _, n := range []int{6, 20, 57, 155, 1000} {
		for _, psi := range []float64{0.1, 0.3, 0.6} {
			e := MinDetectableEffect(n, psi, 0.95, 0.8)
			if math.IsInf(e, 1) {
				if CasesNeeded(psi, psi, 0.95, 0.8) <= n {
					t.Errorf("n=%d ψ=%v: +Inf but ψ itself is detectable", n, psi)
				}
				continue
			}
			if CasesNeeded(e, psi, 0.95, 0.8) > n || CasesNeeded(e*0.999, psi, 0.95, 0.8) <= n {
				t.Errorf("n=%d ψ=%v: effect %v is not the smallest detectable", n, psi, e)
			}
		}
	}
	if e := MinDetectableEffect(155, 0.2, 0.95, 0.8); math.Abs(e-0.1) > 0.001 {
		t.Errorf("MinDetectableEffect(155, 0.2) = %v, want about 0.1", e)
	}
	if !math.IsInf(MinDetectableEffect(5, 1, 0.95, 0.8), 1) {
		t.Error("5 pairs cannot detect anything at 95%")
	}
}

// The planned size gets about the planned power from the exact test
// (seeded simulation; the exact test is a little conservative).
func TestCasesNeededPower(t *testing.T) {
	const effect, psi = 0.1, 0.2
	n := CasesNeeded(effect, psi, 0.95, 0.8)
	r := rand.New(rand.NewPCG(13, 14))
	hits, reps := 0, 2000
	for range reps {
		onlyA, onlyB := 0, 0
		for range n {
			switch u := r.Float64(); {
			case u < (psi-effect)/2:
				onlyA++
			case u < psi:
				onlyB++
			}
		}
		if stats.McNemarExact(onlyA, onlyB) < 0.05 {
			hits++
		}
	}
	power := float64(hits) / float64(reps)
	t.Logf("n=%d: simulated power %.3f", n, power)
	if power < 0.74 || power > 0.86 {
		t.Errorf("n=%d: simulated power %.3f, want about 0.8", n, power)
	}
}
