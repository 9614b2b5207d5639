package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the command line in dir (a new directory when ""), with an
// empty environment, and returns stdout, stderr and the exit code.
func runCLI(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	return runEnv(t, &Env{Dir: dir}, args...)
}

// runEnv runs the command line in env.
func runEnv(t *testing.T, env *Env, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(t.Context(), args, &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, env)
	return out.String(), errOut.String(), code
}

func gitInit(t *testing.T, dir string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	cmd := exec.Command("git", "init", "-q", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git init: %v %s", err, out)
	}
}

// init in an empty git repo, then validate, succeeds; init again changes
// nothing and says why.
func TestInitThenValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	gitInit(t, dir)
	out, errOut, code := runCLI(t, dir, "init")
	if code != 0 {
		t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
	}
	for _, f := range []string{"selfevals.yaml", "taxonomy.yaml", ".gitignore", "experiments/pingpong.yaml", "datasets/pingpong.jsonl"} {
		if _, err := os.Stat(filepath.Join(dir, "evals", f)); err != nil {
			t.Errorf("init did not create %s", f)
		}
		if !strings.Contains(out, filepath.Join("evals", f)) {
			t.Errorf("init did not list %s:\n%s", f, out)
		}
	}
	out, errOut, code = runCLI(t, dir, "validate")
	if code != 0 {
		t.Fatalf("validate: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "ok    evals/experiments/pingpong.yaml  exp_") || !strings.Contains(out, "8 cases") {
		t.Errorf("validate output:\n%s", out)
	}
	if !strings.Contains(out, "9 failure modes (9 official") {
		t.Errorf("taxonomy summary missing:\n%s", out)
	}
	before := snapshot(t, filepath.Join(dir, "evals"))
	out, _, code = runCLI(t, dir, "init")
	if code != 0 || !strings.Contains(out, "already initialized") || !strings.Contains(out, "nothing to do") {
		t.Errorf("second init: exit %d\n%s", code, out)
	}
	if after := snapshot(t, filepath.Join(dir, "evals")); after != before {
		t.Error("second init changed files")
	}
	// A user's edit is never overwritten without --force.
	spec := filepath.Join(dir, "evals/experiments/pingpong.yaml")
	os.WriteFile(spec, []byte("# mine\n"), 0o644)
	out, errOut, code = runCLI(t, dir, "init")
	if code != 2 || !strings.Contains(errOut, spec[len(dir)+1:]) || !strings.Contains(errOut, "--force") {
		t.Errorf("init over an edit: exit %d\n%s%s", code, out, errOut)
	}
	if b, _ := os.ReadFile(spec); string(b) != "# mine\n" {
		t.Error("init overwrote an edited file")
	}
	_, _, code = runCLI(t, dir, "init", "--force", "--github")
	if b, _ := os.ReadFile(spec); code != 0 || string(b) == "# mine\n" {
		t.Error("init --force did not restore the file")
	}
	if _, err := os.Stat(filepath.Join(dir, ".github/workflows/evals.yml")); err != nil {
		t.Error("init --github wrote no workflow")
	}
}

func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, _ := os.ReadFile(p)
			info, _ := d.Info()
			b.WriteString(p + "\x00" + string(data) + info.ModTime().String() + "\n")
		}
		return nil
	})
	return b.String()
}

// validate on a dataset with three bad lines prints three file:line errors,
// exits 2 and writes nothing.
func TestValidateBadDataset(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	runCLI(t, dir, "init")
	ds := filepath.Join("evals", "datasets", "bad.jsonl")
	content := `{"input":{"text":"fine"}}
{"input": {"text": oops}}
{"input":{"text":"a"},"expectd":{}}
{"input":{"text":"b"},"holdout":1}
`
	os.WriteFile(filepath.Join(dir, ds), []byte(content), 0o644)
	before := snapshot(t, filepath.Join(dir, "evals"))
	out, errOut, code := runCLI(t, dir, "validate", ds)
	if code != 2 {
		t.Fatalf("exit %d, want 2\n%s%s", code, out, errOut)
	}
	for _, want := range []string{ds + ":2:", ds + ":3:23: expectd: unknown key", ds + ":4:33: holdout: expected true or false"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if n := strings.Count(errOut, ds+":"); n != 3 {
		t.Errorf("want 3 errors, got %d:\n%s", n, errOut)
	}
	if snapshot(t, filepath.Join(dir, "evals")) != before {
		t.Error("validate wrote files")
	}
	// The whole tree fails too, and fmt refuses to touch the bad file.
	if _, _, code := runCLI(t, dir, "validate"); code != 2 {
		t.Errorf("validate of the tree: exit %d", code)
	}
	if _, _, code := runCLI(t, dir, "fmt"); code != 2 {
		t.Errorf("fmt of a bad file: exit %d", code)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, ds)); string(b) != content {
		t.Error("fmt changed a file with problems")
	}
}

func TestFmtCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	runCLI(t, dir, "init")
	if out, errOut, code := runCLI(t, dir, "fmt", "--check"); code != 0 {
		t.Fatalf("starter is not canonical: exit %d\n%s%s", code, out, errOut)
	}
	ds := filepath.Join(dir, "evals/datasets/pingpong.jsonl")
	orig, _ := os.ReadFile(ds)
	lines := strings.Split(strings.TrimSpace(string(orig)), "\n")
	swapped := lines[1] + "\n" + strings.ReplaceAll(lines[0], ",", ", ") + "\n" + strings.Join(lines[2:], "\n") + "\n"
	os.WriteFile(ds, []byte(swapped), 0o644)
	out, _, code := runCLI(t, dir, "fmt", "--check")
	if code != 2 || !strings.Contains(out, "would reformat evals/datasets/pingpong.jsonl") {
		t.Errorf("fmt --check: exit %d\n%s", code, out)
	}
	if b, _ := os.ReadFile(ds); string(b) != swapped {
		t.Error("fmt --check wrote the file")
	}
	if _, _, code := runCLI(t, dir, "fmt"); code != 0 {
		t.Errorf("fmt: exit %d", code)
	}
	if b, _ := os.ReadFile(ds); string(b) != string(orig) {
		t.Errorf("fmt did not restore the canonical file:\n%s", b)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"validate", "--nope"}, {"frobnicate"}, {"init", "extra"}, {"validate", "notes.txt"}} {
		_, errOut, code := runCLI(t, t.TempDir(), args...)
		if code != 2 || !strings.HasPrefix(errOut, "error: ") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
	out, _, code := runCLI(t, "", "--version")
	if code != 0 || !strings.HasPrefix(out, "selfevals ") {
		t.Errorf("--version: %d %q", code, out)
	}
	out, _, _ = runCLI(t, "", "validate", "--help")
	if !strings.Contains(out, "Examples:") || !strings.Contains(out, "selfevals validate") {
		t.Errorf("help lacks an example:\n%s", out)
	}
}

func TestRunPingpong(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	runCLI(t, dir, "init")
	out, errOut, code := runCLI(t, dir, "run", "evals/experiments/pingpong.yaml", "--no-commit")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"# Experiment: pingpong baseline", "| 0 | 0 | — | investigate |", "| 1 | 1 | +1 | keep |", "search_space_exhausted: grid exhausted after 2 combinations"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "pingpong: iteration 1: keep_candidate") {
		t.Errorf("no progress on stderr:\n%s", errOut)
	}
	runs, _ := filepath.Glob(filepath.Join(dir, "evals/runs/pingpong/run_*/results.jsonl"))
	if len(runs) != 1 {
		t.Fatalf("run directory: %v", runs)
	}
	data, _ := os.ReadFile(runs[0])
	if n := strings.Count(string(data), "\n"); n != 16 {
		t.Errorf("results.jsonl has %d lines, want 16 (8 cases, 2 iterations)", n)
	}
	// A second run is served from the cache and reports JSON.
	out, _, code = runCLI(t, dir, "run", "evals/experiments/pingpong.yaml", "--format", "json")
	if code != 0 || !strings.Contains(out, `"cache_hits": 16`) || !strings.Contains(out, `"calls": 0`) {
		t.Errorf("second run: exit %d\n%s", code, out)
	}
	// Bad flags and specs are usage errors.
	if _, _, code := runCLI(t, dir, "run", "evals/experiments/nope.yaml"); code != 2 {
		t.Errorf("missing spec: exit %d", code)
	}
	if _, _, code := runCLI(t, dir, "run", "evals/experiments/pingpong.yaml", "--format", "xml"); code != 2 {
		t.Errorf("bad format: exit %d", code)
	}
	if out, _, code := runCLI(t, dir, "estimate", "evals/experiments/pingpong.yaml", "--cost-per-call", "0.5"); code != 0 || !strings.Contains(out, "calls:       16 = 8 cases × 1 repetitions × 2 iterations") || !strings.Contains(out, "$8.00") {
		t.Errorf("estimate: exit %d\n%s", code, out)
	}
}

// The evals/ directory comes from --dir, else SELFEVALS_DIR, else the
// nearest evals/ above the working directory; relative ones resolve
// against the working directory the command was given.
func TestEvalsDirFromEnv(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	gitInit(t, dir)
	if _, errOut, code := runEnv(t, &Env{Dir: dir, Vars: map[string]string{"SELFEVALS_DIR": "custom"}}, "init"); code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "custom", "selfevals.yaml")); err != nil {
		t.Fatal("init did not write into SELFEVALS_DIR")
	}
	sub := filepath.Join(dir, "sub")
	os.MkdirAll(sub, 0o755)
	for _, tc := range []struct {
		env  *Env
		args []string
	}{
		{&Env{Dir: sub, Vars: map[string]string{"SELFEVALS_DIR": "../custom"}}, nil},
		{&Env{Dir: sub, Vars: map[string]string{"SELFEVALS_DIR": "nope"}}, []string{"--dir", "../custom"}},
	} {
		out, errOut, code := runEnv(t, tc.env, append([]string{"validate"}, tc.args...)...)
		if code != 0 || !strings.Contains(out, "pingpong.yaml") {
			t.Errorf("validate %v in %v: exit %d\n%s%s", tc.args, tc.env.Vars, code, out, errOut)
		}
	}
	os.Rename(filepath.Join(dir, "custom"), filepath.Join(dir, "evals"))
	if out, errOut, code := runCLI(t, sub, "run", "../evals/experiments/pingpong.yaml", "--no-commit"); code != 0 || !strings.Contains(out, "| 1 | 1 | +1 | keep |") {
		t.Errorf("run from a subdirectory: exit %d\n%s%s", code, out, errOut)
	}
	if runs, _ := filepath.Glob(filepath.Join(dir, "evals/runs/pingpong/run_*")); len(runs) != 1 {
		t.Errorf("the run was not recorded under the nearest evals/: %v", runs)
	}
}

// A command agent sees the command's environment, not the test process's:
// ${NAME} in its env: block expands from it.
func TestAgentEnvFromEnv(t *testing.T) {
	t.Parallel()
	dir, countFile := countingRepo(t, 3, 1)
	spec := filepath.Join(dir, "evals/experiments/counting.yaml")
	b, _ := os.ReadFile(spec)
	os.WriteFile(spec, bytes.Replace(b, []byte("COUNT_FILE: "+countFile), []byte(`COUNT_FILE: "${CALLS}"`), 1), 0o644)
	if _, errOut, code := runCLI(t, dir, "run", "evals/experiments/counting.yaml", "--no-commit"); code != 2 || !strings.Contains(errOut, "CALLS is not set") {
		t.Errorf("without CALLS: exit %d\n%s", code, errOut)
	}
	env := &Env{Dir: dir, Vars: map[string]string{"CALLS": countFile}}
	if out, errOut, code := runEnv(t, env, "run", "evals/experiments/counting.yaml", "--no-commit"); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if n := countLines(t, countFile); n != 6 {
		t.Errorf("the agent logged %d calls to $CALLS, want 6", n)
	}
}
