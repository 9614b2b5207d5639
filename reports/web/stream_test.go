package web

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-json"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
	"github.com/selfevals/selfevals/repo/runstore/tracefile"
	"github.com/selfevals/selfevals/runner"
)

type sseEvent struct {
	name string
	data string
}

// readSSE reads a text/event-stream into events until the body ends.
func readSSE(t *testing.T, ctx context.Context, url string) (<-chan sseEvent, *http.Response) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	ch := make(chan sseEvent, 256)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data += strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return ch, resp
}

func next(t *testing.T, ch <-chan sseEvent, skipPings bool) sseEvent {
	t.Helper()
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatal("the stream ended early")
			}
			if skipPings && ev.name == "ping" {
				continue
			}
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no event in 10 s")
		}
	}
}

// liveResult is a call with spans and tool calls, as an agent would report.
func liveResult(runID string, i int) *repo.Result {
	caseID := fmt.Sprintf("case_live%02d", i)
	r := &repo.Result{Trace: repo.Trace{
		ID: runner.TraceID(caseID, "par_x", 0, 0, runID), CaseID: caseID, ParamsID: "par_x",
		Output: fmt.Sprintf("pong %d", i), StartedAt: time.Now().UTC().Format(time.RFC3339Nano), LatencyMS: 12.5,
		Usage: repo.Usage{InputTokens: 10, OutputTokens: 3}, Model: "m", Attempts: 1,
		Spans: []repo.Span{{Kind: "llm_call", Name: "chat", Start: time.Now().UTC().Format(time.RFC3339Nano), DurationMS: 8, Status: "ok",
			Attributes: json.RawMessage(`{"gen_ai.request.model":"m"}`)}},
		ToolCalls: []repo.ToolCall{{Name: "search", Arguments: json.RawMessage(`{"q":"x"}`), Result: json.RawMessage(`"hit"`), DurationMS: 2}},
	}, Label: repo.Pass, Score: 1, Grades: []repo.Grade{{Grader: "rules", Label: repo.Pass}}}
	return r
}

// A run written by another goroutine (as another process would: lock,
// run.json, results.jsonl appended line by line, a torn line completed
// later, iterations.jsonl, traces.parquet, then run.json completed) is
// followed by a client of the stream: snapshot, span events in order,
// iteration, complete.
// startLiveRun starts a run of the fixture's chat experiment as a running
// process would: its directory, the experiment's lock, a run.json that
// says running.
func startLiveRun(t *testing.T, f *fixture, runID string) (dir string, lock *runstore.Lock, man *repo.RunManifest) {
	t.Helper()
	dir = filepath.Join(f.evals, "runs", "chat", runID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := runstore.Open(f.evals).Lock("chat", runID)
	if err != nil {
		t.Fatal(err)
	}
	man = &repo.RunManifest{RunID: runID, Experiment: "chat", ExperimentID: "exp_x", DatasetID: "ds_x", Cases: 3,
		StartedAt: time.Now().UTC().Format(time.RFC3339Nano), State: "running", Repetitions: 1, MaxIterations: 1,
		Target: repo.MetricTarget{Name: "pass@1", Operator: ">=", Value: 0.5}}
	if err := runstore.At(dir).WriteManifest(man); err != nil {
		t.Fatal(err)
	}
	return dir, lock, man
}

func TestStreamFollowsRunInProgress(t *testing.T) {
	f := newFixture(t)
	const runID = "run_live000000000001"
	dir, lock, man := startLiveRun(t, f, runID)
	// One result is there before the client connects: it is in the snapshot.
	first := liveResult(runID, 0)
	appendLine(t, dir, first, true)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	events, _ := readSSE(t, ctx, f.ts.URL+"/api/runs/"+runID+"/stream")
	ev := next(t, events, true)
	if ev.name != "snapshot" {
		t.Fatalf("first event %s, want snapshot", ev.name)
	}
	var snap Snapshot
	if err := json.Unmarshal([]byte(ev.data), &snap); err != nil {
		t.Fatal(err)
	}
	if snap.Run.RunID != runID || !snap.Run.Active || snap.Calls != 1 || len(snap.Spans) != 1 || snap.Spans[0].TraceID != first.ID {
		t.Fatalf("snapshot: %+v", snap)
	}

	// While the run is in progress it is active, and a trace comes from
	// results.jsonl (traces.parquet is not written yet).
	var active []RunView
	f.get(t, "/api/runs/active", &active)
	if len(active) != 1 || active[0].RunID != runID {
		t.Errorf("active runs: %+v", active)
	}
	var tr TraceView
	f.get(t, "/api/traces/"+first.ID, &tr)
	if tr.Source != "results.jsonl" || len(tr.Spans) != 3 || tr.Tree == nil || len(tr.Tree.Children) != 2 ||
		tr.Spans[1].Kind != "llm_call" || tr.Spans[2].Kind != runstore.KindToolCall || tr.Spans[2].Detail["tool_name"] != "search" {
		t.Errorf("live trace: %+v", tr)
	}

	written := []*repo.Result{first}
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			for i := 1; i <= 3; i++ {
				r := liveResult(runID, i)
				written = append(written, r)
				if i == 2 {
					// A line written in two halves: only read once whole.
					b, _ := json.Marshal(r)
					if err := appendBytes(dir, b[:len(b)/2]); err != nil {
						return err
					}
					time.Sleep(100 * time.Millisecond)
					if err := appendBytes(dir, append(b[len(b)/2:], '\n')); err != nil {
						return err
					}
				} else if err := appendBytes(dir, mustLine(r)); err != nil {
					return err
				}
				time.Sleep(60 * time.Millisecond)
			}
			it := repo.IterationSummary{Index: 0, ID: "itr_live", Hypothesis: "baseline", Primary: 1,
				Metrics:  map[string]repo.Metric{"pass@1": {Value: 1, Lo: f64(0.5), Hi: f64(1), N: 4, Observed: true}},
				Decision: repo.Decision{Outcome: repo.KeepCandidate, Rationale: "first iteration meets the target"}}
			b, _ := json.Marshal(it)
			if err := os.WriteFile(filepath.Join(dir, "iterations.jsonl"), append(b, '\n'), 0o644); err != nil {
				return err
			}
			tw, err := tracefile.Create(filepath.Join(dir, "traces.parquet"), runID)
			if err != nil {
				return err
			}
			for _, r := range written {
				if err := tw.Write(r); err != nil {
					return err
				}
			}
			if err := tw.Close(); err != nil {
				return err
			}
			time.Sleep(100 * time.Millisecond)
			man.State, man.EndedAt, man.Terminated = "completed", time.Now().UTC().Format(time.RFC3339Nano), "max_iterations reached"
			if err := runstore.At(dir).WriteManifest(man); err != nil {
				return err
			}
			return lock.Unlock()
		}()
	}()

	var spans []LiveSpan
	var gotIteration bool
	var complete *Complete
	for complete == nil {
		ev := next(t, events, true)
		switch ev.name {
		case "span":
			var sp LiveSpan
			if err := json.Unmarshal([]byte(ev.data), &sp); err != nil {
				t.Fatal(err)
			}
			spans = append(spans, sp)
		case "iteration":
			var it IterationView
			json.Unmarshal([]byte(ev.data), &it)
			gotIteration = it.ID == "itr_live" && it.Outcome == repo.KeepCandidate
		case "complete":
			complete = &Complete{}
			if err := json.Unmarshal([]byte(ev.data), complete); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("unexpected event %s %s", ev.name, ev.data)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Each call: its inner span first (parent set), then its root.
	var roots []LiveSpan
	for i, sp := range spans {
		if sp.ParentID == nil {
			roots = append(roots, sp)
			continue
		}
		if i+1 >= len(spans) || *sp.ParentID != spans[i+1].ID || sp.TraceID != spans[i+1].TraceID || sp.Kind != "llm_call" {
			t.Errorf("inner span %d: %+v, not before its call's root span", i, sp)
		}
	}
	if len(spans) != 6 || len(roots) != 3 {
		t.Fatalf("%d span events, %d roots; want 6 and 3: %+v", len(spans), len(roots), spans)
	}
	for i, sp := range roots {
		if sp.TraceID != written[i+1].ID || sp.Kind != runstore.KindAgentCall || sp.Children != 2 || sp.Label != repo.Pass || sp.CallID != runID+":0:0:"+written[i+1].CaseID {
			t.Errorf("span %d: %+v", i, sp)
		}
	}
	if !gotIteration {
		t.Error("no iteration event")
	}
	if complete.FinalState != "completed" || complete.Calls != 4 || complete.Labels["pass"] != 4 || len(complete.Iterations) != 1 || complete.Terminated != "max_iterations reached" {
		t.Errorf("complete: %+v", complete)
	}
	// The server closes the stream after complete.
	select {
	case _, ok := <-events:
		if ok {
			t.Error("an event after complete")
		}
	case <-time.After(5 * time.Second):
		t.Error("the stream stayed open after complete")
	}

	// Once ended: not active, and spans come from traces.parquet, in the
	// same tree as from results.jsonl.
	f.get(t, "/api/runs/active", &active)
	if len(active) != 0 {
		t.Errorf("active after the end: %+v", active)
	}
	var done2 TraceView
	f.get(t, "/api/traces/"+first.ID, &done2)
	if done2.Source != "traces.parquet" || len(done2.Spans) != len(tr.Spans) {
		t.Fatalf("finished trace: %+v", done2)
	}
	for i := range tr.Spans {
		a, b := tr.Spans[i], done2.Spans[i]
		if a.ID != b.ID || a.Kind != b.Kind || a.Name != b.Name || a.Depth != b.Depth || fmt.Sprint(a.Detail["tool_name"]) != fmt.Sprint(b.Detail["tool_name"]) {
			t.Errorf("span %d: results %+v, parquet %+v", i, a, b)
		}
	}
}

// A run whose run.json says running but whose process is gone (no lock
// holder) completes as interrupted instead of streaming forever.
func TestStreamAbandonedRun(t *testing.T) {
	f := newFixture(t)
	const runID = "run_dead000000000001"
	dir := filepath.Join(f.evals, "runs", "chat", runID)
	os.MkdirAll(dir, 0o755)
	runstore.At(dir).WriteManifest(&repo.RunManifest{RunID: runID, Experiment: "chat", State: "running", StartedAt: time.Now().UTC().Format(time.RFC3339Nano)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	events, _ := readSSE(t, ctx, f.ts.URL+"/api/runs/"+runID+"/stream")
	if ev := next(t, events, true); ev.name != "snapshot" {
		t.Fatalf("first event %s", ev.name)
	}
	sawPing := false
	for {
		ev := next(t, events, false)
		if ev.name == "ping" {
			sawPing = ev.data == "1"
			continue
		}
		if ev.name != "complete" || !strings.Contains(ev.data, `"final_state":"interrupted"`) {
			t.Fatalf("event %s %s, want complete interrupted", ev.name, ev.data)
		}
		break
	}
	if !sawPing {
		t.Error("no ping while waiting (ping interval 150 ms in the test)")
	}
}

func mustLine(r *repo.Result) []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

func appendLine(t *testing.T, dir string, r *repo.Result, _ bool) {
	t.Helper()
	if err := appendBytes(dir, mustLine(r)); err != nil {
		t.Fatal(err)
	}
}

func appendBytes(dir string, b []byte) error {
	fh, err := os.OpenFile(filepath.Join(dir, "results.jsonl"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := fh.Write(b); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

// Live streams are capped: past MaxStreams a client gets 503 with
// Retry-After, and a closed stream frees its place.
func TestStreamsAreCapped(t *testing.T) {
	f := newFixture(t)
	const runID = "run_live000000000002"
	_, lock, _ := startLiveRun(t, f, runID)
	defer lock.Unlock()
	srv, err := New(Options{EvalsDir: f.evals, Poll: 20 * time.Millisecond, Ping: time.Second, MaxStreams: 2})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	url := ts.URL + "/api/runs/" + runID + "/stream"

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	firstCtx, closeFirst := context.WithCancel(ctx)
	first, _ := readSSE(t, firstCtx, url)
	second, _ := readSSE(t, ctx, url)
	for _, ch := range []<-chan sseEvent{first, second} {
		if ev := next(t, ch, true); ev.name != "snapshot" {
			t.Fatalf("first event %s, want snapshot", ev.name)
		}
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third stream: %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	closeFirst()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed stream never freed its place: %d", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
