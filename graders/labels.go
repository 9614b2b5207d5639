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
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

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
		if len(body) > 0 && !bytes.HasPrefix(body, []byte("//")) {
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

// WriteCardMetrics records calibration results in a grader card: metrics,
// calibrated_at, calibration_size and state: calibrated. An existing card is
// edited in place (comments and every other key kept); a missing one is
// created. The file is written atomically and in selfevals fmt's form.
func WriteCardMetrics(path, grader string, m CalibrationMetrics, at time.Time) error {
	var doc yaml.Node
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return &repo.UserError{Msg: fmt.Sprintf("%s: invalid YAML: %v", path, err), Hint: "fix the card, or move it away to have a new one written"}
		}
	case os.IsNotExist(err):
	default:
		return err
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
		root := doc.Content[0]
		setKey(root, "name", scalar(grader))
		setKey(root, "purpose", scalar("TODO: what this judge decides, and for which cases"))
		setKey(root, "grader_kind", scalar("llm_judge"))
		setKey(root, "method", scalar("human_labels"))
		setKey(root, "blocking", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "false"})
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return repo.Userf("%s: a grader card must be a mapping", path)
	}
	metrics := &yaml.Node{Kind: yaml.MappingNode}
	if old := getKey(root, "metrics"); old != nil && old.Kind == yaml.MappingNode {
		metrics = old // keep other metrics (spearman, mae, ...) and comments
	}
	setNum := func(key string, v *float64) {
		if v == nil {
			delKey(metrics, key)
			return
		}
		setKey(metrics, key, number(*v))
	}
	setNum("precision", m.Precision)
	setNum("recall", m.Recall)
	setNum("f1", m.F1)
	setNum("macro_f1", m.MacroF1)
	setNum("cohens_kappa", m.Kappa)
	acc := m.Accuracy
	setNum("accuracy", &acc)
	setKey(metrics, "high_risk_false_negatives", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: fmt.Sprint(m.HighRiskFalseNegatives)})
	setKey(root, "metrics", metrics)
	setKey(root, "state", scalar("calibrated"))
	setKey(root, "calibrated_at", scalar(at.UTC().Format(time.RFC3339)))
	setKey(root, "calibration_size", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: fmt.Sprint(m.N)})
	out, err := repo.EncodeYAML(&doc)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return repo.WriteFileAtomic(path, out, 0o644)
}

func scalar(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

// number writes a metric with four decimals at most.
func number(f float64) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Value: strconv.FormatFloat(roundTo(f, 4), 'f', -1, 64)}
}

func roundTo(f float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(f*p) / p
}

func getKey(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// setKey replaces a key's value (keeping the key's comments) or appends it.
func setKey(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			old := m.Content[i+1]
			if old != v {
				v.LineComment, v.FootComment = old.LineComment, old.FootComment
				if v.HeadComment == "" {
					v.HeadComment = old.HeadComment
				}
			}
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}

func delKey(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}
