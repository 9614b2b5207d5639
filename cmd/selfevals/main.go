// Command selfevals evaluates and improves AI agents from inside a git
// repository. See README.md.
package main

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sync"
)

// memoryLimit is the soft heap limit of a run unless GOMEMLIMIT says
// otherwise. A run's live heap is a few MB whatever the dataset size, but it
// allocates per call; without a limit the collector lets the heap grow to
// twice the live size between cycles and the process keeps what it grew.
const memoryLimit = 64 << 20

// gcPercent is the collector's pacing (GOGC) unless GOGC says otherwise.
// Under the memory limit the heap of a long run reaches the limit either
// way (measured: the same peak RSS at 100 and 400); a higher percent only
// spares the collections while the heap is still far below it (measured on
// a 20,000-call run: 1-2 % less CPU than 100; 25 and 50 cost 20 % more).
const gcPercent = 400

func main() {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(memoryLimit)
		if _, set := os.LookupEnv("GOGC"); !set {
			debug.SetGCPercent(gcPercent)
		}
	}
	// SELFEVALS_CPUPROFILE=path writes a CPU profile of the whole command,
	// SELFEVALS_MEMPROFILE=path its allocations (for performance work: go
	// tool pprof path).
	memProfile := os.Getenv("SELFEVALS_MEMPROFILE")
	if memProfile != "" {
		runtime.MemProfileRate = 64 << 10
	}
	code := 0
	if path := os.Getenv("SELFEVALS_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil && pprof.StartCPUProfile(f) == nil {
			code = Main(os.Args[1:], SystemStreams())
			pprof.StopCPUProfile()
			f.Close()
		}
	} else {
		code = Main(os.Args[1:], SystemStreams())
	}
	if memProfile != "" {
		writeProfile("allocs", memProfile)
	}
	os.Exit(code)
}

// pauseGC stops the collector's pacing until resume is called, if a
// memory limit is set (which then still bounds the heap). Loading a run's
// dataset allocates a few objects per case while the heap is still small,
// and the collector would otherwise run several times in those tens of
// milliseconds, before any agent call can start.
func pauseGC() (resume func()) {
	if debug.SetMemoryLimit(-1) == math.MaxInt64 {
		return func() {}
	}
	old := debug.SetGCPercent(-1)
	return sync.OnceFunc(func() { debug.SetGCPercent(old) })
}

func writeProfile(name, path string) {
	if f, err := os.Create(path); err == nil {
		pprof.Lookup(name).WriteTo(f, 0)
		f.Close()
	}
}
