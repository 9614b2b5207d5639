package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// testNodeModules is where .ci/run installs the npm packages the tests
// drive (.ci/node/package.json).
const testNodeModules = "../../.ci/node/node_modules"

// requireNodePackage skips the test when the npm package is not installed
// here, saying how to install it; under CI, where .ci/run installs it, its
// absence fails the test instead.
func requireNodePackage(t *testing.T, pkg string) string {
	t.Helper()
	dir, err := filepath.Abs(testNodeModules)
	if err != nil {
		t.Fatal(err)
	}
	_, nodeErr := exec.LookPath("node")
	_, pkgErr := os.Stat(filepath.Join(dir, pkg))
	if nodeErr == nil && pkgErr == nil {
		return dir
	}
	msg := pkg + " is not installed: run `npm ci --prefix .ci/node` (as .ci/run does)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// duckdbQuery runs sql with DuckDB and returns its rows.
func duckdbQuery(t *testing.T, dir, sql string) []map[string]any {
	t.Helper()
	modules := requireNodePackage(t, "@duckdb/node-api")
	script, _ := filepath.Abs("testdata/duckdb_query.cjs")
	cmd := exec.Command("node", script, sql)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("duckdb %q: %v\n%s", sql, err, stderr)
	}
	var rows []map[string]any
	if err := json.Unmarshal(out, &rows); err != nil {
		t.Fatalf("duckdb output %q: %v", out, err)
	}
	return rows
}
