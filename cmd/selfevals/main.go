// Command selfevals evaluates and improves AI agents from inside a git
// repository. See README.md.
package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	env := systemEnv()
	setMemoryPolicy(env)
	// SELFEVALS_CPUPROFILE=path writes a CPU profile of the whole command,
	// SELFEVALS_MEMPROFILE=path its allocations (for performance work: go
	// tool pprof path).
	memProfile := env.Getenv("SELFEVALS_MEMPROFILE")
	if memProfile != "" {
		runtime.MemProfileRate = 64 << 10
	}
	ctx := interruptContext(env)
	code := 0
	if path := env.Getenv("SELFEVALS_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil && pprof.StartCPUProfile(f) == nil {
			code = Main(ctx, os.Args[1:], SystemStreams(env), env)
			pprof.StopCPUProfile()
			f.Close()
		}
	} else {
		code = Main(ctx, os.Args[1:], SystemStreams(env), env)
	}
	if memProfile != "" {
		writeProfile("allocs", memProfile)
	}
	os.Exit(code)
}

// systemEnv is the process's own working directory and environment: the
// only place commands' process state is read.
func systemEnv() *Env {
	env := &Env{Vars: map[string]string{}, inDir: true}
	// Without a working directory (it was removed) relative paths still
	// go down as given and fail there, as they would have.
	env.Dir, _ = os.Getwd()
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		// The first of duplicates is the one os.Getenv returns.
		if _, dup := env.Vars[k]; !dup {
			env.Vars[k] = v
		}
	}
	return env
}

// stopGrace is how long a command may take to stop cleanly after the
// first SIGINT or SIGTERM (SELFEVALS_STOP_GRACE overrides it). A CI cancel
// sends one signal and kills a few seconds later; a command blocked where
// it cannot watch the signal (reading stdin, say) must not outlive it.
const stopGrace = 10 * time.Second

// exitStopped is the exit code of a command ended by stopGrace: 128 +
// SIGINT, as a shell reports an interrupted command.
const exitStopped = 130

// interruptContext is cancelled by the first SIGINT or SIGTERM, which long
// commands (run, serve, regrade, …) take as "stop cleanly, keep what
// finished". The signal is then no longer caught, so a second one ends the
// process at once, whatever the command is doing; so does the end of the
// grace period. Either way what finished is kept: every write of a run
// survives a kill at any point, and --resume continues it.
func interruptContext(env *Env) context.Context {
	grace := stopGrace
	if d, err := time.ParseDuration(env.Getenv("SELFEVALS_STOP_GRACE")); err == nil && d > 0 {
		grace = d
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
		time.Sleep(grace)
		fmt.Fprintf(os.Stderr, "error: still stopping %s after the signal; exiting now (what finished is kept; run --resume continues a run)\n", grace)
		os.Exit(exitStopped)
	}()
	return ctx
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
