package runstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/goccy/go-json"
	"github.com/selfevals/selfevals/repo"
)

// LockHolder says who holds an experiment's lock.
type LockHolder struct {
	PID     int    `json:"pid"`
	Host    string `json:"host"`
	RunID   string `json:"run_id"`
	Started string `json:"started"`
}

// Lock keeps two runs of one experiment from interleaving. It is an
// exclusive flock on runs/<slug>/.lock: the kernel releases it when the
// holder dies, so a lock left by a killed process is taken over without
// guessing from PIDs.
type Lock struct {
	f *os.File
}

// ErrLocked is returned (wrapped) when another run holds the lock.
var ErrLocked = errors.New("experiment is locked")

// Lock takes experiment slug's lock for run runID, or says who holds it.
func (s Store) Lock(slug, runID string) (*Lock, error) {
	return s.lock(slug, s.dir.RunLock(slug), runID, slug)
}

// LockShard takes the lock of shard sh of slug's runs: shards of one
// experiment run at the same time, a shard twice does not.
func (s Store) LockShard(slug, runID string, sh repo.Shard) (*Lock, error) {
	return s.lock(slug, s.dir.ShardLock(slug, sh), runID, fmt.Sprintf("shard %s of %s", sh, slug))
}

func (s Store) lock(slug, path, runID, what string) (*Lock, error) {
	if err := os.MkdirAll(s.dir.Runs(slug), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if h, ok := readHolder(path); ok {
			return nil, fmt.Errorf("%w: %s is being run by pid %d on %s (run %s, started %s); wait for it to finish or stop it", ErrLocked, what, h.PID, h.Host, h.RunID, h.Started)
		}
		return nil, fmt.Errorf("%w: %s is being run by another process (%s)", ErrLocked, what, path)
	}
	host, _ := os.Hostname()
	b, _ := json.Marshal(LockHolder{PID: os.Getpid(), Host: host, RunID: runID, Started: time.Now().UTC().Format(time.RFC3339)})
	if err := f.Truncate(0); err == nil {
		f.WriteAt(append(b, '\n'), 0)
	}
	return &Lock{f: f}, nil
}

// LockHolder finds who last took a lock of slug's runs for run runID (the
// experiment's, or a shard's); ok is false when no lock names it. The
// file says nothing about whether the holder still runs: only the flock
// does.
func (s Store) LockHolder(slug, runID string) (h LockHolder, path string, ok bool) {
	for _, p := range s.dir.RunLocks(slug) {
		if h, ok := readHolder(p); ok && h.RunID == runID {
			return h, p, true
		}
	}
	return LockHolder{}, "", false
}

// readHolder reads who last took the lock at path; ok is false when nobody
// wrote it (or the holder emptied it on release).
func readHolder(path string) (LockHolder, bool) {
	var h LockHolder
	b, err := os.ReadFile(path)
	if err != nil || repo.DecodeJSON(b, &h) != nil || h.PID <= 0 {
		return LockHolder{}, false
	}
	return h, true
}

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	l.f.Truncate(0)
	err := l.f.Close() // closing releases the flock
	l.f = nil
	return err
}

// Running reports whether run runID of slug is in progress: its process
// holds the experiment's lock. It probes the flock without keeping it, so
// a run killed by any means reads as not running.
func (s Store) Running(slug, runID string) bool {
	_, path, ok := s.LockHolder(slug, runID)
	if !ok {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return true
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

// Running reports whether this run's process is still at work (see
// Store.Running); a run whose run.json says running but whose process is
// gone was killed. The run's directory is evals/runs/<slug>/<run-id>.
func (r Run) Running() bool {
	slugDir := filepath.Dir(r.Path())
	return Open(filepath.Dir(filepath.Dir(slugDir))).Running(filepath.Base(slugDir), filepath.Base(r.Path()))
}
