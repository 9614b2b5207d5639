package reports

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/selfevals/selfevals/repo"
)

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
	XMLName   xml.Name      `xml:"testcase"` // marshalled on its own as it streams
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

// JUnit renders a run as JUnit XML for CI test reporters (see WriteJUnit).
func JUnit(rs *repo.RunSummary, runDir string) ([]byte, error) {
	var b bytes.Buffer
	err := WriteJUnit(&b, rs, runDir)
	return b.Bytes(), err
}

// WriteJUnit writes a run as JUnit XML for CI test reporters: one
// testsuite for the experiment and one testcase per case, from iteration 0
// (the adopted configuration: what the revision does, the same verdicts as
// the committed results/<slug>/cases.jsonl). A case that fails or is
// partial is a <failure>, an agent or grader error an <error>, a skipped
// case <skipped>; the message is the first failing grader's reason.
//
// The testcases stream, in case ID order, to a temporary file as results
// are read; the counts on the suites, known at the end, are written first
// and the testcases copied after them, so memory stays bounded.
func WriteJUnit(w io.Writer, rs *repo.RunSummary, runDir string) error {
	return writeJUnit(w, rs, runDir, caseOptions{uniqueNames: true})
}

func writeJUnit(w io.Writer, rs *repo.RunSummary, runDir string, opts caseOptions) error {
	body, err := newSpool()
	if err != nil {
		return err
	}
	defer body.Close()
	suite := junitSuiteHead(rs)
	var total float64
	var buf []byte
	err = eachIterationCase(rs, runDir, 0, opts, func(c *caseResult) error {
		suite.Tests++
		total += c.LatencyMS
		buf = appendTestcase(buf[:0], junitCaseOf(rs, c, &suite))
		_, err := body.Write(buf)
		return err
	})
	if err != nil {
		return err
	}
	suite.Time = seconds(total)
	doc := junitSuites{Name: "selfevals", Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors, Skipped: suite.Skipped, Time: suite.Time, Suites: []junitSuite{suite}}
	b, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	// The document without testcases ends with the suite's closing tags:
	// the testcases go before them.
	cut := bytes.LastIndex(b, []byte("\n  </testsuite>"))
	head := append([]byte(xml.Header), b[:cut]...)
	return body.CopyTo(w, head, append(b[cut:], '\n'))
}

// junitSuiteHead is the suite of a run with its properties and no cases.
func junitSuiteHead(rs *repo.RunSummary) junitSuite {
	suite := junitSuite{Name: rs.Slug}
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
	return suite
}

// junitCaseOf is a case's testcase, counted in the suite.
func junitCaseOf(rs *repo.RunSummary, c *caseResult, suite *junitSuite) junitCase {
	tc := junitCase{Name: c.Name, Classname: "selfevals." + rs.Slug, Time: seconds(c.LatencyMS)}
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
	return tc
}

// appendTestcase appends a newline and a testcase as xml.MarshalIndent
// writes it at the depth of the suite's testcases (TestAppendTestcase holds
// the two to the same bytes), without its reflection: a testcase per case
// of a run of a million.
func appendTestcase(b []byte, tc junitCase) []byte {
	b = append(b, "\n    <testcase"...)
	b = appendAttr(b, "name", tc.Name)
	b = appendAttr(b, "classname", tc.Classname)
	b = appendAttr(b, "time", tc.Time)
	b = append(b, '>')
	child := func(tag string, p *junitProblem) {
		if p == nil {
			return
		}
		b = append(b, "\n      <"+tag...)
		b = appendAttr(b, "message", p.Message)
		if p.Type != "" {
			b = appendAttr(b, "type", p.Type)
		}
		b = append(b, '>')
		b = appendEscaped(b, p.Text)
		b = append(b, "</"+tag+">"...)
	}
	child("failure", tc.Failure)
	child("error", tc.Error)
	child("skipped", tc.Skipped)
	if tc.Failure != nil || tc.Error != nil || tc.Skipped != nil {
		b = append(b, "\n    "...)
	}
	return append(b, "</testcase>"...)
}

func appendAttr(b []byte, name, value string) []byte {
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, `="`...)
	b = appendEscaped(b, value)
	return append(b, '"')
}

// appendEscaped appends s escaped as encoding/xml escapes text and
// attributes.
func appendEscaped(b []byte, s string) []byte {
	w := bytes.NewBuffer(b)
	xml.EscapeText(w, []byte(s))
	return w.Bytes()
}

func seconds(ms float64) string { return fmt.Sprintf("%.3f", ms/1000) }
