package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// startupResult is the median wall time of each start-up measured, with
// the floors run between them in the same minutes.
type startupResult struct {
	runs    int
	version time.Duration // selfevals --version
	oneCase time.Duration // selfevals run of a 1-case spec (builtin echo agent)
	hello   time.Duration // a Go hello-world built by the bench just before
	deps    time.Duration // a binary linking selfevals' dependencies, main empty
	trueBin time.Duration // /bin/true
}

// helloGo is the floor of a Go binary's start: the runtime, fmt, nothing
// else.
const helloGo = "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello\") }\n"

// measureStartup times n rounds of /bin/true, a Go hello-world,
// `selfevals --version` and a 1-case run, one of each per round, so every
// figure has its floors from the same moments of this drifting machine.
func measureStartup(bin, module, scratch string, n int) (startupResult, error) {
	hello, err := buildHello(scratch)
	if err != nil {
		return startupResult{}, err
	}
	deps, err := buildDepsFloor(module, scratch)
	if err != nil {
		return startupResult{}, err
	}
	w, err := writeWorkload(filepath.Join(scratch, "repo-startup"), config{cases: 1, iterations: 1, reps: 1, parallel: 1}, "builtin")
	if err != nil {
		return startupResult{}, err
	}
	runs := filepath.Join(w.evals, "runs")
	cmds := []func() *exec.Cmd{
		func() *exec.Cmd { return exec.Command("/bin/true") },
		func() *exec.Cmd { return exec.Command(hello) },
		func() *exec.Cmd { return exec.Command(deps) },
		func() *exec.Cmd { return exec.Command(bin, "--version") },
		func() *exec.Cmd {
			os.RemoveAll(runs)
			c := exec.Command(bin, "--dir", w.evals, "run", w.spec, "--no-commit", "--no-cache", "--format", "json")
			c.Dir = w.root
			return c
		},
	}
	times := make([][]time.Duration, len(cmds))
	for range n {
		for k, mk := range cmds {
			c := mk()
			c.Stdout = io.Discard
			start := time.Now()
			if err := c.Run(); err != nil {
				return startupResult{}, fmt.Errorf("start-up, %s: %w", c.Args, err)
			}
			times[k] = append(times[k], time.Since(start))
		}
	}
	med := func(ds []time.Duration) time.Duration {
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	return startupResult{runs: n, trueBin: med(times[0]), hello: med(times[1]), deps: med(times[2]), version: med(times[3]), oneCase: med(times[4])}, nil
}

// buildDepsFloor builds the floor of selfevals' own start: a binary that
// links every package selfevals links but its own, with an empty main, so
// it runs their package initialisation and nothing else. Built inside the
// module (a directory the go tool's ./... patterns skip, removed after) so
// it links the same versions.
func buildDepsFloor(module, scratch string) (string, error) {
	list := exec.Command("go", "list", "-deps", "./cmd/selfevals")
	list.Dir = module
	out, err := list.Output()
	if err != nil {
		return "", fmt.Errorf("go list -deps ./cmd/selfevals: %w", err)
	}
	var src strings.Builder
	src.WriteString("package main\n\nimport (\n")
	for _, pkg := range strings.Fields(string(out)) {
		if importable(pkg) {
			fmt.Fprintf(&src, "\t_ %q\n", pkg)
		}
	}
	src.WriteString(")\n\nfunc main() {}\n")
	dir, err := os.MkdirTemp(module, "_startup-floor-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src.String()), 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(scratch, "deps-floor")
	return bin, goBuild(module, bin, "./"+filepath.Base(dir))
}

// importable is false for selfevals' own packages and for those no program
// may import (internal, vendored, the runtime's own); the packages they
// stand for are linked through the others anyway.
func importable(pkg string) bool {
	if strings.HasPrefix(pkg, "github.com/selfevals/selfevals") || pkg == "C" || pkg == "unsafe" {
		return false
	}
	for _, part := range strings.Split(pkg, "/") {
		if part == "internal" || part == "vendor" {
			return false
		}
	}
	return !strings.HasPrefix(pkg, "runtime") || pkg == "runtime/debug" || pkg == "runtime/metrics" || pkg == "runtime/trace" || pkg == "runtime/pprof"
}

// buildHello builds the hello-world floor in scratch.
func buildHello(scratch string) (string, error) {
	dir := filepath.Join(scratch, "hello-src")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module hello\n"), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(helloGo), 0o644); err != nil {
		return "", err
	}
	out := filepath.Join(scratch, "hello")
	return out, goBuild(dir, out, ".")
}

func (s startupResult) print(out io.Writer) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
	fmt.Fprintf(out, "\n| start-up (median of %d rounds, one of each per round) | wall | × Go hello-world | × /bin/true |\n|---|---|---|---|\n", s.runs)
	for _, r := range []struct {
		name string
		d    time.Duration
	}{{"/bin/true", s.trueBin}, {"Go hello-world (built by the bench)", s.hello}, {"selfevals' dependencies linked, main empty (built by the bench)", s.deps}, {"selfevals --version", s.version}, {"selfevals run, 1 case, builtin echo agent, --no-commit", s.oneCase}} {
		fmt.Fprintf(out, "| %s | %s | %.2f | %.1f |\n", r.name, ms(r.d), r.d.Seconds()/s.hello.Seconds(), r.d.Seconds()/s.trueBin.Seconds())
	}
}
