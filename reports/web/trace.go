package web

import (
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-json"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/gitstore"
	"github.com/selfevals/selfevals/repo/runstore"
)

var errFound = errors.New("found")

// findResult finds one agent call. id is a trace ID (tr_…, looked up in the
// newest run that has it) or a run-call ID: "<run>:tr_…", or
// "<run>:<iteration>:<repetition>:<case_id>".
func (s *Server) findResult(id string) (dir string, man *repo.RunManifest, res *repo.Result, err error) {
	var dirs []string
	var find func(dir string) (*repo.Result, error)
	switch {
	case traceRE.MatchString(id):
		dirs, _ = s.runDirs("")
		find = func(d string) (*repo.Result, error) { return resultByTrace(d, id) }
	case strings.HasPrefix(id, "run_"):
		parts := strings.SplitN(id, ":", 4)
		d, _, err := s.runDir(parts[0])
		if err != nil {
			return "", nil, nil, err
		}
		dirs = []string{d}
		if find, err = callFinder(id, parts); err != nil {
			return "", nil, nil, err
		}
	default:
		return "", nil, nil, badRequest("%q is not a trace ID (tr_…) or a call ID (<run>:…)", id)
	}
	for _, d := range dirs {
		found, err := find(d)
		if err != nil {
			return "", nil, nil, err
		}
		if found != nil {
			m, err := runstore.At(d).Manifest()
			if err != nil {
				return "", nil, nil, err
			}
			return d, m, found, nil
		}
	}
	return "", nil, nil, notFound("trace %s not found", id)
}

// callFinder finds a call of one run by a run-call ID's parts after the
// run: a trace ID, or iteration, repetition and case ID (looked up by case).
func callFinder(id string, parts []string) (func(dir string) (*repo.Result, error), error) {
	switch {
	case len(parts) == 2 && traceRE.MatchString(parts[1]):
		return func(d string) (*repo.Result, error) { return resultByTrace(d, parts[1]) }, nil
	case len(parts) == 4:
		it, err1 := strconv.Atoi(parts[1])
		rep, err2 := strconv.Atoi(parts[2])
		if err1 != nil || err2 != nil || it < 0 || rep < 0 || !caseRE.MatchString(parts[3]) {
			return nil, badRequest("%q is not a call ID (<run>:<iteration>:<repetition>:<case_id>)", id)
		}
		return func(d string) (*repo.Result, error) {
			var found *repo.Result
			err := resultsOfCases(d, parts[3:], func(r *repo.Result) {
				if found == nil && r.Iteration == it && r.Repetition == rep {
					found = r
				}
			})
			return found, err
		}, nil
	}
	return nil, badRequest("%q is not a call ID (<run>:tr_… or <run>:<iteration>:<repetition>:<case_id>)", id)
}

// findCase streams an experiment's dataset for one case.
func (s *Server) findCase(slug, caseID string) *repo.Case {
	ls, err := s.spec(slug)
	if err != nil || ls.Dataset == nil {
		return nil
	}
	var found *repo.Case
	ls.Dataset.Each(func(c *repo.Case) error {
		if c.ID == caseID {
			cc := *c
			found = &cc
			return repo.ErrStop
		}
		return nil
	})
	return found
}

func (s *Server) trace(id string) (*TraceView, error) {
	dir, man, res, err := s.findResult(id)
	if err != nil {
		return nil, err
	}
	v := &TraceView{
		ID: res.ID, RunID: man.RunID, CallID: callID(man.RunID, res), Experiment: man.Experiment, ExperimentID: man.ExperimentID,
		Iteration: res.Iteration, Repetition: res.Repetition, CaseID: res.CaseID, FinalState: finalState(res),
		Label: res.Label, Score: res.Score, StartedAt: res.StartedAt, Output: res.Output, Error: res.Error, Grades: res.Grades,
		Metrics: map[string]any{
			"latency_ms": res.LatencyMS, "input_tokens": res.Usage.InputTokens, "output_tokens": res.Usage.OutputTokens,
			"cost_usd": res.CostUSD, "attempts": res.Attempts, "cached": res.Cached,
		},
	}
	if v.Grades == nil {
		v.Grades = []repo.Grade{}
	}
	if t := parseTime(res.StartedAt); !t.IsZero() {
		v.EndedAt = t.Add(time.Duration(res.LatencyMS * float64(time.Millisecond))).UTC().Format(time.RFC3339Nano)
	}
	if c := s.findCase(man.Experiment, res.CaseID); c != nil {
		v.CaseName, v.Input, v.ThreadID, v.ThreadPosition = c.Name, c.Input, c.ThreadID, c.ThreadPosition
	}
	// traces.parquet is complete only once the run has ended (it is
	// renamed into place on close); until then spans come from results.
	var spans []*SpanSummary
	if !s.active(man) && man.State != repo.RunRunning && s.opts.TraceRows != nil {
		spans = s.spansFromParquet(runstore.At(dir).Dir().Traces(), res.ID, res)
	}
	v.Source = repo.TracesName
	if spans == nil {
		spans = spansFromResult(res)
		v.Source = repo.RunResultsName
	}
	flat, root := tree(spans)
	// The flat list is for tables; the tree carries the nesting.
	v.Tree = root
	v.Spans = make([]*SpanSummary, len(flat))
	for i, sp := range flat {
		c := *sp
		c.Children = nil
		v.Spans[i] = &c
	}
	return v, nil
}

func (s *Server) apiTrace(r *http.Request) (any, error) { return s.trace(r.PathValue("id")) }

// callID is the run-call ID of a result: unique across runs.
func callID(runID string, r *repo.Result) string {
	return runID + ":" + strconv.Itoa(r.Iteration) + ":" + strconv.Itoa(r.Repetition) + ":" + r.CaseID
}

// finalState is the call's state as the trace inspector shows it.
func finalState(r *repo.Result) string {
	switch {
	case r.ErrorKind != "":
		return r.ErrorKind
	case r.Error != "":
		return "error"
	}
	return "completed"
}

func rawJSON(s string) any {
	if s == "" {
		return nil
	}
	if json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	return s
}

func rawOrNil(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func setIf(m map[string]any, k string, v any) {
	switch x := v.(type) {
	case nil:
		return
	case string:
		if x == "" {
			return
		}
	case json.RawMessage:
		if len(x) == 0 {
			return
		}
	}
	m[k] = v
}

func rootDetail(r *repo.Result) map[string]any {
	d := map[string]any{
		"status": runstore.StatusOK, "tokens": map[string]int64{"input": r.Usage.InputTokens, "output": r.Usage.OutputTokens},
		"cost_usd": r.CostUSD, "cached": r.Cached, "attempts": r.Attempts, "case_id": r.CaseID,
		"iteration": r.Iteration, "repetition": r.Repetition,
	}
	if r.Error != "" {
		d["status"] = runstore.StatusError
	}
	setIf(d, "model", r.Model)
	setIf(d, "output", r.Output)
	setIf(d, "structured_output", rawOrNil(r.StructuredOutput))
	setIf(d, "error", r.Error)
	setIf(d, "error_type", r.ErrorKind)
	setIf(d, "stderr", r.Stderr)
	if r.Label != "" {
		d["label"] = r.Label
		d["score"] = r.Score
	}
	return d
}

// spansFromResult builds a call's spans as traces.parquet lays them out:
// the root "<trace>/0", then the agent's spans, then its tool calls.
func spansFromResult(r *repo.Result) []*SpanSummary {
	root := r.ID + "/0"
	out := []*SpanSummary{{ID: root, Kind: runstore.KindAgentCall, Name: "call", StartedAt: r.StartedAt, DurationMS: f64(r.LatencyMS), Detail: rootDetail(r)}}
	k := 1
	for _, sp := range r.Spans {
		d := map[string]any{}
		setIf(d, "status", sp.Status)
		setIf(d, "error", sp.StatusMessage)
		setIf(d, "otel_kind", sp.OTelKind)
		setIf(d, "attributes", rawOrNil(sp.Attributes))
		if len(sp.Events) > 0 {
			d["events"] = sp.Events
		}
		var dur *float64
		if sp.DurationMS != 0 {
			dur = f64(sp.DurationMS)
		}
		id, p := otlpSpanIDs(r.ID, root, sp)
		if id == "" {
			id = r.ID + "/" + strconv.Itoa(k)
		}
		out = append(out, &SpanSummary{ID: id, ParentID: &p, Kind: sp.Kind, Name: sp.Name, StartedAt: sp.Start, DurationMS: dur, Detail: d})
		k++
	}
	for _, c := range r.ToolCalls {
		d := map[string]any{"tool_name": c.Name, "status": runstore.StatusOK}
		if c.Error != "" {
			d["status"] = runstore.StatusError
		}
		setIf(d, "error", c.Error)
		setIf(d, "arguments", rawOrNil(c.Arguments))
		setIf(d, "result", rawOrNil(c.Result))
		var dur *float64
		if c.DurationMS != 0 {
			dur = f64(c.DurationMS)
		}
		p := root
		out = append(out, &SpanSummary{ID: r.ID + "/" + strconv.Itoa(k), ParentID: &p, Kind: runstore.KindToolCall, Name: c.Name, DurationMS: dur, Detail: d})
		k++
	}
	return out
}

// spansFromParquet reads a call's rows from traces.parquet; nil when the
// file or the call is not there (persist_traces: failed keeps only calls
// that did not pass). Grades are not in the file; r gives the root's
// detail the label.
func (s *Server) spansFromParquet(path, traceID string, r *repo.Result) []*SpanSummary {
	if !fileExists(path) {
		return nil
	}
	var out []*SpanSummary
	err := s.opts.TraceRows(path, func(row runstore.TraceRow) error {
		if row.TraceID != traceID {
			return nil
		}
		sp := &SpanSummary{ID: row.SpanID, Kind: row.Kind, Name: row.Name, DurationMS: row.DurationMS, Detail: map[string]any{}}
		if row.ParentSpanID != "" {
			p := row.ParentSpanID
			sp.ParentID = &p
		}
		if !row.Start.IsZero() {
			sp.StartedAt = row.Start.UTC().Format(time.RFC3339Nano)
		}
		d := sp.Detail
		setIf(d, "status", row.Status)
		setIf(d, "error", row.Error)
		switch row.Kind {
		case runstore.KindAgentCall:
			d = rootDetail(r)
			sp.Detail = d
			setIf(d, "model", row.Model)
			if row.InputTokens != nil && row.OutputTokens != nil {
				d["tokens"] = map[string]int64{"input": *row.InputTokens, "output": *row.OutputTokens}
			}
			if row.CostUSD != nil {
				d["cost_usd"] = *row.CostUSD
			}
			setIf(d, "output", row.Output)
			setIf(d, "structured_output", rawJSON(row.Structured))
			setIf(d, "attributes", rawJSON(row.Attributes))
		case runstore.KindToolCall:
			d["tool_name"] = row.Name
			setIf(d, "arguments", rawJSON(row.ToolArgs))
			setIf(d, "result", rawJSON(row.ToolResult))
		default:
			setIf(d, "otel_kind", row.OTelKind)
			setIf(d, "attributes", rawJSON(row.Attributes))
			setIf(d, "events", rawJSON(row.Events))
		}
		out = append(out, sp)
		return nil
	})
	if err != nil {
		return nil
	}
	return out
}

// tree links spans to their parents and returns them depth-first (each
// with its depth) and the root. Spans whose parent is missing hang off the
// root.
func tree(spans []*SpanSummary) ([]*SpanSummary, *SpanSummary) {
	if len(spans) == 0 {
		return []*SpanSummary{}, nil
	}
	// Numbered spans in their order; an OTLP span (its ID is not a number)
	// keeps its place in the list, which is its number in both sources.
	key := make(map[*SpanSummary]int, len(spans))
	for i, sp := range spans {
		key[sp] = spanNumber(sp.ID)
		if key[sp] == 1<<30 {
			key[sp] = i
		}
	}
	sort.SliceStable(spans, func(i, j int) bool { return key[spans[i]] < key[spans[j]] })
	byID := map[string]*SpanSummary{}
	for _, sp := range spans {
		byID[sp.ID] = sp
		sp.Children = nil
	}
	var root *SpanSummary
	for _, sp := range spans {
		if sp.ParentID == nil {
			if root == nil {
				root = sp
			}
			continue
		}
		if p, ok := byID[*sp.ParentID]; ok && p != sp {
			p.Children = append(p.Children, sp)
		} else if root != nil {
			root.Children = append(root.Children, sp)
		}
	}
	if root == nil {
		root = spans[0]
	}
	for _, sp := range spans {
		byStart(sp.Children)
	}
	var flat []*SpanSummary
	var walk func(sp *SpanSummary, depth int)
	walk = func(sp *SpanSummary, depth int) {
		if depth > 64 {
			return
		}
		sp.Depth = depth
		flat = append(flat, sp)
		for _, c := range sp.Children {
			walk(c, depth+1)
		}
	}
	walk(root, 0)
	return flat, root
}

func spanNumber(id string) int {
	i := strings.LastIndexByte(id, '/')
	n, err := strconv.Atoi(id[i+1:])
	if err != nil || len(id)-i-1 == 16 { // an OTLP span ID may be all digits
		return 1 << 30
	}
	return n
}

// byStart orders siblings as they started when all of them say when
// (OTLP spans arrive as they end); otherwise they keep their order.
func byStart(children []*SpanSummary) {
	for _, c := range children {
		if c.StartedAt == "" {
			return
		}
	}
	sort.SliceStable(children, func(i, j int) bool {
		return parseTime(children[i].StartedAt).Before(parseTime(children[j].StartedAt))
	})
}

// otlpSpanIDs are the IDs of a span received over OTLP as traces.parquet
// writes them: "<trace>/<hex span ID>", its parent's likewise or the root.
// id is "" for a span the agent reported in its answer (numbered instead).
func otlpSpanIDs(traceID, root string, sp repo.Span) (id, parent string) {
	if sp.SpanID == "" {
		return "", root
	}
	parent = root
	if sp.ParentID != "" {
		parent = traceID + "/" + sp.ParentID
	}
	return traceID + "/" + sp.SpanID, parent
}

// --- threads ----------------------------------------------------------------

type threadCase struct {
	id, name string
	position *int
	input    json.RawMessage
}

func (s *Server) thread(r *http.Request, threadID string) (*Thread, error) {
	if !threadRE.MatchString(threadID) || strings.Contains(threadID, "..") {
		return nil, badRequest("%q is not a thread ID", threadID)
	}
	q := r.URL.Query()
	slugs := s.slugs()
	if e := q.Get("experiment"); e != "" {
		if err := s.knownSlug(e); err != nil {
			return nil, err
		}
		slugs = []string{e}
	}
	var slug string
	var cases []threadCase
	for _, sl := range slugs {
		ls, err := s.spec(sl)
		if err != nil || ls.Dataset == nil {
			continue
		}
		ls.Dataset.Each(func(c *repo.Case) error {
			if c.ThreadID == threadID {
				cases = append(cases, threadCase{id: c.ID, name: c.Name, position: c.ThreadPosition, input: c.Input})
			}
			return nil
		})
		if len(cases) > 0 {
			slug = sl
			break
		}
	}
	if len(cases) == 0 {
		return nil, notFound("thread %s not found in any experiment's dataset", threadID)
	}
	iteration, rep := -1, 0
	if v := q.Get("iteration"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, badRequest("iteration must be a number, got %q", v)
		}
		iteration = n
	}
	if v := q.Get("repetition"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, badRequest("repetition must be a number, got %q", v)
		}
		rep = n
	}
	var dirs []string
	if v := q.Get("run"); v != "" {
		d, _, err := s.runDir(v)
		if err != nil {
			return nil, err
		}
		dirs = []string{d}
	} else {
		dirs, _ = s.runDirs(slug)
	}
	want := map[string]int{}
	for i, c := range cases {
		want[c.id] = i
	}
	th := &Thread{ThreadID: threadID, Experiment: slug, Iteration: iteration, Repetition: rep}
	results := make([]*repo.Result, len(cases))
	for _, d := range dirs {
		found := 0
		chosen := iteration
		ids := make([]string, len(cases))
		for i, c := range cases {
			ids[i] = c.id
		}
		err := resultsOfCases(d, ids, func(res *repo.Result) {
			i, ok := want[res.CaseID]
			if !ok || res.Repetition != rep {
				return
			}
			if chosen < 0 {
				chosen = res.Iteration
			}
			if res.Iteration != chosen {
				return
			}
			if results[i] == nil {
				found++
			}
			results[i] = res
		})
		if err != nil {
			return nil, err
		}
		if found > 0 {
			if man, err := runstore.At(d).Manifest(); err == nil {
				th.RunID = man.RunID
			}
			th.Iteration = chosen
			break
		}
	}
	if th.Iteration < 0 {
		th.Iteration = 0
	}
	for i, c := range cases {
		t := ThreadTurn{CaseID: c.id, CaseName: c.name, Input: c.input, FinalState: "not_run", Grades: []repo.Grade{}}
		if res := results[i]; res != nil {
			t.TraceID, t.Output, t.Error, t.StartedAt, t.LatencyMS = res.ID, res.Output, res.Error, res.StartedAt, res.LatencyMS
			t.FinalState, t.Label, t.Score = finalState(res), res.Label, res.Score
			if len(res.Grades) > 0 {
				t.Grades = res.Grades
				t.PrimaryGrade = string(res.Grades[0].Label)
			}
		}
		th.Turns = append(th.Turns, t)
	}
	// Positioned turns first, by position; then the rest by start time.
	order := make([]int, len(cases))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		ca, cb := cases[order[a]], cases[order[b]]
		switch {
		case ca.position != nil && cb.position != nil && *ca.position != *cb.position:
			return *ca.position < *cb.position
		case (ca.position == nil) != (cb.position == nil):
			return ca.position != nil
		}
		return th.Turns[order[a]].StartedAt < th.Turns[order[b]].StartedAt
	})
	turns := make([]ThreadTurn, len(order))
	for k, i := range order {
		turns[k] = th.Turns[i]
		turns[k].Position = k
		if p := cases[i].position; p != nil {
			turns[k].Position = *p
		}
	}
	th.Turns, th.TurnCount = turns, len(turns)
	return th, nil
}

func (s *Server) apiThread(r *http.Request) (any, error) { return s.thread(r, r.PathValue("id")) }

// --- history ----------------------------------------------------------------

func (s *Server) history() *History {
	h := &History{Experiments: []ExperimentHistory{}}
	g, err := gitstore.Open(s.root)
	if err == nil {
		h.Git = true
	} else {
		h.GitError = err.Error()
	}
	for _, slug := range s.slugs() {
		es := s.experimentSummary(slug, false)
		eh := ExperimentHistory{Slug: slug, Name: es.Name, Metric: es.PrimaryMetric, Target: es.PrimaryTarget, Runs: []HistoryPoint{}, Commits: []HistoryPoint{}}
		dirs, _ := s.runDirs(slug)
		for i := len(dirs) - 1; i >= 0; i-- {
			man, err := runstore.At(dirs[i]).Manifest()
			if err != nil {
				continue
			}
			its, _ := runstore.At(dirs[i]).Iterations()
			p := HistoryPoint{RunID: man.RunID, At: man.StartedAt, State: man.State}
			for _, it := range its {
				if it.Index != 0 {
					continue
				}
				if m, ok := it.Metrics[man.Target.Name]; ok && m.Observed {
					p.Value, p.Lo, p.Hi = f64(m.Value), m.Lo, m.Hi
					zero := 0
					p.Iteration = &zero
					met := man.Target.Met(m.Value)
					p.TargetMet = &met
				}
			}
			if b := bestIteration(man.Target, its); b != nil {
				for _, it := range its {
					if it.Index == *b {
						p.Best = f64(it.Primary)
					}
				}
			}
			eh.Runs = append(eh.Runs, p)
		}
		if g != nil {
			if rel, err := g.RelPath(s.layout.Summary(slug)); err == nil {
				versions, _ := g.FileHistory("HEAD", rel)
				for i := len(versions) - 1; i >= 0; i-- {
					v := versions[i]
					p := HistoryPoint{Commit: v.Commit.Hash, Subject: v.Commit.Subject, At: v.Commit.Time.UTC().Format(time.RFC3339)}
					if v.Content == nil {
						p.Deleted = true
					} else if sum, err := repo.ReadSummary(v.Content); err == nil && sum.Primary != nil {
						p.Value = sum.Primary
						if m, ok := sum.Metrics[sum.Target.Name]; ok {
							p.Lo, p.Hi = f64(m.CI[0]), f64(m.CI[1])
						}
						met := sum.TargetMet
						p.TargetMet = &met
					}
					eh.Commits = append(eh.Commits, p)
				}
			}
		}
		h.Experiments = append(h.Experiments, eh)
	}
	return h
}

func (s *Server) apiHistory(*http.Request) (any, error) { return s.history(), nil }
