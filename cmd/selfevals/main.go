// Command selfevals evaluates and improves AI agents from inside a git
// repository. See README.md.
package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
)

// memoryLimit is the soft heap limit of a run unless GOMEMLIMIT says
// otherwise. A run's live heap is a few MB whatever the dataset size, but it
// allocates per call; without a limit the collector lets the heap grow to
// twice the live size between cycles and the process keeps what it grew.
const memoryLimit = 64 << 20

func main() {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(memoryLimit)
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

func writeProfile(name, path string) {
	if f, err := os.Create(path); err == nil {
		pprof.Lookup(name).WriteTo(f, 0)
		f.Close()
	}
}
