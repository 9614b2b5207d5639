package repo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"
)

// GraderCard is evals/graders/<name>.yaml: what a grader is for, how well it
// agrees with people, and the thresholds it must meet to block.
type GraderCard struct {
	Name            string         `yaml:"name"`
	Purpose         string         `yaml:"purpose,omitempty"`
	GraderKind      string         `yaml:"grader_kind,omitempty"`
	Method          string         `yaml:"method,omitempty"`
	Blocking        bool           `yaml:"blocking,omitempty"`
	HumanReference  string         `yaml:"human_reference,omitempty"`
	Metrics         CardMetrics    `yaml:"metrics,omitempty"`
	Thresholds      CardThresholds `yaml:"thresholds,omitempty"`
	ReviewCadence   string         `yaml:"review_cadence,omitempty"`
	State           string         `yaml:"state,omitempty"`
	CalibratedAt    string         `yaml:"calibrated_at,omitempty"`
	CalibrationSize int            `yaml:"calibration_size,omitempty"`
}

// CardMetrics are agreement metrics against human labels.
type CardMetrics struct {
	Precision              *float64 `yaml:"precision,omitempty"`
	Recall                 *float64 `yaml:"recall,omitempty"`
	F1                     *float64 `yaml:"f1,omitempty"`
	MacroF1                *float64 `yaml:"macro_f1,omitempty"`
	CohensKappa            *float64 `yaml:"cohens_kappa,omitempty"`
	Accuracy               *float64 `yaml:"accuracy,omitempty"`
	HighRiskFalseNegatives *int     `yaml:"high_risk_false_negatives,omitempty"`
}

// CardThresholds are what a blocking grader must meet.
type CardThresholds struct {
	MinPrecision              *float64 `yaml:"min_precision,omitempty"`
	MinRecall                 *float64 `yaml:"min_recall,omitempty"`
	MinF1                     *float64 `yaml:"min_f1,omitempty"`
	MaxHighRiskFalseNegatives *int     `yaml:"max_high_risk_false_negatives,omitempty"`
}

// LoadGraderCard reads and validates a grader card.
func LoadGraderCard(path string) (*GraderCard, error) {
	return loadGraderCard(osFile(path))
}

// LoadGraderCardFS is LoadGraderCard for the file at name in fsys.
func LoadGraderCardFS(fsys fs.FS, name string) (*GraderCard, error) {
	return loadGraderCard(fsFile(fsys, name))
}

func loadGraderCard(f file) (*GraderCard, error) {
	path := f.name
	data, err := f.read()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, Userf("grader card not found: %s", path)
		}
		return nil, err
	}
	node, err := parseYAML(path, data)
	if err != nil {
		return nil, err
	}
	// Shape and value problems come in one report: a value the strict
	// decode reported is left out, and no check repeats it.
	var c GraderCard
	probs, broken := decodeLenient(path, node, &c, "")
	add := func(field, msg, hint string) {
		if !broken.at(field) {
			probs = append(probs, at(path, node, field, msg, hint))
		}
	}
	if c.Name == "" {
		add("name", "required", "the grader's name in the spec's graders:")
	}
	if c.State != "" && !oneOf(c.State, "calibrating", "calibrated", "in_use", "drifting", "recalibrating", "retired") {
		add("state", fmt.Sprintf("unknown state %q", c.State), "calibrating, calibrated, in_use, drifting, recalibrating or retired")
	}
	for _, m := range []struct {
		f string
		v *float64
	}{{"metrics.precision", c.Metrics.Precision}, {"metrics.recall", c.Metrics.Recall}, {"metrics.f1", c.Metrics.F1}, {"metrics.macro_f1", c.Metrics.MacroF1}, {"metrics.accuracy", c.Metrics.Accuracy},
		{"thresholds.min_precision", c.Thresholds.MinPrecision}, {"thresholds.min_recall", c.Thresholds.MinRecall}, {"thresholds.min_f1", c.Thresholds.MinF1}} {
		if m.v != nil && (*m.v < 0 || *m.v > 1) {
			add(m.f, "must be between 0 and 1", "")
		}
	}
	if c.Blocking && !broken.under("thresholds") {
		t := c.Thresholds
		if t.MinPrecision == nil || *t.MinPrecision < 0.90 || t.MinRecall == nil || *t.MinRecall < 0.95 || t.MaxHighRiskFalseNegatives == nil || *t.MaxHighRiskFalseNegatives != 0 {
			add("thresholds", "a blocking grader must declare strict calibration thresholds",
				"min_precision >= 0.90, min_recall >= 0.95, max_high_risk_false_negatives: 0")
		}
	}
	if len(probs) > 0 {
		probs.SortByLine()
		return nil, probs
	}
	return &c, nil
}

// WriteCardMetrics records a calibration in the grader card at path: the
// metrics (a nil one is removed), calibrated_at, calibration_size (the number
// of labelled examples) and state: calibrated. An existing card is edited in
// place (comments and every other key kept); a missing one is created. The
// file is written atomically and in selfevals fmt's form.
func WriteCardMetrics(path, grader string, m CardMetrics, size int, at time.Time) error {
	var doc yaml.Node
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if probs := CheckUTF8(path, data); probs != nil {
			return probs // rewriting would turn the bad bytes into U+FFFD
		}
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return &UserError{Msg: fmt.Sprintf("%s: invalid YAML: %v", path, err), Hint: "fix the card, or move it away to have a new one written"}
		}
	case os.IsNotExist(err):
	default:
		return err
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
		root := doc.Content[0]
		setKey(root, "name", strNode(grader))
		setKey(root, "purpose", strNode("TODO: what this judge decides, and for which cases"))
		setKey(root, "grader_kind", strNode("llm_judge"))
		setKey(root, "method", strNode("human_labels"))
		setKey(root, "blocking", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "false"})
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return Userf("%s: a grader card must be a mapping", path)
	}
	metrics := &yaml.Node{Kind: yaml.MappingNode}
	if _, old := mappingEntry(root, "metrics"); old != nil && old.Kind == yaml.MappingNode {
		metrics = old // keep other metrics (spearman, mae, ...) and comments
	}
	setNum := func(key string, v *float64) {
		if v == nil {
			delKey(metrics, key)
			return
		}
		setKey(metrics, key, floatNode(*v, 4))
	}
	setNum("precision", m.Precision)
	setNum("recall", m.Recall)
	setNum("f1", m.F1)
	setNum("macro_f1", m.MacroF1)
	setNum("cohens_kappa", m.CohensKappa)
	setNum("accuracy", m.Accuracy)
	if m.HighRiskFalseNegatives == nil {
		delKey(metrics, "high_risk_false_negatives")
	} else {
		setKey(metrics, "high_risk_false_negatives", intNode(*m.HighRiskFalseNegatives))
	}
	setKey(root, "metrics", metrics)
	setKey(root, "state", strNode("calibrated"))
	setKey(root, "calibrated_at", strNode(at.UTC().Format(time.RFC3339)))
	setKey(root, "calibration_size", intNode(size))
	out, err := EncodeYAML(&doc)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return WriteFileAtomic(path, out, 0o644)
}
