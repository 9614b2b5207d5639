package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
)

// writeLargeRun writes a finished run of cases results (one iteration)
// with the run record's writers, as `selfevals run` leaves one.
func writeLargeRun(t *testing.T, evals, runID string, cases int) string {
	t.Helper()
	run := runstore.Open(evals).NewRun("big", runID)
	if err := run.Create(); err != nil {
		t.Fatal(err)
	}
	man := &repo.RunManifest{RunID: runID, Experiment: "big", ExperimentID: "exp_big", DatasetID: "ds_big", Cases: cases,
		StartedAt: "2026-01-02T03:04:05Z", EndedAt: "2026-01-02T04:04:05Z", State: repo.RunCompleted, Repetitions: 1, MaxIterations: 1,
		Target: repo.MetricTarget{Name: "pass@1", Operator: ">=", Value: 0.5}}
	if err := run.WriteManifest(man); err != nil {
		t.Fatal(err)
	}
	w, err := run.OpenResultWriter()
	if err != nil {
		t.Fatal(err)
	}
	out := strings.Repeat("an answer of some length ", 12)
	for i := range cases {
		label := []repo.Label{repo.Pass, repo.Fail, repo.Error}[i%3]
		r := &repo.Result{Trace: repo.Trace{ID: fmt.Sprintf("tr_%010d", i), CaseID: fmt.Sprintf("case_%07d", i), ParamsID: "par_big",
			Output: out, StartedAt: "2026-01-02T03:04:05.123Z", LatencyMS: 12.5, Attempts: 1},
			Label: label, Score: 1, Grades: []repo.Grade{{Grader: "rules", Label: label}}}
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return run.Dir().Results()
}

// peakRSS is a process's peak resident set (VmHWM), in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Skip("no /proc: ", err)
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		t.Skip("no VmHWM in /proc/<pid>/status")
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}

// `selfevals serve` on a 300,000-case run: the run page (whose first visit
// builds the index), later pages, the calls API and a trace stay under
// 200 MB of peak RSS. SELFEVALS_LARGE_RUN_CASES sets another size, and
// SELFEVALS_LARGE_RUN_DIR keeps the repository there (to serve it with
// another binary, as BENCHMARKS.md does).
func TestServeLargeRunUnder200MB(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 300,000-case run")
	}
	cases := 300_000
	if v := os.Getenv("SELFEVALS_LARGE_RUN_CASES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("SELFEVALS_LARGE_RUN_CASES=%q is not a number of cases", v)
		}
		cases = n
	}
	dir := t.TempDir()
	if keep := os.Getenv("SELFEVALS_LARGE_RUN_DIR"); keep != "" {
		if _, err := os.Stat(filepath.Join(keep, "evals")); err == nil {
			t.Fatalf("SELFEVALS_LARGE_RUN_DIR=%s already has an evals/ directory", keep)
		}
		dir = keep
	}
	writeTree(t, dir, map[string]string{"evals/selfevals.yaml": "name: large\n"})
	results := writeLargeRun(t, filepath.Join(dir, "evals"), "run_big", cases)
	st, _ := os.Stat(results)

	serve := selfevals(dir, "serve", "--addr", "127.0.0.1:0")
	out, _ := serve.StdoutPipe()
	var stderr bytes.Buffer
	serve.Stderr = &stderr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { serve.Process.Kill(); serve.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	base := regexp.MustCompile(`http://127\.0\.0\.1:\d+/`).FindString(line)
	if base == "" {
		t.Fatalf("no URL in %q: %s", line, stderr.String())
	}
	first := time.Now()
	for i, path := range []string{"runs/run_big", "runs/run_big?offset=" + strconv.Itoa(cases*2/3) + "&limit=1000", "api/runs/run_big/calls?offset=" + strconv.Itoa(max(0, cases-1000)) + "&limit=1000",
		fmt.Sprintf("api/traces/tr_%010d", cases/2), "api/runs/run_big/calls?iteration=0&order=oldest_first&offset=1000&limit=1000", "api/experiments", ""} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET /%s: %d %.300s", path, resp.StatusCode, body)
		}
		if i == 0 {
			t.Logf("the first visit of the run page (indexing results.jsonl) took %v", time.Since(first).Round(time.Millisecond))
		}
	}
	rss := peakRSS(t, serve.Process.Pid)
	t.Logf("serve's peak RSS after the pages of a %d-case run (results.jsonl %d MB): %d MB", cases, st.Size()>>20, rss>>20)
	if rss > 200<<20 {
		t.Errorf("serve's peak RSS is %d MB, over 200 MB", rss>>20)
	}
}
