package runner

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/selfevals/selfevals/internal/heaptest"
	"github.com/selfevals/selfevals/repo"
)

// gitRun runs the git CLI in dir with a fixed identity.
func gitRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}

const committedSpec = `experiment:
  name: committed
  goal: keep the level that answers pong
  target:
    primary: {name: pass@1, operator: ">=", value: 0.5}
  search_space:
    model_params:
      level: [0.0, 1.0]
  run: {parallelism: 8, cache: false}
dataset:
  cases_path: ../datasets/big.jsonl
agent:
  builtin: pingpong
graders:
  - {type: deterministic, name: rules}
`

// committedRepo is a git repository with committedSpec over n cases,
// committed on main.
func committedRepo(t *testing.T, n int) (dir string, ls *repo.LoadedSpec) {
	t.Helper()
	dir = t.TempDir()
	gitRun(t, dir, "init", "-q", "-b", "main")
	spec := filepath.Join(dir, "evals", "experiments", "committed.yaml")
	data := filepath.Join(dir, "evals", "datasets", "big.jsonl")
	for _, d := range []string{filepath.Dir(spec), filepath.Dir(data)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(spec, []byte(committedSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "evals", ".gitignore"), []byte("runs/\n.cache/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(data)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range n {
		fmt.Fprintf(w, `{"id":"c%07d","input":{"text":"ping %d"},"expected":{"must_include":["pong"]}}`+"\n", i, i)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	gitRun(t, dir, "add", "-A")
	gitRun(t, dir, "commit", "-q", "-m", "initial")
	ls, err = repo.LoadExperiment(spec, repo.LoadOptions{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	return dir, ls
}

// TestLargeRunCommitHeapBounded runs 150,000 cases × 2 iterations of the
// pingpong agent as a whole session in a git repository: iteration 0
// misses every case, iteration 1 answers every one and is kept, and its
// candidate is committed with its 24 MB cases.jsonl. Under a low memory
// limit the live heap must stay under the bound per case the run keeps
// without committing: the candidate's cases.jsonl is streamed into git,
// not built in memory (which cost 320 bytes a case and more: the bytes
// and go-git's copy of them).
func TestLargeRunCommitHeapBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("a 300,000-call run")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	const cases = 150_000
	// What the run keeps a case without committing (index, two
	// aggregators, pairs, results in flight): about 150.
	const perCase = 250
	dir, ls := committedRepo(t, cases)
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(48 << 20))
	base := heaptest.Live()
	peak := heaptest.WatchLive(t)

	s, err := Open(ls, OpenOptions{EvalsDir: filepath.Join(dir, "evals"), Fingerprint: "agt_test", NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rs, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := peak() - base
	t.Logf("peak live heap %.1f MB over the %.1f MB before: %.0f bytes a case", float64(got)/1e6, float64(base)/1e6, float64(got)/cases)
	if got > perCase*cases {
		t.Errorf("peak live heap grew by %d bytes, more than %d a case (%d)", got, perCase, perCase*cases)
	}

	if len(rs.Iterations) != 2 || rs.Iterations[1].Decision.Outcome != repo.KeepCandidate ||
		!strings.HasPrefix(rs.Committed, "Committed 1 candidate(s) to `selfevals/committed`") {
		t.Fatalf("the run did not commit iteration 1: %d iterations, %q", len(rs.Iterations), rs.Committed)
	}
	const committed = "selfevals/committed:evals/results/committed/cases.jsonl"
	size, _ := strconv.Atoi(gitRun(t, dir, "cat-file", "-s", committed))
	cmd := exec.Command("git", "cat-file", "blob", committed)
	cmd.Dir = dir
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines, passes := 0, 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		lines++
		if strings.Contains(sc.Text(), `"label":"pass"`) {
			passes++
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if lines != cases || passes != cases || size < 100*cases {
		t.Errorf("the committed cases.jsonl has %d lines, %d passing, %d bytes; want %d passing", lines, passes, size, cases)
	}
	gitRun(t, dir, "fsck", "--strict", "--no-dangling")
}
