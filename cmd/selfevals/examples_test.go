package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/selfevals/selfevals/examples"
)

// Every example, copied into a new git repository by the built binary,
// validates, is in canonical form, runs to completion with no failed call, and keeps the iteration its
// comments promise. The servers of the HTTP and OpenAI examples are
// started as their READMEs say, on a free port.
func TestExamplesRun(t *testing.T) {
	t.Parallel()
	requirePython(t)
	best := map[string]int{"pingpong": 1, "hello": 0, "python-command": 1, "http-agent": 1, "openai-endpoint": 0}
	for _, ex := range examples.All() {
		t.Run(ex.Name, func(t *testing.T) {
			t.Parallel()
			want, ok := best[ex.Name]
			if !ok {
				t.Fatalf("no expected best iteration for example %s; add it here", ex.Name)
			}
			dir := t.TempDir()
			gitInit(t, dir)
			runBin(t, dir, "examples", "copy", ex.Name)
			runBin(t, dir, "validate")
			runBin(t, dir, "fmt", "--check")
			if ex.Start != "" {
				port := startServer(t, dir, ex.Start)
				pointAt(t, filepath.Join(dir, ex.Spec()), port)
			}
			var report struct {
				Run struct {
					State string `json:"state"`
				} `json:"run"`
				Best       *int `json:"best_iteration"`
				Iterations []struct {
					Errors int `json:"errors"`
				} `json:"iterations"`
			}
			out := runBin(t, dir, "run", ex.Spec(), "--format", "json", "--no-commit")
			if err := json.Unmarshal([]byte(out), &report); err != nil {
				t.Fatalf("run --format json: %v\n%s", err, out)
			}
			if report.Run.State != "completed" || report.Best == nil || *report.Best != want {
				t.Errorf("state %s, best iteration %v; want completed, %d\n%s", report.Run.State, report.Best, want, out)
			}
			for i, it := range report.Iterations {
				if it.Errors > 0 {
					t.Errorf("iteration %d: %d failed calls\n%s", i, it.Errors, out)
				}
			}
		})
	}
}

func requirePython(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
}

// runBin runs the built selfevals in dir and returns its stdout; a
// non-zero exit fails the test.
func runBin(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(selfevalsBin, args...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("selfevals %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

var listening = regexp.MustCompile(`listening on http://127\.0\.0\.1:(\d+)/`)

// startServer runs an example's start command (python3 <script> &) with
// --port 0 and returns the port it reports.
func startServer(t *testing.T, dir, start string) string {
	t.Helper()
	args := strings.Fields(strings.TrimSuffix(start, "&"))
	cmd := exec.Command(args[0], append(args[1:], "--port", "0")...)
	cmd.Dir = dir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				port <- m[1]
			}
		}
		close(port)
	}()
	select {
	case p, ok := <-port:
		if !ok {
			t.Fatalf("%s exited without listening", start)
		}
		return p
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not say where it listens within a minute", start)
	}
	return ""
}

// pointAt rewrites the spec's loopback URL to the port the server got.
func pointAt(t *testing.T, spec, port string) {
	t.Helper()
	b, err := os.ReadFile(spec)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`127\.0\.0\.1:\d+`)
	if !re.Match(b) {
		t.Fatalf("%s names no 127.0.0.1 URL", spec)
	}
	if err := os.WriteFile(spec, re.ReplaceAll(b, []byte("127.0.0.1:"+port)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The Python example in worker mode, as its README says to set it up: one
// process per slot answers a request per line, with the same verdicts.
func TestExamplePythonWorker(t *testing.T) {
	t.Parallel()
	requirePython(t)
	dir := t.TempDir()
	gitInit(t, dir)
	runBin(t, dir, "examples", "copy", "python-command")
	spec := filepath.Join(dir, "evals/experiments/python-command.yaml")
	b, err := os.ReadFile(spec)
	if err != nil {
		t.Fatal(err)
	}
	const oneShot = "command: [python3, agents/python-command/agent.py]"
	if !strings.Contains(string(b), oneShot) {
		t.Fatalf("the example's spec no longer has %q", oneShot)
	}
	worker := "command: [python3, agents/python-command/agent.py, --worker]\n  worker: true"
	if err := os.WriteFile(spec, []byte(strings.Replace(string(b), oneShot, worker, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	var report struct {
		Best       *int `json:"best_iteration"`
		Iterations []struct {
			Errors int `json:"errors"`
		} `json:"iterations"`
	}
	out := runBin(t, dir, "run", "evals/experiments/python-command.yaml", "--format", "json", "--no-commit")
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if report.Best == nil || *report.Best != 1 || len(report.Iterations) != 2 || report.Iterations[0].Errors+report.Iterations[1].Errors != 0 {
		t.Errorf("worker mode: best %v, iterations %+v; want 1 and no errors\n%s", report.Best, report.Iterations, out)
	}
}
