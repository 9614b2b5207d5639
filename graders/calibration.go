package graders

import (
	"sort"

	"github.com/selfevals/selfevals/repo"
)

// LabelPair is one calibration example: what a person said, what the judge
// said, and whether a miss on it is high-risk.
type LabelPair struct {
	Human    repo.Label
	Judge    repo.Label
	HighRisk bool
}

// LabelStats is one label's agreement: precision, recall and F1 of the judge
// treating that label as the positive class (nil when undefined: nothing
// predicted, nothing actual, or both zero).
type LabelStats struct {
	Label     repo.Label `json:"label"`
	Human     int        `json:"human"` // how often people gave it
	Judge     int        `json:"judge"` // how often the judge gave it
	Agree     int        `json:"agree"` // both gave it
	Precision *float64   `json:"precision"`
	Recall    *float64   `json:"recall"`
	F1        *float64   `json:"f1"`
}

// CalibrationMetrics is how well a judge agrees with human labels.
// Precision, Recall and F1 are for the positive label pass; MacroF1 is the
// mean F1 over every label seen in either stream whose F1 is defined;
// Kappa is Cohen's kappa; HighRiskFalseNegatives counts high-risk examples a
// person passed and the judge did not.
type CalibrationMetrics struct {
	N                      int          `json:"n"`
	Accuracy               float64      `json:"accuracy"`
	Precision              *float64     `json:"precision"`
	Recall                 *float64     `json:"recall"`
	F1                     *float64     `json:"f1"`
	MacroF1                *float64     `json:"macro_f1"`
	Kappa                  *float64     `json:"cohens_kappa"`
	HighRiskFalseNegatives int          `json:"high_risk_false_negatives"`
	JudgeErrors            int          `json:"judge_errors"` // examples the judge gave no verdict on
	Labels                 []LabelStats `json:"labels"`
	// Confusion counts human → judge label pairs.
	Confusion map[repo.Label]map[repo.Label]int `json:"confusion"`
}

// labelOrder sorts labels for reports: pass, partial, fail, then others.
var labelOrder = map[repo.Label]int{repo.Pass: 0, repo.Partial: 1, repo.Fail: 2, repo.Skipped: 3, repo.Error: 4}

// Calibrate computes the agreement of judge labels with human labels. A
// judge error is a prediction like any other (label error): it never
// agrees, so it costs precision of nothing and recall of the human label.
func Calibrate(pairs []LabelPair) CalibrationMetrics {
	m := CalibrationMetrics{N: len(pairs), Confusion: map[repo.Label]map[repo.Label]int{}}
	human := map[repo.Label]int{}
	judge := map[repo.Label]int{}
	agree := map[repo.Label]int{}
	correct := 0
	for _, p := range pairs {
		human[p.Human]++
		judge[p.Judge]++
		if m.Confusion[p.Human] == nil {
			m.Confusion[p.Human] = map[repo.Label]int{}
		}
		m.Confusion[p.Human][p.Judge]++
		if p.Human == p.Judge {
			agree[p.Human]++
			correct++
		}
		if p.Judge == repo.Error {
			m.JudgeErrors++
		}
		if p.HighRisk && p.Human == repo.Pass && p.Judge != repo.Pass {
			m.HighRiskFalseNegatives++
		}
	}
	if m.N == 0 {
		return m
	}
	n := float64(m.N)
	m.Accuracy = float64(correct) / n

	seen := map[repo.Label]bool{}
	for l := range human {
		seen[l] = true
	}
	for l := range judge {
		seen[l] = true
	}
	labels := make([]repo.Label, 0, len(seen))
	for l := range seen {
		labels = append(labels, l)
	}
	sort.Slice(labels, func(i, j int) bool {
		oi, iok := labelOrder[labels[i]]
		oj, jok := labelOrder[labels[j]]
		switch {
		case iok && jok:
			return oi < oj
		case iok != jok:
			return iok
		}
		return labels[i] < labels[j]
	})
	var f1s []float64
	for _, l := range labels {
		s := LabelStats{Label: l, Human: human[l], Judge: judge[l], Agree: agree[l]}
		s.Precision = ratio(agree[l], judge[l])
		s.Recall = ratio(agree[l], human[l])
		if s.Precision != nil && s.Recall != nil && *s.Precision+*s.Recall > 0 {
			f := 2 * *s.Precision * *s.Recall / (*s.Precision + *s.Recall)
			s.F1 = &f
			f1s = append(f1s, f)
		}
		if l == repo.Pass {
			m.Precision, m.Recall, m.F1 = s.Precision, s.Recall, s.F1
		}
		m.Labels = append(m.Labels, s)
	}
	if len(f1s) > 0 {
		sum := 0.0
		for _, f := range f1s {
			sum += f
		}
		mf := sum / float64(len(f1s))
		m.MacroF1 = &mf
	}
	// Cohen's kappa: observed agreement against the agreement expected by
	// chance from each rater's label frequencies.
	pe := 0.0
	for _, l := range labels {
		pe += float64(human[l]) / n * float64(judge[l]) / n
	}
	if pe < 1 {
		k := (m.Accuracy - pe) / (1 - pe)
		m.Kappa = &k
	}
	return m
}

func ratio(a, b int) *float64 {
	if b == 0 {
		return nil
	}
	r := float64(a) / float64(b)
	return &r
}
