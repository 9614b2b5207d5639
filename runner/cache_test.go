package runner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/selfevals/selfevals/repo"
)

func TestCacheSecondRunCallsTheAgentZeroTimes(t *testing.T) {
	ds := writeDataset(t, 50)
	srv := newAgentServer(t, 0)
	dir := filepath.Join(t.TempDir(), ".cache")
	params := repo.Parameters{"model_params": map[string]any{"temperature": 0.3}}

	run := func(fp string, p repo.Parameters) ([]*repo.Result, Stats) {
		t.Helper()
		c, err := OpenCache(dir, fp)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		}()
		e := &Executor{Adapter: httpAdapter(t, srv.URL, 4), Parallelism: 4, Cache: c}
		results, st, err := collect(t, context.Background(), e, ds, Iteration{Params: p, Repetitions: 2})
		if err != nil {
			t.Fatal(err)
		}
		checkOnce(t, results, 50, 2)
		return results, st
	}

	_, st := run("agt_1", params)
	if srv.calls.Load() != 100 || st.CacheHits != 0 {
		t.Fatalf("first run: %d calls, stats %+v", srv.calls.Load(), st)
	}
	results, st := run("agt_1", params)
	if srv.calls.Load() != 100 || st.CacheHits != 100 || st.Calls != 0 {
		t.Fatalf("second run called the agent: %d calls, stats %+v", srv.calls.Load(), st)
	}
	for _, r := range results {
		if !r.Cached || r.Output == "" || r.Usage.InputTokens != 3 || r.Attempts != 0 {
			t.Fatalf("cached trace: %+v", r.Trace)
		}
	}
	// Other parameters, or another agent version: misses.
	run("agt_1", repo.Parameters{"model_params": map[string]any{"temperature": 0.7}})
	if srv.calls.Load() != 200 {
		t.Fatalf("different params hit the cache: %d calls", srv.calls.Load())
	}
	run("agt_2", params)
	if srv.calls.Load() != 300 {
		t.Fatalf("edited agent hit the cache: %d calls", srv.calls.Load())
	}
}

func TestCacheDoesNotStoreFailures(t *testing.T) {
	ds := writeDataset(t, 5)
	srv := newAgentServer(t, 0)
	srv.fail = func(*repo.Request, int64) int { return 400 }
	c, err := OpenCache(t.TempDir(), "agt_1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	e := &Executor{Adapter: httpAdapter(t, srv.URL, 2), Parallelism: 2, Cache: c}
	for range 2 {
		if _, _, err := collect(t, context.Background(), e, ds, Iteration{}); err != nil {
			t.Fatal(err)
		}
	}
	if srv.calls.Load() != 10 {
		t.Fatalf("failed calls were served from the cache: %d calls", srv.calls.Load())
	}
}

func TestCacheIgnoresTornLineAndKeepsAppending(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCache(dir, "agt_1")
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"a", "b"} {
		if err := c.Put(id, "par_1", 0, &repo.Response{Output: "out " + id}, float64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(dir, "agt_1", "par_1", "seg-0.jsonl")
	f, err := os.OpenFile(seg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"case_id":"c","repetition":0,"latency_ms":1,"response":{"output":"to`) // a crash mid-line
	f.Close()

	c, err = OpenCache(dir, "agt_1")
	if err != nil {
		t.Fatal(err)
	}
	if r, lat, ok := c.Get("b", "par_1", 0); !ok || r.Output != "out b" || lat != 1 {
		t.Fatalf("Get(b) = %+v %v %v", r, lat, ok)
	}
	if _, _, ok := c.Get("c", "par_1", 0); ok {
		t.Fatal("a torn line was served")
	}
	if err := c.Put("d", "par_1", 0, &repo.Response{Output: "out d"}, 4); err != nil {
		t.Fatal(err)
	}
	if r, _, ok := c.Get("d", "par_1", 0); !ok || r.Output != "out d" {
		t.Fatalf("own unflushed write not served: %+v %v", r, ok)
	}
	c.Close()

	c, err = OpenCache(dir, "agt_1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, id := range []string{"a", "b", "d"} {
		if r, _, ok := c.Get(id, "par_1", 0); !ok || r.Output != "out "+id {
			t.Fatalf("Get(%s) after reopen = %+v %v", id, r, ok)
		}
	}
	if _, _, ok := c.Get("a", "par_1", 1); ok {
		t.Fatal("another repetition hit")
	}
}

// Two caches open at once stand for two processes: each appends to its own
// flocked segment and each sees the other's lines after reopening.
func TestCacheConcurrentWritersUseSeparateSegments(t *testing.T) {
	dir := t.TempDir()
	a, _ := OpenCache(dir, "agt_1")
	b, _ := OpenCache(dir, "agt_1")
	big := strings.Repeat("x", 64<<10) // far beyond PIPE_BUF
	for i := range 20 {
		id := string(rune('a' + i))
		if err := a.Put("A"+id, "par_1", 0, &repo.Response{Output: "A" + big}, 1); err != nil {
			t.Fatal(err)
		}
		if err := b.Put("B"+id, "par_1", 0, &repo.Response{Output: "B" + big}, 1); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()
	b.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "agt_1", "par_1", "seg-*.jsonl"))
	if len(segs) != 2 {
		t.Fatalf("segments: %v", segs)
	}
	c, _ := OpenCache(dir, "agt_1")
	defer c.Close()
	for i := range 20 {
		id := string(rune('a' + i))
		for _, w := range []string{"A", "B"} {
			if r, _, ok := c.Get(w+id, "par_1", 0); !ok || r.Output != w+big {
				t.Fatalf("Get(%s%s) missing or wrong", w, id)
			}
		}
	}
	// With both writers gone, a new writer reuses segment 0.
	if err := c.Put("z", "par_1", 0, &repo.Response{Output: "z"}, 1); err != nil {
		t.Fatal(err)
	}
	c.Flush()
	if segs2, _ := filepath.Glob(filepath.Join(dir, "agt_1", "par_1", "seg-*.jsonl")); len(segs2) != 2 {
		t.Fatalf("segments after reuse: %v", segs2)
	}
}
