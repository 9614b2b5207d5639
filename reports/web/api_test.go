package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
	"github.com/selfevals/selfevals/repo/runstore/tracefile"
)

func TestAPIWorkspaceAndExperiments(t *testing.T) {
	f := newFixture(t)

	var health map[string]any
	if st := f.get(t, "/api/health", &health); st != 200 || health["status"] != "ok" {
		t.Fatalf("health: %d %v", st, health)
	}

	var ws Workspace
	f.get(t, "/api/workspace", &ws)
	if ws.Name != "fixture-repo" || ws.ExperimentCount != 2 || ws.RunCount != 1 || ws.RecentDecided != 2 {
		t.Errorf("workspace: %+v", ws)
	}
	// Iteration 0 (level 0) is investigated, iteration 1 (level 1) kept.
	if ws.RecentKeepRate == nil || *ws.RecentKeepRate != 0.5 {
		t.Errorf("recent keep rate: %v, want 0.5", ws.RecentKeepRate)
	}

	var exps []ExperimentSummary
	f.get(t, "/api/experiments", &exps)
	if len(exps) != 2 || exps[0].Slug != "broken" || exps[1].Slug != "chat" {
		t.Fatalf("experiments: %+v", exps)
	}
	if exps[0].Error == "" {
		t.Errorf("a spec that does not load should say why: %+v", exps[0])
	}
	chat := exps[1]
	if chat.Name != "chat sweep" || chat.Cases != 5 || chat.RunCount != 1 || chat.IterationCount != 2 ||
		chat.PrimaryMetric != "pass@1" || chat.Committed == nil || chat.LastRun == nil || chat.LastRun.State != "completed" {
		t.Errorf("chat summary: %+v", chat)
	}

	var d ExperimentDetail
	if st := f.get(t, "/api/experiments/chat", &d); st != 200 {
		t.Fatal(st)
	}
	if len(d.Iterations) != 2 || len(d.Decisions) != 2 || d.LatestRun == nil || d.LatestRun.RunID != f.runID || len(d.Result) == 0 {
		t.Fatalf("detail: %+v", d)
	}
	it0, it1 := d.Iterations[0], d.Iterations[1]
	if *it0.Value != 0 || *it1.Value != 1 || *it0.DeltaVsBest != 0 || *it1.DeltaVsBest != 1 || !it1.Best || it0.Best {
		t.Errorf("iterations: %+v / %+v", it0, it1)
	}
	if it1.Lo == nil || it1.Hi == nil || *it1.Lo >= 1 || *it1.Hi != 1 {
		t.Errorf("iteration 1 interval: %v %v", it1.Lo, it1.Hi)
	}
	if d.Decisions[1].Outcome != "keep_candidate" || d.Decisions[1].Evidence == nil {
		t.Errorf("decision 1: %+v", d.Decisions[1])
	}

	var runs []RunView
	f.get(t, "/api/experiments/chat/runs", &runs)
	if len(runs) != 1 || runs[0].RunID != f.runID || !runs[0].HasTraces || runs[0].BestIteration == nil || *runs[0].BestIteration != 1 {
		t.Errorf("runs: %+v", runs)
	}
}

func TestAPIRunsIterationsTraces(t *testing.T) {
	f := newFixture(t)
	var run RunView
	if st := f.get(t, "/api/runs/"+f.runID, &run); st != 200 || run.Iterations != 2 || run.Active {
		t.Fatalf("run: %d %+v", st, run)
	}
	var its []IterationView
	f.get(t, "/api/runs/"+f.runID+"/iterations", &its)
	var decs []DecisionView
	f.get(t, "/api/runs/"+f.runID+"/decisions", &decs)
	if len(its) != 2 || len(decs) != 2 || decs[0].Outcome != "investigate" || decs[1].Outcome != "keep_candidate" {
		t.Fatalf("iterations %+v decisions %+v", its, decs)
	}
	var active []RunView
	f.get(t, "/api/runs/active", &active)
	if len(active) != 0 {
		t.Errorf("a finished run is not active: %+v", active)
	}

	// By content-hash ID and by <run>:<index>: the same iteration.
	var byID, byIndex IterationDetail
	f.get(t, "/api/iterations/"+its[1].ID, &byID)
	f.get(t, "/api/iterations/"+f.runID+":1", &byIndex)
	if byID.Iteration == nil || byIndex.Iteration == nil || byID.Iteration.ID != its[1].ID || byIndex.Iteration.ID != its[1].ID {
		t.Fatalf("iteration lookups: %+v / %+v", byID, byIndex)
	}
	if byID.CallsTotal != 5 || len(byID.Calls) != 5 || byID.Decision.Outcome != "keep_candidate" {
		t.Errorf("iteration detail: %d calls, decision %+v", byID.CallsTotal, byID.Decision)
	}
	for _, c := range byID.Calls {
		if c.Label != repo.Pass {
			t.Errorf("level 1 should pass every case: %+v", c)
		}
	}

	// A trace by ID: the run is complete, so spans come from traces.parquet.
	call := byID.Calls[0]
	var tr TraceView
	if st := f.get(t, "/api/traces/"+call.TraceID, &tr); st != 200 {
		t.Fatal(st)
	}
	if tr.Source != "traces.parquet" || tr.RunID != f.runID || tr.Label != repo.Pass || len(tr.Grades) != 1 || tr.CaseName == "" || len(tr.Input) == 0 {
		t.Errorf("trace: %+v", tr)
	}
	if tr.Tree == nil || tr.Tree.Kind != runstore.KindAgentCall || tr.Tree.ID != call.TraceID+"/0" || len(tr.Spans) != 1 {
		t.Errorf("span tree: %+v", tr.Tree)
	}
	// The same call by its run-call ID.
	var tr2 TraceView
	f.get(t, "/api/traces/"+tr.CallID, &tr2)
	var tr3 TraceView
	f.get(t, "/api/traces/"+f.runID+":"+call.TraceID, &tr3)
	if tr2.ID != tr.ID || tr3.ID != tr.ID {
		t.Errorf("call ID %s gave %s, run:trace gave %s; want %s", tr.CallID, tr2.ID, tr3.ID, tr.ID)
	}
}

// A thread of three turns, written out of order in the dataset, comes back
// ordered by thread position with a grade per turn.
func TestAPIThread(t *testing.T) {
	f := newFixture(t)
	var th Thread
	if st := f.get(t, "/api/threads/th-1", &th); st != 200 {
		t.Fatal(st)
	}
	if th.TurnCount != 3 || th.Experiment != "chat" || th.RunID != f.runID || th.Iteration != 0 {
		t.Fatalf("thread: %+v", th)
	}
	for i, want := range []string{"turn a", "turn b", "turn c"} {
		turn := th.Turns[i]
		if turn.CaseName != want || turn.Position != i || turn.TraceID == "" || turn.Label != repo.Fail || turn.PrimaryGrade != "fail" || len(turn.Grades) != 1 {
			t.Errorf("turn %d: %+v", i, turn)
		}
	}
	var th1 Thread
	f.get(t, "/api/threads/th-1?iteration=1", &th1)
	if th1.TurnCount != 3 || th1.Turns[0].Label != repo.Pass || th1.Turns[2].CaseName != "turn c" {
		t.Errorf("thread at iteration 1: %+v", th1)
	}
}

func TestAPIHistory(t *testing.T) {
	f := newFixture(t)
	var h History
	f.get(t, "/api/history", &h)
	if !h.Git {
		t.Fatalf("history without git: %+v", h)
	}
	var chat *ExperimentHistory
	for i := range h.Experiments {
		if h.Experiments[i].Slug == "chat" {
			chat = &h.Experiments[i]
		}
	}
	if chat == nil || len(chat.Runs) != 1 || len(chat.Commits) != 2 {
		t.Fatalf("chat history: %+v", chat)
	}
	if r := chat.Runs[0]; r.RunID != f.runID || r.Value == nil || *r.Value != 0 || r.Best == nil || *r.Best != 1 {
		t.Errorf("run point: %+v", r)
	}
	// Oldest first: the run's result, then the edited one.
	if c := chat.Commits; *c[0].Value != 0 || *c[1].Value != 0.25 || c[1].Subject != "chat: better prompt" || c[0].Lo == nil {
		t.Errorf("commit points: %+v", c)
	}
}

func TestAPIErrors(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/api/nope", 404},
		{"/api/experiments/nope", 404},
		{"/api/experiments/Not_A_Slug", 400},
		{"/api/experiments/nope/runs", 404},
		{"/api/runs/run_0000000000000000", 404},
		{"/api/runs/xyz", 400},
		{"/api/runs/run_0000000000000000/iterations", 404},
		{"/api/runs/run_0000000000000000/decisions", 404},
		{"/api/runs/run_0000000000000000/stream", 404},
		{"/api/iterations/itr_ffffffffffffffff", 404},
		{"/api/iterations/" + f.runID + ":7", 404},
		{"/api/iterations/" + f.runID + ":x", 400},
		{"/api/iterations/bad", 400},
		{"/api/traces/tr_ffffffffffffffff", 404},
		{"/api/traces/nope", 400},
		{"/api/traces/" + f.runID + ":0:0", 400},
		{"/api/threads/no-such-thread", 404},
		{"/api/threads/-dash", 400},
		{"/api/threads/th-1?iteration=x", 400},
		{"/experiments/nope", 404},
		{"/no/such/page", 404},
	} {
		var body ErrorBody
		w := f.raw("GET", tc.path)
		if w.Code != tc.status {
			t.Errorf("GET %s: %d, want %d (%s)", tc.path, w.Code, tc.status, w.Body)
			continue
		}
		if strings.HasPrefix(tc.path, "/api/") {
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") || !strings.Contains(w.Body.String(), `"error"`) {
				t.Errorf("GET %s: error body %q (%s) is not JSON", tc.path, w.Body, ct)
			}
			_ = body
		}
	}
}

// Path tricks are refused before routing, and nothing outside evals/ is
// ever served.
func TestPathTraversalRefused(t *testing.T) {
	f := newFixture(t)
	for _, target := range []string{
		"/api/runs/../../../secret.txt",
		"/api/runs/..%2F..%2F..%2Fsecret.txt",
		"/api/traces/%2Fetc%2Fpasswd",
		"/api/experiments/..%5C..%5Csecret.txt",
		"//etc/passwd",
		"/static/../../../secret.txt",
		"/static/%2e%2e/%2e%2e/%2e%2e/secret.txt",
		"/api/threads/..",
		"/traces/%00tr_1",
		"/api/experiments/chat/../../../secret.txt",
	} {
		w := f.raw("GET", target)
		if w.Code != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 400 (%s)", target, w.Code, w.Body)
		}
		if strings.Contains(w.Body.String(), "TOP-SECRET") {
			t.Errorf("GET %s served a file outside evals/", target)
		}
	}
	// Even a path the client cleaned cannot name a file: there is no file
	// route but the embedded static assets.
	for _, target := range []string{"/static/secret.txt", "/secret.txt", "/evals/selfevals.yaml", "/static/%80"} {
		w := f.raw("GET", target)
		if w.Code != http.StatusNotFound || strings.Contains(w.Body.String(), "TOP-SECRET") || strings.Contains(w.Body.String(), "fixture-repo\n") {
			t.Errorf("GET %s: %d %q", target, w.Code, w.Body)
		}
	}
}

func TestWriteMethodsRefused(t *testing.T) {
	f := newFixture(t)
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
		for _, p := range []string{"/api/experiments/chat", "/api/runs/" + f.runID, "/", "/static/style.css"} {
			req, _ := http.NewRequest(m, f.ts.URL+p, strings.NewReader(`{}`))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: %d allow=%q", m, p, resp.StatusCode, resp.Header.Get("Allow"))
			}
		}
	}
	resp, err := http.Head(f.ts.URL + "/api/experiments/chat")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("HEAD: %v %v", resp, err)
	}
}

// With LoopbackOnly, a request for another host name (DNS rebinding) is
// refused.
func TestLoopbackOnlyHost(t *testing.T) {
	f := newFixture(t)
	srv, err := New(Options{EvalsDir: f.evals, LoopbackOnly: true, TraceRows: tracefile.ReadRows})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]int{"127.0.0.1:7878": 200, "localhost:7878": 200, "[::1]:7878": 200, "evil.example:7878": 403} {
		req, _ := http.NewRequest("GET", "http://"+host+"/api/health", nil)
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code != want {
			t.Errorf("Host %s: %d, want %d", host, w.Code, want)
		}
	}
}

func TestPages(t *testing.T) {
	f := newFixture(t)
	var its []IterationView
	f.get(t, "/api/runs/"+f.runID+"/iterations", &its)
	var th Thread
	f.get(t, "/api/threads/th-1", &th)
	for path, wants := range map[string][]string{
		"/":                              {`href="/experiments/chat"`, "chat sweep", "fixture-repo", "recent keep rate 50%"},
		"/experiments/chat":              {`<svg class="chart"`, `class="errbar"`, `class="target"`, "keep_candidate", `id="iterations"`, "grid[1]: level=1"},
		"/runs/" + f.runID:               {`id="live"`, `data-stream="/api/runs/` + f.runID + `/stream"`, `class="span-row"`, "/static/live.js", "completed"},
		"/traces/" + th.Turns[0].TraceID: {`id="spantree"`, "agent_call", "missing_required_substring", "thread"},
		"/threads/th-1":                  {"turn a", "turn b", "turn c", `class="turn"`},
		"/history":                       {"over commits", "over runs", "chat: better prompt"},
	} {
		w := f.raw("GET", path)
		if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
			t.Errorf("GET %s: %d %s", path, w.Code, w.Header().Get("Content-Type"))
			continue
		}
		body := w.Body.String()
		for _, s := range wants {
			if !strings.Contains(body, s) {
				t.Errorf("GET %s: no %q in the page", path, s)
			}
		}
		if strings.Contains(body, "http://") && !strings.Contains(body, `xmlns="http://www.w3.org/2000/svg"`) {
			t.Errorf("GET %s: the page refers to the network", path)
		}
	}
	for path, ct := range map[string]string{"/static/live.js": "javascript", "/static/style.css": "text/css"} {
		w := f.raw("GET", path)
		if w.Code != 200 || !strings.Contains(w.Header().Get("Content-Type"), ct) {
			t.Errorf("GET %s: %d %s", path, w.Code, w.Header().Get("Content-Type"))
		}
	}
}
