package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// hostileAgent answers each case with a different malformed answer: JSON
// the decoder skips over but the results writer would refuse, and bytes
// that are not UTF-8.
const hostileAgent = `import json, sys
req = json.load(sys.stdin)
kind = req["input"]["text"]
answers = {
    "good": b'{"output": "pong"}',
    "structured": b'{"output": "pong", "structured_output": {""}}',
    "tool_args": b'{"output": "pong", "tool_calls": [{"name": "search", "arguments": {"q"}}]}',
    "tool_result": b'{"output": "pong", "tool_calls": [{"name": "search", "result": [1,]}]}',
    "span_attrs": b'{"output": "pong", "spans": [{"kind": "llm_call", "attributes": {1: 2}}]}',
    "utf8_output": b'{"output": "pong \xff\xfe"}',
    "utf8_raw": b'{"output": "pong", "structured_output": {"a": "\xc3"}}',
}
sys.stderr.buffer.write(b"stderr \xff\n")
sys.stdout.buffer.write(answers[kind])
`

// One malformed answer is that case's error, never a failed run: every
// other case is recorded, the files written are valid JSON and UTF-8, and
// the error names the field.
func TestHostileAnswersAreCaseErrors(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	dir := t.TempDir()
	kinds := []string{"good", "structured", "tool_args", "tool_result", "span_attrs", "utf8_output", "utf8_raw"}
	var cases bytes.Buffer
	for _, k := range kinds {
		cases.WriteString(`{"id":"` + k + `","input":{"text":"` + k + `"},"expected":{"must_include":["pong"]}}` + "\n")
	}
	writeTree(t, dir, map[string]string{
		"evals/experiments/hostile.yaml": `experiment:
  name: hostile
  goal: survive hostile answers
  target:
    primary: {name: pass@1, operator: ">=", value: 0.5}
  run: {parallelism: 4, cache: false, timeout: 30s, persist_traces: all}
dataset:
  cases_path: ../datasets/d.jsonl
agent:
  command: [python3, evals/agent.py]
`,
		"evals/agent.py":         hostileAgent,
		"evals/datasets/d.jsonl": cases.String(),
	})
	out, errOut, code := runCLI(t, dir, "run", "evals/experiments/hostile.yaml", "--no-commit", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "evals/runs/hostile/run_*/results.jsonl"))
	if len(files) != 1 {
		t.Fatalf("results: %v", files)
	}
	data, _ := os.ReadFile(files[0])
	if !utf8.Valid(data) {
		t.Error("results.jsonl is not UTF-8")
	}
	want := map[string]string{
		"structured":  `field "structured_output" is not valid JSON`,
		"tool_args":   `field "tool_calls[0].arguments" is not valid JSON`,
		"tool_result": `field "tool_calls[0].result" is not valid JSON`,
		"span_attrs":  `field "spans[0].attributes" is not valid JSON`,
		"utf8_output": `field "output" is not valid UTF-8 (byte 5 is 0xff)`,
		"utf8_raw":    `field "structured_output" is not valid UTF-8`,
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != len(kinds) {
		t.Fatalf("results.jsonl has %d lines, want %d", len(lines), len(kinds))
	}
	for _, line := range lines {
		var r struct {
			CaseID    string `json:"case_id"`
			Error     string `json:"error"`
			ErrorKind string `json:"error_kind"`
			Label     string `json:"label"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line is not JSON: %v\n%s", err, line)
		}
		kind := r.CaseID
		if kind == "good" {
			if r.Error != "" || r.Label != "pass" {
				t.Errorf("good case: label %s error %q", r.Label, r.Error)
			}
			continue
		}
		if r.ErrorKind != "invalid_json" || !strings.Contains(r.Error, want[kind]) {
			t.Errorf("%s: error_kind %q error %q, want invalid_json containing %s", kind, r.ErrorKind, r.Error, want[kind])
		}
	}

	// An independent reader takes both files: DuckDB refuses a file with a
	// byte that is not UTF-8.
	runDir := filepath.Dir(files[0])
	rows := duckdbQuery(t, runDir, `SELECT count(*) AS n, count(*) FILTER (WHERE error_kind = 'invalid_json') AS bad FROM read_json_auto('results.jsonl')`)
	if len(rows) != 1 || fmt.Sprint(rows[0]["n"]) != "7" || fmt.Sprint(rows[0]["bad"]) != "6" {
		t.Errorf("duckdb read results.jsonl as %v", rows)
	}
	if rows := duckdbQuery(t, runDir, `SELECT count(DISTINCT case_id) AS n FROM 'traces.parquet'`); len(rows) != 1 || fmt.Sprint(rows[0]["n"]) != "7" {
		t.Errorf("duckdb read traces.parquet as %v", rows)
	}
}
