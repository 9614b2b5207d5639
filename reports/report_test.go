package reports

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/runner"
	"github.com/selfevals/selfevals/runner/adapters"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// pingpongRun runs this project's pingpong experiment with the built-in
// agent and pins what varies between runs (times, latencies, run ID).
func pingpongRun(t *testing.T) *repo.RunSummary {
	t.Helper()
	ls, err := repo.LoadExperiment("../evals/experiments/pingpong.yaml", repo.LoadOptions{Root: ".."})
	if err != nil {
		t.Fatal(err)
	}
	agent, err := adapters.NewBuiltin("pingpong")
	if err != nil {
		t.Fatal(err)
	}
	// The run is recorded in a scratch evals/ directory, as `selfevals run
	// --no-commit --no-cache` would.
	ls.Spec.Experiment.Run.Parallelism = 2
	session, err := runner.Open(ls, runner.OpenOptions{EvalsDir: t.TempDir(), Adapter: agent, Fingerprint: "agt_fixed",
		NoCache: true, NoCommit: "test", ToolVersion: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	rs, err := session.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rs.RunID = "run_0000000000000000"
	rs.StartedAt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rs.EndedAt = rs.StartedAt.Add(time.Second)
	rs.Committed = "Nothing was committed (--no-commit)."
	rs.SpecPath = "evals/experiments/pingpong.yaml"
	for _, it := range rs.Iterations {
		it.DurationMS = 12
		for _, name := range []string{"latency_ms_p50", "latency_ms_p95", "latency_ms_per_case_avg"} {
			m := it.Metrics[name]
			m.Value = 1.5
			it.Metrics[name] = m
		}
	}
	return rs
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./reports -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", name, diff)
	}
}

func TestMarkdownGolden(t *testing.T) {
	golden(t, "pingpong.md", []byte(Markdown(pingpongRun(t))))
}

func TestJSONGoldenAndSchema(t *testing.T) {
	out, err := JSON(pingpongRun(t))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "pingpong.json", out)

	schema := reportSchema(t)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(doc); err != nil {
		t.Errorf("the JSON report does not match report.schema.json: %v", err)
	}
}

func TestRenderFormats(t *testing.T) {
	rs := pingpongRun(t)
	md, err := Render(rs, "", "md")
	if err != nil || string(md) != Markdown(rs) {
		t.Errorf("md: %v", err)
	}
	js, err := Render(rs, "", "json")
	if want, _ := JSON(rs); err != nil || string(js) != string(want) {
		t.Errorf("json: %v", err)
	}
	if _, err := Render(rs, "", "pdf"); err == nil {
		t.Error("an unknown format rendered")
	}
}
