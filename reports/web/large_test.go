package web

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/goccy/go-json"

	"github.com/selfevals/selfevals/internal/heaptest"
	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
)

// synthRun writes a finished run of slug with cases × iterations results,
// through the run record's own writers, the way `selfevals run` leaves
// one: run.json, results.jsonl, iterations.jsonl. Labels cycle pass, pass,
// fail, error; every output is about 300 bytes.
func synthRun(t testing.TB, evals, slug, runID string, cases, iterations int) runstore.Run {
	t.Helper()
	run := runstore.Open(evals).NewRun(slug, runID)
	if err := run.Create(); err != nil {
		t.Fatal(err)
	}
	man := &repo.RunManifest{RunID: runID, Experiment: slug, ExperimentID: "exp_synth", DatasetID: "ds_synth", Cases: cases,
		StartedAt: "2026-01-02T03:04:05Z", EndedAt: "2026-01-02T04:04:05Z", State: repo.RunCompleted, Repetitions: 1,
		MaxIterations: iterations, Target: repo.MetricTarget{Name: "pass@1", Operator: ">=", Value: 0.5}}
	if err := run.WriteManifest(man); err != nil {
		t.Fatal(err)
	}
	w, err := run.OpenResultWriter()
	if err != nil {
		t.Fatal(err)
	}
	labels := []repo.Label{repo.Pass, repo.Pass, repo.Fail, repo.Error}
	out := strings.Repeat("an answer of some length ", 12)
	for it := range iterations {
		for c := range cases {
			i := it*cases + c
			r := &repo.Result{Trace: repo.Trace{ID: fmt.Sprintf("tr_%010d", i), CaseID: fmt.Sprintf("case_%07d", c), ParamsID: "par_synth",
				Iteration: it, Output: out, StartedAt: "2026-01-02T03:04:05.123Z", LatencyMS: 12.5, Attempts: 1},
				Label: labels[i%len(labels)], Score: 1, Grades: []repo.Grade{{Grader: "rules", Label: labels[i%len(labels)]}}}
			if err := w.Write(r); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	iw, err := run.CreateIterations()
	if err != nil {
		t.Fatal(err)
	}
	for it := range iterations {
		s := &repo.IterationSummary{Index: it, ID: "itr_synth" + strconv.Itoa(it), Hypothesis: "synthetic", Calls: cases, Primary: 0.5,
			Metrics: map[string]repo.Metric{"pass@1": {Value: 0.5, Observed: true}}, Decision: repo.Decision{Outcome: repo.KeepCandidate}}
		if err := iw.Write(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := iw.Close(); err != nil {
		t.Fatal(err)
	}
	return run
}

func synthServer(t testing.TB, cases, iterations int) (*httptest.Server, string, runstore.Run) {
	t.Helper()
	evals := filepath.Join(t.TempDir(), "evals")
	run := synthRun(t, evals, "big", "run_synth", cases, iterations)
	srv, err := New(Options{EvalsDir: evals, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts, evals, run
}

func getBody(t testing.TB, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

func TestRunCallsArePaged(t *testing.T) {
	ts, _, _ := synthServer(t, 250, 2)
	var page CallsPage
	decode(t, getBody(t, ts.URL+"/api/runs/run_synth/calls?limit=100&offset=0"), &page)
	if page.Total != 500 || len(page.Calls) != 100 || page.Calls[0].TraceID != "tr_0000000499" || page.Calls[99].TraceID != "tr_0000000400" {
		t.Fatalf("first page: total %d, %d calls, %s…%s", page.Total, len(page.Calls), page.Calls[0].TraceID, page.Calls[len(page.Calls)-1].TraceID)
	}
	decode(t, getBody(t, ts.URL+"/api/runs/run_synth/calls?iteration=0&order=oldest_first&offset=200&limit=100"), &page)
	if page.Total != 250 || len(page.Calls) != 50 || page.Calls[0].TraceID != "tr_0000000200" || page.Calls[49].Iteration != 0 {
		t.Fatalf("iteration 0 from 200: total %d, %d calls", page.Total, len(page.Calls))
	}
	var it IterationDetail
	decode(t, getBody(t, ts.URL+"/api/iterations/run_synth:1?offset=10&limit=5"), &it)
	if it.CallsTotal != 250 || len(it.Calls) != 5 || it.Calls[0].TraceID != "tr_0000000260" || it.CallsOffset != 10 || it.CallsLimit != 5 {
		t.Fatalf("iteration 1 page: %d of %d from %d", len(it.Calls), it.CallsTotal, it.CallsOffset)
	}
	for _, bad := range []string{"limit=0", "limit=1001", "offset=-1", "offset=x", "iteration=-2", "order=sideways"} {
		resp, err := http.Get(ts.URL + "/api/runs/run_synth/calls?" + bad)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(b), strings.Split(bad, "=")[0]) {
			t.Errorf("?%s: %d %s", bad, resp.StatusCode, b)
		}
	}

	// The run page: 100 rows from the newest, and links to the neighbours.
	body := getBody(t, ts.URL+"/runs/run_synth?offset=100&limit=100")
	if n := strings.Count(body, `class="span-row"`); n != 100 {
		t.Errorf("the run page's second page has %d rows", n)
	}
	for _, want := range []string{"101</span>–<span id=\"page-to\">200</span> of <span id=\"page-total\">500", `href="?offset=0&amp;limit=100"`, `href="?offset=200&amp;limit=100"`, "run_synth:1:0:case_0000149"} {
		if !strings.Contains(body, want) {
			t.Errorf("the run page's second page has no %q", want)
		}
	}
	if body := getBody(t, ts.URL+"/runs/run_synth?offset=400"); strings.Contains(body, `id="page-older"`) || strings.Count(body, `class="span-row"`) != 100 {
		t.Error("the last page links to an older one, or does not show its 100 rows")
	}
}

func decode(t testing.TB, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("%v\n%.400s", err, body)
	}
}

// readBytes is what the process has read through read(2) and pread(2) so
// far (Linux's rchar).
func readBytes(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skip("no /proc/self/io: ", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "rchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	t.Skip("no rchar in /proc/self/io")
	return 0
}

// A large run served under a low memory limit: once the index is built,
// no page or API request reads more than a sliver of results.jsonl (bytes
// read, measured by the kernel) or holds more than a few MiB of heap.
func TestLargeRunServedWithinBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 200,000-result run")
	}
	const cases, iterations = 100_000, 2
	ts, _, run := synthServer(t, cases, iterations)
	st, err := os.Stat(run.Dir().Results())
	if err != nil {
		t.Fatal(err)
	}
	old := debug.SetMemoryLimit(64 << 20)
	defer debug.SetMemoryLimit(old)

	getBody(t, ts.URL+"/api/runs/run_synth/calls?limit=1") // builds the index, once
	runtime.GC()
	const heapBound, readBound = 16 << 20, 2 << 20
	for _, path := range []string{
		"/runs/run_synth",
		"/runs/run_synth?offset=150000&limit=1000",
		"/api/runs/run_synth/calls?iteration=1&offset=99000&limit=1000",
		"/api/iterations/run_synth:0?offset=50000&limit=1000",
		"/api/traces/run_synth:tr_0000123456",
		"/api/traces/tr_0000000007",
		"/api/traces/run_synth:1:0:case_0099999",
		"/traces/run_synth:0:0:case_0054321",
		"/api/experiments",
		"/api/experiments/big",
		"/api/workspace",
		"/",
	} {
		runtime.GC()
		before := readBytes(t)
		stop := heaptest.Start()
		body := getBody(t, ts.URL+path)
		peak := stop()
		read := readBytes(t) - before - int64(len(body)) // the client reads the response too
		t.Logf("%-60s read %7d bytes of a %d-byte results.jsonl, heap peak %5.1f MiB", path, read, st.Size(), float64(peak)/(1<<20))
		if read > readBound {
			t.Errorf("GET %s read %d bytes (results.jsonl is %d)", path, read, st.Size())
		}
		if peak > heapBound {
			t.Errorf("GET %s: the heap reached %.1f MiB", path, float64(peak)/(1<<20))
		}
	}
}

// benchServer serves a synthetic run of 300,000 cases × 1 iteration, its
// index built.
func benchServer(b *testing.B) (*httptest.Server, runstore.Run) {
	ts, _, run := synthServer(b, 300_000, 1)
	getBody(b, ts.URL+"/api/runs/run_synth/calls?limit=1")
	b.ResetTimer()
	return ts, run
}

func BenchmarkLargeRunPages(b *testing.B) {
	if testing.Short() {
		b.Skip("writes a 300,000-result run")
	}
	ts, run := benchServer(b)
	// Floors, in the same minutes: reading results.jsonl once (as cat
	// does), and decoding it whole (what each of these pages did before
	// the index).
	b.Run("floor_read_file", func(b *testing.B) {
		for b.Loop() {
			f, err := os.Open(run.Dir().Results())
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, f)
			f.Close()
		}
	})
	b.Run("before_decode_whole_file", func(b *testing.B) {
		for b.Loop() {
			if err := run.Results(func(*repo.Result) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, bc := range []struct{ name, path string }{
		{"run_page", "/runs/run_synth"},
		{"run_page_deep", "/runs/run_synth?offset=250000&limit=100"},
		{"calls_api", "/api/runs/run_synth/calls?iteration=0&offset=150000&limit=100"},
		{"iteration_api", "/api/iterations/run_synth:0?offset=200000&limit=100"},
		{"trace_by_id", "/api/traces/tr_0000123456"},
		{"trace_by_case", "/api/traces/run_synth:0:0:case_0234567"},
		{"experiments", "/api/experiments"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				getBody(b, ts.URL+bc.path)
			}
		})
	}
}

// Lines a live run appends after the index was built are served from the
// tail: counted, paged first (they are the newest), and found by ID,
// without rewriting the index for a handful of lines.
func TestPagesIncludeALiveRunsTail(t *testing.T) {
	ts, _, run := synthServer(t, 1000, 1)
	getBody(t, ts.URL+"/api/runs/run_synth/calls?limit=1")
	st, err := os.Stat(run.Dir().ResultsIndex())
	if err != nil {
		t.Fatal(err)
	}
	w, err := run.OpenResultWriter()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		r := &repo.Result{Trace: repo.Trace{ID: fmt.Sprintf("tr_tail%d", i), CaseID: fmt.Sprintf("case_%07d", i), Iteration: 1, Output: "late"}, Label: repo.Fail}
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	var page CallsPage
	decode(t, getBody(t, ts.URL+"/api/runs/run_synth/calls?limit=3"), &page)
	if page.Total != 1005 || len(page.Calls) != 3 || page.Calls[0].TraceID != "tr_tail4" || page.Calls[2].TraceID != "tr_tail2" {
		t.Fatalf("newest page: total %d, %+v", page.Total, page.Calls)
	}
	decode(t, getBody(t, ts.URL+"/api/runs/run_synth/calls?iteration=1&order=oldest_first"), &page)
	if page.Total != 5 || page.Calls[0].TraceID != "tr_tail0" {
		t.Fatalf("iteration 1: total %d, %+v", page.Total, page.Calls)
	}
	var tr TraceView
	decode(t, getBody(t, ts.URL+"/api/traces/tr_tail3"), &tr)
	decode(t, getBody(t, ts.URL+"/api/traces/run_synth:1:0:case_0000001"), &tr)
	if tr.ID != "tr_tail1" || tr.Output != "late" {
		t.Errorf("by call ID in the tail: %+v", tr)
	}
	body := getBody(t, ts.URL+"/runs/run_synth?limit=10")
	if !strings.Contains(body, "of <span id=\"page-total\">1005</span>") || !strings.Contains(body, "run_synth:1:0:case_0000004") {
		t.Errorf("the run page does not show the tail")
	}
	if st2, _ := os.Stat(run.Dir().ResultsIndex()); !st2.ModTime().Equal(st.ModTime()) || st2.Size() != st.Size() {
		t.Error("the index was rewritten for five lines")
	}
}

// Requests that arrive together at a run not indexed yet share one build
// and all see the whole run.
func TestConcurrentFirstVisits(t *testing.T) {
	ts, _, _ := synthServer(t, 5000, 2)
	paths := []string{"/api/runs/run_synth/calls?limit=7", "/api/traces/tr_0000009999", "/api/iterations/run_synth:1?limit=3", "/runs/run_synth?limit=5"}
	errs := make(chan error, 4*len(paths))
	var wg sync.WaitGroup
	for i := range 4 * len(paths) {
		wg.Add(1)
		go func(path string) {
			defer wg.Done()
			resp, err := http.Get(ts.URL + path)
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || (strings.Contains(path, "calls") && !strings.Contains(string(b), `"total": 10000`)) {
				errs <- fmt.Errorf("GET %s: %d %.200s", path, resp.StatusCode, b)
			}
		}(paths[i%len(paths)])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
