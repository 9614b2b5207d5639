// Package testnode finds the npm packages the Go tests drive (DuckDB as an
// independent reader, the OpenTelemetry JS SDK), which .ci/run installs
// with `npm ci --prefix .ci/node`.
package testnode

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Modules returns the node_modules directory holding pkg. Without node or
// pkg the test skips, saying how to install them; under CI, where .ci/run
// installs them, it fails instead.
func Modules(t testing.TB, pkg string) string {
	t.Helper()
	dir, err := modulesDir()
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, pkg))
	}
	if err == nil {
		_, err = exec.LookPath("node")
	}
	if err == nil {
		return dir
	}
	msg := "node and " + pkg + " are needed: run `npm ci --prefix .ci/node` (as .ci/run does)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// modulesDir is .ci/node/node_modules at the module root: the nearest
// directory above the test's with a go.mod.
func modulesDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, ".ci", "node", "node_modules"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}
