package repo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/goccy/go-json"
)

// ResultsSummary is evals/results/<slug>/summary.json: the result of the
// adopted configuration at this revision. It holds no timestamps, run IDs or
// timings, so the same verdicts give the same bytes and `git status` stays
// clean after a rerun.
type ResultsSummary struct {
	SchemaVersion    string                   `json:"schema_version"`
	Experiment       SummaryExperiment        `json:"experiment"`
	DatasetID        string                   `json:"dataset_id"`
	Cases            int                      `json:"cases"`
	Repetitions      int                      `json:"repetitions"`
	ParametersID     string                   `json:"parameters_id"`
	Parameters       Parameters               `json:"parameters"`
	AgentFingerprint string                   `json:"agent_fingerprint"`
	Target           MetricTarget             `json:"target"`
	Primary          *float64                 `json:"primary"`
	TargetMet        bool                     `json:"target_met"`
	Metrics          map[string]SummaryMetric `json:"metrics"`
	FailureModes     map[string]int           `json:"failure_modes"`
	Errors           int                      `json:"errors"`
}

// SummaryExperiment identifies the experiment in a summary.
type SummaryExperiment struct {
	Slug string `json:"slug"`
	ID   string `json:"id"`
	Name string `json:"name"`
}

// SummaryMetric is a metric value and its interval.
type SummaryMetric struct {
	Value float64    `json:"value"`
	CI    [2]float64 `json:"ci"`
	N     int        `json:"n"`
}

// CaseVerdict is one line of evals/results/<slug>/cases.jsonl.
type CaseVerdict struct {
	CaseID       string   `json:"case_id"`
	Name         string   `json:"name,omitempty"`
	Label        Label    `json:"label"`
	Score        float64  `json:"score"`
	PassRate     float64  `json:"pass_rate"`
	Repetitions  int      `json:"repetitions"`
	FailureModes []string `json:"failure_modes,omitempty"`
	// Reason is the first failing grader's reason (for PR comments).
	Reason string `json:"reason,omitempty"`
	// Definition is the case's repo.CaseDefinition when it ran; absent in
	// results written before it was recorded.
	Definition string `json:"definition,omitempty"`
}

// EncodeResults renders summary.json and cases.jsonl, byte-for-byte the same
// for the same inputs (fixed field order, sorted maps and cases).
func EncodeResults(s *ResultsSummary, cases []CaseVerdict) (summary, casesJSONL []byte, err error) {
	summary, err = json.MarshalIndentWithOption(s, "", "  ", json.DisableHTMLEscape())
	if err != nil {
		return nil, nil, err
	}
	summary = append(summary, '\n')
	sorted := cases
	if !slices.IsSortedFunc(cases, compareVerdicts) {
		sorted = append([]CaseVerdict(nil), cases...)
		sortVerdicts(sorted)
	}
	// One line per case, written by hand (the bytes goccy wrote before):
	// it runs at the end of every run, for every case.
	w := jsonAppender{buf: make([]byte, 0, len(sorted)*96)}
	for i := range sorted {
		sorted[i].appendJSON(&w)
		w.ch('\n')
	}
	if w.err != nil {
		return nil, nil, w.err
	}
	return summary, w.buf, nil
}

// sortVerdicts orders verdicts by case ID, the order of cases.jsonl.
func sortVerdicts(vs []CaseVerdict) { slices.SortFunc(vs, compareVerdicts) }

func compareVerdicts(a, b CaseVerdict) int { return strings.Compare(a.CaseID, b.CaseID) }

// ReadSummary reads an experiment's summary.json.
func ReadSummary(data []byte) (*ResultsSummary, error) {
	var s ResultsSummary
	if err := DecodeJSON(data, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// ReadCaseVerdicts reads a cases.jsonl, the one parser of that file: the
// verdicts sorted by case ID (as the file is written; a hand-edited one is
// sorted again). Each line that is not a verdict is a Problem at
// path:line, and the verdicts of the other lines come with them, for
// readers that show what they can of a damaged file.
func ReadCaseVerdicts(r io.Reader, path string) ([]CaseVerdict, error) {
	var out []CaseVerdict
	err := EachCaseVerdict(r, path, func(v *CaseVerdict) error {
		out = append(out, *v)
		return nil
	})
	var probs Problems
	if err != nil && !errors.As(err, &probs) {
		return nil, err
	}
	if !slices.IsSortedFunc(out, compareVerdicts) {
		slices.SortStableFunc(out, compareVerdicts)
	}
	return out, probs.Err()
}

// EachCaseVerdict streams a cases.jsonl's verdicts to fn in file order (a
// line at a time, for files too large to hold). Lines that are not
// verdicts are skipped and returned together as Problems at the end.
func EachCaseVerdict(r io.Reader, path string, fn func(*CaseVerdict) error) error {
	var probs Problems
	err := EachLine(r, func(raw []byte, line int, _ int64, _ bool) error {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			return nil
		}
		var v CaseVerdict
		if err := DecodeJSON(raw, &v); err != nil || v.CaseID == "" {
			probs = append(probs, Problem{File: path, Line: line, Msg: fmt.Sprintf("line %d is not a case verdict", line)})
			return nil
		}
		return fn(&v)
	})
	if errors.Is(err, ErrLineTooLong) {
		return Problems{{File: path, Msg: err.Error()}}
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return probs.Err()
}

// StaleResults says what a committed summary no longer matches: the spec
// (its exp_ ID), the dataset (ds_) or the spec's adopted parameters (par_)
// it is committed next to, e.g. after a merge kept one side's results.
// Empty IDs are not compared; "" when everything matches.
func StaleResults(s *ResultsSummary, specID, datasetID, paramsID string) string {
	var what []string
	for _, c := range []struct{ name, was, now string }{
		{"spec", s.Experiment.ID, specID},
		{"dataset", s.DatasetID, datasetID},
		{"adopted parameters", s.ParametersID, paramsID},
	} {
		if c.was != "" && c.now != "" && c.was != c.now {
			what = append(what, fmt.Sprintf("the %s (%s, now %s)", c.name, c.was, c.now))
		}
	}
	if len(what) == 0 {
		return ""
	}
	return "was written for another version of " + strings.Join(what, " and ") + ": rerun the experiment and commit its results"
}

// StaleResultsAt reads the committed summary of ls in evalsDir, if there is
// one, and says what it no longer matches ("" when it matches or there is
// none to read).
func StaleResultsAt(evalsDir string, ls *LoadedSpec) string {
	path := Dir(evalsDir).Summary(ls.Slug)
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	s, err := ReadSummary(data)
	if err != nil {
		return ""
	}
	if why := StaleResultsOf(s, ls); why != "" {
		return path + " " + why
	}
	return ""
}

// StaleResultsOf is StaleResults of a summary already read, against the
// spec, dataset and adopted parameters of ls.
func StaleResultsOf(s *ResultsSummary, ls *LoadedSpec) string {
	if ls.Dataset == nil {
		return ""
	}
	params := ""
	if ls.Spec.Experiment.Parameters != nil {
		params = ls.Spec.Experiment.Parameters.ID()
	}
	return StaleResults(s, ls.ID, ls.Dataset.ID, params)
}
