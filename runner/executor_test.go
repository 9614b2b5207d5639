package runner

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goccy/go-json"
	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/runner/adapters"
)

// writeDataset writes n cases {"id": "c<i>", "input": {"text": "tok<i>"}}
// (plus extra lines) and loads it.
func writeDataset(t testing.TB, n int, extra ...string) *repo.Dataset {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"id":"c%d","input":{"text":"tok%d"},"expected":{"must_include":["tok%d"]}}`+"\n", i, i, i)
	}
	for _, l := range extra {
		b.WriteString(l + "\n")
	}
	path := filepath.Join(t.TempDir(), "cases.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ds, err := repo.LoadDataset(path)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// agentServer is a real HTTP agent: it answers input.text, after delay,
// counting calls and the most calls it ever had in flight at once.
type agentServer struct {
	*httptest.Server
	delay    time.Duration
	calls    atomic.Int64
	inFlight atomic.Int64
	peak     atomic.Int64
	// fail, when set, decides the status of a call (200 answers).
	fail func(req *repo.Request, n int64) int

	mu    sync.Mutex
	order map[string][]int // thread ID/repetition → thread positions (input.pos) as served
}

func newAgentServer(t testing.TB, delay time.Duration) *agentServer {
	a := &agentServer{delay: delay, order: map[string][]int{}}
	a.Server = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.Close)
	return a
}

func (a *agentServer) serve(w http.ResponseWriter, r *http.Request) {
	n := a.calls.Add(1)
	cur := a.inFlight.Add(1)
	defer a.inFlight.Add(-1)
	for {
		p := a.peak.Load()
		if cur <= p || a.peak.CompareAndSwap(p, cur) {
			break
		}
	}
	var req repo.Request
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if a.delay > 0 {
		select {
		case <-time.After(a.delay):
		case <-r.Context().Done():
			return
		}
	}
	if a.fail != nil {
		if code := a.fail(&req, n); code != http.StatusOK {
			w.WriteHeader(code)
			return
		}
	}
	var in struct {
		Text string `json:"text"`
		Pos  int    `json:"pos"`
	}
	_ = json.Unmarshal(req.Input, &in)
	if req.Metadata.ThreadID != nil {
		a.mu.Lock()
		k := fmt.Sprintf("%s/%d", *req.Metadata.ThreadID, req.Metadata.Repetition)
		a.order[k] = append(a.order[k], in.Pos)
		a.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"output":%q,"usage":{"input_tokens":3,"output_tokens":1},"cost_usd":0.001}`, in.Text)
}

func httpAdapter(t testing.TB, url string, parallel int) adapters.Adapter {
	t.Helper()
	return httpAdapterTimeout(t, url, parallel, 0)
}

// httpAdapterTimeout is an HTTP adapter with its own call timeout: the
// executor's, when the two match, lets the adapter time calls out itself.
func httpAdapterTimeout(t testing.TB, url string, parallel int, timeout time.Duration) adapters.Adapter {
	t.Helper()
	a, err := adapters.New(repo.Agent{HTTP: &repo.HTTPAgent{URL: url}}, adapters.Options{Parallelism: parallel, Retries: 0, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// collect runs the executor and returns the results it delivered.
func collect(t testing.TB, ctx context.Context, e *Executor, ds *repo.Dataset, it Iteration) ([]*repo.Result, Stats, error) {
	t.Helper()
	var out []*repo.Result
	st, err := e.Run(ctx, ds, it, func(r *repo.Result) error {
		out = append(out, r)
		return nil
	})
	return out, st, err
}

func checkOnce(t *testing.T, results []*repo.Result, cases, reps int) {
	t.Helper()
	if len(results) != cases*reps {
		t.Fatalf("got %d results, want %d", len(results), cases*reps)
	}
	seen := map[string]bool{}
	traces := map[string]bool{}
	for _, r := range results {
		k := fmt.Sprintf("%s/%d", r.CaseID, r.Repetition)
		if seen[k] {
			t.Fatalf("%s delivered twice", k)
		}
		seen[k] = true
		if traces[r.ID] {
			t.Fatalf("trace ID %s repeated", r.ID)
		}
		traces[r.ID] = true
	}
}

func TestExecutorBuiltinEchoDeliversEveryCallOnce(t *testing.T) {
	ds := writeDataset(t, 200)
	echo, err := adapters.NewBuiltin("echo")
	if err != nil {
		t.Fatal(err)
	}
	grades := atomic.Int64{}
	e := &Executor{Adapter: echo, Parallelism: 8, Experiment: "bench", RunID: "run_test",
		Grade: func(ctx context.Context, c *repo.Case, tr *repo.Trace) ([]repo.Grade, repo.Label, float64) {
			grades.Add(1)
			l := repo.Fail
			if strings.Contains(tr.Output, c.Expected.MustInclude[0]) {
				l = repo.Pass
			}
			return []repo.Grade{{Grader: "rules", Label: l}}, l, 1
		}}
	results, st, err := collect(t, context.Background(), e, ds, Iteration{Index: 3, Params: repo.Parameters{"model_params": map[string]any{"t": 0.5}}, Repetitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	checkOnce(t, results, 200, 3)
	if st.Results != 600 || st.Calls != 600 || st.Errors != 0 || grades.Load() != 600 {
		t.Fatalf("stats %+v, grades %d", st, grades.Load())
	}
	for _, r := range results {
		if r.Label != repo.Pass || r.Iteration != 3 || r.ParamsID == "" || r.Attempts != 1 || r.StartedAt == "" {
			t.Fatalf("unexpected result %+v", r)
		}
	}
}

func TestExecutorHTTPAgentHonoursParallelism(t *testing.T) {
	ds := writeDataset(t, 60)
	srv := newAgentServer(t, 20*time.Millisecond)
	e := &Executor{Adapter: httpAdapter(t, srv.URL, 16), Parallelism: 5, Timeout: 5 * time.Second}
	results, st, err := collect(t, context.Background(), e, ds, Iteration{Repetitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	checkOnce(t, results, 60, 2)
	if got := srv.peak.Load(); got > 5 || got < 2 {
		t.Fatalf("peak concurrency %d, want 2..5", got)
	}
	if srv.calls.Load() != 120 || st.Calls != 120 {
		t.Fatalf("agent saw %d calls, stats %+v", srv.calls.Load(), st)
	}
	r := results[0]
	if r.Failed() || !strings.HasPrefix(r.Output, "tok") || r.Usage.InputTokens != 3 || r.CostUSD != 0.001 || r.LatencyMS < 15 {
		t.Fatalf("trace not filled from the response: %+v", r.Trace)
	}
}

func TestExecutorTimeoutIsAnErrorResult(t *testing.T) {
	// The executor's timeout applies whether the adapter's is another (the
	// executor derives a deadline) or the same (the adapter keeps time).
	for _, adapterTimeout := range []time.Duration{0, 50 * time.Millisecond} {
		t.Run(fmt.Sprint("adapter timeout ", adapterTimeout), func(t *testing.T) {
			testExecutorTimeout(t, adapterTimeout)
		})
	}
}

func testExecutorTimeout(t *testing.T, adapterTimeout time.Duration) {
	ds := writeDataset(t, 3)
	srv := newAgentServer(t, 2*time.Second)
	e := &Executor{Adapter: httpAdapterTimeout(t, srv.URL, 4, adapterTimeout), Parallelism: 3, Timeout: 50 * time.Millisecond, Retries: 2}
	start := time.Now()
	results, st, err := collect(t, context.Background(), e, ds, Iteration{})
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > time.Second {
		t.Fatalf("timeouts took %s", time.Since(start))
	}
	checkOnce(t, results, 3, 1)
	for _, r := range results {
		if r.ErrorKind != repo.ErrTimeout || r.Label != repo.Error || r.Attempts != 1 {
			t.Fatalf("want a timeout result, not retried: %+v", r.Trace)
		}
	}
	if st.Errors != 3 || st.Retries != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestExecutorRetriesTransientErrors(t *testing.T) {
	ds := writeDataset(t, 4)
	srv := newAgentServer(t, 0)
	var seen sync.Map
	srv.fail = func(req *repo.Request, _ int64) int {
		if _, again := seen.LoadOrStore(req.CaseID, true); !again {
			return http.StatusServiceUnavailable // first try of each case
		}
		return http.StatusOK
	}
	e := &Executor{Adapter: httpAdapter(t, srv.URL, 4), Parallelism: 2, Retries: 2, Backoff: time.Millisecond}
	results, st, err := collect(t, context.Background(), e, ds, Iteration{})
	if err != nil {
		t.Fatal(err)
	}
	checkOnce(t, results, 4, 1)
	for _, r := range results {
		if r.Failed() || r.Attempts != 2 {
			t.Fatalf("want success on the second attempt: %+v", r.Trace)
		}
	}
	if st.Retries != 4 || st.Calls != 8 {
		t.Fatalf("stats %+v", st)
	}

	// A 4xx is a case error: not retried.
	srv.fail = func(*repo.Request, int64) int { return http.StatusBadRequest }
	results, st, err = collect(t, context.Background(), e, ds, Iteration{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.ErrorKind != repo.ErrHTTPStatus || r.Attempts != 1 {
			t.Fatalf("want a non-retried http_status error: %+v", r.Trace)
		}
	}
	if st.Retries != 0 || st.Errors != 4 {
		t.Fatalf("stats %+v", st)
	}
}

func TestExecutorCancelKeepsFinishedResults(t *testing.T) {
	for _, adapterTimeout := range []time.Duration{0, 10 * time.Second} {
		t.Run(fmt.Sprint("adapter timeout ", adapterTimeout), func(t *testing.T) {
			testExecutorCancel(t, adapterTimeout)
		})
	}
}

func testExecutorCancel(t *testing.T, adapterTimeout time.Duration) {
	ds := writeDataset(t, 1000)
	srv := newAgentServer(t, 30*time.Millisecond)
	e := &Executor{Adapter: httpAdapterTimeout(t, srv.URL, 8, adapterTimeout), Parallelism: 8, Timeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	var results []*repo.Result
	var cancelledAt time.Time
	_, err := e.Run(ctx, ds, Iteration{}, func(r *repo.Result) error {
		results = append(results, r)
		if len(results) == 20 {
			cancelledAt = time.Now()
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want a wrapped context.Canceled, got %v", err)
	}
	if d := time.Since(cancelledAt); d > 500*time.Millisecond {
		t.Fatalf("Run returned %s after cancel", d)
	}
	if len(results) < 20 || len(results) > 40 {
		t.Fatalf("got %d results", len(results))
	}
	for _, r := range results {
		if r.Failed() {
			t.Fatalf("an interrupted call was delivered: %+v", r.Trace)
		}
	}
	if n := srv.calls.Load(); n > 40 {
		t.Fatalf("%d calls started after a cancel at 20", n)
	}
}

func TestExecutorSinkErrorStopsTheRun(t *testing.T) {
	ds := writeDataset(t, 500)
	echo, _ := adapters.NewBuiltin("echo")
	e := &Executor{Adapter: echo, Parallelism: 4}
	boom := errors.New("disk full")
	n := 0
	_, err := e.Run(context.Background(), ds, Iteration{}, func(*repo.Result) error {
		n++
		if n == 10 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || n != 10 {
		t.Fatalf("err %v after %d results", err, n)
	}
}

func TestExecutorSkipResumes(t *testing.T) {
	ds := writeDataset(t, 10)
	echo, _ := adapters.NewBuiltin("echo")
	e := &Executor{Adapter: echo, Parallelism: 3}
	results, st, err := collect(t, context.Background(), e, ds, Iteration{Repetitions: 2, Skip: func(id string, rep int) bool {
		return rep == 0 || id == "c1"
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 9 || st.Skipped != 11 {
		t.Fatalf("%d results, stats %+v", len(results), st)
	}
}

func TestExecutorRunsThreadsInOrder(t *testing.T) {
	var extra []string
	for _, th := range []string{"ta", "tb", "tc"} {
		// Written out of order on purpose.
		for _, pos := range []int{2, 0, 3, 1} {
			extra = append(extra, fmt.Sprintf(`{"id":"%s%d","thread_id":"%s","thread_position":%d,"input":{"text":"x","pos":%d}}`, th, pos, th, pos, pos))
		}
	}
	ds := writeDataset(t, 5, extra...)
	srv := newAgentServer(t, 2*time.Millisecond)
	e := &Executor{Adapter: httpAdapter(t, srv.URL, 8), Parallelism: 8}
	results, _, err := collect(t, context.Background(), e, ds, Iteration{Repetitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	checkOnce(t, results, 5+12, 2)
	if len(srv.order) != 6 {
		t.Fatalf("threads seen: %v", srv.order)
	}
	for th, order := range srv.order {
		if fmt.Sprint(order) != "[0 1 2 3]" {
			t.Fatalf("thread %s ran in order %v", th, order)
		}
	}
}

func TestTraceIDMatchesCanonicalHash(t *testing.T) {
	for _, caseID := range []string{"c1", "case_0123456789abcdef", `odd "id" é`} {
		want, err := repo.HashID("tr", []any{caseID, "par_x", 2, 1, "run_y"})
		if err != nil {
			t.Fatal(err)
		}
		if got := TraceID(caseID, "par_x", 2, 1, "run_y"); got != want {
			t.Fatalf("TraceID(%q) = %s, want %s", caseID, got, want)
		}
	}
}
