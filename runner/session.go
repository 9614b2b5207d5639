package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/selfevals/selfevals/graders"
	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
	"github.com/selfevals/selfevals/runner/adapters"
	"github.com/selfevals/selfevals/runner/otlp"
)

// OpenOptions configure a run of one experiment.
type OpenOptions struct {
	// EvalsDir is the evals/ directory the run is recorded in.
	EvalsDir string
	// NoCache calls the agent (and judges) even when a cached answer
	// exists, and stores none.
	NoCache bool
	// Resume continues the last unfinished run instead of starting one.
	Resume bool
	// NoPersist records the run under evals/runs only: evals/results is
	// not written and no candidate is committed.
	NoPersist   bool
	ToolVersion string
	// NoCommit keeps kept candidates off the selfevals/<slug> branch,
	// saying why (e.g. "--no-commit"); empty commits them.
	NoCommit string
	// CandidateBranch is where kept candidates go instead of
	// selfevals/<slug> (e.g. when a branch of that name is someone's own).
	CandidateBranch string
	// Adapter, when set, is the agent to call instead of the one the spec
	// configures (tests and the in-process benchmark); Session.Close
	// closes it all the same.
	Adapter adapters.Adapter
	// Fingerprint, when set, is used instead of hashing the agent's files.
	Fingerprint string
	// Progress hooks: an iteration starts (with the calls it will make), a
	// result arrives, an iteration is decided.
	OnIteration func(index int, hypothesis string, calls int)
	OnResult    func()
	OnDecided   func(*repo.IterationSummary)
	// Report renders the report kept in the run directory (report.md);
	// nil keeps none.
	Report func(*repo.RunSummary) []byte
	// Env is the environment of the agent and the judges.
	Env AgentEnv
	// Shard runs one slice of the cases for every proposal, undecided
	// (run --shard i/n); selfevals merge combines the shards.
	Shard *repo.Shard
}

// Session is one experiment assembled to run: the agent's adapter, the
// graders, the agent-call cache, the agent's fingerprint, the run record,
// the executor and the loop. `selfevals run`, the benchmark and the tests
// all assemble it here.
type Session struct {
	Spec        *repo.LoadedSpec
	Fingerprint string
	Record      *Recorder
	Loop        *Loop

	adapter      adapters.Adapter
	spans        *otlp.Receiver // agent.otlp; nil when off
	cache        *Cache
	closeGraders func() error
	report       func(*repo.RunSummary) []byte
}

// Open assembles a run of ls with the run settings it has (callers apply
// flag overrides to ls.Spec.Experiment.Run first) and takes the
// experiment's lock. Close releases what Run did not.
func Open(ls *repo.LoadedSpec, opts OpenOptions) (_ *Session, err error) {
	e := &ls.Spec.Experiment
	if err := checkRepetitions(ls); err != nil {
		return nil, err
	}
	if err := repo.Dir(opts.EvalsDir).CheckSlugUnique(ls.Path, ls.Slug); err != nil {
		return nil, err
	}
	if opts.Shard != nil {
		if err := shardDataset(ls, opts.Shard); err != nil {
			return nil, err
		}
	}
	s := &Session{Spec: ls, adapter: opts.Adapter, report: opts.Report}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	var otlpEnv []string
	if ls.Spec.Agent.OTLP.On() {
		if s.spans, err = otlp.Start(otlp.OptionsOf(ls.Spec.Agent.OTLP)); err != nil {
			return nil, err
		}
		otlpEnv = s.spans.Env()
	}
	if s.adapter == nil {
		s.adapter, err = adapters.New(ls.Spec.Agent, opts.Env.apply(adapters.Options{
			RepoRoot: ls.Root, Parallelism: e.Run.Parallelism, Timeout: e.Run.Timeout.D(), Retries: e.Run.RetryCount(),
			OTLPEnv: otlpEnv,
		}))
		if err != nil {
			return nil, fmt.Errorf("%s: agent: %w", ls.Path, err)
		}
	}
	if opts.Resume && !opts.NoCache {
		// A resumption calls as the run it continues did: one started
		// with --no-cache asks the agent and the judges afresh to the end.
		// (Which run that is, or that there is none, StartRecord says.)
		if _, man, err := runstore.Open(opts.EvalsDir).LastUnfinished(ls.Slug, opts.Shard); err == nil && man.NoCache {
			opts.NoCache = true
		}
	}
	factories, closeGraders := GraderFactories(ls, opts.EvalsDir, JudgeOptions{NoCache: opts.NoCache, Env: opts.Env})
	s.closeGraders = closeGraders
	registry, err := graders.NewRegistry(ls.Spec.Graders, factories)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ls.Path, err)
	}
	s.Fingerprint = opts.Fingerprint
	if s.Fingerprint == "" {
		if s.Fingerprint, err = AgentFingerprint(ls); err != nil {
			return nil, err
		}
	}
	if !opts.NoCache && e.Run.CacheEnabled() {
		if s.cache, err = OpenCache(repo.Dir(opts.EvalsDir).Cache(), s.Fingerprint); err != nil {
			return nil, err
		}
	}
	s.Record, err = StartRecord(opts.EvalsDir, ls, s.Fingerprint, RecordOptions{
		Resume: opts.Resume, ToolVersion: opts.ToolVersion, NoCommit: opts.NoCommit,
		CandidateBranch: opts.CandidateBranch,
		NoPersist:       opts.NoPersist,
		NoCache:         opts.NoCache,
		Shard:           opts.Shard,
	})
	if err != nil {
		return nil, err
	}
	rec := s.Record
	s.Loop = &Loop{
		Spec: ls, Graders: registry, Fingerprint: s.Fingerprint,
		Executor: &Executor{
			Adapter: s.adapter, Parallelism: e.Run.Parallelism, Timeout: e.Run.Timeout.D(), Retries: e.Run.RetryCount(),
			Cache: s.cache, Experiment: ls.Slug, RunID: rec.RunID, Idle: rec.Flush, Grade: registry.Grade,
			Spans: s.spans, OTLP: ls.Spec.Agent.OTLP,
		},
		Sink:        rec.Write,
		Shard:       opts.Shard,
		OnIteration: opts.OnIteration,
		OnResult:    opts.OnResult,
		OnDecided:   recordDecided(rec, opts.OnDecided),
	}
	if rec.Resumed {
		s.Loop.Done, s.Loop.Replay = rec.Done, rec.Replay
	}
	return s, nil
}

// recordDecided is the loop's OnDecided: progress first, then the record.
func recordDecided(rec *Recorder, progress func(*repo.IterationSummary)) func(*repo.IterationSummary, *Aggregator) error {
	return func(it *repo.IterationSummary, agg *Aggregator) error {
		if progress != nil {
			progress(it)
		}
		return rec.Decided(it, agg)
	}
}

// Run runs the loop and closes the run record: finished, interrupted (what
// finished is kept) or failed (what was written is kept for --resume).
func (s *Session) Run(ctx context.Context) (*repo.RunSummary, error) {
	rs, err := s.Loop.Run(ctx)
	if err == nil {
		s.Record.CloseTracesInBackground()
	}
	if err != nil {
		s.Record.Abort(err)
		s.Record = nil
		if rs != nil {
			// The report of a failed run says so, with the error and a
			// real end, as run.json does.
			rs.State, rs.Terminated, rs.EndedAt = repo.RunFailed, "error: "+err.Error(), time.Now().UTC()
		}
		return rs, err
	}
	if s.cache != nil {
		if err := s.cache.Err(); err != nil {
			rs.Warnings = append(rs.Warnings, "the agent-call cache was turned off after an error: "+err.Error())
		}
	}
	rs.Warnings = append(rs.Warnings, s.Spec.Warnings...)
	s.Record.SettleCandidates(rs.State)
	rs.Warnings = append(rs.Warnings, s.spanWarnings()...)
	rs.Committed = s.Record.Committed()
	rs.MergedFrom = s.Record.manifest.MergedFrom
	rs.Warnings = append(rs.Warnings, s.Record.Warnings...)
	var report []byte
	if s.report != nil {
		report = s.report(rs)
	}
	err = s.Record.Finish(rs, report)
	s.Record = nil
	return rs, err
}

// Close releases the agent, the graders, the cache and, when Run did not
// get to, the run record.
func (s *Session) Close() error {
	if s.Record != nil {
		s.Record.Abort(fmt.Errorf("closed before it ran"))
		s.Record = nil
	}
	var errs []error
	if s.cache != nil {
		errs = append(errs, s.cache.Close())
	}
	if s.closeGraders != nil {
		errs = append(errs, s.closeGraders())
	}
	if s.adapter != nil {
		errs = append(errs, s.adapter.Close())
	}
	if s.spans != nil {
		errs = append(errs, s.spans.Close())
		s.spans = nil
	}
	return errors.Join(errs...)
}

// spanWarnings report the spans of the run that no call kept (agent.otlp).
func (s *Session) spanWarnings() []string {
	if s.spans == nil {
		return nil
	}
	var w []string
	st := s.spans.Stats()
	if st.Unknown > 0 {
		w = append(w, fmt.Sprintf("agent.otlp: spans of no call in flight, left out: %d (they came after their call's grace period of %s, or carried a trace ID selfevals did not hand out); raise agent.otlp.grace if the agent exports late", st.Unknown, s.Spec.Spec.Agent.OTLP.GraceD()))
	}
	if st.Rejected > 0 {
		w = append(w, fmt.Sprintf("agent.otlp: span exports refused as unreadable (not OTLP protobuf or JSON): %d", st.Rejected))
	}
	return w
}

// shardDataset narrows the run to shard sh of the cases (sh.Cases is set
// to how many there are).
func shardDataset(ls *repo.LoadedSpec, sh *repo.Shard) error {
	ds, err := ls.Dataset.Shard(*sh)
	if err != nil {
		return err
	}
	ls.Dataset, sh.Cases = ds, ds.Count
	return nil
}

// checkRepetitions refuses a pass@k or pass^k target or guardrail that the
// run's repetitions cannot measure: with fewer than k repetitions per case
// pass^k is 0 and pass@k is pass@reps, whatever the agent does. It is
// checked here, once flags such as --reps have set the repetitions.
func checkRepetitions(ls *repo.LoadedSpec) error {
	unmeasurable := ls.Spec.Experiment.UnmeasurableTargets()
	if len(unmeasurable) == 0 {
		return nil
	}
	t := unmeasurable[0]
	k, _ := repo.PassK(t.Name)
	return &repo.UserError{
		Msg:  fmt.Sprintf("%s: %s needs at least %d repetitions per case; the run has %d", ls.Path, t.Name, k, ls.Spec.Experiment.Run.RepetitionsPerCase),
		Hint: fmt.Sprintf("set run.repetitions_per_case: %d (or pass --reps %d)", k, k),
	}
}
