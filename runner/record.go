package runner

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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
	git        *gitstore.Git // nil: candidates are not committed
	noCommit   string        // why, when git is nil
	committed  []string
	store      runstore.Store
	lock       *runstore.Lock
	results    *runstore.ResultWriter
	traces     *tracefile.Writer // nil with persist_traces: none
	iterations *runstore.IterationWriter
	done       map[callKey]bool
	// resultsFiles delivers the outcome of writing the result files, while
	// that goes on (Decided).
	resultsFiles chan error
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
	// NoCommit keeps kept candidates off the selfevals/<slug> branch,
	// saying why (e.g. "--no-commit").
	NoCommit string
	// NoCache is recorded in the manifest, for a resumption to keep.
	NoCache bool
}

// StartRecord takes the experiment's lock and opens a new run directory,
// or with Resume the last unfinished run of the experiment.
func StartRecord(evalsDir string, ls *repo.LoadedSpec, fingerprint string, opts RecordOptions) (*Recorder, error) {
	e := &ls.Spec.Experiment
	r := &Recorder{Spec: ls, Fingerprint: fingerprint, store: runstore.Open(evalsDir)}
	now := time.Now().UTC()
	if opts.Resume {
		run, man, err := r.store.LastUnfinished(ls.Slug)
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
			Recorded: recordedBlocks(e), NoCache: opts.NoCache,
		}
	}
	r.noCommit = opts.NoCommit
	if r.noCommit == "" {
		g, err := gitstore.Open(ls.Root)
		switch {
		case errors.Is(err, gitstore.ErrNotRepository):
			r.noCommit = "not a git repository"
		case err != nil:
			return nil, err
		default:
			r.git = g
		}
	}
	if r.git != nil && !r.Resumed {
		r.manifest.GitCommit, _ = r.git.ResolveCommit("HEAD")
		// Dirty: tracked files differ from HEAD (false when git cannot say).
		r.manifest.GitDirty, _ = r.git.Dirty()
	}
	lock, err := r.store.Lock(ls.Slug, r.RunID)
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
// committed result evals/results/<slug>/.
func (r *Recorder) Decided(sum *repo.IterationSummary, agg *Aggregator) error {
	if err := r.iterations.Write(sum); err != nil {
		return err
	}
	if sum.Index == 0 {
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
	summary, cases, err := ResultsFiles(r.Spec, r.Fingerprint, sum, agg)
	if err != nil {
		return err
	}
	return r.store.WriteResults(r.Spec.Slug, summary, cases)
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

// commitCandidate commits a kept iteration to selfevals/<slug>: the spec
// with its parameters set to the candidate, the candidate's own result
// files and its decision record. The working tree, index and HEAD are not
// touched.
func (r *Recorder) commitCandidate(sum *repo.IterationSummary, agg *Aggregator) error {
	if r.git == nil {
		return nil
	}
	branch := CandidateBranch(r.Spec.Slug)
	if r.Resumed && r.alreadyCommitted(branch, sum.Index) {
		return nil
	}
	specPath, err := r.git.RelPath(r.Spec.Path)
	if err != nil {
		return err
	}
	evalsDir, err := r.git.RelPath(r.store.Layout().Path())
	if err != nil {
		return err
	}
	inTree := repo.Dir(evalsDir)
	spec, err := repo.RewriteParameters(r.Spec.Raw, sum.Params)
	if err != nil {
		return fmt.Errorf("rewriting the parameters of %s: %w", r.Spec.Path, err)
	}
	summary, cases, err := ResultsFiles(r.Spec, r.Fingerprint, sum, agg)
	if err != nil {
		return err
	}
	decision, err := json.MarshalIndentWithOption(map[string]any{
		"run_id": r.RunID, "iteration": sum.Index, "iteration_id": sum.ID, "hypothesis": sum.Hypothesis,
		"parameters_id": sum.ParamsID, "parameters": sum.Params, "decision": sum.Decision,
	}, "", "  ", json.DisableHTMLEscape())
	if err != nil {
		return err
	}
	hash, err := r.git.CommitFiles(branch, map[string][]byte{
		specPath: spec,
		filepath.ToSlash(inTree.Summary(r.Spec.Slug)):      summary,
		filepath.ToSlash(inTree.CaseVerdicts(r.Spec.Slug)): cases,
		filepath.ToSlash(inTree.Decision(r.Spec.Slug)):     append(decision, '\n'),
	}, CandidateMessage(r.Spec, r.RunID, sum))
	if err != nil {
		return fmt.Errorf("committing iteration %d to %s: %w", sum.Index, branch, err)
	}
	r.committed = append(r.committed, fmt.Sprintf("%s (iteration %d)", hash[:12], sum.Index))
	return nil
}

func (r *Recorder) alreadyCommitted(branch string, iteration int) bool {
	commits, err := r.git.BranchCommits(branch, "HEAD")
	if err != nil {
		return false
	}
	for _, c := range commits {
		run, _ := c.Trailer(gitstore.TrailerRun)
		it, _ := c.Trailer(gitstore.TrailerIteration)
		if run == r.RunID && it == strconv.Itoa(iteration) {
			return true
		}
	}
	return false
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
	branch := CandidateBranch(r.Spec.Slug)
	switch {
	case len(r.committed) > 0:
		return fmt.Sprintf("Committed %d candidate(s) to `%s`: %s. Merge the branch to adopt the best one (`git log %s`).",
			len(r.committed), branch, strings.Join(r.committed, ", "), branch)
	case r.git == nil:
		return "Nothing was committed: " + r.noCommit + "."
	default:
		return "Nothing was committed: no new candidate was kept."
	}
}

// Finish closes the record with the run's final state and report.
func (r *Recorder) Finish(rs *repo.RunSummary, report []byte) error {
	// Syncing results.jsonl waits on the disk while closing the traces
	// compresses their last rows: the two overlap.
	resultsClosed := make(chan error, 1)
	go func() { resultsClosed <- r.results.Close() }()
	errs := []error{r.iterations.Close(), r.closeTraces(), r.waitResultsFiles()}
	errs = append(errs, <-resultsClosed)
	r.manifest.EndedAt = rs.EndedAt.Format(time.RFC3339Nano)
	r.manifest.Terminated = rs.Terminated
	r.manifest.State = rs.State
	errs = append(errs, r.Run.WriteManifest(&r.manifest))
	if report != nil {
		errs = append(errs, r.Run.WriteReport(report))
	}
	errs = append(errs, r.lock.Unlock())
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
	r.lock.Unlock()
}

func (r *Recorder) closeTraces() error {
	if r.traces == nil {
		return nil
	}
	return r.traces.Close()
}

// ResultsFiles renders the committed result (summary.json, cases.jsonl) of
// one iteration. Latency is left out: it is not comparable across machines
// and would make every rerun a diff.
func ResultsFiles(ls *repo.LoadedSpec, fingerprint string, sum *repo.IterationSummary, agg *Aggregator) (summary, cases []byte, err error) {
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
	verdicts := agg.Verdicts() // in case ID order
	// Each case's name and definition hash: diff tells an edited case from
	// a changed result by the hash. Only the short hash is kept per case.
	if ls.Dataset.DefinitionsAreIDs() {
		for i := range verdicts {
			verdicts[i].Definition = repo.DefinitionOfID(verdicts[i].CaseID)
		}
		return repo.EncodeResults(s, verdicts)
	}
	if err := ls.Dataset.Each(func(c *repo.Case) error {
		if i, ok := slices.BinarySearchFunc(verdicts, c.ID, func(v repo.CaseVerdict, id string) int { return strings.Compare(v.CaseID, id) }); ok {
			verdicts[i].Name, verdicts[i].Definition = c.Name, repo.CaseDefinition(c)
		}
		return nil
	}); err != nil {
		return nil, nil, err
	}
	return repo.EncodeResults(s, verdicts)
}

func isTiming(name string) bool {
	return name == "latency_ms_p50" || name == "latency_ms_p95" || name == "latency_ms_per_case_avg"
}

func round(f float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(f*p) / p
}
