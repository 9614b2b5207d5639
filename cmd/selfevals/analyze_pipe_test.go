package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// analyze pull -o - writes the bundle to stdout (the bytes a pull writes
// to its file), and analyze push - reads the result from stdin: a
// classifier can sit in a pipe.
func TestAnalyzePipes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	runCLI(t, dir, "init")
	if _, errOut, code := runCLI(t, dir, "run", "evals/experiments/pingpong.yaml", "--no-commit"); code != 0 {
		t.Fatalf("run: %s", errOut)
	}
	piped, errOut, code := runCLI(t, dir, "analyze", "pull", "pingpong", "--iteration", "0", "-o", "-")
	if code != 0 {
		t.Fatalf("pull -o -: exit %d\n%s", code, errOut)
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "evals/analysis/pingpong/*/bundle.json")); len(matches) != 0 {
		t.Errorf("pull -o - wrote %v", matches)
	}
	out, _, _ := runCLI(t, dir, "analyze", "pull", "pingpong", "--iteration", "0")
	written, _ := os.ReadFile(filepath.Join(dir, strings.TrimSpace(out)))
	if piped != string(written) {
		t.Errorf("stdout differs from the bundle file:\n%s\n---\n%s", piped, written)
	}
	var bundle struct {
		Traces []struct {
			TraceID string `json:"trace_id"`
		} `json:"traces"`
	}
	if err := json.Unmarshal([]byte(piped), &bundle); err != nil || len(bundle.Traces) == 0 {
		t.Fatalf("bundle: %v\n%s", err, piped)
	}

	push := func(result string) (string, string, int) {
		var out, errOut bytes.Buffer
		code := Main(t.Context(), []string{"analyze", "push", "-", "--by", "agent:pipe"}, &IOStreams{In: strings.NewReader(result), Out: &out, ErrOut: &errOut}, &Env{Dir: dir})
		return out.String(), errOut.String(), code
	}
	_, errOut, code = push(`{"assignments": [{"trace_id": "` + bundle.Traces[0].TraceID + `", "mode_idd": "fm_hallucinated"}]}`)
	if code != 2 || !strings.Contains(errOut, `<stdin>:1:`) || !strings.Contains(errOut, `assignments[0].mode_idd: unknown key`) {
		t.Errorf("a bad result on stdin: exit %d\n%s", code, errOut)
	}
	out, errOut, code = push(`{"assignments": [{"trace_id": "` + bundle.Traces[0].TraceID + `", "mode_id": "fm_hallucinated"}]}`)
	if code != 0 || !strings.Contains(out, "assignments applied : 1 (1 new)") {
		t.Errorf("push -: exit %d\n%s%s", code, out, errOut)
	}
}
