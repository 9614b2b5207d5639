package web

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-json"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore/tracefile"
	"github.com/selfevals/selfevals/runner"
	"github.com/selfevals/selfevals/runner/adapters"
)

// The fixture is a git repository with an evals/ tree: one experiment
// ("chat") whose dataset has two single cases and a thread of three turns
// (written out of order), run for real in-process with the built-in
// pingpong agent (level 0 misses, level 1 passes), with its committed
// result in two commits.
const chatSpec = `experiment:
  name: chat sweep
  goal: exercise selfevals serve
  target:
    primary: {name: pass@1, operator: ">=", value: 0.5}
  decision: {significance: report} # five cases prove nothing; the pages need a keep
  search_space:
    model_params:
      level: [0.0, 1.0]
  run: {parallelism: 2, cache: false, persist_traces: all}
dataset:
  cases_path: ../datasets/chat.jsonl
agent:
  builtin: pingpong
graders:
  - {type: deterministic, name: rules}
`

const chatCases = `{"name":"greet","input":{"messages":[{"role":"user","content":"ping"}]},"expected":{"must_include":["pong"]}}
{"name":"shout","input":{"messages":[{"role":"user","content":"PING"}]},"expected":{"must_include":["pong"]}}
{"name":"turn c","thread_id":"th-1","thread_position":2,"input":{"messages":[{"role":"user","content":"and again"}]},"expected":{"must_include":["pong"]}}
{"name":"turn a","thread_id":"th-1","thread_position":0,"input":{"messages":[{"role":"user","content":"hello"}]},"expected":{"must_include":["pong"]}}
{"name":"turn b","thread_id":"th-1","thread_position":1,"input":{"messages":[{"role":"user","content":"ping?"}]},"expected":{"must_include":["pong"]}}
`

type fixture struct {
	root, evals string
	srv         *Server
	ts          *httptest.Server
	runID       string
	run         *repo.RunSummary
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// runExperiment runs an experiment in-process the way `selfevals run` does:
// a recorder writes the run directory as results arrive.
func runExperiment(t *testing.T, root, evals, slug string) *repo.RunSummary {
	t.Helper()
	ls, err := repo.LoadExperiment(filepath.Join(evals, "experiments", slug+".yaml"), repo.LoadOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	agent, err := adapters.NewBuiltin("pingpong")
	if err != nil {
		t.Fatal(err)
	}
	ls.Spec.Experiment.Run.Parallelism = 2
	session, err := runner.Open(ls, runner.OpenOptions{EvalsDir: evals, Adapter: agent, Fingerprint: "agt_test",
		NoCache: true, NoCommit: "test", ToolVersion: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	rs, err := session.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	root := t.TempDir()
	evals := filepath.Join(root, "evals")
	writeFiles(t, root, map[string]string{
		"evals/selfevals.yaml":          "name: fixture-repo\n",
		"evals/experiments/chat.yaml":   chatSpec,
		"evals/datasets/chat.jsonl":     chatCases,
		"evals/.gitignore":              "runs/\n.cache/\n",
		"secret.txt":                    "TOP-SECRET-OUTSIDE-EVALS\n",
		"evals/experiments/broken.yaml": "experiment: {name: broken}\n",
	})
	git(t, root, "init", "-q", "-b", "main")
	rs := runExperiment(t, root, evals, "chat")
	git(t, root, "add", "evals")
	git(t, root, "commit", "-q", "-m", "chat: first result")
	// A second commit that changes the committed result.
	sumPath := filepath.Join(evals, "results", "chat", "summary.json")
	b, err := os.ReadFile(sumPath)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := repo.ReadSummary(b)
	if err != nil {
		t.Fatal(err)
	}
	v := 0.25
	sum.Primary = &v
	out, _, err := repo.EncodeResults(sum, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sumPath, out, 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, root, "commit", "-q", "-am", "chat: better prompt")

	srv, err := New(Options{EvalsDir: evals, Version: "test", Poll: 20 * time.Millisecond, Ping: 150 * time.Millisecond, TraceRows: tracefile.ReadRows})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &fixture{root: root, evals: evals, srv: srv, ts: ts, runID: rs.RunID, run: rs}
}

// get fetches path and decodes its JSON into v (when v is not nil),
// returning the status.
func (f *fixture) get(t *testing.T, path string, v any) int {
	t.Helper()
	resp, err := http.Get(f.ts.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, body)
		}
	}
	if resp.StatusCode != http.StatusOK && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && strings.HasPrefix(path, "/api/") {
		t.Errorf("GET %s: error %d is not JSON (%s)", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode
}

// raw serves a request whose target is sent verbatim (no client cleaning).
func (f *fixture) raw(method, target string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	w := httptest.NewRecorder()
	f.srv.ServeHTTP(w, req)
	return w
}
