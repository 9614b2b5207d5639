package gitstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/selfevals/selfevals/repo"
)

// names splits a directory listing into its files and its directories.
func names(entries []fs.DirEntry) (files, dirs []string) {
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		} else {
			files = append(files, e.Name())
		}
	}
	return files, dirs
}

func TestTreeAt(t *testing.T) {
	t.Parallel()
	dir := newRepo(t, map[string]string{
		"evals/experiments/a.yaml":         "a\n",
		"evals/experiments/b.yaml":         "b\n",
		"evals/results/a/summary.json":     "{}\n",
		"evals/results/b/cases.jsonl":      "\n",
		"evals/datasets/d.jsonl":           "{}\n",
		"evals/datasets/nested/deep.jsonl": "{}\n",
	})
	first := git(t, dir, "rev-parse", "HEAD")
	writeFile(t, dir, "evals/experiments/a.yaml", "a2\n")
	commitAll(t, dir, "second")
	g := open(t, dir)

	old, err := g.TreeAt(first[:8])
	if err != nil {
		t.Fatal(err)
	}
	if old.Commit() != first || old.Revision() != first[:8] {
		t.Errorf("Commit() = %s, Revision() = %s, want %s and %s", old.Commit(), old.Revision(), first, first[:8])
	}
	if b, err := old.ReadFile("evals/experiments/a.yaml"); err != nil || string(b) != "a\n" {
		t.Errorf("ReadFile at the first commit = %q, %v", b, err)
	}
	head, err := g.TreeAt("HEAD")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := head.ReadFile("evals/experiments/a.yaml"); err != nil || string(b) != "a2\n" {
		t.Errorf("ReadFile at HEAD = %q, %v", b, err)
	}
	for _, p := range []string{"evals/missing", "evals/results", "nope/deeper/x", "evals/experiments/a.yaml/x"} {
		if _, err := head.ReadFile(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ReadFile(%s): err = %v, want fs.ErrNotExist", p, err)
		}
	}
	if _, err := head.ReadFile("evals/missing"); err == nil || !strings.Contains(err.Error(), "at HEAD") {
		t.Errorf("a missing file's error does not name the revision: %v", err)
	}
	for _, p := range []string{"../x", "/evals", "evals/", "evals/./a", ""} {
		if _, err := head.ReadFile(p); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("ReadFile(%q): err = %v, want fs.ErrInvalid", p, err)
		}
	}

	entries, err := fs.ReadDir(head, "evals/datasets")
	if files, dirs := names(entries); err != nil || !slices.Equal(files, []string{"d.jsonl"}) || !slices.Equal(dirs, []string{"nested"}) {
		t.Errorf("ReadDir(evals/datasets) = %v %v %v", files, dirs, err)
	}
	entries, err = fs.ReadDir(head, "evals/results")
	if files, dirs := names(entries); err != nil || len(files) != 0 || !slices.Equal(dirs, []string{"a", "b"}) {
		t.Errorf("ReadDir(evals/results) = %v %v %v", files, dirs, err)
	}
	if _, err := fs.ReadDir(head, "evals/graders"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadDir of a missing directory: err = %v, want fs.ErrNotExist", err)
	}
	entries, err = fs.ReadDir(head, ".")
	if _, dirs := names(entries); err != nil || !slices.Equal(dirs, []string{"evals"}) {
		t.Errorf("ReadDir(.) = %v %v", dirs, err)
	}

	if _, err := g.TreeAt("HEAD@{1}"); err == nil {
		t.Error("TreeAt accepted reflog syntax")
	}
}

// TestTreeFS checks the tree against io/fs's contract, with what a real
// repository holds: nested and executable files, names git sorts
// differently from io/fs, symlinks to files and directories, and a
// submodule.
func TestTreeFS(t *testing.T) {
	t.Parallel()
	dir := newRepo(t, map[string]string{
		"evals/experiments/a.yaml":       "experiment: {}\n",
		"evals/datasets/v1.jsonl":        "{}\n",
		"evals/datasets/v1/extra.jsonl":  "{}\n",
		"evals/datasets/v1.0.jsonl":      "{}\n",
		"evals/results/a/summary.json":   "{}\n",
		"agents/run.sh":                  "#!/bin/sh\necho pong\n",
		"README.md":                      strings.Repeat("long line\n", 10000),
		"evals/graders/judge/card.yaml":  "name: judge\n",
		"evals/graders/judge/labels.csv": "a,b\n",
	})
	if err := os.Chmod(filepath.Join(dir, "agents", "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"evals/datasets/current.jsonl": "v1.jsonl",
		"evals/latest":                 "results/a",
		"shortcut":                     "evals/latest/summary.json",
	} {
		if err := os.Symlink(target, filepath.Join(dir, filepath.FromSlash(link))); err != nil {
			t.Skipf("no symlinks here: %v", err)
		}
	}
	git(t, dir, "add", "-A")
	head := git(t, dir, "rev-parse", "HEAD")
	git(t, dir, "update-index", "--add", "--cacheinfo", "160000,"+head+",vendor/sub")
	git(t, dir, "commit", "-q", "-m", "links, an executable and a submodule")
	tree, err := open(t, dir).TreeAt("main")
	if err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(tree, "evals/experiments/a.yaml", "evals/datasets/v1/extra.jsonl", "evals/datasets/current.jsonl",
		"evals/latest", "shortcut", "agents/run.sh", "README.md", "vendor/sub"); err != nil {
		t.Fatal(err)
	}

	for name, want := range map[string]string{"evals/datasets/current.jsonl": "{}\n", "shortcut": "{}\n", "evals/latest/summary.json": "{}\n"} {
		if b, err := fs.ReadFile(tree, name); err != nil || string(b) != want {
			t.Errorf("ReadFile(%s) through a symlink = %q, %v", name, b, err)
		}
	}
	if target, err := tree.ReadLink("shortcut"); err != nil || target != "evals/latest/summary.json" {
		t.Errorf("ReadLink(shortcut) = %q, %v", target, err)
	}
	if st, err := tree.Lstat("evals/latest"); err != nil || st.Mode().Type() != fs.ModeSymlink {
		t.Errorf("Lstat(evals/latest) = %v, %v", st, err)
	}
	if st, err := fs.Stat(tree, "evals/latest"); err != nil || !st.IsDir() || st.Name() != "latest" {
		t.Errorf("Stat(evals/latest) = %v, %v", st, err)
	}
	if st, err := fs.Stat(tree, "agents/run.sh"); err != nil || st.Mode() != 0o755 || st.Size() != int64(len("#!/bin/sh\necho pong\n")) {
		t.Errorf("Stat(agents/run.sh) = %v, %v", st, err)
	}
	if entries, err := fs.ReadDir(tree, "vendor/sub"); err != nil || len(entries) != 0 {
		t.Errorf("a submodule that is not checked out lists as %v, %v; want an empty directory", entries, err)
	}
	if _, err := fs.ReadFile(tree, "vendor/sub/README.md"); err == nil || !strings.Contains(err.Error(), "git submodule update --init vendor/sub") {
		t.Errorf("reading inside a submodule that is not checked out: %v", err)
	}
	if _, err := tree.ReadLink("README.md"); err == nil {
		t.Error("ReadLink of a regular file succeeded")
	}
}

// Symlinks resolve inside the tree only (one that leaves it is refused),
// and a cycle of them ends.
func TestTreeSymlinksStayInside(t *testing.T) {
	t.Parallel()
	dir := newRepo(t, map[string]string{"evals/a.txt": "a\n"})
	for link, target := range map[string]string{
		"evals/up":       "../..",
		"evals/abs":      "/etc/passwd",
		"evals/dangling": "nowhere.txt",
		"evals/loop1":    "loop2",
		"evals/loop2":    "loop1",
		"evals/self":     ".",
	} {
		if err := os.Symlink(target, filepath.Join(dir, filepath.FromSlash(link))); err != nil {
			t.Skipf("no symlinks here: %v", err)
		}
	}
	commitAll(t, dir, "links")
	tree, err := open(t, dir).TreeAt("HEAD")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.Open("evals/dangling"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(evals/dangling): err = %v, want fs.ErrNotExist", err)
	}
	// A link that leaves the repository is refused, not taken for a
	// missing file: git holds only its text.
	for name, want := range map[string]string{
		"evals/up/x": "open evals/up/x: at HEAD evals/up is a symlink to ../.., outside the repository",
		"evals/up":   "open evals/up: at HEAD it is a symlink to ../.., outside the repository",
		"evals/abs":  "open evals/abs: at HEAD it is a symlink to /etc/passwd, outside the repository",
	} {
		_, err := tree.Open(name)
		var le *LinkOutsideError
		if err == nil || errors.Is(err, fs.ErrNotExist) || !errors.As(err, &le) || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Open(%s): err = %v, want %q", name, err, want)
		}
	}
	if _, err := tree.Open("evals/loop1"); err == nil || !strings.Contains(err.Error(), "too many levels of symbolic links") {
		t.Errorf("Open of a symlink cycle: %v", err)
	}
	if b, err := fs.ReadFile(tree, "evals/self/self/a.txt"); err != nil || string(b) != "a\n" {
		t.Errorf("ReadFile through a link to its own directory = %q, %v", b, err)
	}
	if st, err := tree.Lstat("evals/dangling"); err != nil || st.Mode().Type() != fs.ModeSymlink {
		t.Errorf("Lstat of a dangling link = %v, %v", st, err)
	}
}

// A CI checkout is a shallow clone: its one commit's tree reads in full.
func TestTreeInAShallowClone(t *testing.T) {
	t.Parallel()
	dir := newRepo(t, map[string]string{"evals/a.txt": "one\n"})
	writeFile(t, dir, "evals/b/c.txt", "two\n")
	commitAll(t, dir, "second")
	clone := filepath.Join(t.TempDir(), "clone")
	git(t, dir, "clone", "-q", "--depth=1", "file://"+filepath.ToSlash(dir), clone)
	g := open(t, clone)
	tree, err := g.TreeAt("HEAD")
	if err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(tree, "evals/a.txt", "evals/b/c.txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := g.TreeAt("HEAD~1"); err == nil || !strings.Contains(err.Error(), "shallow clone") {
		t.Errorf("TreeAt beyond a shallow clone's history: %v", err)
	}
}

// A SHA-256 repository (git init --object-format=sha256) reads as any
// other: go-git v6 picks the object format from the repository's config.
func TestTreeSHA256(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if out, err := gitErr(dir, "init", "-q", "--object-format=sha256", "-b", "main"); err != nil {
		t.Skipf("this git cannot make SHA-256 repositories: %v\n%s", err, out)
	}
	writeFile(t, dir, "evals/a.txt", "one\n")
	commitAll(t, dir, "initial")
	g := open(t, dir)
	tree, err := g.TreeAt("HEAD")
	if err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(tree, "evals/a.txt"); err != nil {
		t.Fatal(err)
	}
}

// repo's loaders read a revision through its Tree, and what they refuse
// names the revision.
func TestLoadersReadARevision(t *testing.T) {
	t.Parallel()
	// Over 2 MiB, so Each streams the dataset from the tree again.
	var big strings.Builder
	for i := range 30000 {
		fmt.Fprintf(&big, `{"id":"c%05d","input":{"text":"ping number %d, padded to about a hundred bytes"}}`+"\n", i, i)
	}
	dir := newRepo(t, map[string]string{
		"evals/experiments/x.yaml": "experiment:\n  name: x\n  goal: y\n  target: {primary: {name: pass@1, operator: \">=\", value: 0.5}}\n" +
			"dataset: {cases_path: ../datasets/big.jsonl}\nagent: {builtin: echo}\n",
		"evals/datasets/big.jsonl": big.String(),
	})
	writeFile(t, dir, "evals/datasets/big.jsonl", big.String()+"{\"input\": }\n")
	commitAll(t, dir, "break the dataset")
	g := open(t, dir)

	old, err := g.TreeAt("main~1")
	if err != nil {
		t.Fatal(err)
	}
	ls, err := repo.LoadExperimentFS(old, "evals/experiments/x.yaml", repo.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := ls.Dataset.Each(func(*repo.Case) error { n++; return nil }); err != nil || n != 30000 || ls.Dataset.Count != 30000 {
		t.Errorf("Each over the revision: %d cases of %d, %v", n, ls.Dataset.Count, err)
	}

	head, err := g.TreeAt("main")
	if err != nil {
		t.Fatal(err)
	}
	_, err = repo.LoadExperimentFS(head, "evals/experiments/x.yaml", repo.LoadOptions{})
	if err == nil || !strings.HasPrefix(err.Error(), "main:evals/datasets/big.jsonl:30001:") {
		t.Errorf("a bad case at main: %v", err)
	}
	// The working tree is the same files through os.DirFS.
	work, err := repo.LoadExperimentFS(os.DirFS(dir), "evals/experiments/x.yaml", repo.LoadOptions{})
	if err == nil || !strings.HasPrefix(err.Error(), "evals/datasets/big.jsonl:30001:") {
		t.Errorf("a bad case in the working tree: %v, %v", work, err)
	}
}

// A blob over largeBlob is read from disk as it is read: its content is
// the same, as a loose object and, after git gc, as a delta in a pack.
func TestTreeReadsLargeBlobs(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for i := 0; b.Len() <= largeBlob+1<<20; i++ {
		fmt.Fprintf(&b, `{"case_id":"case_%08d","label":"pass"}`+"\n", i)
	}
	first := b.String()
	dir := newRepo(t, map[string]string{"evals/results/x/cases.jsonl": first})
	second := strings.Replace(first, `"case_00000007","label":"pass"`, `"case_00000007","label":"fail"`, 1)
	writeFile(t, dir, "evals/results/x/cases.jsonl", second)
	git(t, dir, "commit", "-q", "-am", "one case fails")
	check := func(how string) {
		g := open(t, dir)
		for rev, want := range map[string]string{"HEAD~1": first, "HEAD": second} {
			tree, err := g.TreeAt(rev)
			if err != nil {
				t.Fatal(err)
			}
			got, err := fs.ReadFile(tree, "evals/results/x/cases.jsonl")
			if err != nil || got == nil || string(got) != want {
				t.Errorf("%s, %s: %d bytes read (want %d), %v", how, rev, len(got), len(want), err)
			}
		}
	}
	check("loose")
	git(t, dir, "gc", "-q", "--aggressive")
	check("packed")
}
