package graders

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/selfevals/selfevals/repo"
)

// LabelExample is one human-labelled output for calibrating a judge: one
// line of a labels file.
//
//	{"case_id": "optional", "input": {...}, "output": "the agent's text",
//	 "expected": {...optional...}, "label": "pass|fail|partial", "high_risk": false}
type LabelExample struct {
	CaseID   string          `json:"case_id,omitempty"`
	Input    json.RawMessage `json:"input"`
	Output   string          `json:"output"`
	Expected *repo.Expected  `json:"expected,omitempty"`
	Label    repo.Label      `json:"label"`
	HighRisk bool            `json:"high_risk,omitempty"`

	Line int `json:"-"`
}

// ReadLabels reads a labels file strictly: every bad line is reported as
// file:line: message (repo.Problems), and unknown keys are errors.
func ReadLabels(path string) ([]LabelExample, error) {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, repo.Userf("labels file not found: %s", path)
		}
		return nil, err
	}
	defer f.Close()
	var out []LabelExample
	var probs repo.Problems
	bad := func(line int, field, msg, hint string) {
		probs = append(probs, repo.Problem{File: path, Line: line, Field: field, Msg: msg, Hint: hint})
	}
	r := bufio.NewReaderSize(f, 64<<10)
	for line := 1; ; line++ {
		raw, err := r.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		body := bytes.TrimSpace(raw)
		if p := repo.CheckUTF8Line(path, line, raw); p != nil {
			probs = append(probs, *p)
		} else if len(body) > 0 && !bytes.HasPrefix(body, []byte("//")) {
			var ex LabelExample
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if derr := dec.Decode(&ex); derr != nil {
				bad(line, "", "invalid label line: "+derr.Error(), `{"input": {...}, "output": "...", "label": "pass|fail|partial", "high_risk": false}`)
			} else if dec.More() {
				bad(line, "", "more than one JSON value on the line", "one object a line")
			} else {
				ex.Line = line
				ok := true
				if len(ex.Input) == 0 || string(ex.Input) == "null" {
					bad(line, "input", "required", "the case input the output answers")
					ok = false
				}
				if !bytes.Contains(body, []byte(`"output"`)) {
					bad(line, "output", "required", "the agent output a person labelled")
					ok = false
				}
				switch l := repo.Label(strings.ToLower(strings.TrimSpace(string(ex.Label)))); l {
				case repo.Pass, repo.Fail, repo.Partial:
					ex.Label = l
				case "":
					bad(line, "label", "required", "pass, fail or partial")
					ok = false
				default:
					bad(line, "label", fmt.Sprintf("unknown label %q", ex.Label), "pass, fail or partial")
					ok = false
				}
				if ok {
					out = append(out, ex)
				}
			}
		}
		if err == io.EOF {
			break
		}
	}
	if len(probs) > 0 {
		return nil, probs
	}
	if len(out) == 0 {
		return nil, repo.Userf("%s holds no labelled examples", path)
	}
	return out, nil
}

// CalibrationItem is one example with the judge's grade.
type CalibrationItem struct {
	Example LabelExample
	Grade   repo.Grade
}

// RunCalibration asks the judge about every example (parallel at most
// parallel at once; the judge's own limit applies too) and computes the
// agreement metrics. The judge's card is not consulted: calibration
// measures the judge itself.
func RunCalibration(ctx context.Context, j *Judge, examples []LabelExample, parallel int) ([]CalibrationItem, CalibrationMetrics) {
	items := make([]CalibrationItem, len(examples))
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	for i := range examples {
		ex := examples[i]
		id := ex.CaseID
		if id == "" {
			sum := sha256.Sum256(append(append([]byte{}, ex.Input...), ex.Output...))
			id = "label_" + hex.EncodeToString(sum[:8])
		}
		c := &repo.Case{ID: id, Input: ex.Input, Expected: ex.Expected}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			items[i] = CalibrationItem{Example: ex, Grade: j.Evaluate(ctx, c, &repo.Trace{CaseID: id, Output: ex.Output})}
		}()
	}
	wg.Wait()
	pairs := make([]LabelPair, len(items))
	for i, it := range items {
		pairs[i] = LabelPair{Human: it.Example.Label, Judge: it.Grade.Label, HighRisk: it.Example.HighRisk}
	}
	return items, Calibrate(pairs)
}

// CardMetrics is what a grader card records of m (repo.WriteCardMetrics
// writes it, with m.N as the calibration size).
func (m CalibrationMetrics) CardMetrics() repo.CardMetrics {
	acc, hrfn := m.Accuracy, m.HighRiskFalseNegatives
	return repo.CardMetrics{
		Precision:              m.Precision,
		Recall:                 m.Recall,
		F1:                     m.F1,
		MacroF1:                m.MacroF1,
		CohensKappa:            m.Kappa,
		Accuracy:               &acc,
		HighRiskFalseNegatives: &hrfn,
	}
}
