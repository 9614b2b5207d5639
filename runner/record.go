package runner

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/goccy/go-json"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/gitstore"
	"github.com/selfevals/selfevals/repo/runstore"
	"github.com/selfevals/selfevals/repo/runstore/tracefile"
)

// Recorder decides when the run record is written: results as calls
// finish, each iteration as it is decided, the committed result from
// iteration 0, candidate commits for kept iterations, and the final state.
// The record itself (repo/runstore) owns the files. It holds the
// experiment's lock from start to finish.
type Recorder struct {
	Spec        *repo.LoadedSpec
	Fingerprint string
	RunID       string
	Run         runstore.Run
	Resumed     bool

	manifest   repo.RunManifest
	git        *gitstore.Git // nil outside a git repository
	noCommit   string        // why candidates are not committed; "" commits them
	branch     string        // where they go, selfevals/<slug> unless a flag says
	lastCommit string        // the run's newest candidate: the next one's parent
	committed  []string      // new candidate commits, for the report
	reused     []string      // identical candidates an earlier run committed
	kept       []string      // refs that keep earlier runs' candidates the branch left
	// Warnings are for the run's report.
	Warnings []string
	store    runstore.Store
	// syncs holds the fsyncs of run.json, report.md, the committed result
	// and the renames, made once each when the run ends (repo.Syncs).
	syncs   *repo.Syncs
	lock    *runstore.Lock
	results *runstore.ResultWriter
	traces  *tracefile.Writer // nil with persist_traces: none
	// closeTracesOnce closes traces once, whoever asks first (see
	// CloseTracesInBackground); later callers wait for it and get its error.
	closeTracesOnce func() error
	iterations      *runstore.IterationWriter
	done            map[callKey]bool
	// resultsFiles delivers the outcome of writing the result files, while
	// that goes on (Decided).
	resultsFiles chan error
	// noPersist (--no-persist): evals/results is not written.
	noPersist bool
}

type callKey struct {
	iteration int
	caseID    string
	rep       int
}

// RecordOptions configure a new or resumed run record.
type RecordOptions struct {
	Resume      bool
	ToolVersion string
	// NoPersist writes only the run record: neither evals/results nor a
	// candidate commit. A resumed run keeps its original setting.
	NoPersist bool
	// NoCommit keeps kept candidates off the selfevals/<slug> branch,
	// saying why (e.g. "--no-commit").
	NoCommit string
	// CandidateBranch is where kept candidates go instead of
	// selfevals/<slug>.
	CandidateBranch string
	// NoCache is recorded in the manifest, for a resumption to keep.
	NoCache bool
	// Shard runs one slice of the cases (run --shard): the record is the
	// shard's, under the shard's own lock, and nothing is persisted or
	// committed.
	Shard *repo.Shard
	// Merge is set when the calls were made by shards (selfevals merge):
	// their commit, instead of HEAD, is the one the run ran.
	Merge *MergeSource
}

// MergeSource is where a merged run's calls were made.
type MergeSource struct {
	Shards    []string // the shards' run IDs, shard 1 first
	GitCommit string   // the commit they ran
	GitDirty  bool
}

// StartRecord takes the experiment's lock and opens a new run directory,
// or with Resume the last unfinished run of the experiment.
func StartRecord(evalsDir string, ls *repo.LoadedSpec, fingerprint string, opts RecordOptions) (*Recorder, error) {
	e := &ls.Spec.Experiment
	syncs := &repo.Syncs{}
	r := &Recorder{Spec: ls, Fingerprint: fingerprint, store: runstore.Open(evalsDir).DeferSyncs(syncs), syncs: syncs}
	now := time.Now().UTC()
	if opts.Resume {
		run, man, err := r.store.LastUnfinished(ls.Slug, opts.Shard)
		if err != nil {
			return nil, err
		}
		if man.ExperimentID != ls.ID || man.DatasetID != ls.Dataset.ID || man.AgentFingerprint != fingerprint {
			return nil, repo.Userf("the spec, dataset or agent changed since run %s started; it cannot be resumed (start a new run)", man.RunID)
		}
		r.RunID, r.Run, r.manifest, r.Resumed = man.RunID, run, *man, true
	} else {
		r.RunID, _ = repo.HashID("run", map[string]any{"experiment": ls.ID, "started": now.Format(time.RFC3339Nano), "pid": os.Getpid()})
		r.Run = r.store.NewRun(ls.Slug, r.RunID)
		r.manifest = repo.RunManifest{
			RunID: r.RunID, Experiment: ls.Slug, ExperimentID: ls.ID, DatasetID: ls.Dataset.ID, Cases: ls.Dataset.Count,
			Name: e.Name, Goal: e.Goal, Proposer: e.Proposer.Strategy,
			AgentFingerprint: fingerprint, ToolVersion: opts.ToolVersion, StartedAt: now.Format(time.RFC3339Nano),
			State: repo.RunRunning, Spec: ls.Path, Target: e.Target.Primary, Guardrails: e.Target.Guardrails,
			Confidence: e.Decision.Confidence, Repetitions: e.Run.RepetitionsPerCase, MaxIterations: e.Run.MaxIterations,
			Recorded: recordedBlocks(e), NoCache: opts.NoCache, Shard: opts.Shard,
		}
		if opts.Merge != nil {
			r.manifest.MergedFrom = opts.Merge.Shards
		}
	}
	if r.manifest.Shard != nil {
		// A shard's results are one slice: only the merge of every shard
		// decides, writes evals/results and commits.
		opts.NoPersist, opts.NoCommit = true, fmt.Sprintf("shard %s: `selfevals merge` of every shard commits", r.manifest.Shard)
	}
	r.Run = r.Run.DeferSyncs(syncs)
	r.noPersist = opts.NoPersist || r.manifest.NoPersist
	r.manifest.NoPersist = r.noPersist
	if r.noPersist && opts.NoCommit == "" {
		opts.NoCommit = "--no-persist"
	}
	if err := r.openGit(opts); err != nil {
		return nil, err
	}
	lock, err := r.takeLock()
	if err != nil {
		return nil, err
	}
	r.lock = lock
	if err := r.open(); err != nil {
		lock.Unlock()
		return nil, err
	}
	return r, nil
}

// takeLock takes the experiment's lock, or a shard's.
func (r *Recorder) takeLock() (*runstore.Lock, error) {
	if sh := r.manifest.Shard; sh != nil {
		return r.store.LockShard(r.Spec.Slug, r.RunID, *sh)
	}
	return r.store.Lock(r.Spec.Slug, r.RunID)
}

// openGit opens the repository and, for a new run, records the commit it
// runs: its candidates are built on it, on resume too.
func (r *Recorder) openGit(opts RecordOptions) error {
	r.noCommit, r.branch = opts.NoCommit, opts.CandidateBranch
	if r.branch == "" {
		r.branch = CandidateBranch(r.Spec.Slug)
	}
	g, err := gitstore.Open(r.Spec.Root)
	switch {
	case errors.Is(err, gitstore.ErrNotRepository):
		r.setNoCommit("not a git repository")
		return nil
	case errors.Is(err, gitstore.ErrUnsupportedRepository):
		r.setNoCommit(err.Error()) // the run goes on; only committing needs git
		return nil
	case err != nil && r.noCommit != "":
		return nil // the manifest goes without the commit it ran
	case err != nil:
		return err
	}
	r.git = g
	if !r.Resumed && opts.Merge != nil {
		return r.mergedCommit(opts.Merge)
	}
	if !r.Resumed {
		head, err := g.HeadCommit()
		if err != nil {
			if r.noCommit == "" {
				r.warn(noCommitYet(err))
			}
			r.setNoCommit(err.Error())
			return nil
		}
		r.manifest.GitCommit = head
		// Dirty: tracked files differ from HEAD (false when git cannot say).
		r.manifest.GitDirty, _ = g.Dirty()
	}
	if r.manifest.GitCommit == "" {
		r.setNoCommit("the run started before anything was committed")
	}
	return nil
}

// mergedCommit records the commit the shards ran as the run's: the
// candidates are built on it, as they would have been in one run there.
func (r *Recorder) mergedCommit(m *MergeSource) error {
	r.manifest.GitCommit, r.manifest.GitDirty = m.GitCommit, m.GitDirty
	if m.GitCommit == "" {
		r.setNoCommit("the shards ran outside a git repository or before anything was committed")
		return nil
	}
	if _, err := r.git.ResolveCommit(m.GitCommit); err != nil {
		r.warn(fmt.Sprintf("the shards ran commit %.12s, which this repository does not have: candidates are not committed; fetch it (git fetch origin %s) and merge again", m.GitCommit, m.GitCommit))
		r.setNoCommit("the shards' commit is not in this repository")
	}
	return nil
}

// noCommitYet is the warning of a run in a repository whose HEAD cannot be
// read, usually a fresh git init.
func noCommitYet(err error) string {
	if errors.Is(err, gitstore.ErrNoCommit) {
		return "nothing committed yet: candidates are not committed; commit your evals/ first"
	}
	return fmt.Sprintf("candidates are not committed: %v", err)
}

func (r *Recorder) setNoCommit(why string) {
	if r.noCommit == "" {
		r.noCommit = why
	}
}

func (r *Recorder) warn(w string) { r.Warnings = append(r.Warnings, w) }

func recordedBlocks(e *repo.Experiment) map[string]any {
	m := map[string]any{}
	if e.Frozen != nil {
		m["frozen"] = e.Frozen
	}
	if e.Datasets != nil {
		m["datasets"] = e.Datasets
	}
	if e.JudgeDefenses != nil {
		m["judge_defenses"] = e.JudgeDefenses
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

func (r *Recorder) open() error {
	if err := r.Run.Create(); err != nil {
		return err
	}
	if r.Resumed {
		// The calls that finished before the crash are skipped; their
		// results are replayed into the aggregation instead.
		r.done = map[callKey]bool{}
		if r.Run.HasResults() {
			// Opening the writer first cuts a torn last line.
			w, err := r.Run.OpenResultWriter()
			if err != nil {
				return err
			}
			w.Close()
			if err := r.Run.Results(func(res *repo.Result) error {
				r.done[callKey{res.Iteration, res.CaseID, res.Repetition}] = true
				return nil
			}); err != nil {
				return err
			}
		}
	} else if err := r.Run.WriteManifest(&r.manifest); err != nil {
		return err
	}
	var err error
	if r.results, err = r.Run.OpenResultWriter(); err != nil {
		return err
	}
	if r.Resumed {
		// The killed process's unfinished Parquet file is of no use.
		traces := r.Run.Dir().Traces()
		stale, _ := filepath.Glob(filepath.Join(filepath.Dir(traces), repo.TempPattern(traces)))
		for _, f := range stale {
			os.Remove(f)
		}
	}
	if r.Spec.Spec.Experiment.Run.PersistTraces != "none" {
		if r.traces, err = tracefile.Create(r.Run.Dir().Traces(), r.RunID); err != nil {
			return err
		}
		r.traces.DeferDirSync(r.syncs)
		r.closeTracesOnce = sync.OnceValue(r.traces.Close)
		if r.Resumed {
			// The spans of the calls the killed process kept are written
			// again from results.
			if err := r.Run.Results(r.writeTrace); err != nil {
				return err
			}
		}
	}
	// Iterations are decided again from their results on resume, so the
	// file is rewritten from the start.
	r.iterations, err = r.Run.CreateIterations()
	return err
}

// Done reports whether a call finished before a resume.
func (r *Recorder) Done(iteration int, caseID string, rep int) bool {
	return r.done[callKey{iteration, caseID, rep}]
}

// Replay streams the stored results of one iteration (on resume).
func (r *Recorder) Replay(iteration int, fn func(*repo.Result) error) error {
	if !r.Resumed {
		return nil
	}
	if err := r.results.Flush(); err != nil {
		return err
	}
	return r.Run.Results(func(res *repo.Result) error {
		if res.Iteration != iteration {
			return nil
		}
		return fn(res)
	})
}

// Write appends a result to results.jsonl and its spans to traces.parquet.
func (r *Recorder) Write(res *repo.Result) error {
	if err := r.results.Write(res); err != nil {
		return err
	}
	return r.writeTrace(res)
}

// writeTrace keeps the spans persist_traces asks for: all, or only the
// calls that did not pass.
func (r *Recorder) writeTrace(res *repo.Result) error {
	if r.traces == nil || (r.Spec.Spec.Experiment.Run.PersistTraces == "failed" && res.Label == repo.Pass) {
		return nil
	}
	return r.traces.Write(res)
}

// Flush hands buffered results to the operating system, so a killed
// process loses none of them.
func (r *Recorder) Flush() error { return r.results.Flush() }

// Decided records a finished iteration; iteration 0 also becomes the
// committed result evals/results/<slug>/ (unless --no-persist). Only
// complete iterations get here: an interrupted one is never decided.
func (r *Recorder) Decided(sum *repo.IterationSummary, agg *Aggregator) error {
	if err := r.iterations.Write(sum); err != nil {
		return err
	}
	if sum.Index == 0 && !r.noPersist {
		// The committed result files are rendered and written while the
		// next iteration runs; Finish waits for them.
		done := make(chan error, 1)
		r.resultsFiles = done
		go func() { done <- r.writeResultsFiles(sum, agg) }()
	}
	// The adopted parameters are what the revision already does: iteration
	// 0 is only a candidate when the spec had none.
	if sum.Decision.Outcome == repo.KeepCandidate && !(sum.Index == 0 && r.Spec.Spec.Experiment.Parameters != nil) {
		return r.commitCandidate(sum, agg)
	}
	return nil
}

func (r *Recorder) writeResultsFiles(sum *repo.IterationSummary, agg *Aggregator) error {
	// cases.jsonl streams to its file: at a million cases it is 170 MB.
	summary, err := resultsSummary(r.Spec, r.Fingerprint, sum)
	if err != nil {
		return err
	}
	return r.store.WriteResultsFrom(r.Spec.Slug, summary, func(w io.Writer) error {
		return writeCaseVerdicts(w, r.Spec.Dataset, agg)
	})
}

// waitResultsFiles waits for the result files being written, if any.
func (r *Recorder) waitResultsFiles() error {
	if r.resultsFiles == nil {
		return nil
	}
	err := <-r.resultsFiles
	r.resultsFiles = nil
	return err
}

// CandidateBranch is the branch kept candidates of an experiment go to.
func CandidateBranch(slug string) string { return "selfevals/" + slug }

// commitCandidate commits a kept iteration on the commit the run ran (or
// on the run's previous candidate): the spec with its parameters set to
// the candidate and the candidate's own result files. The run ID goes in a
// trailer, not in a file, so an identical rerun makes identical trees and
// gitstore reuses the commit. The working tree, index and HEAD are not
// touched.
func (r *Recorder) commitCandidate(sum *repo.IterationSummary, agg *Aggregator) error {
	if r.noCommit != "" {
		return nil
	}
	files, streams, err := r.candidateFiles(sum, agg)
	if err != nil {
		return err
	}
	parent := r.manifest.GitCommit
	if r.lastCommit != "" {
		parent = r.lastCommit
	}
	res, err := r.git.CommitCandidate(gitstore.CandidateCommit{
		Branch: r.branch, Slug: r.Spec.Slug, Parent: parent, Files: files, Streams: streams,
		Message: CandidateMessage(r.Spec, r.RunID, sum),
	})
	var foreign *gitstore.ForeignBranchError
	if errors.As(err, &foreign) {
		r.noCommit = foreign.Error()
		r.warn(fmt.Sprintf("%v: it was left alone and no candidate was committed; commit them to another branch with `selfevals run --candidate-branch NAME`, or rename or delete %s", foreign, foreign.Branch))
		return nil
	}
	if err != nil {
		return fmt.Errorf("committing iteration %d to %s: %w", sum.Index, r.branch, err)
	}
	if res.Repaired != "" {
		r.warn(res.Repaired)
	}
	r.kept = append(r.kept, res.Kept...)
	r.lastCommit = res.Hash
	entry := fmt.Sprintf("%s (iteration %d)", res.Hash[:12], sum.Index)
	// On resume, the commits the killed process made come back as reused.
	if res.Reused && res.ReusedRun != r.RunID {
		r.reused = append(r.reused, entry)
	} else {
		r.committed = append(r.committed, entry)
	}
	return nil
}

// SettleCandidates points the candidate branch at the run's newest
// candidate once the run completed: after an identical rerun that kept
// fewer candidates than the earlier run, the branch would otherwise still
// show the earlier run's further ones (they are kept, and listed).
func (r *Recorder) SettleCandidates(state repo.RunState) {
	if r.noCommit != "" || r.lastCommit == "" || state != repo.RunCompleted {
		return
	}
	res, err := r.git.PointCandidates(r.branch, r.Spec.Slug, r.lastCommit)
	if err != nil {
		r.warn(fmt.Sprintf("%s was not pointed at this run's newest candidate %.12s: %v", r.branch, r.lastCommit, err))
		return
	}
	r.kept = append(r.kept, res.Kept...)
}

// candidateFiles are the files a candidate commit writes over the tree of
// the commit that was run. cases.jsonl, which grows with the dataset, is a
// stream: gitstore renders it twice (to measure it, then into the blob),
// so it is never held in memory.
func (r *Recorder) candidateFiles(sum *repo.IterationSummary, agg *Aggregator) (map[string][]byte, map[string]gitstore.Stream, error) {
	specPath, err := r.git.RelPath(r.Spec.Path)
	if err != nil {
		return nil, nil, err
	}
	evalsDir, err := r.git.RelPath(r.store.Layout().Path())
	if err != nil {
		return nil, nil, err
	}
	inTree := repo.Dir(evalsDir)
	spec, err := repo.RewriteParameters(r.Spec.Raw, sum.Params)
	if err != nil {
		return nil, nil, fmt.Errorf("rewriting the parameters of %s: %w", r.Spec.Path, err)
	}
	summary, err := resultsSummary(r.Spec, r.Fingerprint, sum)
	if err != nil {
		return nil, nil, err
	}
	decision, err := json.MarshalIndentWithOption(map[string]any{
		"iteration": sum.Index, "iteration_id": sum.ID, "hypothesis": sum.Hypothesis,
		"parameters_id": sum.ParamsID, "parameters": sum.Params, "decision": sum.Decision,
	}, "", "  ", json.DisableHTMLEscape())
	if err != nil {
		return nil, nil, err
	}
	files := map[string][]byte{
		specPath: spec,
		filepath.ToSlash(inTree.Summary(r.Spec.Slug)):  summary,
		filepath.ToSlash(inTree.Decision(r.Spec.Slug)): append(decision, '\n'),
	}
	// gitstore calls a stream twice (to measure it, then to store it):
	// the cases' names and definitions are gathered once for both, a
	// pass over the dataset and a hash per case.
	info := sync.OnceValues(func() (*caseInfo, error) { return caseInfoOf(r.Spec.Dataset) })
	streams := map[string]gitstore.Stream{
		filepath.ToSlash(inTree.CaseVerdicts(r.Spec.Slug)): func(w io.Writer) error {
			ci, err := info()
			if err != nil {
				return err
			}
			return writeCaseVerdictsWith(w, ci, agg)
		},
	}
	return files, streams, nil
}

// CandidateMessage is the commit message of a kept candidate:
// "selfevals(<slug>): keep iteration N — pass@1 0.82 (+0.07, 95% CI …)"
// with the run and iteration as trailers.
func CandidateMessage(ls *repo.LoadedSpec, runID string, sum *repo.IterationSummary) string {
	e := &ls.Spec.Experiment
	evidence := fmtEvidence(e.Target.Primary.Name, sum.Primary, sum.Decision.Evidence, e.Decision.Confidence)
	return fmt.Sprintf("selfevals(%s): keep iteration %d — %s\n\n%s\n\n%s\n\n%s: %s\n%s: %d\n",
		ls.Slug, sum.Index, evidence, sum.Hypothesis, sum.Decision.Rationale,
		gitstore.TrailerRun, runID, gitstore.TrailerIteration, sum.Index)
}

// Committed says what the run committed, for the report.
func (r *Recorder) Committed() string {
	var parts []string
	if len(r.committed) > 0 {
		parts = append(parts, fmt.Sprintf("Committed %d candidate(s) to `%s`: %s.",
			len(r.committed), r.branch, strings.Join(r.committed, ", ")))
	}
	if len(r.reused) > 0 {
		parts = append(parts, fmt.Sprintf("%d candidate(s) were already on `%s` from an earlier run of the same commit with the same results, so nothing new was committed for them: %s.",
			len(r.reused), r.branch, strings.Join(r.reused, ", ")))
	}
	if len(r.kept) > 0 {
		parts = append(parts, fmt.Sprintf("Earlier candidates the branch no longer holds are kept under %s (`selfevals candidates` lists them).",
			strings.Join(r.kept, ", ")))
	}
	switch {
	case len(parts) > 0:
		parts = append(parts, fmt.Sprintf("`selfevals adopt %s` adopts the best one (`git log %s` lists them).", r.Spec.Slug, r.branch))
		return strings.Join(parts, " ")
	case r.noCommit != "":
		return "Nothing was committed: " + r.noCommit + "."
	default:
		return "Nothing was committed: no new candidate was kept."
	}
}

// Finish closes the record with the run's final state and report.
func (r *Recorder) Finish(rs *repo.RunSummary, report []byte) error {
	// Syncing results.jsonl and iterations.jsonl waits on the disk while
	// closing the traces compresses their last rows: the three overlap.
	resultsClosed, iterationsClosed := make(chan error, 1), make(chan error, 1)
	go func() { resultsClosed <- r.results.Close() }()
	go func() { iterationsClosed <- r.iterations.Close() }()
	closeErr := errors.Join(r.closeTraces(), r.waitResultsFiles(), <-iterationsClosed, <-resultsClosed)
	r.manifest.EndedAt = rs.EndedAt.Format(time.RFC3339Nano)
	r.manifest.Terminated = rs.Terminated
	r.manifest.Unfinished = rs.Unfinished
	r.manifest.State = rs.State
	if closeErr != nil {
		// A record that was not all written is not a completed run: left
		// failed, --resume writes what is missing.
		r.manifest.State = repo.RunFailed
		r.manifest.Terminated = "error: the run record could not be completed: " + closeErr.Error()
	}
	errs := []error{closeErr}
	if report != nil {
		errs = append(errs, r.Run.WriteReport(report))
	}
	// run.json last: its final state says everything before it is written.
	// results.jsonl, iterations.jsonl and traces.parquet were synced as they
	// closed; the files written through r.syncs and the renames are synced
	// here, each once.
	errs = append(errs, r.Run.WriteManifest(&r.manifest), r.syncs.Sync(), r.lock.Unlock())
	return errors.Join(errs...)
}

// Abort closes the record of a run that failed; what was written is kept
// and the run can be resumed.
func (r *Recorder) Abort(cause error) {
	r.waitResultsFiles()
	r.results.Close()
	r.iterations.Close()
	r.closeTraces()
	r.manifest.State = repo.RunFailed
	r.manifest.Terminated = "error: " + cause.Error()
	r.manifest.EndedAt = time.Now().UTC().Format(time.RFC3339Nano)
	r.Run.WriteManifest(&r.manifest)
	r.syncs.Sync()
	r.lock.Unlock()
}

func (r *Recorder) closeTraces() error {
	if r.traces == nil {
		return nil
	}
	return r.closeTracesOnce()
}

// CloseTracesInBackground starts closing traces.parquet once the loop has
// ended (no call writes to it after): compressing its last rows and writing
// its footer overlap the candidates' commits and the report, which at the
// end of a small run are most of its time. Finish waits for it.
func (r *Recorder) CloseTracesInBackground() {
	if r.traces != nil {
		go r.closeTracesOnce()
	}
}

// resultsSummary renders the committed summary.json of one iteration.
// Latency is left out: it is not comparable across machines and would
// make every rerun a diff.
func resultsSummary(ls *repo.LoadedSpec, fingerprint string, sum *repo.IterationSummary) ([]byte, error) {
	e := &ls.Spec.Experiment
	s := &repo.ResultsSummary{
		SchemaVersion: "1",
		Experiment:    repo.SummaryExperiment{Slug: ls.Slug, ID: ls.ID, Name: e.Name},
		DatasetID:     ls.Dataset.ID, Cases: ls.Dataset.Count, Repetitions: e.Run.RepetitionsPerCase,
		ParametersID: sum.ParamsID, Parameters: sum.Params, AgentFingerprint: fingerprint,
		Target: e.Target.Primary, Metrics: map[string]repo.SummaryMetric{}, FailureModes: sum.FailureModes, Errors: sum.Errors,
	}
	if s.Parameters == nil {
		s.Parameters = repo.Parameters{}
	}
	if s.FailureModes == nil {
		s.FailureModes = map[string]int{}
	}
	if v, ok := sum.Metric(e.Target.Primary.Name); ok {
		v = round(v, 6)
		s.Primary = &v
		s.TargetMet = e.Target.Primary.Met(v)
	}
	for name, m := range sum.Metrics {
		if !m.Observed || isTiming(name) {
			continue
		}
		sm := repo.SummaryMetric{Value: round(m.Value, 6), N: m.N}
		if m.Lo != nil && m.Hi != nil {
			sm.CI = [2]float64{round(*m.Lo, 6), round(*m.Hi, 6)}
		} else {
			sm.CI = [2]float64{sm.Value, sm.Value}
		}
		s.Metrics[name] = sm
	}
	summary, _, err := repo.EncodeResults(s, nil)
	return summary, err
}

func isTiming(name string) bool {
	return name == "latency_ms_p50" || name == "latency_ms_p95" || name == "latency_ms_per_case_avg"
}

func round(f float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(f*p) / p
}
