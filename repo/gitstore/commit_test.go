package gitstore

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/selfevals/selfevals/repo"
)

const demoSpec = `# Demo experiment: answers support mail.
experiment:
  name: demo   # shown in reports
  goal: answer support mail politely
  editable:
    prompt: true
    model_params: true
  # The adopted configuration; selfevals rewrites this block.
  parameters:
    model_params: {temperature: 0.7}
  # What the proposer may try.
  search_space:
    model_params:
      temperature: [0.1, 0.3, 0.7]
  run:
    max_iterations: 3
dataset:
  cases_path: ../datasets/demo.jsonl   # relative to this file
agent:
  builtin: pingpong
`

const (
	specPath    = "evals/experiments/demo.yaml"
	summaryPath = "evals/results/demo/summary.json"
)

func sha256File(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

type repoState struct {
	status, index, headRef, head string
}

func stateOf(t *testing.T, dir string) repoState {
	t.Helper()
	return repoState{
		status:  git(t, dir, "status", "--porcelain", "--untracked-files=all"),
		index:   sha256File(t, filepath.Join(dir, ".git", "index")),
		headRef: git(t, dir, "symbolic-ref", "HEAD"),
		head:    git(t, dir, "rev-parse", "HEAD"),
	}
}

// The central promise: candidates are committed without touching the
// working tree, the index or HEAD, and merging one changes only the spec's
// parameters block (and brings the result files).
func TestCommitFilesLeavesWorkTreeIndexAndHEAD(t *testing.T) {
	t.Parallel()
	dir := newRepo(t, map[string]string{
		specPath:      demoSpec,
		summaryPath:   `{"pass@1":0.5}` + "\n",
		"README.md":   "hello\n",
		"src/app.txt": "app\n",
	})
	// A user in the middle of work: staged, unstaged and untracked changes.
	writeFile(t, dir, "staged.txt", "staged\n")
	git(t, dir, "add", "staged.txt")
	writeFile(t, dir, "README.md", "hello, edited\n")
	writeFile(t, dir, "untracked.txt", "untracked\n")
	before := stateOf(t, dir)
	if !strings.Contains(before.status, "A  staged.txt") || !strings.Contains(before.status, " M README.md") ||
		!strings.Contains(before.status, "?? untracked.txt") {
		t.Fatalf("setup: unexpected status:\n%s", before.status)
	}

	g := open(t, filepath.Join(dir, "src"))
	wantRoot, _ := filepath.EvalSymlinks(dir)
	if gotRoot, _ := filepath.EvalSymlinks(g.Root()); gotRoot != wantRoot {
		t.Errorf("Root() = %s, want %s", g.Root(), dir)
	}

	subjects := []string{
		"selfevals(demo): keep iteration 1 — pass@1 0.80 (+0.30)",
		"selfevals(demo): keep iteration 2 — pass@1 0.90 (+0.10)",
	}
	params := []repo.Parameters{
		{"model_params": map[string]any{"temperature": 0.3}},
		{"model_params": map[string]any{"temperature": 0.1, "top_p": 0.9}, "prompt_variables": map[string]any{"tone": "warm"}},
	}
	var hashes []string
	for i := range subjects {
		base := "HEAD"
		if i > 0 {
			base = "selfevals/demo"
		}
		spec, err := g.ReadFile(base, specPath)
		if err != nil {
			t.Fatal(err)
		}
		newSpec, err := repo.RewriteParameters(spec, params[i])
		if err != nil {
			t.Fatal(err)
		}
		msg := fmt.Sprintf("%s\n\nSelfevals-Run: run_%d\nSelfevals-Iteration: %d", subjects[i], i, i+1)
		h, err := g.CommitFiles("selfevals/demo", map[string][]byte{
			specPath:    newSpec,
			summaryPath: []byte(fmt.Sprintf(`{"pass@1":0.%d}`+"\n", 8+i)),
		}, msg)
		if err != nil {
			t.Fatalf("CommitFiles %d: %v", i+1, err)
		}
		hashes = append(hashes, h)
	}

	if after := stateOf(t, dir); after != before {
		t.Fatalf("work tree, index or HEAD changed:\n%s", cmp.Diff(before, after, cmp.AllowUnexported(repoState{})))
	}
	if got := git(t, dir, "log", "--format=%s", "selfevals/demo"); got != subjects[1]+"\n"+subjects[0]+"\ninitial" {
		t.Errorf("git log selfevals/demo:\n%s", got)
	}
	if got := git(t, dir, "rev-parse", "selfevals/demo"); got != hashes[1] {
		t.Errorf("branch at %s, want %s", got, hashes[1])
	}
	if got := git(t, dir, "log", "-1", "--format=%an <%ae>|%cn <%ce>", "selfevals/demo"); got != "Test User <test@example.com>|Test User <test@example.com>" {
		t.Errorf("identity from the repository's config: %s", got)
	}
	if got := git(t, dir, "diff", "--name-only", "main", "selfevals/demo"); got != specPath+"\n"+summaryPath {
		t.Errorf("files changed on the branch:\n%s", got)
	}
	fsck(t, dir)

	commits, err := g.BranchCommits("selfevals/demo", "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range commits {
		got = append(got, c.Subject+" | "+c.Trailers[TrailerRun]+" "+c.Trailers[TrailerIteration])
	}
	want := []string{subjects[1] + " | run_1 2", subjects[0] + " | run_0 1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("BranchCommits (-want +got):\n%s", diff)
	}

	// Adopt the candidate in a clean clone: only the parameters lines of the
	// spec change.
	clone := filepath.Join(t.TempDir(), "clone")
	git(t, dir, "clone", "-q", dir, clone)
	git(t, clone, "merge", "-q", "--no-ff", "--no-edit", "origin/selfevals/demo")
	diff := git(t, clone, "diff", "-U0", "HEAD~1", "--", specPath)
	checkOnlyParametersChanged(t, diff)
	merged, err := os.ReadFile(filepath.Join(clone, filepath.FromSlash(specPath)))
	if err != nil {
		t.Fatal(err)
	}
	wantSpec := strings.Replace(demoSpec, "  parameters:\n    model_params: {temperature: 0.7}\n",
		"  parameters:\n    model_params:\n      temperature: 0.1\n      top_p: 0.9\n    prompt_variables:\n      tone: warm\n", 1)
	if diff := cmp.Diff(wantSpec, string(merged)); diff != "" {
		t.Errorf("merged spec (-want +got):\n%s", diff)
	}
	if s, _ := os.ReadFile(filepath.Join(clone, filepath.FromSlash(summaryPath))); string(s) != `{"pass@1":0.9}`+"\n" {
		t.Errorf("merged summary.json = %q", s)
	}
}

// checkOnlyParametersChanged reads a `git diff -U0` of the spec: one hunk,
// whose lines are all the parameters block.
func checkOnlyParametersChanged(t *testing.T, diff string) {
	t.Helper()
	hunks := 0
	for _, l := range strings.Split(diff, "\n") {
		switch {
		case strings.HasPrefix(l, "@@"):
			hunks++
		case strings.HasPrefix(l, "---"), strings.HasPrefix(l, "+++"):
		case strings.HasPrefix(l, "-"), strings.HasPrefix(l, "+"):
			if body := l[1:]; !strings.HasPrefix(body, "  parameters:") && !strings.HasPrefix(body, "    ") {
				t.Errorf("diff changes a line outside the parameters block: %q", l)
			}
		}
	}
	if hunks != 1 {
		t.Errorf("diff has %d hunks, want 1:\n%s", hunks, diff)
	}
}

func TestCommitFilesTreeOrder(t *testing.T) {
	t.Parallel()
	dir := newRepo(t, map[string]string{"README.md": "hi\n", "a/old.txt": "old\n"})
	g := open(t, dir)
	_, err := g.CommitFiles("selfevals/order", map[string][]byte{
		"a-b.txt":   []byte("1\n"),
		"a.txt":     []byte("2\n"),
		"a/x.txt":   []byte("3\n"),
		"a/b/c.txt": []byte("4\n"),
		"a0":        []byte("5\n"),
	}, "order")
	if err != nil {
		t.Fatal(err)
	}
	fsck(t, dir)
	got := git(t, dir, "ls-tree", "-r", "--name-only", "selfevals/order")
	want := "README.md\na-b.txt\na.txt\na/b/c.txt\na/old.txt\na/x.txt\na0"
	if got != want {
		t.Errorf("ls-tree:\n%s\nwant:\n%s", got, want)
	}
	if got := git(t, dir, "show", "selfevals/order:a/x.txt"); got != "3" {
		t.Errorf("a/x.txt = %q", got)
	}
}

func TestCommitFilesMovedBranch(t *testing.T) {
	t.Parallel()
	dir := newRepo(t, map[string]string{"README.md": "hi\n"})
	main := git(t, dir, "rev-parse", "main")
	g := open(t, dir)
	first, err := g.CommitFiles("selfevals/demo", map[string][]byte{"f.txt": []byte("1\n")}, "first")
	if err != nil {
		t.Fatal(err)
	}

	// Someone moves the branch between CommitFiles' read and its update.
	g.beforeUpdate = func() { git(t, dir, "branch", "-f", "selfevals/demo", "main") }
	_, err = g.CommitFiles("selfevals/demo", map[string][]byte{"f.txt": []byte("2\n")}, "second")
	if err == nil || !strings.Contains(err.Error(), "moved") {
		t.Fatalf("err = %v, want a 'moved' error", err)
	}
	if got := git(t, dir, "rev-parse", "selfevals/demo"); got != main {
		t.Errorf("branch clobbered: at %s, want %s (first candidate was %s)", got, main, first)
	}

	// Someone creates the branch while CommitFiles creates it too.
	g.beforeUpdate = func() { git(t, dir, "branch", "selfevals/new", "main") }
	_, err = g.CommitFiles("selfevals/new", map[string][]byte{"f.txt": []byte("3\n")}, "third")
	if err == nil || !strings.Contains(err.Error(), "moved") {
		t.Fatalf("err = %v, want a 'moved' error", err)
	}
	if got := git(t, dir, "rev-parse", "selfevals/new"); got != main {
		t.Errorf("new branch clobbered: at %s, want %s", got, main)
	}
	fsck(t, dir)
}

func TestCommitFilesPackedRefs(t *testing.T) {
	t.Parallel()
	dir := newRepo(t, map[string]string{"README.md": "hi\n"})
	main := git(t, dir, "rev-parse", "main")
	g := open(t, dir)
	if _, err := g.CommitFiles("selfevals/demo", map[string][]byte{"f.txt": []byte("1\n")}, "first"); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "pack-refs", "--all")
	loose := filepath.Join(dir, ".git", "refs", "heads", "selfevals", "demo")
	if _, err := os.Stat(loose); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("setup: the ref is still loose: %v", err)
	}
	second, err := g.CommitFiles("selfevals/demo", map[string][]byte{"f.txt": []byte("2\n")}, "second")
	if err != nil {
		t.Fatal(err)
	}
	if got := git(t, dir, "log", "--format=%s", "selfevals/demo"); got != "second\nfirst\ninitial" {
		t.Errorf("git log:\n%s", got)
	}
	if got := git(t, dir, "rev-parse", "selfevals/demo"); got != second {
		t.Errorf("branch at %s, want %s", got, second)
	}
	branches, err := g.Branches("selfevals/")
	if err != nil || len(branches) != 1 || branches[0] != "selfevals/demo" {
		t.Errorf("Branches = %v, %v", branches, err)
	}

	// A packed ref moved underneath: the update fails and leaves no broken
	// (empty) loose ref behind.
	git(t, dir, "pack-refs", "--all")
	g.beforeUpdate = func() {
		git(t, dir, "update-ref", "refs/heads/selfevals/demo", main)
		git(t, dir, "pack-refs", "--all")
	}
	if _, err := g.CommitFiles("selfevals/demo", map[string][]byte{"f.txt": []byte("3\n")}, "third"); err == nil || !strings.Contains(err.Error(), "moved") {
		t.Fatalf("err = %v, want a 'moved' error", err)
	}
	if _, err := os.Stat(loose); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a loose ref was left behind: %v", err)
	}
	if got := git(t, dir, "rev-parse", "selfevals/demo"); got != main {
		t.Errorf("branch at %s, want %s", got, main)
	}
	fsck(t, dir)
}

func TestCommitFilesUnbornHEAD(t *testing.T) {
	t.Parallel()
	dir := newRepo(t, nil)
	g := open(t, dir)
	_, err := g.CommitFiles("selfevals/demo", map[string][]byte{"f.txt": []byte("1\n")}, "first")
	if err == nil || !strings.Contains(err.Error(), "commit something first") {
		t.Fatalf("err = %v", err)
	}
}

func TestCommitFilesRejects(t *testing.T) {
	t.Parallel()
	dir := newRepo(t, map[string]string{"src/app.txt": "app\n", "file": "x\n"})
	g := open(t, dir)
	for _, tc := range []struct {
		branch string
		files  map[string][]byte
		want   string
	}{
		{"selfevals/x", map[string][]byte{"../x": nil}, "clean"},
		{"selfevals/x", map[string][]byte{"/abs": nil}, "relative"},
		{"selfevals/x", map[string][]byte{"a//b": nil}, "clean"},
		{"selfevals/x", map[string][]byte{`a\b`: nil}, "forward slashes"},
		{"selfevals/x", map[string][]byte{".git/config": nil}, ".git"},
		{"selfevals/x", map[string][]byte{"a": nil, "a/b": nil}, "directory"},
		{"selfevals/x", map[string][]byte{"src": nil}, "directory in the parent"},
		{"selfevals/x", map[string][]byte{"file/x": nil}, "not a directory"},
		{"bad..name", map[string][]byte{"f": nil}, "invalid branch name"},
		{"HEAD", map[string][]byte{"f": nil}, "invalid branch name"},
	} {
		_, err := g.CommitFiles(tc.branch, tc.files, "msg")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CommitFiles(%q, %v): err = %v, want it to mention %q", tc.branch, tc.files, err, tc.want)
		}
	}
	if got := git(t, dir, "branch", "--list", "selfevals/*"); got != "" {
		t.Errorf("a branch was created: %s", got)
	}
}

// With no identity configured anywhere, commits are by selfevals.
func TestCommitFilesDefaultIdentity(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	for _, v := range []string{"GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"} {
		t.Setenv(v, "")
	}
	dir := newRepo(t, map[string]string{"README.md": "hi\n"})
	git(t, dir, "config", "--unset", "user.name")
	git(t, dir, "config", "--unset", "user.email")
	g := open(t, dir)
	if _, err := g.CommitFiles("selfevals/demo", map[string][]byte{"f.txt": []byte("1\n")}, "first"); err != nil {
		t.Fatal(err)
	}
	if got := git(t, dir, "log", "-1", "--format=%an <%ae>|%cn <%ce>", "selfevals/demo"); got != "selfevals <selfevals@localhost>|selfevals <selfevals@localhost>" {
		t.Errorf("identity = %s", got)
	}

	// The global config counts too.
	writeFile(t, home, ".gitconfig", "[user]\n\tname = Global Person\n\temail = global@example.com\n")
	if _, err := g.CommitFiles("selfevals/demo", map[string][]byte{"f.txt": []byte("2\n")}, "second"); err != nil {
		t.Fatal(err)
	}
	if got := git(t, dir, "log", "-1", "--format=%an <%ae>", "selfevals/demo"); got != "Global Person <global@example.com>" {
		t.Errorf("identity = %s", got)
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	if _, err := Open(t.TempDir()); !errors.Is(err, ErrNotRepository) {
		t.Errorf("Open outside a repository: err = %v, want ErrNotRepository", err)
	}
	bare := t.TempDir()
	git(t, bare, "init", "-q", "--bare")
	if _, err := Open(bare); !errors.Is(err, ErrNotRepository) {
		t.Errorf("Open in a bare repository: err = %v, want ErrNotRepository", err)
	}
}

// In a linked work tree (git worktree add), branches live in the main
// repository's common directory.
func TestCommitFilesLinkedWorktree(t *testing.T) {
	t.Parallel()
	dir := newRepo(t, map[string]string{"README.md": "hi\n"})
	wt := filepath.Join(t.TempDir(), "wt")
	git(t, dir, "worktree", "add", "-q", "-b", "topic", wt)
	g := open(t, wt)
	if gotRoot, _ := filepath.EvalSymlinks(g.Root()); gotRoot != mustEval(t, wt) {
		t.Errorf("Root() = %s, want %s", g.Root(), wt)
	}
	h, err := g.CommitFiles("selfevals/demo", map[string][]byte{"f.txt": []byte("1\n")}, "first")
	if err != nil {
		t.Fatal(err)
	}
	if got := git(t, dir, "rev-parse", "selfevals/demo"); got != h {
		t.Errorf("main repository sees the branch at %s, want %s", got, h)
	}
	if got := git(t, wt, "status", "--porcelain"); got != "" {
		t.Errorf("work tree status: %s", got)
	}
	fsck(t, dir)
}

func mustEval(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
