package adapters

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/selfevals/selfevals/repo"
)

func newTestCommand(t *testing.T, agent repo.Agent, opts Options) Adapter {
	t.Helper()
	if agent.Command == nil {
		agent.Command = []string{agentBin}
	}
	a, err := New(agent, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func TestCommand(t *testing.T) {
	tests := []struct {
		name       string
		agent      repo.Agent
		input      string
		timeout    time.Duration
		wantOutput string
		wantKind   string
		wantMsg    []string
		check      func(t *testing.T, resp repo.Response, info CallInfo, ce *CallError)
	}{
		{name: "echo", input: `{"mode":"echo","text":"hi"}`, wantOutput: "hi",
			check: func(t *testing.T, resp repo.Response, info CallInfo, _ *CallError) {
				if resp.Model != "test-agent" || resp.Usage.InputTokens != 3 {
					t.Errorf("model/usage not read: %+v", resp)
				}
			}},
		{name: "stderr kept on success", input: `{"mode":"stderr","text":"ok"}`, wantOutput: "ok",
			check: func(t *testing.T, _ repo.Response, info CallInfo, _ *CallError) {
				if !strings.Contains(info.Stderr, "a note on stderr") {
					t.Errorf("CallInfo.Stderr = %q", info.Stderr)
				}
			}},
		{name: "non-zero exit", input: `{"mode":"exit"}`, wantKind: repo.ErrExit, wantMsg: []string{"status 3", "boom: the model is missing"},
			check: func(t *testing.T, _ repo.Response, _ CallInfo, ce *CallError) {
				if !strings.Contains(ce.Stderr, "second line") {
					t.Errorf("stderr = %q", ce.Stderr)
				}
			}},
		{name: "invalid json", input: `{"mode":"invalid"}`, wantKind: repo.ErrInvalidJSON, wantMsg: []string{"agent.output: text"},
			check: func(t *testing.T, _ repo.Response, _ CallInfo, ce *CallError) {
				if !strings.Contains(ce.Partial, "this is not json") {
					t.Errorf("partial = %q", ce.Partial)
				}
			}},
		{name: "plain text accepted with output text", agent: repo.Agent{Output: "text"}, input: `{"mode":"text"}`, wantOutput: "plain answer"},
		{name: "json still parsed with output text", agent: repo.Agent{Output: "text"}, input: `{"mode":"echo","text":"j"}`, wantOutput: "j"},
		{name: "too large", agent: repo.Agent{MaxOutputBytes: 1000}, input: `{"mode":"huge","size":5000000}`, wantKind: repo.ErrTooLarge,
			check: func(t *testing.T, _ repo.Response, _ CallInfo, ce *CallError) {
				if !strings.HasSuffix(ce.Partial, "…[truncated at 1000 bytes]") || !strings.HasPrefix(ce.Partial, `{"output":"xxx`) {
					t.Errorf("partial = %.60q…", ce.Partial)
				}
			}},
		{name: "hang times out", input: `{"mode":"hang"}`, timeout: 300 * time.Millisecond, wantKind: repo.ErrTimeout},
		{name: "grandchild holding stdout", input: `{"mode":"grandchild","text":"done"}`, wantOutput: "done",
			check: func(t *testing.T, _ repo.Response, info CallInfo, _ *CallError) {
				pid := grandchildPID(t, info.Stderr)
				waitGone(t, pid)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestCommand(t, tt.agent, Options{})
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			start := time.Now()
			resp, info, err := callWithTimeout(t, a, request(tt.input), timeout)
			if time.Since(start) > timeout+3*time.Second {
				t.Errorf("call took %s", time.Since(start))
			}
			var ce *CallError
			if tt.wantKind != "" {
				ce = wantCallError(t, err, tt.wantKind, tt.wantMsg...)
			} else {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if resp.Output != tt.wantOutput {
					t.Errorf("output = %q, want %q", resp.Output, tt.wantOutput)
				}
			}
			if tt.check != nil {
				tt.check(t, resp, info, ce)
			}
		})
	}
}

func grandchildPID(t *testing.T, stderr string) int {
	t.Helper()
	for _, line := range strings.Split(stderr, "\n") {
		if rest, ok := strings.CutPrefix(line, "grandchild "); ok {
			pid, err := strconv.Atoi(strings.TrimSpace(rest))
			if err == nil {
				return pid
			}
		}
	}
	t.Fatalf("no grandchild pid in stderr %q", stderr)
	return 0
}

// waitGone waits until pid no longer exists (its group was killed).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			return
		}
		// Zombie until its parent (init) reaps it: check the state.
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
			if f := strings.Fields(string(b)); len(f) > 2 && f[2] == "Z" {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("process %d still running", pid)
}

func TestCommandCanceled(t *testing.T) {
	a := newTestCommand(t, repo.Agent{}, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(100 * time.Millisecond)
		cancel()
	}()
	_, err := a.Call(ctx, request(`{"mode":"hang"}`))
	wantCallError(t, err, repo.ErrCanceled)
}

func TestCommandEnvAndWorkdir(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "work"), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(agentBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "agent"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	agent := repo.Agent{
		Command: []string{"bin/agent"},
		Workdir: "work",
		Env:     map[string]string{"AGENT_GREETING": "hello ${WHO}"},
	}
	a := newTestCommand(t, agent, Options{RepoRoot: root, LookupEnv: env(map[string]string{"WHO": "world"})})
	resp, _, err := callWithTimeout(t, a, request(`{"mode":"env","text":"AGENT_GREETING"}`), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := "hello world|" + filepath.Join(root, "work"); resp.Output != want {
		t.Errorf("output = %q, want %q", resp.Output, want)
	}
	if d := Describe(agent); strings.Contains(d, "world") {
		t.Errorf("Describe leaks an expanded value: %q", d)
	}
}

// A command agent starts with the environment it is given, not the
// process's.
func TestCommandEnviron(t *testing.T) {
	root := t.TempDir()
	a := newTestCommand(t, repo.Agent{}, Options{RepoRoot: root, Environ: []string{"FROM_CALLER=given"}})
	for name, want := range map[string]string{"FROM_CALLER": "given|" + root, "PATH": "|" + root} {
		resp, _, err := callWithTimeout(t, a, request(`{"mode":"env","text":"`+name+`"}`), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Output != want {
			t.Errorf("%s: output = %q, want %q", name, resp.Output, want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name  string
		agent repo.Agent
		want  string
	}{
		{"missing env var", repo.Agent{Command: []string{"true"}, Env: map[string]string{"K": "${NOPE_NOT_SET}"}}, "NOPE_NOT_SET is not set"},
		{"missing header var", repo.Agent{HTTP: &repo.HTTPAgent{URL: "http://127.0.0.1:1/", Headers: map[string]string{"Authorization": "Bearer ${AGENT_TOKEN}"}}}, "AGENT_TOKEN is not set"},
		{"missing url var", repo.Agent{HTTP: &repo.HTTPAgent{URL: "http://${HOST}/x"}}, "HOST is not set"},
		{"bad url", repo.Agent{HTTP: &repo.HTTPAgent{URL: "ftp://x"}}, "not an http"},
		{"unclosed", repo.Agent{HTTP: &repo.HTTPAgent{URL: "http://x/${A"}}, "unclosed"},
		{"not in path", repo.Agent{Command: []string{"no-such-agent-binary-xyz"}}, "not found in PATH"},
		{"missing path", repo.Agent{Command: []string{"agents/nope.py"}}, "not an executable file"},
		{"bad workdir", repo.Agent{Command: []string{"true"}, Workdir: "nope"}, "not a directory"},
		{"openai key", repo.Agent{OpenAI: &repo.OpenAIAgent{BaseURL: "http://x/v1", Model: "m", APIKeyEnv: "MY_KEY"}}, "MY_KEY is not set"},
		{"entrypoint", repo.Agent{Entrypoint: "pkg:fn"}, "not supported"},
		{"unknown builtin", repo.Agent{Builtin: "nope"}, "unknown builtin"},
		{"nothing", repo.Agent{}, "choose one of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.agent, Options{RepoRoot: t.TempDir(), LookupEnv: env(nil)})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if !repo.IsUserError(err) {
				t.Errorf("%v is not a user error", err)
			}
		})
	}
}
