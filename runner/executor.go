// Package runner runs experiments: Open assembles a run (adapter, graders,
// cache, fingerprint, record); the loop asks the proposer for parameters,
// the executor calls the agent over parallel slots (timeouts, retries,
// repetitions, cache, resume), the aggregator folds results into metrics,
// Decide judges each iteration, and the Recorder decides when the run record
// (repo/runstore) is written and candidates committed. Adapters live in
// runner/adapters; statistics and the paired comparison in repo/stats and
// repo/paired.
package runner

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/goccy/go-json"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/runner/adapters"
	"github.com/selfevals/selfevals/runner/otlp"
)

// GradeFunc grades one trace of one case (graders.Registry.Grade with the
// experiment's graders bound in). It never fails: a grader that cannot decide
// returns an error grade.
type GradeFunc func(ctx context.Context, c *repo.Case, t *repo.Trace) ([]repo.Grade, repo.Label, float64)

// Executor runs iterations: every case × repetition for one parameters set,
// over Parallelism slots.
type Executor struct {
	Adapter     adapters.Adapter
	Parallelism int           // calls in flight at once (default 1)
	Timeout     time.Duration // per agent call; 0 leaves it to the adapter
	Retries     int           // extra attempts for transient errors
	Cache       *Cache        // nil: no cache (--no-cache, run.cache: false)
	Grade       GradeFunc     // nil: results are ungraded (label skipped, or error when the call failed)
	Experiment  string        // the slug, sent in request metadata
	RunID       string

	// Idle, when set, is called after the sink whenever no other result is
	// waiting (the run record flushes its results there).
	Idle func() error

	// Backoff is the first retry's delay; it doubles each retry, with
	// jitter, up to 10 s. Default 200 ms.
	Backoff time.Duration

	// Spans, when set (agent.otlp), gives every call a trace of its own and
	// folds the spans the agent sent into the call's trace; OTLP holds the
	// options (prices). Nil costs a call nothing.
	Spans *otlp.Receiver
	OTLP  *repo.OTLP
}

// Iteration is one proposal to run over the dataset.
type Iteration struct {
	Index       int
	Params      repo.Parameters
	ParamsID    string // Params.ID() when empty
	Repetitions int    // at least 1
	// Skip reports calls already completed (resume); they are not run again
	// and not passed to the sink.
	Skip func(caseID string, rep int) bool

	paramsJSON []byte
}

// Stats counts what an iteration did.
type Stats struct {
	Results   int // results passed to the sink
	Calls     int // agent calls made, retries included (cache hits excluded)
	CacheHits int
	Errors    int // results whose trace failed
	Retries   int // retries made by the executor after a transient error
	Skipped   int // case × repetitions skipped by Iteration.Skip
	// Elapsed, when set, is how long the calls took where they were made
	// (a merge replays shards' calls: its own time says nothing).
	Elapsed time.Duration
}

// elapsedSince is how long the iteration's calls took: Elapsed, else the
// time since start.
func (st Stats) elapsedSince(start time.Time) time.Duration {
	if st.Elapsed > 0 {
		return st.Elapsed
	}
	return time.Since(start)
}

// job is one unit of work for a slot: one case, or a whole thread (cases
// sharing a thread_id, in thread_position order), for one repetition.
type job struct {
	c      *repo.Case
	thread []*repo.Case
	rep    int
}

// Run executes the iteration and hands every result to sink, from a single
// goroutine and in completion order, as results arrive: nothing is held
// back, so memory does not grow with the dataset.
//
// Cases without a thread_id stream from disk through a bounded queue.
// Threaded cases are held until the dataset has been read (a thread's turns
// may be anywhere in the file), then each thread runs in one slot, turn after
// turn in thread_position order, so a conversation never runs out of order.
//
// An agent failure is a result with Trace.Error set, never an error of Run.
// Run returns an error when the dataset cannot be read, when sink fails, or
// when ctx is cancelled: then calls in flight are cancelled (and dropped,
// since they did not finish), no new ones start, every result that finished
// has already been passed to sink, and the error wraps ctx.Err().
func (e *Executor) Run(ctx context.Context, ds *repo.Dataset, it Iteration, sink func(*repo.Result) error) (Stats, error) {
	if e.Adapter == nil {
		return Stats{}, errors.New("runner: executor has no adapter")
	}
	slots := max(e.Parallelism, 1)
	if it.Repetitions < 1 {
		it.Repetitions = 1
	}
	if it.ParamsID == "" {
		it.ParamsID = it.Params.ID()
	}
	// Every request of the iteration carries the same parameters: encode
	// them once.
	params := it.Params
	if params == nil {
		params = repo.Parameters{}
	}
	if b, err := json.Marshal(params); err == nil {
		it.paramsJSON = b
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if rs, ok := e.Adapter.(adapters.RunScoped); ok {
		defer rs.Begin(runCtx)() // before cancel: a run that ends well is not a cancelled one
	}

	jobs := make(chan job, slots*2)
	results := make(chan *repo.Result, slots*2)
	var stats Stats
	var statsMu sync.Mutex

	var produceErr error
	var skipped int
	go func() {
		defer close(jobs)
		skipped, produceErr = e.produce(runCtx, ds, it, jobs)
	}()

	var wg sync.WaitGroup
	for range slots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := e.work(runCtx, it, jobs, results)
			statsMu.Lock()
			stats.Calls += s.Calls
			stats.CacheHits += s.CacheHits
			stats.Retries += s.Retries
			statsMu.Unlock()
		}()
	}
	go func() {
		wg.Wait()
		close(results)
	}()

	var sinkErr error
	for r := range results {
		if sinkErr != nil {
			continue // draining so the slots can finish
		}
		if err := sink(r); err != nil {
			sinkErr = err
			cancel()
			continue
		}
		stats.Results++
		if r.Failed() {
			stats.Errors++
		}
		if len(results) == 0 && e.Idle != nil {
			// Nothing else finished meanwhile: a good moment to make what
			// did durable, so a crash loses no finished call. Under load
			// the queue is rarely empty and writes stay batched.
			if err := e.Idle(); err != nil {
				sinkErr = err
				cancel()
			}
		}
	}
	// The producer has finished too: it closed jobs before the slots could.
	stats.Skipped = skipped
	switch {
	case sinkErr != nil:
		return stats, sinkErr
	case ctx.Err() != nil:
		return stats, fmt.Errorf("run interrupted: %w", ctx.Err())
	case produceErr != nil:
		return stats, produceErr
	}
	return stats, nil
}

// produce streams the dataset into jobs. It returns how many calls Skip
// removed.
func (e *Executor) produce(ctx context.Context, ds *repo.Dataset, it Iteration, jobs chan<- job) (int, error) {
	skipped := 0
	skip := func(id string, rep int) bool {
		if it.Skip != nil && it.Skip(id, rep) {
			skipped++
			return true
		}
		return false
	}
	send := func(j job) error {
		select {
		case jobs <- j:
			return nil
		case <-ctx.Done():
			return repo.ErrStop
		}
	}
	threads := map[string][]*repo.Case{}
	var threadOrder []string
	err := ds.Each(func(c *repo.Case) error {
		if c.ThreadID != "" {
			if _, seen := threads[c.ThreadID]; !seen {
				threadOrder = append(threadOrder, c.ThreadID)
			}
			threads[c.ThreadID] = append(threads[c.ThreadID], c)
			return nil
		}
		for rep := range it.Repetitions {
			if skip(c.ID, rep) {
				continue
			}
			if err := send(job{c: c, rep: rep}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return skipped, fmt.Errorf("reading dataset: %w", err)
	}
	for _, id := range threadOrder {
		turns := threads[id]
		sort.SliceStable(turns, func(i, j int) bool { return threadBefore(turns[i], turns[j]) })
		for rep := range it.Repetitions {
			var todo []*repo.Case
			for _, c := range turns {
				if !skip(c.ID, rep) {
					todo = append(todo, c)
				}
			}
			if len(todo) == 0 {
				continue
			}
			if err := send(job{thread: todo, rep: rep}); err != nil {
				return skipped, nil
			}
		}
	}
	return skipped, nil
}

// threadBefore orders turns by thread_position; turns without one keep file
// order after those with one.
func threadBefore(a, b *repo.Case) bool {
	switch {
	case a.ThreadPosition == nil:
		return false
	case b.ThreadPosition == nil:
		return true
	}
	return *a.ThreadPosition < *b.ThreadPosition
}

// work is one slot: it takes jobs until there are none or the run stops.
func (e *Executor) work(ctx context.Context, it Iteration, jobs <-chan job, results chan<- *repo.Result) Stats {
	var s Stats
	var info adapters.CallInfo
	// Each call derives a context with its timeout: from a context of the
	// slot's own, so that registering and removing it does not contend for
	// the lock of one context shared by every slot.
	slotCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	callCtx := adapters.WithCallInfo(slotCtx, &info)
	emit := func(c *repo.Case, rep int) bool {
		r, ok := e.runCase(callCtx, &info, it, c, rep, &s)
		if !ok {
			return false
		}
		results <- r
		return true
	}
	for j := range jobs {
		if ctx.Err() != nil {
			continue // no new calls; let the producer see the cancel
		}
		if j.c != nil {
			emit(j.c, j.rep)
			continue
		}
		for _, c := range j.thread {
			if ctx.Err() != nil || !emit(c, j.rep) {
				break
			}
		}
	}
	return s
}

// runCase makes one call (from the cache, or the agent with retries) and
// grades it. ok is false when the run was cancelled under the call: such a
// call did not finish and produces no result.
func (e *Executor) runCase(ctx context.Context, info *adapters.CallInfo, it Iteration, c *repo.Case, rep int, s *Stats) (*repo.Result, bool) {
	r := &repo.Result{Trace: repo.Trace{
		ID:         TraceID(c.ID, it.ParamsID, it.Index, rep, e.RunID),
		CaseID:     c.ID,
		ParamsID:   it.ParamsID,
		Iteration:  it.Index,
		Repetition: rep,
	}}
	t := &r.Trace

	if e.Cache != nil {
		if resp, latency, hit := e.Cache.Get(c.ID, it.ParamsID, rep); hit {
			s.CacheHits++
			t.StartedAt = repo.FormatStartedAt(time.Now())
			t.LatencyMS = latency
			t.Cached = true
			fillResponse(t, &resp)
			e.grade(ctx, c, r)
			return r, true
		}
	}

	req := &repo.Request{
		CaseID:     c.ID,
		Input:      c.Input,
		Context:    c.Context,
		Parameters: it.Params,
		ParamsJSON: it.paramsJSON,
		Metadata: repo.RequestMetadata{
			Experiment: e.Experiment,
			Iteration:  it.Index,
			Repetition: rep,
			RunID:      e.RunID,
			Taxonomy:   c.Taxonomy,
		},
	}
	if c.ThreadID != "" {
		req.Metadata.ThreadID = &c.ThreadID
	}
	var spans *otlp.Call
	if e.Spans != nil {
		spans = e.Spans.Begin()
		req.Metadata.TraceParent = spans.TraceParent()
	}

	var resp repo.Response
	var err error
	var started time.Time
	var elapsed time.Duration
	for retry := 0; ; retry++ {
		*info = adapters.CallInfo{}
		started = time.Now()
		resp, err = e.call(ctx, req)
		elapsed = time.Since(started)
		t.Attempts += max(info.Attempts, 1)
		s.Calls += max(info.Attempts, 1)
		if err == nil || ctx.Err() != nil || retry >= e.Retries || !e.retryable(err, info) {
			break
		}
		s.Retries++
		if !sleepCtx(ctx, e.backoff(retry)) {
			break
		}
	}
	var captured otlp.Capture
	if spans != nil {
		// After the latency is taken: waiting for late spans is not the
		// agent's time.
		captured = e.Spans.Finish(ctx, spans)
	}
	if err != nil && ctx.Err() != nil {
		return nil, false
	}
	t.StartedAt = repo.FormatStartedAt(started)
	t.LatencyMS = float64(elapsed.Microseconds()) / 1000
	t.Stderr = info.Stderr
	if err != nil {
		fillError(t, err)
		otlp.ApplyFailed(t, captured)
	} else {
		if spans != nil {
			// Before the cache keeps the response: a cached call grades
			// as the call did.
			otlp.Apply(&resp, captured, e.OTLP)
		}
		fillResponse(t, &resp)
		if e.Cache != nil && !t.Failed() {
			if cerr := e.Cache.Put(c.ID, it.ParamsID, rep, &resp, t.LatencyMS); cerr != nil {
				// A cache that cannot be written costs speed, not
				// correctness: the run goes on without it.
				e.Cache.disable(cerr)
			}
		}
	}
	e.grade(ctx, c, r)
	return r, true
}

// call makes one attempt under the per-call timeout.
func (e *Executor) call(ctx context.Context, req *repo.Request) (repo.Response, error) {
	resp, err := e.callAdapter(ctx, req)
	if err == nil {
		err = adapters.CheckResponse(&resp)
	}
	return resp, err
}

func (e *Executor) callAdapter(ctx context.Context, req *repo.Request) (repo.Response, error) {
	if e.Timeout <= 0 {
		return e.Adapter.Call(ctx, req)
	}
	if rs, ok := e.Adapter.(adapters.RunScoped); ok && rs.CallTimeout() == e.Timeout {
		return e.Adapter.Call(ctx, req) // it times the call out itself
	}
	callCtx, cancel := context.WithTimeout(ctx, e.Timeout)
	defer cancel()
	resp, err := e.Adapter.Call(callCtx, req)
	if err != nil && callCtx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
		var ce *adapters.CallError
		if !errors.As(err, &ce) || ce.Kind != repo.ErrTimeout {
			err = &adapters.CallError{Kind: repo.ErrTimeout, Msg: fmt.Sprintf("agent did not answer within %s (run.timeout)", e.Timeout)}
		}
	}
	return resp, err
}

// retryable reports whether a failed call is worth another attempt: the
// adapter marked it transient, and did not already retry it itself (the
// HTTP adapter retries with Retry-After, the worker pool restarts a dead
// worker once), so retries do not multiply.
func (e *Executor) retryable(err error, info *adapters.CallInfo) bool {
	var ce *adapters.CallError
	return errors.As(err, &ce) && ce.Transient && info.Attempts <= 1
}

func (e *Executor) backoff(retry int) time.Duration {
	base := e.Backoff
	if base <= 0 {
		base = 200 * time.Millisecond
	}
	d := base << min(retry, 16)
	d = min(d, 10*time.Second)
	// Full jitter on the upper half, so slots that failed together do not
	// retry together.
	return d/2 + rand.N(d/2+1)
}

func (e *Executor) grade(ctx context.Context, c *repo.Case, r *repo.Result) {
	if e.Grade != nil {
		r.Grades, r.Label, r.Score = e.Grade(ctx, c, &r.Trace)
		return
	}
	r.Grades = []repo.Grade{}
	r.Label, r.Score = repo.Skipped, 0
	if r.Failed() {
		r.Label = repo.Error
	}
}

func fillResponse(t *repo.Trace, resp *repo.Response) {
	t.Output = resp.Output
	t.StructuredOutput = resp.StructuredOutput
	t.ToolCalls = resp.ToolCalls
	t.Spans = resp.Spans
	t.SpansDropped = resp.SpansDropped
	t.Usage = resp.Usage
	t.CostUSD, t.CostReported = resp.CostUSD, resp.CostReported || resp.CostUSD != 0
	t.Model = resp.Model
	if resp.Error != "" {
		t.Error = resp.Error
		t.ErrorKind = repo.ErrAgent
	}
}

func fillError(t *repo.Trace, err error) {
	var ce *adapters.CallError
	if !errors.As(err, &ce) {
		t.Error = err.Error()
		t.ErrorKind = repo.ErrInternal
		return
	}
	t.Error = strings.ToValidUTF8(ce.Msg, "\uFFFD") // may quote what the agent printed
	t.ErrorKind = ce.Kind
	if t.ErrorKind == "" {
		t.ErrorKind = repo.ErrInternal
	}
	if ce.Stderr != "" {
		t.Stderr = strings.ToValidUTF8(ce.Stderr, "\uFFFD") // a diagnostic: keep what is readable
	}
	t.Output = ce.Partial
	t.Truncated = ce.Kind == repo.ErrTooLarge
}

// sleepCtx waits d, or less when ctx ends; it reports whether it waited.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// TraceID is the trace's content-hash ID (tr_…): the hash of the canonical
// JSON array [case ID, parameters ID, iteration, repetition, run ID].
func TraceID(caseID, paramsID string, iteration, rep int, runID string) string {
	// The IDs are plain ASCII almost always; then the canonical JSON can be
	// written directly, which keeps the hot path free of reflection.
	if plainJSONString(caseID) && plainJSONString(paramsID) && plainJSONString(runID) {
		var buf [160]byte // on the stack unless the IDs are long
		b := append(buf[:0], `["`...)
		b = append(b, caseID...)
		b = append(b, `","`...)
		b = append(b, paramsID...)
		b = append(b, `",`...)
		b = strconv.AppendInt(b, int64(iteration), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(rep), 10)
		b = append(b, `,"`...)
		b = append(b, runID...)
		b = append(b, `"]`...)
		return repo.HashBytesID("tr", b)
	}
	id, err := repo.HashID("tr", []any{caseID, paramsID, iteration, rep, runID})
	if err != nil {
		panic(err) // strings and ints always encode
	}
	return id
}

// plainJSONString reports whether s encodes in canonical JSON as itself
// between quotes.
func plainJSONString(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b >= 0x7f || b == '"' || b == '\\' {
			return false
		}
	}
	return true
}
