package web

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/goccy/go-json"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
)

// The live stream of a run, in the reference's SSE wire format (one frame is
// "event: <name>\ndata: <json>\n\n"):
//
//	snapshot   the run so far: Snapshot
//	span       a finished agent call's spans, LiveSpan each: those the agent
//	           reported or sent over OTLP (parent_id set) first, then the
//	           call's root span (parent_id null)
//	iteration  an iteration was decided: IterationView (an addition)
//	ping       "1", every 15 s, so proxies keep the connection open
//	complete   the run ended: Complete; the server then closes the stream
//
// A run in another process is followed through its directory: results.jsonl
// is tailed by offset (the writer flushes it every 200 ms), iterations.jsonl
// by length, and run.json for the end. Only complete lines are read, so a
// line being written is picked up on the next poll.

// LiveSpan is one finished agent call on the live page.
type LiveSpan struct {
	ID         string     `json:"id"`
	ParentID   *string    `json:"parent_id"`
	Kind       string     `json:"kind"`
	Name       string     `json:"name"`
	StartedAt  string     `json:"started_at,omitempty"`
	DurationMS float64    `json:"duration_ms"`
	TraceID    string     `json:"trace_id"`
	CallID     string     `json:"call_id"`
	CaseID     string     `json:"case_id"`
	Iteration  int        `json:"iteration"`
	Repetition int        `json:"repetition"`
	Label      repo.Label `json:"label"`
	Score      float64    `json:"score"`
	Error      string     `json:"error,omitempty"`
	Output     string     `json:"output,omitempty"`
	Children   int        `json:"children"`
}

func liveSpan(runID string, r *repo.Result) LiveSpan {
	return LiveSpan{ID: r.ID + "/0", Kind: runstore.KindAgentCall, Name: "call", StartedAt: r.StartedAt, DurationMS: r.LatencyMS,
		TraceID: r.ID, CallID: callID(runID, r), CaseID: r.CaseID, Iteration: r.Iteration, Repetition: r.Repetition,
		Label: r.Label, Score: r.Score, Error: truncate(r.Error, 200), Output: truncate(r.Output, 120),
		Children: len(r.Spans) + len(r.ToolCalls)}
}

// liveChildSpans are the spans inside a finished call: those the agent
// reported and those it sent over OTLP (agent.otlp), nested as the trace
// page nests them.
func liveChildSpans(runID string, r *repo.Result) []LiveSpan {
	if len(r.Spans) == 0 {
		return nil
	}
	root := r.ID + "/0"
	out := make([]LiveSpan, 0, len(r.Spans))
	for i, sp := range r.Spans {
		id, parent := otlpSpanIDs(r.ID, root, sp)
		if id == "" {
			id = r.ID + "/" + strconv.Itoa(i+1)
		}
		ls := LiveSpan{ID: id, ParentID: &parent, Kind: sp.Kind, Name: sp.Name, StartedAt: sp.Start, DurationMS: sp.DurationMS,
			TraceID: r.ID, CallID: callID(runID, r), CaseID: r.CaseID, Iteration: r.Iteration, Repetition: r.Repetition,
			Label: r.Label, Score: r.Score}
		if sp.Status == runstore.StatusError {
			ls.Error = truncate(cmp.Or(sp.StatusMessage, "status error"), 200)
		}
		out = append(out, ls)
	}
	return out
}

// Snapshot is the state of a run so far.
type Snapshot struct {
	Run        RunView         `json:"run"`
	Iterations []IterationView `json:"iterations"`
	Calls      int             `json:"calls"`
	Labels     map[string]int  `json:"labels"`
	// Spans are the most recent calls (up to 200), oldest first.
	Spans []LiveSpan `json:"spans"`
}

// Complete is the final state of a run.
type Complete struct {
	FinalState    repo.RunState   `json:"final_state"`
	Terminated    string          `json:"terminated,omitempty"`
	EndedAt       string          `json:"ended_at,omitempty"`
	Calls         int             `json:"calls"`
	Labels        map[string]int  `json:"labels"`
	Iterations    []IterationView `json:"iterations"`
	BestIteration *int            `json:"best_iteration"`
}

const snapshotSpans = 200

// follower reads a run directory incrementally.
type follower struct {
	s      *Server
	dir    string
	runID  string
	reader runstore.ResultsReader // where in results.jsonl the last read ended
	its    int                    // iterations sent
	calls  int
	labels map[string]int
}

func newFollower(s *Server, dir, runID string) *follower {
	return &follower{s: s, dir: dir, runID: runID, labels: map[string]int{},
		reader: runstore.ResultsReader{Path: runstore.At(dir).Dir().Results(), Lenient: true}}
}

// results reads the complete lines appended since the last call.
func (f *follower) results(fn func(*repo.Result)) error {
	err := f.reader.Each(func(res *repo.Result) error {
		f.calls++
		f.labels[string(res.Label)]++
		fn(res)
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// snapshot is the run so far, read through its index: the counts from the
// index's table, and a page of calls counted from the newest (the stream
// sends the latest snapshotSpans). Following goes on from the end of what
// it read.
func (f *follower) snapshot(man *repo.RunManifest, offset, limit int) (*Snapshot, error) {
	recent := []LiveSpan{}
	err := withIndex(f.dir, func(ix *runstore.ResultIndex) error {
		rr, err := newRunResults(ix, nil)
		if err != nil {
			return err
		}
		f.calls, f.labels, f.reader.Offset = rr.len(), rr.labels(), rr.tailEnd
		return rr.page(offset, limit, true, func(r *repo.Result) { recent = append(recent, liveSpan(f.runID, r)) })
	})
	if err != nil {
		return nil, err
	}
	slices.Reverse(recent) // oldest first
	its, _ := runstore.At(f.dir).Iterations()
	f.its = len(its)
	return &Snapshot{Run: f.s.runView(f.dir, man), Iterations: iterationViews(man.RunID, man.Target, its),
		Calls: f.calls, Labels: copyLabels(f.labels), Spans: recent}, nil
}

func copyLabels(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// runSnapshot is the state of a run for the run page rendered on the
// server, with a page of its calls counted from the newest.
func (s *Server) runSnapshot(id string, offset, limit int) (*Snapshot, error) {
	dir, man, err := s.runDir(id)
	if err != nil {
		return nil, err
	}
	return newFollower(s, dir, man.RunID).snapshot(man, offset, limit)
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	select {
	case s.streams <- struct{}{}:
		defer func() { <-s.streams }()
	default:
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("too many live streams open (%d); close some tabs and retry", cap(s.streams)))
		return
	}
	dir, man, err := s.runDir(r.PathValue("run"))
	if err != nil {
		writeErr(w, err)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming is not supported by this connection")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache, no-transform")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	send := func(event string, v any) bool {
		b, err := json.MarshalWithOption(v, json.DisableHTMLEscape())
		if err != nil {
			b = []byte(`{}`)
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return false
		}
		flusher.Flush()
		return true
	}

	f := newFollower(s, dir, man.RunID)
	snap, err := f.snapshot(man, 0, snapshotSpans)
	if err != nil {
		send("error", ErrorBody{Error: err.Error(), Status: http.StatusInternalServerError})
		return
	}
	if !send("snapshot", snap) {
		return
	}
	poll := time.NewTicker(s.opts.Poll)
	defer poll.Stop()
	ping := time.NewTicker(s.opts.Ping)
	defer ping.Stop()
	grace := 5 * s.opts.Poll
	if grace < time.Second {
		grace = time.Second
	}
	var goneSince time.Time
	for {
		// The state is read before the results: the run closes
		// results.jsonl before it marks run.json ended, so everything it
		// wrote is read before complete is sent.
		cur, err := runstore.At(dir).Manifest()
		if err != nil {
			cur = man
		}
		active := s.active(cur)
		ended, final := false, cur.State
		switch {
		case active:
		case cur.State != repo.RunRunning:
			ended = true
		default:
			// run.json says running but no process holds the lock: the
			// run was killed. Give a starting or ending run a moment.
			if goneSince.IsZero() {
				goneSince = time.Now()
			} else if time.Since(goneSince) >= grace {
				ended, final = true, repo.RunInterrupted
			}
		}
		if active || cur.State != repo.RunRunning {
			goneSince = time.Time{}
		}
		ok := true
		if err := f.results(func(res *repo.Result) {
			for _, sp := range liveChildSpans(cur.RunID, res) {
				if ok {
					ok = send("span", sp)
				}
			}
			if ok {
				ok = send("span", liveSpan(cur.RunID, res))
			}
		}); err != nil || !ok {
			return
		}
		its, _ := runstore.At(dir).Iterations()
		if len(its) > f.its {
			views := iterationViews(cur.RunID, cur.Target, its)
			for _, v := range views[f.its:] {
				if !send("iteration", v) {
					return
				}
			}
			f.its = len(its)
		}
		if ended {
			c := Complete{FinalState: final, Terminated: cur.Terminated, EndedAt: cur.EndedAt, Calls: f.calls,
				Labels: copyLabels(f.labels), Iterations: iterationViews(cur.RunID, cur.Target, its), BestIteration: bestIteration(cur.Target, its)}
			if final == repo.RunInterrupted && cur.State == repo.RunRunning {
				c.Terminated = "the run's process is gone; continue it with selfevals run --resume"
			}
			send("complete", c)
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-ping.C:
			if !send("ping", 1) {
				return
			}
		case <-poll.C:
		}
	}
}
