package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Binaries built once for the tests that need real processes: the
// selfevals command itself (to kill it mid-run) and a counting agent.
var (
	selfevalsBin  string
	countAgentBin string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "selfevals-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	selfevalsBin = filepath.Join(dir, "selfevals")
	countAgentBin = filepath.Join(dir, "countagent")
	for _, b := range []struct{ out, pkg string }{{selfevalsBin, "."}, {countAgentBin, "./testdata/countagent"}} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building", b.pkg, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
