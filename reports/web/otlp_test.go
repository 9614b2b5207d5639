package web

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-json"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
	"github.com/selfevals/selfevals/repo/runstore/tracefile"
	"github.com/selfevals/selfevals/runner"
)

// otlpResult is a call whose agent sent spans over OTLP: invoke_agent at
// the top, chat and execute_tool inside it, and the tool call its
// execute_tool span gave.
func otlpResult(runID string) *repo.Result {
	start := time.Now().UTC()
	at := func(ms int) string { return start.Add(time.Duration(ms) * time.Millisecond).Format(time.RFC3339Nano) }
	return &repo.Result{Trace: repo.Trace{
		ID: runner.TraceID("case_otlp", "par_x", 0, 0, runID), CaseID: "case_otlp", ParamsID: "par_x",
		Output: "done", StartedAt: at(0), LatencyMS: 40, Attempts: 1, Model: "m", Usage: repo.Usage{InputTokens: 5, OutputTokens: 2},
		Spans: []repo.Span{
			{Kind: "execute_tool", Name: "execute_tool search", SpanID: "00000000000000b2", ParentID: "00000000000000a1", OTelKind: "internal",
				Start: at(20), DurationMS: 5, Status: "error", StatusMessage: "no hits"},
			{Kind: "chat", Name: "chat m", SpanID: "00000000000000b1", ParentID: "00000000000000a1", OTelKind: "client",
				Start: at(2), DurationMS: 10, Status: "unset", Attributes: json.RawMessage(`{"gen_ai.usage.input_tokens":5}`),
				Events: []repo.SpanEvent{{Name: "gen_ai.choice", Time: at(11)}}},
			{Kind: "invoke_agent", Name: "invoke_agent support", SpanID: "00000000000000a1", OTelKind: "internal", Start: at(1), DurationMS: 30, Status: "unset"},
		},
		ToolCalls: []repo.ToolCall{{Name: "search", DurationMS: 5, Error: "no hits"}},
	}, Label: repo.Pass, Score: 1, Grades: []repo.Grade{{Grader: "rules", Label: repo.Pass}}}
}

// The trace page nests OTLP spans as the agent did, from results.jsonl
// and from traces.parquet alike, and shows each one's OTel kind, status
// message and events.
func TestTraceTreeOfOTLPSpans(t *testing.T) {
	f := newFixture(t)
	const runID = "run_otlp000000000001"
	dir := filepath.Join(f.evals, "runs", "chat", runID)
	os.MkdirAll(dir, 0o755)
	r := otlpResult(runID)
	appendLine(t, dir, r, true)
	man := &repo.RunManifest{RunID: runID, Experiment: "chat", ExperimentID: "exp_x", DatasetID: "ds_x", Cases: 1,
		StartedAt: r.StartedAt, EndedAt: r.StartedAt, State: "completed", Repetitions: 1, MaxIterations: 1,
		Target: repo.MetricTarget{Name: "pass@1", Operator: ">=", Value: 0.5}}
	if err := runstore.At(dir).WriteManifest(man); err != nil {
		t.Fatal(err)
	}

	check := func(source string) {
		t.Helper()
		var tv TraceView
		f.get(t, "/api/traces/"+r.ID, &tv)
		if tv.Source != source || tv.Tree == nil {
			t.Fatalf("source %s, want %s: %+v", tv.Source, source, tv)
		}
		var got []string
		for _, sp := range tv.Spans {
			got = append(got, strings.Repeat("  ", sp.Depth)+sp.Kind+" "+sp.Name)
		}
		want := []string{"agent_call call", "  invoke_agent invoke_agent support", "    chat chat m", "    execute_tool execute_tool search", "  tool_call search"}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: tree\n%s\nwant\n%s", source, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		for _, sp := range tv.Spans {
			switch sp.Kind {
			case "chat":
				ev, _ := json.Marshal(sp.Detail["events"])
				if sp.Detail["otel_kind"] != "client" || !strings.Contains(string(ev), "gen_ai.choice") || sp.ID != r.ID+"/00000000000000b1" {
					t.Errorf("%s: chat span %+v", source, sp)
				}
			case "execute_tool":
				if sp.Detail["status"] != "error" || sp.Detail["error"] != "no hits" {
					t.Errorf("%s: execute_tool span %+v", source, sp.Detail)
				}
			}
		}
		resp, err := http.Get(f.ts.URL + "/traces/" + r.ID)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// The chat span's block sits inside invoke_agent's.
		html := string(page)
		agentAt, chatAt := strings.Index(html, "<b>invoke_agent support</b>"), strings.Index(html, "<b>chat m</b>")
		if agentAt < 0 || chatAt < agentAt || strings.Count(html[agentAt:chatAt], "</details>") != 0 {
			t.Errorf("%s: the page does not nest chat inside invoke_agent", source)
		}
	}
	check(repo.RunResultsName)

	tw, err := tracefile.Create(filepath.Join(dir, "traces.parquet"), runID)
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Write(r); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	check(repo.TracesName)
}
