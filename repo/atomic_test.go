package repo

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// Writes through Syncs are whole at once (renamed into place) and note each
// file and directory once, in the order first written; Sync forgets them
// and skips a file removed since.
func TestSyncsDeferAndDeduplicate(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	s := &Syncs{}
	a, b, c := filepath.Join(dir, "a.json"), filepath.Join(sub, "b.json"), filepath.Join(dir, "c.json")
	for i, w := range []struct{ path, data string }{{a, "1"}, {b, "2"}, {a, "3"}, {c, "4"}} {
		if err := s.WriteFileAtomic(w.path, []byte(w.data), 0o644); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if got, _ := os.ReadFile(w.path); string(got) != w.data {
			t.Fatalf("write %d: %s holds %q before Sync, want %q", i, w.path, got, w.data)
		}
	}
	if want := []string{a, b, c}; !slices.Equal(s.files, want) {
		t.Errorf("files to sync %v, want %v", s.files, want)
	}
	if want := []string{dir, sub}; !slices.Equal(s.dirs, want) {
		t.Errorf("directories to sync %v, want %v", s.dirs, want)
	}
	if err := os.Remove(c); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatalf("Sync with a noted file removed: %v", err)
	}
	if len(s.files) != 0 || len(s.dirs) != 0 {
		t.Errorf("Sync kept %v and %v", s.files, s.dirs)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "a.json" && e.Name() != "sub" {
			t.Errorf("left %s beside the files", e.Name())
		}
	}
	if info, err := os.Stat(a); err != nil || info.Mode().Perm() != 0o644 {
		t.Errorf("a.json: %v, mode %v; want 0644", err, info.Mode().Perm())
	}
}

// A nil *Syncs (WriteFileAtomic) syncs at once and notes nothing.
func TestWriteFileAtomicNilSyncs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x", "y.json")
	if err := WriteFileAtomic(path, []byte("z"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "z" {
		t.Fatalf("%s holds %q, want z", path, got)
	}
	if err := (*Syncs)(nil).Sync(); err != nil {
		t.Fatalf("Sync of nil: %v", err)
	}
}
