package repo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/goccy/go-json"
)

// RunManifest is a run's run.json: what ran, on what, and how it ended.
type RunManifest struct {
	RunID            string         `json:"run_id"`
	Experiment       string         `json:"experiment"`
	ExperimentID     string         `json:"experiment_id"`
	Name             string         `json:"name"`
	Goal             string         `json:"goal"`
	Proposer         string         `json:"proposer"`
	DatasetID        string         `json:"dataset_id"`
	Cases            int            `json:"cases"`
	AgentFingerprint string         `json:"agent_fingerprint"`
	ToolVersion      string         `json:"tool_version"`
	GitCommit        string         `json:"git_commit,omitempty"`
	GitDirty         bool           `json:"git_dirty,omitempty"`
	StartedAt        string         `json:"started_at"`
	EndedAt          string         `json:"ended_at,omitempty"`
	Terminated       string         `json:"terminated,omitempty"`
	State            RunState       `json:"state"`
	Spec             string         `json:"spec"`
	Target           MetricTarget   `json:"target"`
	Guardrails       []MetricTarget `json:"guardrails,omitempty"`
	Confidence       float64        `json:"confidence"`
	Repetitions      int            `json:"repetitions"`
	MaxIterations    int            `json:"max_iterations"`
	// Recorded is the reference blocks of the spec (frozen, datasets,
	// judge_defenses) that selfevals keeps but does not act on.
	Recorded map[string]any `json:"recorded,omitempty"`
}

// RunsDir is where an experiment's run directories live.
func RunsDir(evalsDir, slug string) string { return filepath.Join(evalsDir, "runs", slug) }

// WriteManifest writes run.json atomically.
func WriteManifest(dir string, m *RunManifest) error {
	b, err := json.MarshalIndentWithOption(m, "", "  ", json.DisableHTMLEscape())
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, "run.json"), append(b, '\n'), 0o644)
}

// ReadManifest reads a run directory's run.json.
func ReadManifest(dir string) (*RunManifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, "run.json"))
	if err != nil {
		return nil, err
	}
	var m RunManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "run.json"), err)
	}
	return &m, nil
}

// RunDirs lists run directories (of one experiment when slug is set),
// newest first.
func RunDirs(evalsDir, slug string) ([]string, error) {
	pattern := filepath.Join(evalsDir, "runs", "*", "run_*", "run.json")
	if slug != "" {
		pattern = filepath.Join(RunsDir(evalsDir, slug), "run_*", "run.json")
	}
	matches, err := filepath.Glob(pattern)
	if err != nil {
		return nil, err
	}
	type dated struct{ dir, at string }
	var ds []dated
	for _, m := range matches {
		if man, err := ReadManifest(filepath.Dir(m)); err == nil {
			ds = append(ds, dated{filepath.Dir(m), man.StartedAt})
		}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i].at > ds[j].at })
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.dir
	}
	return out, nil
}

// FindRun finds a run directory by run ID under evalsDir/runs.
func FindRun(evalsDir, runID string) (string, error) {
	if !strings.HasPrefix(runID, "run_") || strings.ContainsAny(runID, `/\.`) {
		return "", Userf("%q is not a run ID (run_…)", runID)
	}
	matches, _ := filepath.Glob(filepath.Join(evalsDir, "runs", "*", runID))
	if len(matches) == 0 {
		return "", Userf("run %s not found under %s", runID, filepath.Join(evalsDir, "runs"))
	}
	return matches[0], nil
}

// LockHolder says who holds an experiment's lock.
type LockHolder struct {
	PID     int    `json:"pid"`
	Host    string `json:"host"`
	RunID   string `json:"run_id"`
	Started string `json:"started"`
}

// RunLock keeps two runs of one experiment from interleaving. It is an
// exclusive flock on runs/<slug>/.lock: the kernel releases it when the
// holder dies, so a lock left by a killed process is taken over without
// guessing from PIDs.
type RunLock struct {
	f *os.File
}

// ErrLocked is returned (wrapped) when another run holds the lock.
var ErrLocked = errors.New("experiment is locked")

// LockRuns takes the experiment's lock or says who holds it.
func LockRuns(evalsDir, slug, runID string) (*RunLock, error) {
	dir := RunsDir(evalsDir, slug)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, ".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		var h LockHolder
		b, _ := os.ReadFile(path)
		if json.Unmarshal(b, &h) == nil && h.PID > 0 {
			return nil, fmt.Errorf("%w: %s is being run by pid %d on %s (run %s, started %s); wait for it to finish or stop it", ErrLocked, slug, h.PID, h.Host, h.RunID, h.Started)
		}
		return nil, fmt.Errorf("%w: %s is being run by another process (%s)", ErrLocked, slug, path)
	}
	host, _ := os.Hostname()
	b, _ := json.Marshal(LockHolder{PID: os.Getpid(), Host: host, RunID: runID, Started: time.Now().UTC().Format(time.RFC3339)})
	if err := f.Truncate(0); err == nil {
		f.WriteAt(append(b, '\n'), 0)
	}
	return &RunLock{f: f}, nil
}

// Unlock releases the lock.
func (l *RunLock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	l.f.Truncate(0)
	err := l.f.Close() // closing releases the flock
	l.f = nil
	return err
}
