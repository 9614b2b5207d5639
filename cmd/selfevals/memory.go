package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// The memory policy of a command when neither GOMEMLIMIT nor GOGC is set.
//
// A small run's live heap is a few MB, but it allocates per call; without a
// limit the collector lets the heap grow to (1 + GOGC/100) times the live
// size between cycles and the process keeps what it grew. A fixed soft limit
// keeps small runs small, but once the live heap nears it (about 100,000
// cases) the collector runs back to back: 59 % of the CPU at 1,000,000
// cases. So the limit follows the live heap: memoryFloor while the live
// heap is small, liveFactor times the live heap above that. Each cycle then
// frees at least as much as is live, so the collector's cost per byte
// allocated, and with it per call, stays the same whatever the run's size.
const (
	memoryFloor = 64 << 20
	liveFactor  = 2
)

// gcPercent is the collector's pacing (GOGC) under that limit. While the
// heap is far below the limit a higher percent spares collections (measured
// on a 20,000-call run: 1-2 % less CPU than 100; 25 and 50 cost 20 % more);
// above memoryFloor the limit, not the percent, sets when the collector runs.
const gcPercent = 400

// liveHeapMetric is the heap the last collection found live. (Linking
// runtime/metrics costs every start about 0.5 ms of init; HeapAlloc from
// runtime.ReadMemStats, read in the hook, also counts what was allocated
// since the collection, and in a test the limit drifted up to twice as
// high with it.)
const liveHeapMetric = "/gc/heap/live:bytes"

// adaptiveLimit is the soft memory limit for a live heap of live bytes.
func adaptiveLimit(live uint64) int64 {
	return max(memoryFloor, int64(liveFactor*live))
}

// followLiveHeap sets the memory limit from the live heap after every
// collection, until stop is called (which leaves the last limit set). The
// hook is a finalizer on an object only it knows, made again each time it
// runs: it runs once per collection, after the sweep, on the runtime's
// finalizer goroutine, and costs nothing between collections.
func followLiveHeap() (stop func()) {
	debug.SetMemoryLimit(memoryFloor)
	var stopped atomic.Bool
	sample := []metrics.Sample{{Name: liveHeapMetric}}
	var arm func()
	arm = func() {
		sentinel := new([16]byte) // not tiny-allocated: a finalizer needs its own object
		runtime.SetFinalizer(sentinel, func(*[16]byte) {
			if stopped.Load() {
				return
			}
			metrics.Read(sample)
			if sample[0].Value.Kind() == metrics.KindUint64 {
				debug.SetMemoryLimit(adaptiveLimit(sample[0].Value.Uint64()))
			}
			arm()
		})
	}
	arm()
	return func() { stopped.Store(true) }
}

// setMemoryPolicy applies the policy unless the environment sets one:
// GOMEMLIMIT leaves both limit and pacing to the runtime; GOGC alone keeps
// the adaptive limit under the pacing it asks for.
func setMemoryPolicy(env *Env) {
	if _, set := env.LookupEnv("GOMEMLIMIT"); set {
		return
	}
	followLiveHeap()
	if _, set := env.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
}
