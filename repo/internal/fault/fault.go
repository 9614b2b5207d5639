// Package fault injects write failures and kills at the points where
// selfevals writes its record and git's, for the fault-injection tests (in
// the spirit of SQLite's): SELFEVALS_FAULT=fail@N makes the Nth point
// reached fail as a full disk would; kill@N kills the process there, as a
// power cut or an OOM kill would. SELFEVALS_FAULT_LOG=path appends the name
// of every point reached, so a test can count them and then try each.
// Unset, a point costs one atomic load.
package fault

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

var (
	armed atomic.Bool
	mu    sync.Mutex
	hits  int
	mode  string // "fail" or "kill"
	at    int
	log   *os.File
)

func init() {
	spec, logPath := os.Getenv("SELFEVALS_FAULT"), os.Getenv("SELFEVALS_FAULT_LOG")
	if spec == "" && logPath == "" {
		return
	}
	if m, n, ok := strings.Cut(spec, "@"); ok {
		if i, err := strconv.Atoi(n); err == nil && i > 0 && (m == "fail" || m == "kill") {
			mode, at = m, i
		}
	}
	if logPath != "" {
		log, _ = os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	}
	armed.Store(mode != "" || log != nil)
}

// Point is a write point named name. It returns an injected error, kills
// the process, or (almost always) returns nil.
func Point(name string) error {
	if !armed.Load() {
		return nil
	}
	mu.Lock()
	defer mu.Unlock()
	hits++
	if log != nil {
		fmt.Fprintf(log, "%d %s\n", hits, name)
	}
	if hits != at {
		return nil
	}
	if mode == "kill" {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
	return fmt.Errorf("%s: injected write failure (SELFEVALS_FAULT=fail@%d)", name, at)
}
