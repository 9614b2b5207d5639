package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/selfevals/selfevals/repo"
)

// runMerge runs the workload as n shards (selfevals run --shard i/n, one
// after another) and times `selfevals merge` of them, beside its floor:
// reading the shards' results.jsonl once, as cat does.
func runMerge(bin string, w *workload, cfg config, n int) ([]row, error) {
	runs := repo.Dir(w.evals).AllRuns()
	os.RemoveAll(runs)
	for i := 1; i <= n; i++ {
		cmd := exec.Command(bin, "--dir", w.evals, "run", w.spec, "--shard", fmt.Sprintf("%d/%d", i, n), "--no-cache", "--format", "json",
			"--parallel", fmt.Sprint(cfg.parallel), "--reps", fmt.Sprint(cfg.reps), "--max-iterations", fmt.Sprint(cfg.iterations))
		cmd.Dir = w.root
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("shard %d/%d: %w\n%s", i, n, err, tail(string(out), 2000))
		}
	}
	shards := filepath.Join(filepath.Dir(w.evals), "shards")
	os.RemoveAll(shards)
	if err := os.Rename(runs, shards); err != nil {
		return nil, err
	}
	defer os.RemoveAll(shards)
	calls, err := countResults(shards)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--dir", w.evals, "merge", shards, "--no-commit", "--format", "json")
	cmd.Dir = w.root
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	own := selfPeakRSSMB()
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("selfevals merge: %w\n%s", err, tail(stderr.String(), 2000))
	}
	rss := float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024
	merged := row{tool: fmt.Sprintf("selfevals merge (%d shards)", n), cfg: cfg, calls: calls, wall: wall,
		cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), rssMB: rss, rssBounded: rss <= own+1}
	floor, err := readFloor(shards, cfg, calls)
	if err != nil {
		return nil, err
	}
	merged.note = fmt.Sprintf("%.1f× the wall of reading the shards' results once", wall.Seconds()/floor.wall.Seconds())
	return []row{merged, floor}, nil
}

// readFloor reads every results.jsonl under dir once: the least a merge
// of them can do.
func readFloor(dir string, cfg config, calls int) (row, error) {
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*", repo.RunResultsName))
	start := time.Now()
	for _, f := range files {
		r, err := os.Open(f)
		if err != nil {
			return row{}, err
		}
		_, err = io.Copy(io.Discard, r)
		r.Close()
		if err != nil {
			return row{}, err
		}
	}
	return row{tool: "floor (read the shards' results.jsonl)", cfg: cfg, calls: calls, wall: time.Since(start)}, nil
}
