package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/selfevals/selfevals/internal/testnode"
)

// duckdbQuery runs sql with DuckDB and returns its rows.
func duckdbQuery(t *testing.T, dir, sql string) []map[string]any {
	t.Helper()
	modules := testnode.Modules(t, "@duckdb/node-api")
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
