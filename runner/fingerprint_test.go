package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/selfevals/selfevals/repo"
)

func fingerprintOf(t *testing.T, root string, agent repo.Agent) string {
	t.Helper()
	fp, err := AgentFingerprint(&repo.LoadedSpec{Root: root, Spec: repo.Spec{Agent: agent}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(fp, "agt_") || len(fp) != 4+16 {
		t.Fatalf("bad fingerprint %q", fp)
	}
	return fp
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFingerprintFollowsTheAgentScript(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "agents/support.py"), "print('v1')\n")
	agent := repo.Agent{
		Command: []string{"python3", "agents/support.py", "--fast"},
		Env:     map[string]string{"TOKEN": "${AGENT_TOKEN}"},
	}
	t.Setenv("AGENT_TOKEN", "secret-1")
	fp1 := fingerprintOf(t, root, agent)

	t.Setenv("AGENT_TOKEN", "secret-2")
	if fp := fingerprintOf(t, root, agent); fp != fp1 {
		t.Fatalf("an env value changed the fingerprint: %s vs %s", fp, fp1)
	}
	// Running a Python agent leaves bytecode behind; that is not an edit.
	write(t, filepath.Join(root, "agents/__pycache__/support.cpython-311.pyc"), "bytecode")
	if fp := fingerprintOf(t, root, agent); fp != fp1 {
		t.Fatal("__pycache__ changed the fingerprint")
	}

	write(t, filepath.Join(root, "agents/support.py"), "print('v2')\n")
	fp2 := fingerprintOf(t, root, agent)
	if fp2 == fp1 {
		t.Fatal("editing the agent script kept the fingerprint")
	}

	agent.Env["TOKEN"] = "${OTHER_TOKEN}"
	if fp := fingerprintOf(t, root, agent); fp == fp2 {
		t.Fatal("editing the agent block kept the fingerprint")
	}
}

func TestFingerprintPathsAndDirectories(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "agents/a.py"), "a")
	write(t, filepath.Join(root, "agents/lib/b.py"), "b")
	write(t, filepath.Join(root, "prompts/p.txt"), "p")
	agent := repo.Agent{HTTP: &repo.HTTPAgent{URL: "http://127.0.0.1:1/agent"}, Fingerprint: []string{"agents/", "prompts/p.txt"}}
	fp1 := fingerprintOf(t, root, agent)
	if fp := fingerprintOf(t, root, agent); fp != fp1 {
		t.Fatal("fingerprint is not deterministic")
	}
	write(t, filepath.Join(root, "agents/lib/b.py"), "b2")
	fp2 := fingerprintOf(t, root, agent)
	if fp2 == fp1 {
		t.Fatal("a nested file edit kept the fingerprint")
	}
	write(t, filepath.Join(root, "prompts/p.txt"), "p2")
	if fp := fingerprintOf(t, root, agent); fp == fp2 {
		t.Fatal("a listed file edit kept the fingerprint")
	}
	// A file moved to another name is another agent.
	os.Rename(filepath.Join(root, "agents/a.py"), filepath.Join(root, "agents/c.py"))
	if fp := fingerprintOf(t, root, agent); fp == fp2 {
		t.Fatal("a rename kept the fingerprint")
	}

	for _, bad := range []string{"missing/", "../outside"} {
		agent.Fingerprint = []string{bad}
		if _, err := AgentFingerprint(&repo.LoadedSpec{Root: root, Spec: repo.Spec{Agent: agent}}); err == nil {
			t.Fatalf("fingerprint path %q accepted", bad)
		}
	}
}

// The agent's files hash the same with CRLF (a Windows checkout with
// core.autocrlf) as with LF; binary files are hashed as they are.
func TestFingerprintIgnoresLineEndings(t *testing.T) {
	agent := repo.Agent{Command: []string{"python3", "agents/support.py"}, Fingerprint: []string{"prompts", "model.bin"}}
	fp := func(eol string, bin string) string {
		root := t.TempDir()
		script := "import sys\r\nprint('pong')\n"
		write(t, filepath.Join(root, "agents/support.py"), strings.ReplaceAll(strings.ReplaceAll(script, "\r\n", "\n"), "\n", eol))
		write(t, filepath.Join(root, "prompts/system.txt"), strings.ReplaceAll("Be brief.\nSay pong.\n", "\n", eol))
		write(t, filepath.Join(root, "model.bin"), bin)
		return fingerprintOf(t, root, agent)
	}
	bin := "\x00\x01\r\n\x02"
	if lf, crlf := fp("\n", bin), fp("\r\n", bin); lf != crlf {
		t.Errorf("LF %s, CRLF %s", lf, crlf)
	}
	if a, b := fp("\n", bin), fp("\n", "\x00\x01\n\x02"); a == b {
		t.Error("a binary file's CR bytes were dropped")
	}
	if a, b := fp("\n", bin), fp("\n\n", bin); a == b {
		t.Error("an added blank line did not change the fingerprint")
	}
}
