// Command selfevals evaluates and improves AI agents from inside a git
// repository. See README.md.
package main

import (
	"os"
	"runtime/debug"
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
	os.Exit(Main(os.Args[1:], SystemStreams()))
}
