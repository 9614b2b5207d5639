package adapters

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/selfevals/selfevals/repo"
)

func newTestWorkers(t *testing.T, parallelism int, args ...string) *WorkerPool {
	t.Helper()
	a, err := New(repo.Agent{Command: append([]string{agentBin, "-worker"}, args...), Worker: true, MaxOutputBytes: 10000}, Options{Parallelism: parallelism})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a.(*WorkerPool)
}

func TestWorkerParallelEcho(t *testing.T) {
	p := newTestWorkers(t, 4)
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := fmt.Sprintf("call %d", i)
			// Pretty-printed input must still travel as one line.
			resp, _, err := callWithTimeout(t, p, request(fmt.Sprintf("{\n  \"mode\": \"echo\",\n  \"text\": %q\n}", want)), 10*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			if resp.Output != want {
				t.Errorf("output = %q, want %q", resp.Output, want)
			}
		}()
	}
	wg.Wait()
}

func TestWorkerFailures(t *testing.T) {
	t.Run("dead worker is restarted and the call retried", func(t *testing.T) {
		p := newTestWorkers(t, 1, "-die-after", "2")
		for i := 0; i < 5; i++ {
			resp, info, err := callWithTimeout(t, p, request(`{"mode":"echo","text":"x"}`), 10*time.Second)
			if err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
			if resp.Output != "x" {
				t.Fatalf("call %d: output %q", i, resp.Output)
			}
			if wantAttempts := map[bool]int{true: 2, false: 1}[i == 2 || i == 4]; info.Attempts != wantAttempts {
				t.Errorf("call %d: attempts = %d, want %d", i, info.Attempts, wantAttempts)
			}
		}
	})
	t.Run("a worker that always dies fails after one retry", func(t *testing.T) {
		p := newTestWorkers(t, 1)
		_, info, err := callWithTimeout(t, p, request(`{"mode":"crash"}`), 10*time.Second)
		ce := wantCallError(t, err, repo.ErrExit, "status 5", "crashing as asked")
		if !ce.Transient || info.Attempts != 2 {
			t.Errorf("transient = %v, attempts = %d", ce.Transient, info.Attempts)
		}
	})
	for _, tt := range []struct {
		name, input, kind string
		timeout           time.Duration
	}{
		{"timeout kills the worker", `{"mode":"hang"}`, repo.ErrTimeout, 300 * time.Millisecond},
		{"oversize line", `{"mode":"huge","size":50000}`, repo.ErrTooLarge, 10 * time.Second},
		{"invalid line", `{"mode":"invalid"}`, repo.ErrInvalidJSON, 10 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestWorkers(t, 1)
			_, _, err := callWithTimeout(t, p, request(tt.input), tt.timeout)
			ce := wantCallError(t, err, tt.kind)
			if tt.kind == repo.ErrTooLarge && !strings.HasSuffix(ce.Partial, truncatedMarker(10000)) {
				t.Errorf("partial ends %q", ce.Partial[max(0, len(ce.Partial)-40):])
			}
			// The pool recovers: the next call gets a working worker.
			resp, _, err := callWithTimeout(t, p, request(`{"mode":"echo","text":"again"}`), 10*time.Second)
			if err != nil || resp.Output != "again" {
				t.Fatalf("after %s: %v %q", tt.name, err, resp.Output)
			}
		})
	}
}

func TestWorkerClose(t *testing.T) {
	p := newTestWorkers(t, 2)
	if _, _, err := callWithTimeout(t, p, request(`{"mode":"echo","text":"x"}`), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, w := range p.all {
		if pid := int(w.pid.Load()); pid > 0 {
			pids = append(pids, pid)
		}
	}
	if len(pids) != 1 {
		t.Fatalf("started workers = %d, want 1 (lazy start)", len(pids))
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		waitGone(t, pid)
	}
	_, err := p.Call(context.Background(), request(`{"mode":"echo"}`))
	wantCallError(t, err, repo.ErrCanceled)
}

// A worker's start-up has its own allowance: a process slower to start than
// run.timeout still answers its first call, and one slower than both is a
// timeout that names agent.startup_timeout.
func TestWorkerStartupTimeout(t *testing.T) {
	pool := func(t *testing.T, startup repo.Duration, delay string) *WorkerPool {
		a, err := New(repo.Agent{Command: []string{agentBin, "-worker", "-startup", delay}, Worker: true, StartupTimeout: startup},
			Options{Parallelism: 1, Timeout: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		return a.(*WorkerPool)
	}
	t.Run("slow start within the allowance", func(t *testing.T) {
		p := pool(t, repo.Duration(5*time.Second), "800ms")
		for i := range 3 { // a fresh worker, then a warm one
			r, err := p.Call(context.Background(), request(fmt.Sprintf(`{"mode":"echo","text":"call %d"}`, i)))
			if err != nil || r.Output != fmt.Sprintf("call %d", i) {
				t.Fatalf("call %d: %v %q", i, err, r.Output)
			}
		}
	})
	t.Run("slower than the allowance", func(t *testing.T) {
		p := pool(t, repo.Duration(200*time.Millisecond), "3s")
		_, err := p.Call(context.Background(), request(`{"mode":"echo","text":"x"}`))
		wantCallError(t, err, repo.ErrTimeout, "did not answer its first request", "agent.startup_timeout 200ms + run.timeout 300ms")
	})
	t.Run("a warm worker has run.timeout only", func(t *testing.T) {
		p := pool(t, repo.Duration(5*time.Second), "0s")
		if _, err := p.Call(context.Background(), request(`{"mode":"echo","text":"x"}`)); err != nil {
			t.Fatal(err)
		}
		_, err := p.Call(context.Background(), request(`{"mode":"hang"}`))
		ce := wantCallError(t, err, repo.ErrTimeout, "run.timeout")
		if strings.Contains(ce.Msg, "startup") {
			t.Errorf("a warm worker's timeout blames start-up: %s", ce.Msg)
		}
	})
}

// callsAtOnce makes n calls of input from n goroutines and fails on any
// error.
func callsAtOnce(t *testing.T, p *WorkerPool, n int, input string) {
	t.Helper()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, _, err := callWithTimeout(t, p, request(input), 60*time.Second); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

// A pool of workers that wait (on a model, say) grows to one per parallel
// slot; one of workers that compute stays at one per core; agent.workers
// fixes the number either way.
func TestWorkerPoolSizing(t *testing.T) {
	if _, ok := schedTime(os.Getpid()); !ok {
		t.Skip("no /proc/<pid>/task/*/schedstat here: the pool is sized to parallelism")
	}
	cores := runtime.NumCPU()
	const parallelism = 12
	if cores >= parallelism {
		t.Skipf("%d cores: one worker per core is already parallelism %d", cores, parallelism)
	}
	t.Run("waiting", func(t *testing.T) {
		p := newTestWorkers(t, parallelism)
		if got := p.Workers(); got != cores {
			t.Fatalf("%d workers before any call, want %d (the cores)", got, cores)
		}
		callsAtOnce(t, p, 240, `{"mode":"wait","size":25}`)
		if got := p.Workers(); got != parallelism {
			t.Errorf("%d workers after 240 calls that sleep 25 ms, want %d (parallelism)", got, parallelism)
		}
	})
	t.Run("computing", func(t *testing.T) {
		p := newTestWorkers(t, parallelism)
		callsAtOnce(t, p, 120, `{"mode":"spin","size":5}`)
		if got := p.Workers(); got != cores {
			t.Errorf("%d workers after 120 calls that compute 5 ms, want %d (the cores)", got, cores)
		}
	})
	t.Run("agent.workers", func(t *testing.T) {
		a, err := New(repo.Agent{Command: []string{agentBin, "-worker"}, Worker: true, Workers: 3}, Options{Parallelism: parallelism})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		p := a.(*WorkerPool)
		callsAtOnce(t, p, 120, `{"mode":"wait","size":25}`)
		if got := p.Workers(); got != 3 {
			t.Errorf("%d workers with agent.workers: 3, want 3", got)
		}
	})
}
