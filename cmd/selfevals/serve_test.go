package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestServeAddrChecks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr   string
		public bool
		ok     bool
	}{
		{"127.0.0.1:7878", false, true},
		{"localhost:0", false, true},
		{"[::1]:7878", false, true},
		{"127.1.2.3:80", false, true},
		{"0.0.0.0:7878", false, false},
		{":7878", false, false},
		{"192.168.1.10:7878", false, false},
		{"example.com:7878", false, false},
		{"[::]:7878", false, false},
		{"0.0.0.0:7878", true, true},
		{":7878", true, true},
		{"127.0.0.1", false, false},
		{"nonsense", true, false},
	} {
		err := checkServeAddr(tc.addr, tc.public)
		if (err == nil) != tc.ok {
			t.Errorf("--addr %s --public=%v: %v, want ok=%v", tc.addr, tc.public, err, tc.ok)
		}
	}
}

// A non-loopback --addr without --public is a usage error (exit 2) that
// names the way out; nothing listens.
func TestServeRefusesPublicAddrWithoutFlag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"evals/selfevals.yaml": "name: t\n"})
	var out, errOut bytes.Buffer
	code := Main(t.Context(), []string{"serve", "--dir", dir + "/evals", "--addr", "0.0.0.0:0"}, &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, &Env{Dir: dir})
	if code != exitUsage || !strings.Contains(errOut.String(), "--public") || out.Len() != 0 {
		t.Errorf("exit %d, stderr %q, stdout %q", code, errOut.String(), out.String())
	}
}

// serve answers, is read-only, and stops gracefully when its context ends,
// even with a live stream open.
func TestServeStartsAndStops(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"evals/selfevals.yaml": "name: served\n"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	urls := make(chan string, 1)
	g := &globalOptions{dir: dir + "/evals", env: &Env{Dir: dir}}
	var out, errOut bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- runServe(ctx, &IOStreams{Out: &out, ErrOut: &errOut}, &serveOptions{global: g, addr: "127.0.0.1:0", ready: func(u string) { urls <- u }})
	}()
	url := <-urls
	resp, err := http.Get(url + "api/workspace")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"name": "served"`) {
		t.Errorf("workspace: %d %s", resp.StatusCode, body)
	}
	resp, err = http.Post(url+"api/workspace", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("shutdown: %v", err)
	}
	if !strings.Contains(out.String(), url) {
		t.Errorf("the URL is not printed: %q", out.String())
	}
}
