package repo

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/selfevals/selfevals/repo/internal/fault"
)

// WriteFileAtomic writes data to path so that readers and crashes see
// either the old file or the new one, never a mix: a temporary file in the
// same directory is written, synced and renamed over path.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := CreateAtomic(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Commit(perm)
}

// AtomicFile is a file written in full before it replaces path: a
// temporary file beside it until Commit renames it over path. For what is
// too large to build in memory first.
type AtomicFile struct {
	*os.File
	path string
}

// CreateAtomic starts writing path (see WriteFileAtomic).
func CreateAtomic(path string) (*AtomicFile, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(dir, TempPattern(path))
	if err != nil {
		return nil, err
	}
	return &AtomicFile{File: tmp, path: path}, nil
}

// Abort drops what was written; path is left as it was.
func (f *AtomicFile) Abort() {
	f.Close()
	os.Remove(f.Name())
}

// Commit syncs what was written and renames it over path.
func (f *AtomicFile) Commit(perm os.FileMode) error {
	name, dir := f.Name(), filepath.Dir(f.path)
	defer os.Remove(name) // a no-op after the rename
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fault.Point("rename " + filepath.Base(f.path)); err != nil {
		return err
	}
	if err := os.Rename(name, f.path); err != nil {
		return err
	}
	// Sync the directory so the rename itself survives a crash.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// TempPattern is the os.CreateTemp pattern of the temporary file that
// becomes path when it is complete: hidden, beside it, so a rename is atomic
// and a crash leaves only a file that is recognisably unfinished.
func TempPattern(path string) string { return "." + filepath.Base(path) + ".tmp-*" }
