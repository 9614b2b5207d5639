package adapters

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// How many worker processes a pool keeps.
//
// One per parallel slot suits an agent that waits (on a model's API, say):
// 64 calls in flight need 64 processes. An agent that computes locally
// gains nothing past one process per core, and loses by more: 64 workers on
// two cores ran a third as many calls per second as two (they contend for
// the cores with each other and with selfevals). So by default a pool
// starts one worker per core and adds one, up to parallelism, only when a
// call finds every worker busy and the workers have been mostly waiting
// (workerSizer). agent.workers fixes the number instead.

// sizeWindow is how often the sizer looks at the workers' CPU again.
const sizeWindow = 50 * time.Millisecond

// waitingShare is the share of their busy time the workers may spend on a
// CPU (running or waiting for one) for the pool to grow, in two windows in
// a row. An agent waiting on a model's API spends a percent or less; a
// local agent on a loaded machine was measured at 0.4 to 6 (its threads
// waiting for a core count), with single windows down to 0.5 when the
// workers sat idle waiting for selfevals itself to be scheduled.
const waitingShare = 0.2

// workerSizer decides whether a pool with every worker busy should start
// another. It compares the time the workers' calls took with the CPU time
// the worker processes used (or waited to use) meanwhile, read from
// /proc/<pid>/schedstat. Where that cannot be read (not Linux) it always
// says grow, which sizes the pool to parallelism as before.
type workerSizer struct {
	busy atomic.Int64 // nanoseconds of calls on workers, summed

	mu       sync.Mutex
	at       time.Time
	lastBusy int64
	lastCPU  map[int]int64 // per pid, nanoseconds running or runnable
	grow     bool          // the decision of the last window
	waiting  bool          // whether the workers waited in the last window
}

// initialWorkers is the pool's size before it grows: agent.workers when
// set, else one per core, never more than parallelism.
func initialWorkers(fixed, parallelism int) int {
	if fixed > 0 {
		return min(fixed, parallelism)
	}
	return min(runtime.NumCPU(), parallelism)
}

// called records a call that kept a worker busy for d.
func (s *workerSizer) called(d time.Duration) { s.busy.Add(int64(d)) }

// shouldGrow reports whether the workers pids spent less than waitingShare
// of their calls' time on a CPU in each of the last two windows; it looks
// again at most once per window.
func (s *workerSizer) shouldGrow(pids []int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if now.Sub(s.at) < sizeWindow {
		return s.grow
	}
	cpu := map[int]int64{}
	var used int64
	for _, pid := range pids {
		t, ok := schedTime(pid)
		if !ok {
			s.grow = true
			return true
		}
		cpu[pid] = t
		if last, seen := s.lastCPU[pid]; seen {
			// A process first seen counts from the next window: its
			// start-up (an interpreter loading its libraries) is no
			// sign of how it answers.
			used += t - last
		}
	}
	busy := s.busy.Load()
	if s.lastCPU != nil && busy > s.lastBusy {
		waiting := float64(used) < waitingShare*float64(busy-s.lastBusy)
		s.grow = waiting && s.waiting
		s.waiting = waiting
	}
	s.at, s.lastBusy, s.lastCPU = now, busy, cpu
	return s.grow
}

// schedTime is the time process pid's threads have spent running or
// runnable, in nanoseconds (the first two fields of each
// /proc/<pid>/task/<tid>/schedstat: a process waiting for a core is
// computing as far as more workers are concerned).
func schedTime(pid int) (int64, bool) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task/"
	tasks, err := os.ReadDir(dir)
	if err != nil || len(tasks) == 0 {
		return 0, false
	}
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile(dir + t.Name() + "/schedstat")
		if err != nil {
			continue // the thread ended meanwhile
		}
		f := bytes.Fields(b)
		if len(f) < 2 {
			return 0, false
		}
		run, err1 := strconv.ParseInt(string(f[0]), 10, 64)
		wait, err2 := strconv.ParseInt(string(f[1]), 10, 64)
		if err1 != nil || err2 != nil {
			return 0, false
		}
		sum += run + wait
	}
	return sum, true
}
