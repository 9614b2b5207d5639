package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/selfevals/selfevals/repo"
)

// workload is one generated repository: evals/experiments/bench.yaml over
// evals/datasets/bench.jsonl.
type workload struct {
	root  string // the repository root (holds evals/)
	evals string
	spec  string
}

// agentBlock is the agent: YAML block of the spec for a loopback agent.
func agentBlock(kind, url, agentBin string, latency string) string {
	args := ""
	if latency != "0s" {
		args = fmt.Sprintf(", -latency, %s", latency)
	}
	switch kind {
	case "http":
		return fmt.Sprintf("agent:\n  http: {url: %q}\n", url)
	case "command":
		return fmt.Sprintf("agent:\n  command: [%s%s]\n", agentBin, args)
	case "builtin":
		return "agent:\n  builtin: echo\n"
	case "worker":
		return fmt.Sprintf("agent:\n  command: [%s, -worker%s]\n  worker: true\n", agentBin, args)
	}
	panic("unknown agent kind " + kind)
}

// otlpLine turns on span capture (agent.otlp) in the agent block.
func otlpLine(on bool) string {
	if on {
		return "  otlp: true\n"
	}
	return ""
}

// writeWorkload generates the cases and the spec. Case i asks "ping tok<i>"
// and must include tok<i>; the grid over model_params.level gives one
// iteration per level, and the agent answers only when level >= 0.5, so
// iteration 0 fails every case and the last passes every case (the peer
// benchmark's shape).
func writeWorkload(dir string, cfg config, agent string) (*workload, error) {
	w := &workload{root: dir, evals: filepath.Join(dir, "evals")}
	for _, d := range []string{repo.Dir(w.evals).Experiments(), repo.Dir(w.evals).Datasets()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	f, err := os.Create(repo.Dir(w.evals).Dataset("bench.jsonl"))
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	for i := range cfg.cases {
		fmt.Fprintf(bw, `{"id":"c%07d","input":{"text":"ping tok%d"},"expected":{"must_include":["tok%d"]}}`+"\n", i, i, i)
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}

	levels := make([]string, cfg.iterations)
	for i := range levels {
		v := 1.0
		if cfg.iterations > 1 {
			v = float64(i) / float64(cfg.iterations-1)
		}
		levels[i] = strconv.FormatFloat(v, 'f', -1, 64)
	}
	spec := fmt.Sprintf(`experiment:
  name: bench
  goal: measure harness overhead against a loopback agent
  target:
    primary: {name: pass@1, operator: ">=", value: 0.5}
  editable: {model_params: true}
  search_space:
    model_params:
      level: [%s]
  proposer: {strategy: grid}
  run:
    max_iterations: %d
    repetitions_per_case: %d
    parallelism: %d
    timeout: 60s
    retries: 0
    cache: false
    convergence: {min_delta: 0, patience: 1000}
dataset:
  cases_path: ../datasets/bench.jsonl
%sgraders:
  - {type: deterministic, name: rules}
`, strings.Join(levels, ", "), cfg.iterations, cfg.reps, cfg.parallel, agentBlock(agent, cfg.url, cfg.agentBin, cfg.latency.String())+otlpLine(cfg.otlp))
	w.spec = repo.Dir(w.evals).Spec("bench")
	if err := os.WriteFile(w.spec, []byte(spec), 0o644); err != nil {
		return nil, err
	}
	if cfg.commit {
		return w, commitWorkload(w)
	}
	return w, nil
}

// benchGit runs the git CLI in the workload's repository, as the bench's
// own identity.
func benchGit(w *workload, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-c", "user.name=selfevals-bench", "-c", "user.email=bench@localhost", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = w.root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// commitWorkload makes the workload a git repository with evals/
// committed on main, for the candidates to be committed on.
func commitWorkload(w *workload) error {
	if err := os.WriteFile(filepath.Join(w.evals, ".gitignore"), []byte("runs/\n.cache/\n"), 0o644); err != nil {
		return err
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-q", "-m", "bench workload"}} {
		if _, err := benchGit(w, args...); err != nil {
			return err
		}
	}
	return nil
}

// checkCommitted makes sure a --commit run committed its candidate with a
// cases.jsonl of every case (at least 100 bytes a case).
func checkCommitted(w *workload, cases int) error {
	path := filepath.ToSlash(repo.Dir("evals").CaseVerdicts("bench"))
	out, err := benchGit(w, "cat-file", "-s", "selfevals/bench:"+path)
	if err != nil {
		return fmt.Errorf("the run committed no candidate: %w", err)
	}
	if n, _ := strconv.Atoi(out); n < 100*cases {
		return fmt.Errorf("the committed %s is %s bytes for %d cases", path, out, cases)
	}
	return nil
}
