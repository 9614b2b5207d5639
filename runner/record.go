package runner

import (
	"bufio"
	"cmp"
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
)

// Recorder writes a run's directory evals/runs/<slug>/<run-id>/ as the run
// goes: run.json, results.jsonl (appended as calls finish),
// iterations.jsonl, and at the end report.md; and the committed result
// evals/results/<slug>/ from iteration 0. It holds the experiment's lock
// from start to finish.
type Recorder struct {
	EvalsDir    string
	Spec        *repo.LoadedSpec
	Fingerprint string
	RunID       string
	Dir         string
	Resumed     bool

	manifest   repo.RunManifest
	git        *gitstore.Git // nil: candidates are not committed
	noCommit   string        // why, when git is nil
	committed  []string
	lock       *repo.RunLock
	results    *ResultWriter
	traces     *repo.TraceWriter // nil with persist_traces: none
	iterations *os.File
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
}

// StartRecord takes the experiment's lock and opens a new run directory,
// or with Resume the last unfinished run of the experiment.
func StartRecord(evalsDir string, ls *repo.LoadedSpec, fingerprint string, opts RecordOptions) (*Recorder, error) {
	e := &ls.Spec.Experiment
	r := &Recorder{EvalsDir: evalsDir, Spec: ls, Fingerprint: fingerprint}
	now := time.Now().UTC()
	if opts.Resume {
		dir, man, err := lastUnfinished(evalsDir, ls.Slug)
		if err != nil {
			return nil, err
		}
		if man.ExperimentID != ls.ID || man.DatasetID != ls.Dataset.ID || man.AgentFingerprint != fingerprint {
			return nil, repo.Userf("the spec, dataset or agent changed since run %s started; it cannot be resumed (start a new run)", man.RunID)
		}
		r.RunID, r.Dir, r.manifest, r.Resumed = man.RunID, dir, *man, true
	} else {
		r.RunID, _ = repo.HashID("run", map[string]any{"experiment": ls.ID, "started": now.Format(time.RFC3339Nano), "pid": os.Getpid()})
		r.Dir = filepath.Join(repo.RunsDir(evalsDir, ls.Slug), r.RunID)
		r.manifest = repo.RunManifest{
			RunID: r.RunID, Experiment: ls.Slug, ExperimentID: ls.ID, DatasetID: ls.Dataset.ID, Cases: ls.Dataset.Count,
			Name: e.Name, Goal: e.Goal, Proposer: e.Proposer.Strategy,
			AgentFingerprint: fingerprint, ToolVersion: opts.ToolVersion, StartedAt: now.Format(time.RFC3339Nano),
			State: "running", Spec: ls.Path, Target: e.Target.Primary, Guardrails: e.Target.Guardrails,
			Confidence: e.Decision.Confidence, Repetitions: e.Run.RepetitionsPerCase, MaxIterations: e.Run.MaxIterations,
			Recorded: recordedBlocks(e),
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
		r.manifest.GitDirty = worktreeDirty(r.git.Root())
	}
	lock, err := repo.LockRuns(evalsDir, ls.Slug, r.RunID)
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
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		return err
	}
	if r.Resumed {
		// The calls that finished before the crash are skipped; their
		// results are replayed into the aggregation instead.
		r.done = map[callKey]bool{}
		path := filepath.Join(r.Dir, "results.jsonl")
		if _, err := os.Stat(path); err == nil {
			// Opening the writer first cuts a torn last line.
			w, err := OpenResultWriter(path)
			if err != nil {
				return err
			}
			w.Close()
			if err := ReadResults(path, func(res *repo.Result) error {
				r.done[callKey{res.Iteration, res.CaseID, res.Repetition}] = true
				return nil
			}); err != nil {
				return err
			}
		}
	} else if err := repo.WriteManifest(r.Dir, &r.manifest); err != nil {
		return err
	}
	var err error
	if r.results, err = OpenResultWriter(filepath.Join(r.Dir, "results.jsonl")); err != nil {
		return err
	}
	if r.Resumed {
		// The killed process's unfinished Parquet file is of no use.
		stale, _ := filepath.Glob(filepath.Join(r.Dir, ".traces.parquet.tmp-*"))
		for _, f := range stale {
			os.Remove(f)
		}
	}
	if r.Spec.Spec.Experiment.Run.PersistTraces != "none" {
		if r.traces, err = repo.CreateTraceWriter(filepath.Join(r.Dir, "traces.parquet"), r.RunID); err != nil {
			return err
		}
		if r.Resumed {
			// The spans of the calls the killed process kept are written
			// again from results.
			if err := ReadResults(filepath.Join(r.Dir, "results.jsonl"), r.writeTrace); err != nil {
				return err
			}
		}
	}
	// Iterations are decided again from their results on resume, so the
	// file is rewritten from the start.
	r.iterations, err = os.Create(filepath.Join(r.Dir, "iterations.jsonl"))
	return err
}

// lastUnfinished finds the newest run of slug that did not complete.
func lastUnfinished(evalsDir, slug string) (string, *repo.RunManifest, error) {
	dirs, err := repo.RunDirs(evalsDir, slug)
	if err != nil {
		return "", nil, err
	}
	for _, d := range dirs {
		m, err := repo.ReadManifest(d)
		if err != nil {
			continue
		}
		if m.State == "completed" {
			break // only a run newer than the last completed one is resumable
		}
		return d, m, nil
	}
	return "", nil, repo.Userf("no unfinished run of %s to resume", slug)
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
	return ReadResults(filepath.Join(r.Dir, "results.jsonl"), func(res *repo.Result) error {
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
func (r *Recorder) Decided(sum *IterationSummary, agg *Aggregator) error {
	b, err := json.MarshalWithOption(sum, json.DisableHTMLEscape())
	if err != nil {
		return err
	}
	if _, err := r.iterations.Write(append(b, '\n')); err != nil {
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
	if sum.Decision.Outcome == KeepCandidate && !(sum.Index == 0 && r.Spec.Spec.Experiment.Parameters != nil) {
		return r.commitCandidate(sum, agg)
	}
	return nil
}

func (r *Recorder) writeResultsFiles(sum *IterationSummary, agg *Aggregator) error {
	summary, cases, err := ResultsFiles(r.Spec, r.Fingerprint, sum, agg)
	if err != nil {
		return err
	}
	return repo.WriteResults(r.EvalsDir, r.Spec.Slug, summary, cases)
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
func (r *Recorder) commitCandidate(sum *IterationSummary, agg *Aggregator) error {
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
	resultsDir, err := r.git.RelPath(repo.ResultsDir(r.EvalsDir, r.Spec.Slug))
	if err != nil {
		return err
	}
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
		specPath:                      spec,
		resultsDir + "/summary.json":  summary,
		resultsDir + "/cases.jsonl":   cases,
		resultsDir + "/decision.json": append(decision, '\n'),
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
func CandidateMessage(ls *repo.LoadedSpec, runID string, sum *IterationSummary) string {
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

// worktreeDirty asks git whether tracked files differ from HEAD; false when
// the git command is not available. (go-git's status walks every file and
// is far too slow on big trees.)
func worktreeDirty(root string) bool {
	g, err := gitstore.Open(root)
	if err != nil {
		return false
	}
	dirty, err := g.Dirty()
	return err == nil && dirty
}

// Finish closes the record with the run's final state and report.
func (r *Recorder) Finish(rs *RunSummary, report []byte) error {
	// Syncing results.jsonl waits on the disk while closing the traces
	// compresses their last rows: the two overlap.
	resultsClosed := make(chan error, 1)
	go func() { resultsClosed <- r.results.Close() }()
	errs := []error{r.iterations.Close(), r.closeTraces(), r.waitResultsFiles()}
	errs = append(errs, <-resultsClosed)
	r.manifest.EndedAt = rs.EndedAt.Format(time.RFC3339Nano)
	r.manifest.Terminated = rs.Terminated
	r.manifest.State = rs.State
	errs = append(errs, repo.WriteManifest(r.Dir, &r.manifest))
	if report != nil {
		errs = append(errs, repo.WriteFileAtomic(filepath.Join(r.Dir, "report.md"), report, 0o644))
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
	r.manifest.State = "failed"
	r.manifest.Terminated = "error: " + cause.Error()
	repo.WriteManifest(r.Dir, &r.manifest)
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
func ResultsFiles(ls *repo.LoadedSpec, fingerprint string, sum *IterationSummary, agg *Aggregator) (summary, cases []byte, err error) {
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
	if err := ls.Dataset.Names(func(id, name string) {
		if i, ok := slices.BinarySearchFunc(verdicts, id, func(v repo.CaseVerdict, id string) int { return strings.Compare(v.CaseID, id) }); ok {
			verdicts[i].Name = name
		}
	}); err != nil {
		return nil, nil, err
	}
	return repo.EncodeResults(s, verdicts)
}

func isTiming(name string) bool {
	return name == "latency_ms_p50" || name == "latency_ms_p95" || name == "latency_ms_per_case_avg"
}

// ReadIterations reads a run's iterations.jsonl, ignoring a torn last line.
func ReadIterations(dir string) ([]*IterationSummary, error) {
	f, err := os.Open(filepath.Join(dir, "iterations.jsonl"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []*IterationSummary
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var it IterationSummary
		if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
			continue // a torn last line after a crash
		}
		out = append(out, &it)
	}
	return out, sc.Err()
}

// SummaryFromRun rebuilds a run's summary from its directory (for
// `selfevals report`).
func SummaryFromRun(dir string) (*RunSummary, error) {
	man, err := repo.ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	its, err := ReadIterations(dir)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	rs := &RunSummary{RunID: man.RunID, Slug: man.Experiment, ExpID: man.ExperimentID, DatasetID: man.DatasetID, Cases: man.Cases,
		Fingerprint: man.AgentFingerprint, Target: man.Target, Guardrails: man.Guardrails, MaxIter: man.MaxIterations,
		Iterations: its, Terminated: man.Terminated, State: man.State, SpecPath: man.Spec,
		Name: cmp.Or(man.Name, man.Experiment), Goal: man.Goal, Strategy: man.Proposer}
	rs.StartedAt, _ = time.Parse(time.RFC3339Nano, man.StartedAt)
	rs.EndedAt, _ = time.Parse(time.RFC3339Nano, man.EndedAt)
	if rs.Strategy == "" {
		rs.Strategy = "none"
	}
	var best *IterationSummary
	for _, it := range its {
		rs.Calls += it.Calls
		rs.CacheHits += it.CacheHits
		if BeatsBest(man.Target, it, best) {
			best = it
		}
	}
	if best != nil {
		b := best.Index
		rs.Best = &b
	}
	return rs, nil
}

func round(f float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(f*p) / p
}
