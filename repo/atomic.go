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
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, TempPattern(path))
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name) // a no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := fault.Point("rename " + filepath.Base(path)); err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
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
