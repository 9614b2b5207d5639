package graders

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/selfevals/selfevals/repo"
)

// A known confusion matrix (rows: people, columns: judge), 20 examples:
//
//	            pass  partial  fail  error
//	pass          8       1      1      0     (10)
//	partial       1       2      1      0     ( 4)
//	fail          1       0      4      1     ( 6)
//	             (10)    (3)    (6)    (1)
//
// By hand:
//
//	accuracy  = (8+2+4)/20                         = 0.7
//	pass:     precision 8/10 = 0.8, recall 8/10 = 0.8, F1 = 0.8
//	partial:  precision 2/3,  recall 2/4 = 0.5,  F1 = 2·(2/3)(1/2)/(2/3+1/2) = (2/3)/(7/6) = 4/7
//	fail:     precision 4/6,  recall 4/6,        F1 = 2/3
//	error:    precision 0/1 = 0, recall undefined (no person said error) → F1 undefined
//	macro-F1  = (0.8 + 4/7 + 2/3)/3                = 0.679365…
//	kappa:    p_o = 0.7
//	          p_e = (10·10 + 4·3 + 6·6 + 0·1)/20²  = 148/400 = 0.37
//	          κ   = (0.7 − 0.37)/(1 − 0.37)        = 0.33/0.63 = 0.523809…
//	high-risk false negatives: of the people's passes, the high-risk ones
//	the judge did not pass: the partial one and the fail one are high-risk
//	below → 2.
func TestCalibrateKnownMatrix(t *testing.T) {
	var pairs []LabelPair
	add := func(h, j repo.Label, n int, highRisk bool) {
		for range n {
			pairs = append(pairs, LabelPair{Human: h, Judge: j, HighRisk: highRisk})
		}
	}
	add(repo.Pass, repo.Pass, 7, false)
	add(repo.Pass, repo.Pass, 1, true) // high-risk, caught
	add(repo.Pass, repo.Partial, 1, true)
	add(repo.Pass, repo.Fail, 1, true)
	add(repo.Partial, repo.Pass, 1, false)
	add(repo.Partial, repo.Partial, 2, false)
	add(repo.Partial, repo.Fail, 1, true) // not a pass: not a false negative
	add(repo.Fail, repo.Pass, 1, false)
	add(repo.Fail, repo.Fail, 4, false)
	add(repo.Fail, repo.Error, 1, false)

	m := Calibrate(pairs)
	near := func(name string, got *float64, want float64) {
		t.Helper()
		if got == nil || math.Abs(*got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if m.N != 20 || m.JudgeErrors != 1 || m.HighRiskFalseNegatives != 2 {
		t.Errorf("n %d, errors %d, high-risk FN %d", m.N, m.JudgeErrors, m.HighRiskFalseNegatives)
	}
	acc := m.Accuracy
	near("accuracy", &acc, 0.7)
	near("precision", m.Precision, 0.8)
	near("recall", m.Recall, 0.8)
	near("f1", m.F1, 0.8)
	near("macro_f1", m.MacroF1, (0.8+4.0/7+2.0/3)/3)
	near("kappa", m.Kappa, 0.33/0.63)
	if m.Confusion[repo.Partial][repo.Fail] != 1 || m.Confusion[repo.Pass][repo.Pass] != 8 {
		t.Errorf("confusion %v", m.Confusion)
	}
	var order []string
	for _, s := range m.Labels {
		order = append(order, string(s.Label))
	}
	if strings.Join(order, ",") != "pass,partial,fail,error" {
		t.Errorf("label order %v", order)
	}
	errStats := m.Labels[3]
	if errStats.Precision == nil || *errStats.Precision != 0 || errStats.Recall != nil || errStats.F1 != nil {
		t.Errorf("error label stats %+v", errStats)
	}

	// Degenerate inputs: nothing, and perfect agreement on one label
	// (chance agreement 1: kappa undefined).
	if e := Calibrate(nil); e.N != 0 || e.Precision != nil || e.Kappa != nil || e.Accuracy != 0 {
		t.Errorf("empty: %+v", e)
	}
	one := Calibrate([]LabelPair{{Human: repo.Pass, Judge: repo.Pass}, {Human: repo.Pass, Judge: repo.Pass}})
	if one.Kappa != nil || *one.Precision != 1 || *one.MacroF1 != 1 {
		t.Errorf("one label: %+v", one)
	}
}

func TestReadLabels(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "labels.jsonl")
	os.WriteFile(path, []byte(`// comment
{"input": {"text": "a"}, "output": "x", "label": "PASS", "high_risk": true}

{"input": {"text": "b"}, "output": "", "label": "fail", "case_id": "c2"}
{"input": {"text": "c"}, "output": "y", "label": "maybe"}
{"output": "y", "label": "pass"}
{"input": {}, "label": "pass"}
{"input": {}, "output": "z", "label": "pass", "extra": 1}
not json
`), 0o644)
	_, err := ReadLabels(path)
	probs, ok := err.(repo.Problems)
	if !ok {
		t.Fatalf("want Problems, got %T %v", err, err)
	}
	want := []string{
		path + ":5: label: unknown label \"maybe\"",
		path + ":6: input: required",
		path + ":7: output: required",
		path + `:8: invalid label line: json: unknown field "extra"`,
		path + ":9: invalid label line",
	}
	if len(probs) != len(want) {
		t.Fatalf("problems:\n%v", err)
	}
	for i, w := range want {
		if !strings.HasPrefix(probs[i].Error(), w) {
			t.Errorf("problem %d: %s\nwant prefix %s", i, probs[i].Error(), w)
		}
	}

	os.WriteFile(path, []byte(`{"input": {"text": "a"}, "output": "x", "label": "PASS", "high_risk": true}
{"input": {"text": "b"}, "output": "", "label": "fail", "case_id": "c2"}
`), 0o644)
	ex, err := ReadLabels(path)
	if err != nil || len(ex) != 2 || ex[0].Label != repo.Pass || !ex[0].HighRisk || ex[1].CaseID != "c2" || ex[1].Line != 2 {
		t.Fatalf("%v %+v", err, ex)
	}
}

// A card records every agreement metric calibration measures, under the
// card's names; accuracy and high-risk misses always, the others when
// defined.
func TestCalibrationCardMetrics(t *testing.T) {
	m := Calibrate([]LabelPair{{Human: repo.Pass, Judge: repo.Pass}, {Human: repo.Fail, Judge: repo.Pass, HighRisk: true}, {Human: repo.Fail, Judge: repo.Fail}})
	c := m.CardMetrics()
	if c.Precision != m.Precision || c.Recall != m.Recall || c.F1 != m.F1 || c.MacroF1 != m.MacroF1 || c.CohensKappa != m.Kappa {
		t.Errorf("card metrics %+v do not point at the calibration's %+v", c, m)
	}
	if c.Accuracy == nil || *c.Accuracy != m.Accuracy || c.HighRiskFalseNegatives == nil || *c.HighRiskFalseNegatives != m.HighRiskFalseNegatives {
		t.Errorf("accuracy/high-risk misses: %+v, want %v/%d", c, m.Accuracy, m.HighRiskFalseNegatives)
	}
}
