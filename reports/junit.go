package reports

import (
	"encoding/xml"
	"fmt"
	"sort"
	"strings"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
)

// caseResult is one case of one iteration: the first repetition in full,
// the others counted.
type caseResult struct {
	ID, Name    string
	Label       repo.Label // the first repetition's, as in results/<slug>/cases.jsonl
	Score       float64
	Grades      []repo.Grade
	Output      string
	Error       string
	ErrorKind   string
	LatencyMS   float64
	Repetitions int
	Passes      int
}

// iterationCases reads the results of one iteration of a run, one entry per
// case sorted by case ID, with the case names from the run's spec when it
// still loads.
func iterationCases(rs *repo.RunSummary, runDir string, iteration int) ([]*caseResult, error) {
	byID := map[string]*caseResult{}
	err := runstore.At(runDir).Results(func(r *repo.Result) error {
		if r.Iteration != iteration {
			return nil
		}
		c := byID[r.CaseID]
		if c == nil {
			c = &caseResult{ID: r.CaseID, Name: r.CaseID}
			byID[r.CaseID] = c
		}
		c.Repetitions++
		if r.Label == repo.Pass {
			c.Passes++
		}
		if r.Repetition == 0 || c.Repetitions == 1 {
			c.Label, c.Score, c.Grades, c.Output, c.Error, c.ErrorKind, c.LatencyMS = r.Label, r.Score, r.Grades, r.Output, r.Error, r.ErrorKind, r.LatencyMS
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if rs.SpecPath != "" {
		if ls, err := repo.LoadExperiment(rs.SpecPath, repo.LoadOptions{}); err == nil {
			_ = ls.Dataset.Each(func(c *repo.Case) error {
				if r := byID[c.ID]; r != nil && c.Name != "" {
					r.Name = c.Name
				}
				return nil
			})
		}
	}
	out := make([]*caseResult, 0, len(byID))
	for _, c := range byID {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// reason is the first failing grade's reason, or the agent's error.
func (c *caseResult) reason() string {
	if c.Error != "" {
		return c.Error
	}
	for _, g := range c.Grades {
		if g.Label != repo.Pass && g.Label != repo.Skipped && g.Reason != "" {
			return g.Grader + ": " + g.Reason
		}
	}
	return string(c.Label)
}

// details is the failure text: every grade, the failure modes, the error
// and the start of the output.
func (c *caseResult) details() string {
	var b strings.Builder
	fmt.Fprintf(&b, "case %s: %s", c.ID, c.Label)
	if c.Repetitions > 1 {
		fmt.Fprintf(&b, " (%d of %d repetitions passed)", c.Passes, c.Repetitions)
	}
	b.WriteString("\n")
	for _, g := range c.Grades {
		fmt.Fprintf(&b, "%s: %s", g.Grader, g.Label)
		if g.Reason != "" {
			b.WriteString(" — " + g.Reason)
		}
		if len(g.FailureModes) > 0 {
			b.WriteString(" [" + strings.Join(g.FailureModes, ", ") + "]")
		}
		b.WriteString("\n")
	}
	if c.Error != "" {
		fmt.Fprintf(&b, "agent error (%s): %s\n", c.ErrorKind, c.Error)
	}
	if c.Output != "" {
		b.WriteString("output:\n" + ellipsize(c.Output, 1000, 1000) + "\n")
	}
	return b.String()
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure"`
	Error     *junitProblem `xml:"error"`
	Skipped   *junitProblem `xml:"skipped"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// JUnit renders a run as JUnit XML for CI test reporters: one testsuite
// for the experiment and one testcase per case, from iteration 0 (the
// adopted configuration: what the revision does, the same verdicts as the
// committed results/<slug>/cases.jsonl). A case that fails or is partial
// is a <failure>, an agent or grader error an <error>, a skipped case
// <skipped>; the message is the first failing grader's reason.
func JUnit(rs *repo.RunSummary, runDir string) ([]byte, error) {
	cases, err := iterationCases(rs, runDir, 0)
	if err != nil {
		return nil, err
	}
	suite := junitSuite{Name: rs.Slug, Tests: len(cases)}
	if !rs.StartedAt.IsZero() {
		suite.Timestamp = rs.StartedAt.UTC().Format("2006-01-02T15:04:05")
	}
	prop := func(name, value string) {
		suite.Properties = append(suite.Properties, junitProperty{name, value})
	}
	prop("run_id", rs.RunID)
	prop("iteration", "0")
	prop("dataset_id", rs.DatasetID)
	prop("target", rs.Target.String())
	if len(rs.Iterations) > 0 && rs.Iterations[0].Index == 0 {
		it := rs.Iterations[0]
		prop("iteration_id", it.ID)
		prop("parameters_id", it.ParamsID)
		if v, ok := it.Metric(rs.Target.Name); ok {
			prop(rs.Target.Name, num(v))
		}
		prop("decision", it.Decision.Outcome)
	}
	names := map[string]int{}
	for _, c := range cases {
		names[c.Name]++
	}
	var total float64
	for _, c := range cases {
		name := c.Name
		if names[name] > 1 && name != c.ID {
			name += " [" + c.ID + "]"
		}
		tc := junitCase{Name: name, Classname: "selfevals." + rs.Slug, Time: seconds(c.LatencyMS)}
		total += c.LatencyMS
		problem := &junitProblem{Message: clip(oneLine(c.reason()), 500), Type: string(c.Label), Text: c.details()}
		switch c.Label {
		case repo.Pass:
		case repo.Error:
			if c.ErrorKind != "" {
				problem.Type = c.ErrorKind
			}
			tc.Error = problem
			suite.Errors++
		case repo.Skipped:
			tc.Skipped = &junitProblem{Message: problem.Message}
			suite.Skipped++
		default:
			tc.Failure = problem
			suite.Failures++
		}
		suite.Cases = append(suite.Cases, tc)
	}
	suite.Time = seconds(total)
	doc := junitSuites{Name: "selfevals", Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors, Skipped: suite.Skipped, Time: suite.Time, Suites: []junitSuite{suite}}
	b, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(append([]byte(xml.Header), b...), '\n'), nil
}

func seconds(ms float64) string { return fmt.Sprintf("%.3f", ms/1000) }
