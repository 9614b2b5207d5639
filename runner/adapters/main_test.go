package adapters

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-json"
	"github.com/selfevals/selfevals/repo"
)

// agentBin is the test agent (testdata/agent), built once.
var agentBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "adapters-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	agentBin = filepath.Join(dir, "agent")
	build := exec.Command("go", "build", "-o", agentBin, "./testdata/agent")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build test agent:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// request builds a request whose input is the given JSON object.
func request(input string) *repo.Request {
	return &repo.Request{
		CaseID:     "case_test",
		Input:      json.RawMessage(input),
		Parameters: repo.Parameters{"model_params": map[string]any{"temperature": 0.3}},
		Metadata:   repo.RequestMetadata{Experiment: "test"},
	}
}

// env is a LookupEnv over a fixed map.
func env(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := kv[k]
		return v, ok
	}
}

// wantCallError checks err is a *CallError of the kind, with msg containing
// each of substrs.
func wantCallError(t *testing.T, err error, kind string, substrs ...string) *CallError {
	t.Helper()
	var ce *CallError
	if !errors.As(err, &ce) {
		t.Fatalf("got error %v (%T), want a *CallError of kind %s", err, err, kind)
	}
	if ce.Kind != kind {
		t.Fatalf("got kind %s (%s), want %s", ce.Kind, ce.Msg, kind)
	}
	for _, s := range substrs {
		if !strings.Contains(ce.Msg, s) {
			t.Errorf("message %q does not contain %q", ce.Msg, s)
		}
	}
	return ce
}

func callWithTimeout(t *testing.T, a Adapter, req *repo.Request, d time.Duration) (repo.Response, CallInfo, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var info CallInfo
	resp, err := a.Call(WithCallInfo(ctx, &info), req)
	return resp, info, err
}
