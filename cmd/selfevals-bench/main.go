// Command selfevals-bench times selfevals end to end on generated workloads
// against a loopback agent (the raw floor), and optionally against peers.
//
// It generates a repository (evals/experiments/bench.yaml over N cases with a
// must_include rule each), starts the loopback agent (cmd/selfevals-bench/agent:
// an HTTP server in its own process, or a command run per call or as
// long-lived workers), builds selfevals and runs
//
//	selfevals --dir <tmp>/evals run <spec> --no-commit --no-cache --format json
//
// (with --commit, in a git repository and without --no-commit, so the kept
// candidate is committed),
//
// measuring wall time, calls/s, wall and CPU per call (CPU: selfevals and
// the agent processes it started), wall/ideal (ideal = calls × latency /
// parallelism) and the child's peak RSS. --cases takes a list of sizes
// (the scaling table). Start-up is timed as rounds of /bin/true, a Go
// hello-world the bench builds, selfevals --version and a 1-case run, so
// each has its floors from the same moments. --inprocess drives the
// runner's executor inside this process instead (no loop, aggregation or
// report). After each run of selfevals the same agent is driven by a bare
// loop, the floor: net/http and fasthttp clients (http), an os/exec loop
// (command), a pipe loop over one worker per core (worker). The selfevals
// row's note gives the median of its wall ÷ the cheapest floor's, run by
// run, which moves much less than either wall time. --peer
// promptfoo times promptfoo on the same workload and agent (see peer.go;
// node 22 and promptfoo are npm-installed into --promptfoo-dir once).
//
//	go run ./cmd/selfevals-bench --cases 10000 --iterations 2 --parallel 64 --agent http,worker
//	go run ./cmd/selfevals-bench --cases 10000 --iterations 1 --latency 50ms --agent http
//	go run ./cmd/selfevals-bench --cases 1000,10000,100000,1000000 --agent http --startup=false
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/goccy/go-json"
	"github.com/selfevals/selfevals/repo"
)

// config is one benchmark cell.
type config struct {
	cases      int
	iterations int
	reps       int
	parallel   int
	latency    time.Duration
	agent      string
	url        string // http agent
	agentBin   string // command agent
	otlp       bool   // agent.otlp: true (the agent exports a span per call)
	// commit runs without --no-commit in a git repository: the kept
	// candidate is committed with its cases.jsonl.
	commit bool
}

// row is one line of the result table.
type row struct {
	tool  string
	cfg   config
	calls int
	wall  time.Duration
	// cpu is the CPU time of selfevals and the agent processes it started
	// (of this process and its children for a floor).
	cpu   time.Duration
	rssMB float64
	// rssBounded is set when rssMB is no more than the bench's own peak
	// when it started selfevals, which Linux folds into the child's figure:
	// then rssMB only bounds selfevals' own peak.
	rssBounded bool
	note       string
	skipped    bool
}

func main() {
	var (
		cases      = flag.String("cases", "1000", "cases in the generated dataset; a comma-separated list runs each size in turn (the scaling table: 1000,10000,100000,1000000)")
		iterations = flag.Int("iterations", 2, "iterations (grid values of model_params.level)")
		reps       = flag.Int("reps", 1, "repetitions per case")
		parallel   = flag.Int("parallel", 64, "calls in flight")
		latency    = flag.Duration("latency", 0, "agent latency per call")
		agents     = flag.String("agent", "http", "loopback agents, comma-separated: http, command, worker")
		inprocess  = flag.Bool("inprocess", false, "drive the runner's executor in this process instead of the selfevals binary")
		repeat     = flag.Int("repeat", 1, "runs per cell (the table shows the median wall)")
		peer       = flag.String("peer", "", "also run a peer on the same workload (http agent): promptfoo")
		pfDir      = flag.String("promptfoo-dir", defaultPromptfooDir(), "node 22 and promptfoo for --peer promptfoo (npm-installed there when missing)")
		startup    = flag.Bool("startup", true, "measure start-up: selfevals --version and a 1-case run beside a Go hello-world and /bin/true (median of 20 rounds)")
		bin        = flag.String("selfevals", "", "a built selfevals binary (default: go build ./cmd/selfevals)")
		keep       = flag.Bool("keep", false, "keep the scratch directory")
		server     = flag.String("agent-server", "fasthttp", "the HTTP loopback agent's server: fasthttp or net/http")
		floor      = flag.Bool("floor", true, "also time the agent driven by a bare loop (the raw floor) after each run: net/http and fasthttp clients (http), an os/exec loop (command), a pipe loop over one worker per core (worker)")
		cpuprofile = flag.String("cpuprofile", "", "write a CPU profile of this process (useful with --inprocess)")
		memprofile = flag.String("memprofile", "", "write an allocation profile of this process at exit (useful with --inprocess)")
		shards     = flag.Int("shards", 0, "also run the workload as this many shards (run --shard i/n) and time selfevals merge of them, beside reading their results once")
		commit     = flag.Bool("commit", false, "run without --no-commit: the workload is a git repository with evals/ committed, and the kept candidate (the last iteration) is committed to selfevals/bench with its cases.jsonl")
		otlpMode   = flag.String("otlp", "off", "agent.otlp: off, on, or both (alternating runs with and without, and their calls/s ratio); the command and worker agents then export a span per call")
	)
	flag.Parse()
	if *memprofile != "" {
		runtime.MemProfileRate = 64 << 10
		defer func() {
			if f, err := os.Create(*memprofile); err == nil {
				pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "selfevals-bench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	sizes, err := parseSizes(*cases)
	if err == nil {
		err = run(benchOptions{
			base:   config{iterations: *iterations, reps: *reps, parallel: *parallel, latency: *latency, commit: *commit},
			sizes:  sizes,
			agents: strings.Split(*agents, ","), inprocess: *inprocess, repeat: max(*repeat, 1),
			peer: *peer, pfDir: *pfDir, startup: *startup, bin: *bin, keep: *keep, floor: *floor,
			agentServer: *server, otlp: *otlpMode, shards: *shards,
		})
	}
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "selfevals-bench:", err)
		os.Exit(1)
	}
}

type benchOptions struct {
	base config
	// sizes are the dataset sizes to run, in turn.
	sizes     []int
	agents    []string
	inprocess bool
	repeat    int
	peer      string
	pfDir     string
	startup   bool
	bin       string
	keep      bool
	floor     bool
	// agentServer is the loopback HTTP agent's server library.
	agentServer string
	// otlp is off, on or both (see the flag).
	otlp string
	// shards, when set, times the merge of that many shards (see the flag).
	shards int
}

// otlpVariants are the settings of agent.otlp each cell runs with.
func otlpVariants(mode string) ([]bool, error) {
	switch mode {
	case "off":
		return []bool{false}, nil
	case "on":
		return []bool{true}, nil
	case "both":
		return []bool{false, true}, nil
	}
	return nil, fmt.Errorf("--otlp %q: want off, on or both", mode)
}

func run(o benchOptions) error {
	for _, a := range o.agents {
		if !slices.Contains([]string{"http", "command", "worker"}, a) {
			return fmt.Errorf("--agent: unknown agent %q (http, command, worker)", a)
		}
	}
	if o.base.iterations < 1 || o.base.reps < 1 || o.base.parallel < 1 {
		return errors.New("--cases, --iterations, --reps and --parallel must be at least 1")
	}
	variants, err := otlpVariants(o.otlp)
	if err != nil {
		return err
	}
	if o.otlp != "off" && o.inprocess {
		return errors.New("--otlp runs the selfevals binary; drop --inprocess")
	}
	if o.base.commit && o.inprocess {
		return errors.New("--commit runs the selfevals binary; drop --inprocess")
	}
	scratch, err := os.MkdirTemp("", "selfevals-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(os.Stderr, "scratch:", scratch)
	} else {
		defer os.RemoveAll(scratch)
	}
	module, err := moduleRoot()
	if err != nil {
		return err
	}
	agentBin := filepath.Join(scratch, "agent")
	if err := goBuild(module, agentBin, "./cmd/selfevals-bench/agent"); err != nil {
		return err
	}
	selfevals := o.bin
	if selfevals == "" && (!o.inprocess || o.startup) {
		selfevals = filepath.Join(scratch, "selfevals")
		if err := goBuild(module, selfevals, "./cmd/selfevals"); err != nil {
			return err
		}
	}

	var rows []row
	var startup *startupResult
	if o.startup && selfevals != "" {
		s, err := measureStartup(selfevals, module, scratch, 20)
		if err != nil {
			return err
		}
		startup = &s
	}
	for _, size := range o.sizes {
		for _, agent := range o.agents {
			o.base.cases = size
			r, err := runCell(o, agent, agentBin, selfevals, scratch, variants)
			if err != nil {
				return err
			}
			rows = append(rows, r...)
		}
	}
	printTable(os.Stdout, rows)
	if startup != nil {
		startup.print(os.Stdout)
	}
	return nil
}

// parseSizes reads --cases: one size or a comma-separated list.
func parseSizes(s string) ([]int, error) {
	var sizes []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--cases %q: want a number of cases of at least 1, or a comma-separated list of them", s)
		}
		sizes = append(sizes, n)
	}
	return sizes, nil
}

// floorsFor are the raw floors of an agent kind, the cheapest last.
func floorsFor(agent string) []func(cfg config, calls int) (row, error) {
	switch agent {
	case "http":
		return floors
	case "command":
		return []func(config, int) (row, error){runSpawnFloor}
	case "worker":
		return []func(config, int) (row, error){runPipeFloor}
	}
	return nil
}

// withCPU runs a floor and adds the CPU time this process and its reaped
// children used meanwhile.
func withCPU(floor func(config, int) (row, error), cfg config, calls int) (row, error) {
	before := selfCPU()
	r, err := floor(cfg, calls)
	r.cpu = selfCPU() - before
	return r, err
}

// selfCPU is the CPU time of this process and its reaped children.
func selfCPU() time.Duration {
	var self, children syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	return time.Duration(self.Utime.Nano() + self.Stime.Nano() + children.Utime.Nano() + children.Stime.Nano())
}

// runCell runs one dataset size with one agent: selfevals (and its otlp
// variant), each run followed by the floors, and the peer if asked.
func runCell(o benchOptions, agent, agentBin, selfevals, scratch string, variants []bool) ([]row, error) {
	var rows []row
	var err error
	{
		cfg := o.base
		cfg.agent, cfg.agentBin = agent, agentBin
		var srv *agentProcess
		if agent == "http" {
			srv, err = startHTTPAgent(agentBin, o.agentServer, cfg.latency)
			if err != nil {
				return nil, err
			}
			cfg.url = srv.url + "/agent"
		}
		ws := make([]*workload, len(variants))
		for k, on := range variants {
			vcfg := cfg
			vcfg.otlp = on
			dir := filepath.Join(scratch, fmt.Sprintf("repo-%s-%d", agent, cfg.cases))
			if on {
				dir += "-otlp"
			}
			if ws[k], err = writeWorkload(dir, vcfg, agent); err != nil {
				srv.stop()
				return nil, err
			}
		}
		// The floors run between the runs of selfevals, so that each run
		// has a floor measured in the same minutes: this machine's speed
		// drifts more between minutes than runs differ.
		walls := make([][]row, len(variants))
		cellFloors := floorsFor(agent)
		fl := make([][]row, len(cellFloors))
		var ratios []float64     // selfevals ÷ the fasthttp floor, run by run
		var otlpRatios []float64 // calls/s with agent.otlp ÷ without, run by run
		for i := 0; i < o.repeat; i++ {
			var r row
			// With --otlp both the two settings alternate, so each pair
			// runs in the same minutes of this drifting machine.
			for k, on := range variants {
				var err error
				vcfg := cfg
				vcfg.otlp = on
				if o.inprocess {
					r, err = runInProcess(ws[k], vcfg)
				} else {
					r, err = runBinary(selfevals, ws[k], vcfg)
				}
				if err != nil {
					srv.stop()
					return nil, fmt.Errorf("%s agent: %w", agent, err)
				}
				if on {
					r.tool = "selfevals (otlp)"
				}
				if srv != nil {
					r.note = srv.checkCalls(r.calls)
				}
				walls[k] = append(walls[k], r)
				fmt.Fprintf(os.Stderr, "%s/%s: %d calls in %s\n", r.tool, agent, r.calls, r.wall.Round(time.Millisecond))
			}
			if len(variants) == 2 {
				otlpRatios = append(otlpRatios, walls[0][i].wall.Seconds()/walls[1][i].wall.Seconds())
			}
			r = walls[0][i]
			if !o.floor || cfg.latency > 0 && agent != "http" {
				continue
			}
			calls := cfg.cases * cfg.iterations * cfg.reps
			for k, floor := range cellFloors {
				f, err := withCPU(floor, cfg, calls)
				if err != nil {
					srv.stop()
					return nil, err
				}
				if srv != nil {
					f.note = srv.checkCalls(f.calls)
				}
				fl[k] = append(fl[k], f)
				if k == len(cellFloors)-1 { // the cheapest
					ratios = append(ratios, f.wall.Seconds()/r.wall.Seconds())
				}
			}
		}
		for k := range variants {
			med := median(walls[k])
			for _, r := range walls[k] { // a bound: the highest of the runs
				if r.rssMB > med.rssMB {
					med.rssMB, med.rssBounded = r.rssMB, r.rssBounded
				}
			}
			if len(ratios) > 0 && k == 0 {
				slices.Sort(ratios)
				med.note = strings.TrimSpace(fmt.Sprintf("%.2f× the wall of the %s beside it (median of runs paired with a floor run) %s", 1/ratios[len(ratios)/2], strings.TrimSuffix(strings.TrimPrefix(fl[len(fl)-1][0].tool, "floor ("), ")"), med.note))
			}
			if len(otlpRatios) > 0 && k == 1 {
				slices.Sort(otlpRatios)
				med.note = strings.TrimSpace(fmt.Sprintf("calls/s with agent.otlp ÷ without: %.3f (median of %d alternating pairs) %s", otlpRatios[len(otlpRatios)/2], len(otlpRatios), med.note))
			}
			rows = append(rows, med)
		}
		for _, f := range fl {
			if len(f) > 0 {
				rows = append(rows, median(f))
			}
		}
		if o.shards > 0 && !o.inprocess {
			mr, err := runMerge(selfevals, ws[0], cfg, o.shards)
			if err != nil {
				srv.stop()
				return nil, err
			}
			rows = append(rows, mr...)
		}
		if o.peer != "" && agent == "http" {
			rows = append(rows, runPeer(peerOptions{name: o.peer, promptfooDir: o.pfDir, scratch: scratch, repeat: o.repeat, agent: srv}, cfg))
		}
		srv.stop()
	}
	return rows, err
}

func median(rs []row) row {
	slices.SortFunc(rs, func(a, b row) int { return int(a.wall - b.wall) })
	return rs[len(rs)/2]
}

// moduleRoot finds the selfevals module from the working directory up.
func moduleRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && bytes.HasPrefix(data, []byte("module github.com/selfevals/selfevals\n")) {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", errors.New("run selfevals-bench inside the selfevals module (go.mod not found)")
		}
		d = parent
	}
}

func goBuild(module, out, pkg string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = module
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w", pkg, err)
	}
	return nil
}

// agentProcess is the HTTP loopback agent, in its own process so its CPU is
// not booked to the harness.
type agentProcess struct {
	cmd   *exec.Cmd
	url   string
	calls int
}

func startHTTPAgent(bin, server string, latency time.Duration) (*agentProcess, error) {
	cmd := exec.Command(bin, "-http", "127.0.0.1:0", "-server", server, "-latency", latency.String())
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("loopback agent did not start: %w", err)
	}
	return &agentProcess{cmd: cmd, url: strings.TrimSpace(line)}, nil
}

// checkCalls compares the agent's own call counter with the calls the run
// reported.
func (a *agentProcess) checkCalls(reported int) string {
	resp, err := http.Get(a.url + "/stats")
	if err != nil {
		return "agent /stats: " + err.Error()
	}
	defer resp.Body.Close()
	var s struct{ Calls int }
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return "agent /stats: " + err.Error()
	}
	served := s.Calls - a.calls
	a.calls = s.Calls
	if served != reported {
		return fmt.Sprintf("agent served %d calls, run reported %d", served, reported)
	}
	return ""
}

func (a *agentProcess) stop() {
	if a == nil {
		return
	}
	a.cmd.Process.Kill()
	a.cmd.Wait()
}

// runBinary runs selfevals on the workload and counts the results it wrote.
func runBinary(bin string, w *workload, cfg config) (row, error) {
	runs := repo.Dir(w.evals).AllRuns()
	os.RemoveAll(runs)
	args := []string{"--dir", w.evals, "run", w.spec, "--no-cache", "--format", "json",
		"--parallel", fmt.Sprint(cfg.parallel), "--reps", fmt.Sprint(cfg.reps), "--max-iterations", fmt.Sprint(cfg.iterations)}
	if !cfg.commit {
		args = append(args, "--no-commit")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = w.root
	var stderr bytes.Buffer
	cmd.Stdout = io.Discard
	cmd.Stderr = &stderr
	own := selfPeakRSSMB()
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return row{}, fmt.Errorf("selfevals run: %w\n%s", err, tail(stderr.String(), 2000))
	}
	calls, err := countResults(runs)
	if err != nil {
		return row{}, err
	}
	tool := "selfevals"
	if cfg.commit {
		tool = "selfevals (commit)"
		if err := checkCommitted(w, cfg.cases); err != nil {
			return row{}, err
		}
	}
	rss := float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024
	// Linux folds the peak RSS of the process that spawned a child into the
	// child's (Go spawns with vfork, and exec keeps the parent memory's
	// high-water mark): the child's figure is its own only if it is above
	// this process's peak at the spawn (1 MB of slack for what this process
	// grew since it read its own).
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return row{tool: tool, cfg: cfg, calls: calls, wall: wall, cpu: cpu, rssMB: rss, rssBounded: rss <= own+1}, nil
}

// selfPeakRSSMB is this process's peak RSS.
func selfPeakRSSMB() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024
}

// countResults counts the lines of every results.jsonl under runs/. It
// streams them: reading a file whole would grow this process, and with it
// the peak RSS reported for the next run of selfevals (see runBinary).
func countResults(runs string) (int, error) {
	files, _ := filepath.Glob(filepath.Join(runs, "*", "*", repo.RunResultsName))
	if len(files) == 0 {
		return 0, fmt.Errorf("no results.jsonl under %s", runs)
	}
	n := 0
	buf := make([]byte, 64<<10)
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return 0, err
		}
		for {
			k, err := f.Read(buf)
			n += bytes.Count(buf[:k], []byte("\n"))
			if err == io.EOF {
				break
			}
			if err != nil {
				f.Close()
				return 0, err
			}
		}
		f.Close()
	}
	return n, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func printTable(out io.Writer, rows []row) {
	fmt.Fprintln(out, "| tool | agent | cases | iters | reps | parallel | latency | calls | wall s | calls/s | wall µs/call | CPU µs/call | wall/ideal | peak RSS MB (highest run) | note |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		c := r.cfg
		if r.skipped {
			fmt.Fprintf(out, "| %s | %s | %d | %d | %d | %d | %s | — | — | — | — | — | — | — | %s |\n", r.tool, c.agent, c.cases, c.iterations, c.reps, c.parallel, c.latency, r.note)
			continue
		}
		secs := r.wall.Seconds()
		ratio := "—"
		if c.latency > 0 {
			ideal := float64(r.calls) * c.latency.Seconds() / float64(c.parallel)
			ratio = fmt.Sprintf("%.3f", secs/ideal)
		}
		rss := "—" // the floor runs inside this process
		if r.rssMB > 0 {
			rss = fmt.Sprintf("%.1f", r.rssMB)
			if r.rssBounded {
				rss = "≤ " + rss + " (the bench's own peak; selfevals' is at most this)"
			}
		}
		cpu := "—"
		if r.cpu > 0 {
			cpu = fmt.Sprintf("%.1f", r.cpu.Seconds()*1e6/float64(r.calls))
		}
		fmt.Fprintf(out, "| %s | %s | %d | %d | %d | %d | %s | %d | %.3f | %.0f | %.1f | %s | %s | %s | %s |\n",
			r.tool, c.agent, c.cases, c.iterations, c.reps, c.parallel, c.latency, r.calls, secs,
			float64(r.calls)/secs, secs*1e6/float64(r.calls), cpu, ratio, rss, r.note)
	}
}
