package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/selfevals/selfevals/repo"
)

// shardedRepo is a committed repository whose experiment sweeps four
// levels of the pingpong agent over cases that pass at some levels and
// fail at others, two repetitions each, some of them in threads: the
// third level converges, so the fourth is never decided.
func shardedRepo(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	spec := `experiment:
  name: sharded
  goal: the same verdicts however the cases are split
  target:
    primary: {name: pass@1, operator: ">=", value: 0.5}
    guardrails:
      - {name: error_rate, operator: "<=", value: 0.1}
  search_space:
    model_params:
      level: [0.0, 0.6, 0.9, 0.3]
  proposer: {strategy: grid}
  run:
    repetitions_per_case: 2
    max_iterations: 10
    cache: false
    convergence: {min_delta: 0.01, patience: 1}
dataset:
  cases_path: ../datasets/sharded.jsonl
agent:
  builtin: pingpong
`
	var cases bytes.Buffer
	for i := range 61 {
		want := "pong"
		if i%4 == 0 {
			want = "miss"
		}
		switch {
		case i%10 == 3:
			// a thread of three: its cases stay together in one shard
			fmt.Fprintf(&cases, `{"name":"turn %d","thread_id":"t%d","thread_position":%d,"input":{"text":"ping %d"},"expected":{"must_include":[%q]}}`+"\n", i, i/30, i%3, i, want)
		case i%7 == 1:
			fmt.Fprintf(&cases, `{"id":"explicit-%02d","input":{"text":"ping %d"},"expected":{"must_include":[%q]}}`+"\n", i, i, want)
		default:
			fmt.Fprintf(&cases, `{"input":{"text":"ping %d"},"expected":{"must_include":[%q]}}`+"\n", i, want)
		}
	}
	writeTree(t, dir, map[string]string{
		"evals/experiments/sharded.yaml": spec, "evals/datasets/sharded.jsonl": cases.String(),
		"evals/.gitignore": "runs/\n.cache/\n",
	})
	git(t, dir, "init", "-q", "-b", "main")
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-q", "-m", "initial")
	return dir
}

// clone is a fresh clone of origin in its own directory.
func clone(t *testing.T, origin string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "clone")
	git(t, origin, "clone", "-q", origin, dir)
	return dir
}

// The acceptance test of sharding: n = 1, 2, 4 and 7 shards, each run in a
// clone of its own, merged in another, give byte for byte the committed
// results, the decisions and the candidate trees of one unsharded run.
func TestShardsMergeAsOneRun(t *testing.T) {
	t.Parallel()
	origin := shardedRepo(t)
	whole := clone(t, origin)
	mustRun(t, whole, "run", "evals/experiments/sharded.yaml")
	want := runOutcome(t, whole)
	if want.terminated != "converged" || len(want.candidates) == 0 {
		t.Fatalf("the unsharded run should keep a candidate and converge: %+v", want)
	}
	for _, n := range []int{1, 2, 4, 7} {
		t.Run(fmt.Sprintf("%d shards", n), func(t *testing.T) {
			t.Parallel()
			artifacts := t.TempDir()
			cases := 0
			for i := 1; i <= n; i++ {
				shard := clone(t, origin)
				out := mustRun(t, shard, "run", "evals/experiments/sharded.yaml", "--shard", fmt.Sprintf("%d/%d", i, n))
				if !strings.Contains(out, "Nothing was committed: shard") {
					t.Errorf("shard %d/%d: the report should say a shard commits nothing:\n%s", i, n, out)
				}
				if _, err := os.Stat(filepath.Join(shard, "evals/results")); err == nil {
					t.Errorf("shard %d/%d wrote evals/results", i, n)
				}
				cases += shardCases(t, shard)
				// Each shard's run directory, as a CI job's artifact.
				if err := os.CopyFS(filepath.Join(artifacts, fmt.Sprint(i)), os.DirFS(filepath.Join(shard, "evals/runs"))); err != nil {
					t.Fatal(err)
				}
			}
			if cases != 61 {
				t.Errorf("the %d shards ran %d cases between them, not 61", n, cases)
			}
			merged := clone(t, origin)
			mustRun(t, merged, "merge", artifacts)
			got := runOutcome(t, merged)
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(splitInvariant{})); diff != "" {
				t.Errorf("merged %d shards differ from one run (-one run +merged):\n%s", n, diff)
			}
		})
	}
}

// splitInvariant is what must not depend on how a run was split.
type splitInvariant struct {
	results    map[string]string // evals/results/sharded/*, byte for byte
	decisions  []string          // per iteration: parameters, decision, metrics but timing
	terminated string
	candidates []string // the trees of the commits on selfevals/sharded
}

func runOutcome(t *testing.T, dir string) splitInvariant {
	t.Helper()
	o := splitInvariant{results: map[string]string{}}
	files, _ := filepath.Glob(filepath.Join(dir, "evals/results/sharded/*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		o.results[filepath.Base(f)] = string(b)
	}
	if len(o.results) == 0 {
		t.Fatalf("%s: no committed results", dir)
	}
	runs, _ := filepath.Glob(filepath.Join(dir, "evals/runs/sharded/run_*"))
	var merged []string
	for _, r := range runs {
		var m repo.RunManifest
		readJSON(t, filepath.Join(r, "run.json"), &m)
		if m.Shard == nil {
			merged = append(merged, r)
			o.terminated = m.Terminated
		}
	}
	if len(merged) != 1 {
		t.Fatalf("%s: want one decided run, got %v", dir, merged)
	}
	b, err := os.ReadFile(filepath.Join(merged[0], "iterations.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var it repo.IterationSummary
		if err := json.Unmarshal(line, &it); err != nil {
			t.Fatal(err)
		}
		for name := range it.Metrics {
			if strings.HasPrefix(name, "latency_ms") {
				delete(it.Metrics, name)
			}
		}
		d, _ := json.Marshal([]any{it.Index, it.ID, it.ParamsID, it.Decision, it.Metrics, it.FailureModes, it.Calls, it.Errors, it.Pairs})
		o.decisions = append(o.decisions, string(d))
	}
	o.candidates = strings.Fields(git(t, dir, "log", "--format=%T", "main..selfevals/sharded"))
	return o
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// shardCases is how many cases the only run in dir ran, from its run.json.
func shardCases(t *testing.T, dir string) int {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "evals/runs/sharded/run_*/run.json"))
	if len(m) != 1 {
		t.Fatalf("%s: run directories %v", dir, m)
	}
	var man repo.RunManifest
	readJSON(t, m[0], &man)
	if man.Shard == nil || man.Shard.Cases != man.Cases {
		t.Fatalf("%s: not marked as a shard: %+v", m[0], man.Shard)
	}
	return man.Cases
}

// Shards of one experiment run side by side in one checkout, each under
// its own lock: while shard 1 runs, shard 2 runs to the end, a second
// shard 1 is refused, and the two merge.
func TestShardsRunSideBySide(t *testing.T) {
	t.Parallel()
	dir := committedRepo(t, 80, 2)
	first := selfevals(dir, "run", "evals/experiments/counting.yaml", "--shard", "1/2")
	startUntil(t, first, dir, 1)
	out, code := exitCode(t, selfevals(dir, "run", "evals/experiments/counting.yaml", "--shard", "1/2"))
	if code == 0 || !strings.Contains(out, "shard 1/2 of counting is being run by pid") {
		t.Errorf("a second shard 1/2 at the same time: exit %d\n%s", code, out)
	}
	mustRun(t, dir, "run", "evals/experiments/counting.yaml", "--shard", "2/2")
	if err := first.Wait(); err != nil {
		t.Fatalf("shard 1/2: %v\n%s", err, first.Stderr)
	}
	// They overlapped: shard 1 ended after shard 2 started.
	m, _ := filepath.Glob(filepath.Join(dir, "evals/runs/counting/run_*/run.json"))
	var span [2]string // shard 1's end, shard 2's start
	for _, p := range m {
		var man repo.RunManifest
		readJSON(t, p, &man)
		if man.Shard.Index == 1 {
			span[0] = man.EndedAt
		} else {
			span[1] = man.StartedAt
		}
	}
	if span[0] <= span[1] {
		t.Errorf("shard 1 ended (%s) before shard 2 started (%s): they did not run side by side", span[0], span[1])
	}
	out = mustRun(t, dir, "merge", "evals/runs/counting")
	if !strings.Contains(out, "merging 2 shard(s) of 80 cases") {
		t.Errorf("merge:\n%s", out)
	}
}

// A shard killed mid-run resumes as a shard (--shard i/n --resume finds
// its own unfinished run, not the other shard's), and the merge of the
// resumed shard gives the committed results of one unsharded run.
func TestShardResumesAndMerges(t *testing.T) {
	t.Parallel()
	dir := committedRepo(t, 40, 2)
	whole := clone(t, dir)
	mustRun(t, whole, "run", "evals/experiments/counting.yaml")
	first := selfevals(dir, "run", "evals/experiments/counting.yaml", "--shard", "1/2")
	startUntil(t, first, dir, 5)
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	mustRun(t, dir, "run", "evals/experiments/counting.yaml", "--shard", "2/2")
	out := mustRun(t, dir, "run", "evals/experiments/counting.yaml", "--shard", "1/2", "--resume")
	if !strings.Contains(out, "resuming run_") {
		t.Errorf("resume:\n%s", out)
	}
	mustRun(t, dir, "merge", "evals/runs/counting")
	for _, f := range []string{"summary.json", "cases.jsonl"} {
		want, _ := os.ReadFile(filepath.Join(whole, "evals/results/counting", f))
		got, err := os.ReadFile(filepath.Join(dir, "evals/results/counting", f))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s of the merged, resumed shards differs from one run's (%v):\n%s\n%s", f, err, got, want)
		}
	}
}
