package gitstore

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Dirty is about tracked files only: an untracked file leaves the tree
// clean, an edit (staged or not) makes it dirty, and asking writes nothing.
func TestDirty(t *testing.T) {
	t.Parallel()
	dir := newRepo(t, map[string]string{"README.md": "hello\n", "src/app.txt": "app\n"})
	g := open(t, filepath.Join(dir, "src"))
	dirty := func(want bool, what string) {
		t.Helper()
		got, err := g.Dirty()
		if err != nil {
			t.Fatalf("%s: Dirty: %v", what, err)
		}
		if got != want {
			t.Fatalf("%s: Dirty() = %v, want %v\n%s", what, got, want, git(t, dir, "status", "--porcelain"))
		}
	}
	dirty(false, "clean")

	writeFile(t, dir, "untracked.txt", "new\n")
	dirty(false, "untracked file only")

	// A tracked file touched but not changed: git would refresh the index
	// to record the new mtime, which Dirty must not do.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "README.md"), later, later); err != nil {
		t.Fatal(err)
	}
	index := sha256File(t, filepath.Join(dir, ".git", "index"))
	dirty(false, "touched, unchanged")
	if sha256File(t, filepath.Join(dir, ".git", "index")) != index {
		t.Error("Dirty wrote the index")
	}

	writeFile(t, dir, "README.md", "hello, edited\n")
	dirty(true, "modified tracked file")

	git(t, dir, "add", "README.md")
	dirty(true, "staged change")
}

// Without git to ask there is no answer, and the error says so.
func TestDirtyWithoutGit(t *testing.T) {
	dir := newRepo(t, map[string]string{"README.md": "hello\n"})
	g := open(t, dir)
	t.Setenv("PATH", t.TempDir())
	if d, err := g.Dirty(); err == nil || d {
		t.Fatalf("Dirty() = %v, %v; want an error", d, err)
	}
}
