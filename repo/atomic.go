package repo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/selfevals/selfevals/repo/internal/fault"
)

// WriteFileAtomic writes data to path so that readers and crashes see
// either the old file or the new one, never a mix: a temporary file in the
// same directory is written, synced and renamed over path, and the
// directory synced so the rename survives a crash of the machine.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return (*Syncs)(nil).WriteFileAtomic(path, data, perm)
}

// Syncs gathers the fsyncs a series of writes can leave to its end. A run
// rewrites run.json, the committed result and its report several times and
// needs them on disk only when it ends: writing through Syncs keeps each
// write atomic (a rename of a complete file, so a killed process leaves the
// old file or the new one) and makes the fsyncs once per file and once per
// directory, in Sync. A crash of the machine before Sync may lose those
// writes, as it may lose anything after the last sync; the run is then
// resumed. A nil *Syncs syncs every write at once (WriteFileAtomic).
type Syncs struct {
	mu    sync.Mutex
	files []string // written, to fsync by path, in the order first written
	dirs  []string // whose entries changed
}

// WriteFileAtomic writes data to path as repo.WriteFileAtomic does, but
// leaves the file's and its directory's fsyncs to Sync.
func (s *Syncs) WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := s.CreateAtomic(path)
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
	path  string
	syncs *Syncs // nil: Commit syncs at once
}

// CreateAtomic starts writing path, its fsyncs left to Sync.
func (s *Syncs) CreateAtomic(path string) (*AtomicFile, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(dir, TempPattern(path))
	if err != nil {
		return nil, err
	}
	return &AtomicFile{File: tmp, path: path, syncs: s}, nil
}

// Abort drops what was written; path is left as it was.
func (f *AtomicFile) Abort() {
	f.Close()
	os.Remove(f.Name())
}

// Commit renames what was written over path: synced first, or noted for
// its Syncs to sync.
func (f *AtomicFile) Commit(perm os.FileMode) error {
	name, dir, s := f.Name(), filepath.Dir(f.path), f.syncs
	defer os.Remove(name) // a no-op after the rename
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if s == nil {
		// Synced before the rename: after a crash of the machine path
		// holds the old bytes or the new, never a file the rename
		// reached before its data did.
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
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
	if s == nil {
		SyncDir(dir)
		return nil
	}
	s.File(f.path)
	s.Dir(dir)
	return nil
}

// File notes a file Sync must fsync.
func (s *Syncs) File(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.files, path) {
		s.files = append(s.files, path)
	}
}

// Dir notes a directory whose entries changed (a file created or renamed
// in it), which Sync must fsync.
func (s *Syncs) Dir(dir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.dirs, dir) {
		s.dirs = append(s.dirs, dir)
	}
}

// Sync fsyncs every noted file, then every noted directory, once each, and
// forgets them. A file noted but since removed is skipped. On a nil *Syncs
// it does nothing.
func (s *Syncs) Sync() error {
	if s == nil {
		return nil // every write was synced as it was made
	}
	s.mu.Lock()
	files, dirs := s.files, s.dirs
	s.files, s.dirs = nil, nil
	s.mu.Unlock()
	// The files at once: on a busy disk each fsync waits tens of
	// milliseconds, and the file system can commit them together.
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, path := range files {
		wg.Go(func() { errs[i] = syncFile(path) })
	}
	wg.Wait()
	for _, dir := range dirs {
		SyncDir(dir)
	}
	return errors.Join(errs...)
}

// syncFile fsyncs the file at path, if it is still there.
func syncFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err == nil {
		err = f.Sync()
		f.Close()
	}
	if err != nil {
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	return nil
}

// SyncDir fsyncs a directory so the renames and creations in it survive a
// crash of the machine. It is best effort: some systems cannot sync a
// directory, and the files in it are synced already.
func SyncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// TempPattern is the os.CreateTemp pattern of the temporary file that
// becomes path when it is complete: hidden, beside it, so a rename is atomic
// and a crash leaves only a file that is recognisably unfinished.
func TempPattern(path string) string { return "." + filepath.Base(path) + ".tmp-*" }
