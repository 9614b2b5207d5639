package runner

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goccy/go-json"

	"github.com/selfevals/selfevals/internal/testnode"
	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
	"github.com/selfevals/selfevals/repo/runstore/tracefile"
)

var (
	otelAgentOnce sync.Once
	otelAgentPath string
	otelAgentErr  error
)

// otelAgent builds testdata/otelagent (the OpenTelemetry Go SDK with the
// otlptracehttp exporter) once per test binary.
func otelAgent(t *testing.T) string {
	t.Helper()
	otelAgentOnce.Do(func() {
		otelAgentPath = filepath.Join(testDir, "otelagent")
		out, err := exec.Command("go", "build", "-o", otelAgentPath, "./testdata/otelagent").CombinedOutput()
		if err != nil {
			otelAgentErr = fmt.Errorf("build testdata/otelagent: %v\n%s", err, out)
		}
	})
	if otelAgentErr != nil {
		t.Fatal(otelAgentErr)
	}
	return otelAgentPath
}

// otelSpec is an experiment whose agent is argv with agent.otlp on, over
// n cases that each require the tool the agent reports only as a span.
func otelSpec(t *testing.T, agent string, n int) *repo.LoadedSpec {
	t.Helper()
	return otelSpecWith(t, agent, n, func(int) string { return "" })
}

// otelSpecWith is otelSpec with more input fields for case i (a JSON
// fragment ending in a comma).
func otelSpecWith(t *testing.T, agent string, n int, input func(i int) string) *repo.LoadedSpec {
	t.Helper()
	spec := `experiment:
  name: otel
  goal: see inside the agent
  target:
    primary: {name: pass@1, operator: ">=", value: 0.9}
  run: {max_iterations: 1, parallelism: 16, timeout: 30s}
dataset:
  cases_path: ../datasets/d.jsonl
agent:
` + agent + `
graders:
  - {type: deterministic, name: rules}
`
	var cases strings.Builder
	for i := range n {
		fmt.Fprintf(&cases, `{"name":"c%02d","input":{%s"tokens":%d,"tool":"lookup_%d"},"expected":{"required_tools":["lookup_%d"]}}`+"\n", i, input(i), i+1, i, i)
	}
	return loadSpec(t, spec, cases.String())
}

// runSession runs ls with its own agent (the adapter the spec configures,
// so the run's OTLP environment reaches it) and returns the summary and
// the run's results by case name.
func runSession(t *testing.T, ls *repo.LoadedSpec) (*repo.RunSummary, map[string]*repo.Result, string) {
	t.Helper()
	evals := t.TempDir()
	s, err := Open(ls, OpenOptions{EvalsDir: evals, Fingerprint: "agt_test", NoCache: true, NoCommit: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runDir := s.Record.Run.Path()
	rs, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{} // case ID → name
	ls.Dataset.Each(func(c *repo.Case) error {
		names[c.ID] = c.Name
		return nil
	})
	byName := map[string]*repo.Result{}
	rr := runstore.ResultsReader{Path: runstore.At(runDir).Dir().Results()}
	if err := rr.Each(func(r *repo.Result) error {
		byName[names[r.CaseID]] = r
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return rs, byName, runDir
}

// checkOTelCall checks what the Go agent's spans made of call i: its three
// spans, every one tagged with this case, nested as the agent made them,
// and the usage, model, tool call and cost they carry.
func checkOTelCall(t *testing.T, i int, r *repo.Result) {
	t.Helper()
	if r == nil {
		t.Fatalf("c%02d: no result", i)
	}
	if len(r.Spans) != 3 {
		t.Fatalf("c%02d: %d spans, want 3: %+v", i, len(r.Spans), r.Spans)
	}
	var top string
	for _, sp := range r.Spans {
		var attrs map[string]any
		if err := json.Unmarshal(sp.Attributes, &attrs); err != nil {
			t.Fatalf("c%02d: span %s attributes %s: %v", i, sp.Name, sp.Attributes, err)
		}
		if attrs["test.case_id"] != r.CaseID {
			t.Errorf("c%02d: span %s of case %v landed in case %s", i, sp.Name, attrs["test.case_id"], r.CaseID)
		}
		if sp.Kind == "invoke_agent" {
			top = sp.SpanID
		}
	}
	for _, sp := range r.Spans {
		switch sp.Kind {
		case "invoke_agent":
			if sp.ParentID != "" {
				t.Errorf("c%02d: the top span has parent %q, want none (under the call)", i, sp.ParentID)
			}
		case "chat", "execute_tool":
			if sp.ParentID != top || top == "" {
				t.Errorf("c%02d: span %s has parent %q, want the invoke_agent span %q", i, sp.Name, sp.ParentID, top)
			}
		default:
			t.Errorf("c%02d: unexpected span kind %q (%s)", i, sp.Kind, sp.Name)
		}
		if sp.Kind == "chat" && (sp.OTelKind != "client" || len(sp.Events) != 1 || sp.Events[0].Name != "gen_ai.choice") {
			t.Errorf("c%02d: chat span kind %q events %+v", i, sp.OTelKind, sp.Events)
		}
	}
	want := repo.Usage{InputTokens: int64(i + 1), OutputTokens: int64(2 * (i + 1))}
	if r.Usage != want || r.Model != "gpt-test-2025-01-01" {
		t.Errorf("c%02d: usage %+v model %q, want %+v gpt-test-2025-01-01", i, r.Usage, r.Model, want)
	}
	// gpt-test at $1 in, $2 out per million tokens; the dated model is priced as gpt-test.
	if wantCost := float64(i+1)*1e-6 + float64(2*(i+1))*2e-6; !r.CostReported || diff(r.CostUSD, wantCost) > 1e-12 {
		t.Errorf("c%02d: cost %v (reported %v), want %v", i, r.CostUSD, r.CostReported, wantCost)
	}
	tool := fmt.Sprintf("lookup_%d", i)
	if len(r.ToolCalls) != 1 || r.ToolCalls[0].Name != tool || string(r.ToolCalls[0].Arguments) != `{"case":"`+r.CaseID+`"}` {
		t.Errorf("c%02d: tool calls %+v, want %s", i, r.ToolCalls, tool)
	}
	if r.Label != repo.Pass {
		t.Errorf("c%02d: label %s (%+v), want pass through the execute_tool span", i, r.Label, r.Grades)
	}
}

func diff(a, b float64) float64 {
	if a > b {
		return a - b
	}
	return b - a
}

const otelPrices = `  otlp:
    grace: 5s
    prices: {gpt-test: {input_per_mtok: 1, output_per_mtok: 2}}`

// The Go OpenTelemetry SDK as a command agent, one process per call, 48
// calls 16 at a time: every span lands in its own case, and the agent's
// usage, model, tool calls and cost come through its spans alone.
func TestOTLPGoSDKCommandAgent(t *testing.T) {
	bin := otelAgent(t)
	ls := otelSpec(t, "  command: ["+bin+"]\n"+otelPrices, 48)
	rs, results, runDir := runSession(t, ls)
	if len(results) != 48 {
		t.Fatalf("%d results", len(results))
	}
	for i := range 48 {
		checkOTelCall(t, i, results[fmt.Sprintf("c%02d", i)])
	}
	for _, w := range rs.Warnings {
		if strings.Contains(w, "otlp") {
			t.Errorf("warning: %s", w)
		}
	}
	checkTracesParquet(t, runDir, results)
}

// The same SDK as a worker: 16 long-lived processes, each call's
// traceparent in its request's metadata, spans exported by the batch
// processor after the answer, within the grace period.
func TestOTLPGoSDKWorkerAgent(t *testing.T) {
	bin := otelAgent(t)
	ls := otelSpec(t, "  command: ["+bin+", -worker]\n  worker: true\n"+otelPrices, 64)
	_, results, _ := runSession(t, ls)
	if len(results) != 64 {
		t.Fatalf("%d results", len(results))
	}
	for i := range 64 {
		checkOTelCall(t, i, results[fmt.Sprintf("c%02d", i)])
	}
}

// required_tools passes only through the execute_tool span: the same
// agent without agent.otlp reports no tool and fails every case.
func TestOTLPRequiredToolsOnlyThroughExecuteToolSpan(t *testing.T) {
	bin := otelAgent(t)
	_, with, _ := runSession(t, otelSpec(t, "  command: ["+bin+"]\n  otlp: true", 4))
	_, without, _ := runSession(t, otelSpec(t, "  command: ["+bin+"]", 4))
	for i := range 4 {
		name := fmt.Sprintf("c%02d", i)
		if r := with[name]; r.Label != repo.Pass || len(r.ToolCalls) != 1 {
			t.Errorf("%s with otlp: label %s, tool calls %+v", name, r.Label, r.ToolCalls)
		}
		r := without[name]
		if r.Label != repo.Fail || len(r.ToolCalls) != 0 || len(r.Spans) != 0 {
			t.Errorf("%s without otlp: label %s, tool calls %+v, spans %d", name, r.Label, r.ToolCalls, len(r.Spans))
		}
		if r.Usage != (repo.Usage{}) || r.Model != "" {
			t.Errorf("%s without otlp: usage %+v model %q", name, r.Usage, r.Model)
		}
	}
}

// A top span with error status is the call's error.
func TestOTLPErrorSpanFailsTheCall(t *testing.T) {
	bin := otelAgent(t)
	spec := `experiment:
  name: otel
  goal: errors
  target:
    primary: {name: pass@1, operator: ">=", value: 0.9}
  run: {max_iterations: 1, parallelism: 2}
dataset:
  cases_path: ../datasets/d.jsonl
agent:
  command: [` + bin + `]
  otlp: true
`
	ls := loadSpec(t, spec, `{"name":"bad","input":{"fail":true}}`+"\n"+`{"name":"good","input":{}}`+"\n")
	_, results, _ := runSession(t, ls)
	if r := results["bad"]; r.Error != "span invoke_agent support: the model refused" || r.ErrorKind != repo.ErrAgent {
		t.Errorf("bad: error %q (%s)", r.Error, r.ErrorKind)
	}
	if r := results["good"]; r.Error != "" {
		t.Errorf("good: error %q", r.Error)
	}
}

// Spans past max_spans are counted on their call; a span in a trace that
// selfevals did not hand out goes to no call and is reported in the run's
// warnings.
func TestOTLPCapsAndForeignSpans(t *testing.T) {
	bin := otelAgent(t)
	spec := `experiment:
  name: otel
  goal: bounds
  target:
    primary: {name: pass@1, operator: ">=", value: 0.9}
  run: {max_iterations: 1, parallelism: 2}
dataset:
  cases_path: ../datasets/d.jsonl
agent:
  command: [` + bin + `]
  otlp: {max_spans: 2}
`
	ls := loadSpec(t, spec, `{"name":"stray","input":{"foreign":true}}`+"\n"+`{"name":"plain","input":{}}`+"\n")
	rs, results, _ := runSession(t, ls)
	for name, r := range results {
		if len(r.Spans) != 2 || r.SpansDropped != 1 {
			t.Errorf("%s: %d spans kept, %d dropped; want 2 and 1", name, len(r.Spans), r.SpansDropped)
		}
		for _, sp := range r.Spans {
			if sp.Name == "stray" {
				t.Errorf("%s: the foreign span landed in the case", name)
			}
		}
	}
	warned := false
	for _, w := range rs.Warnings {
		warned = warned || strings.Contains(w, "agent.otlp: spans of no call in flight, left out: 1 (")
	}
	if !warned {
		t.Errorf("no warning of the foreign span: %q", rs.Warnings)
	}
}

// traces.parquet holds each call's spans as rows under the call's root,
// nested as the agent nested them.
func checkTracesParquet(t *testing.T, runDir string, results map[string]*repo.Result) {
	t.Helper()
	byTrace := map[string][]runstore.TraceRow{}
	err := tracefile.ReadRows(runstore.At(runDir).Dir().Traces(), func(row runstore.TraceRow) error {
		byTrace[row.TraceID] = append(byTrace[row.TraceID], row)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range results {
		rows := byTrace[r.ID]
		ids := map[string]runstore.TraceRow{}
		for _, row := range rows {
			ids[row.SpanID] = row
		}
		root := r.ID + "/0"
		kinds := map[string]string{} // kind → parent kind
		for _, row := range rows {
			if row.SpanID == root {
				continue
			}
			parent, ok := ids[row.ParentSpanID]
			if !ok {
				t.Fatalf("%s: row %s (%s) has parent %q, not a row of the call", name, row.SpanID, row.Kind, row.ParentSpanID)
			}
			kinds[row.Kind] = parent.Kind
		}
		want := map[string]string{"invoke_agent": "agent_call", "chat": "invoke_agent", "execute_tool": "invoke_agent", "tool_call": "agent_call"}
		if fmt.Sprint(kinds) != fmt.Sprint(want) {
			t.Fatalf("%s: row kinds under their parents %v, want %v", name, kinds, want)
		}
		for _, row := range rows {
			if row.Kind == "chat" && (row.OTelKind != "client" || !strings.Contains(row.Events, "gen_ai.choice")) {
				t.Errorf("%s: chat row otel_kind %q events %q", name, row.OTelKind, row.Events)
			}
		}
	}
}

// The OpenTelemetry JS SDK (sdk-trace-node) as a command agent, 32 calls
// 16 at a time, half exporting with the protobuf OTLP exporter and half
// with the JSON one (hex IDs): every span lands in its own case.
func TestOTLPNodeSDKCommandAgent(t *testing.T) {
	modules := testnode.Modules(t, "@opentelemetry/sdk-trace-node")
	script, err := filepath.Abs("testdata/otelagent.js")
	if err != nil {
		t.Fatal(err)
	}
	agent := "  command: [node, " + script + "]\n  env: {NODE_PATH: " + modules + "}\n" + otelPrices
	exporter := func(i int) string { return []string{"proto", "json"}[i%2] }
	ls := otelSpecWith(t, agent, 32, func(i int) string { return `"exporter":"` + exporter(i) + `",` })
	// Node starts slowly on a busy machine: a generous timeout.
	ls.Spec.Experiment.Run.Timeout = repo.Duration(3 * time.Minute)
	rs, results, _ := runSession(t, ls)
	if len(results) != 32 {
		t.Fatalf("%d results", len(results))
	}
	for i := range 32 {
		r := results[fmt.Sprintf("c%02d", i)]
		if r != nil && r.Error != "" {
			t.Fatalf("c%02d (%s exporter): %s\n%s", i, exporter(i), r.Error, r.Stderr)
		}
		checkOTelCall(t, i, r)
	}
	for _, w := range rs.Warnings {
		if strings.Contains(w, "otlp") {
			t.Errorf("warning: %s", w)
		}
	}
}
