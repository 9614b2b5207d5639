// Package runstore owns the run record: every run directory
// (runs/<slug>/<run-id>/: run.json, results.jsonl, iterations.jsonl,
// traces.parquet, report.md), the lock that keeps two runs of one
// experiment apart, and the committed result (results/<slug>/). It writes
// them and reads them back; nobody else opens those files. Which paths they
// have is the evals/ layout's (repo.Dir); what is in them is the record
// types' (repo).
package runstore

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/goccy/go-json"

	"github.com/selfevals/selfevals/repo"

	"github.com/selfevals/selfevals/repo/internal/fault"
)

// Store is the run record of one evals/ directory.
type Store struct {
	dir   repo.Dir
	syncs *repo.Syncs // nil: every write synced at once
}

// DeferSyncs is the store writing the committed result through syncs,
// which makes its fsyncs when its owner calls syncs.Sync (see repo.Syncs).
func (s Store) DeferSyncs(syncs *repo.Syncs) Store {
	s.syncs = syncs
	return s
}

// Open is the run record of the evals/ directory dir.
func Open(dir string) Store { return Store{dir: repo.Dir(dir)} }

// Layout is the evals/ directory the store lives in.
func (s Store) Layout() repo.Dir { return s.dir }

// Runs lists run directories (of one experiment when slug is set), newest
// first. A directory without a readable run.json is not a run.
func (s Store) Runs(slug string) ([]Run, error) {
	pattern := filepath.Join(s.dir.AllRuns(), "*", "run_*", repo.ManifestName)
	if slug != "" {
		pattern = filepath.Join(s.dir.Runs(slug), "run_*", repo.ManifestName)
	}
	matches, err := filepath.Glob(pattern)
	if err != nil {
		return nil, err
	}
	type dated struct {
		run Run
		at  string
	}
	var ds []dated
	for _, m := range matches {
		r := At(filepath.Dir(m))
		if man, err := r.Manifest(); err == nil {
			ds = append(ds, dated{r, man.StartedAt})
		}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i].at > ds[j].at })
	out := make([]Run, len(ds))
	for i, d := range ds {
		out[i] = d.run
	}
	return out, nil
}

// FindRun finds a run directory by run ID.
func (s Store) FindRun(runID string) (Run, error) {
	if !strings.HasPrefix(runID, "run_") || strings.ContainsAny(runID, `/\.`) {
		return Run{}, repo.Userf("%q is not a run ID (run_…)", runID)
	}
	matches, _ := filepath.Glob(filepath.Join(s.dir.AllRuns(), "*", runID))
	if len(matches) == 0 {
		return Run{}, repo.Userf("run %s not found under %s", runID, s.dir.AllRuns())
	}
	return At(matches[0]), nil
}

// NewRun is the directory of a new run of slug (not yet created).
func (s Store) NewRun(slug, runID string) Run { return Run{dir: s.dir.Run(slug, runID)} }

// LastUnfinished finds the newest run of slug that did not complete: only a
// run newer than the last completed one can be resumed. With a shard it
// looks at the runs of that shard (i/n) only, without one at unsharded
// runs only.
func (s Store) LastUnfinished(slug string, shard *repo.Shard) (Run, *repo.RunManifest, error) {
	runs, err := s.Runs(slug)
	if err != nil {
		return Run{}, nil, err
	}
	for _, r := range runs {
		m, err := r.Manifest()
		if err != nil || !sameShard(m.Shard, shard) {
			continue
		}
		if m.State == repo.RunCompleted {
			break
		}
		return r, m, nil
	}
	if shard != nil {
		return Run{}, nil, repo.Userf("no unfinished run of shard %s of %s to resume", shard, slug)
	}
	return Run{}, nil, repo.Userf("no unfinished run of %s to resume", slug)
}

func sameShard(a, b *repo.Shard) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Index == b.Index && a.Count == b.Count
}

// Run is one run directory.
type Run struct {
	dir   repo.RunDir
	syncs *repo.Syncs // nil: every write synced at once
}

// DeferSyncs is the run writing run.json and report.md through syncs,
// which makes their fsyncs when its owner calls syncs.Sync (see
// repo.Syncs).
func (r Run) DeferSyncs(syncs *repo.Syncs) Run {
	r.syncs = syncs
	return r
}

// At is the run directory at path.
func At(path string) Run { return Run{dir: repo.RunDir(path)} }

// Dir is the run directory's layout.
func (r Run) Dir() repo.RunDir { return r.dir }

// Path is the run directory.
func (r Run) Path() string { return string(r.dir) }

// Create makes the run directory.
func (r Run) Create() error { return os.MkdirAll(r.Path(), 0o755) }

// Manifest reads run.json.
func (r Run) Manifest() (*repo.RunManifest, error) {
	b, err := os.ReadFile(r.dir.Manifest())
	if err != nil {
		return nil, err
	}
	var m repo.RunManifest
	if err := repo.DecodeJSON(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", r.dir.Manifest(), err)
	}
	return &m, nil
}

// WriteManifest writes run.json atomically.
func (r Run) WriteManifest(m *repo.RunManifest) error {
	b, err := json.MarshalIndentWithOption(m, "", "  ", json.DisableHTMLEscape())
	if err != nil {
		return err
	}
	return r.syncs.WriteFileAtomic(r.dir.Manifest(), append(b, '\n'), 0o644)
}

// WriteReport writes report.md atomically.
func (r Run) WriteReport(report []byte) error {
	return r.syncs.WriteFileAtomic(r.dir.Report(), report, 0o644)
}

// HasTraces reports whether the run kept a traces.parquet.
func (r Run) HasTraces() bool {
	_, err := os.Stat(r.dir.Traces())
	return err == nil
}

// HasResults reports whether the run has a results.jsonl.
func (r Run) HasResults() bool {
	_, err := os.Stat(r.dir.Results())
	return err == nil
}

// Iterations reads iterations.jsonl, ignoring a torn last line. A run that
// decided nothing yet has none (an error wrapping fs.ErrNotExist).
func (r Run) Iterations() ([]*repo.IterationSummary, error) {
	f, err := os.Open(r.dir.Iterations())
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []*repo.IterationSummary
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var it repo.IterationSummary
		if err := repo.DecodeJSON(sc.Bytes(), &it); err != nil {
			continue // a torn last line after a crash
		}
		out = append(out, &it)
	}
	return out, sc.Err()
}

// IterationWriter appends decided iterations to iterations.jsonl.
type IterationWriter struct {
	f *os.File
}

// CreateIterations starts iterations.jsonl afresh: iterations are decided
// again from their results when a run resumes.
func (r Run) CreateIterations() (*IterationWriter, error) {
	f, err := os.Create(r.dir.Iterations())
	if err != nil {
		return nil, err
	}
	return &IterationWriter{f: f}, nil
}

// Write appends one iteration as a line.
func (w *IterationWriter) Write(it *repo.IterationSummary) error {
	b, err := json.MarshalWithOption(it, json.DisableHTMLEscape())
	if err != nil {
		return err
	}
	if err := fault.Point("write iterations.jsonl"); err != nil {
		return err
	}
	_, err = w.f.Write(append(b, '\n'))
	return err
}

// Close syncs and closes the file: it is written once, at the end of a run,
// and run.json's final state vouches for it.
func (w *IterationWriter) Close() error { return errors.Join(w.f.Sync(), w.f.Close()) }

// Summary rebuilds the run's summary from its directory (for reports of a
// finished or running run).
func (r Run) Summary() (*repo.RunSummary, error) {
	man, err := r.Manifest()
	if err != nil {
		return nil, err
	}
	its, err := r.Iterations()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	rs := &repo.RunSummary{RunID: man.RunID, Slug: man.Experiment, ExpID: man.ExperimentID, DatasetID: man.DatasetID, Cases: man.Cases,
		Fingerprint: man.AgentFingerprint, Target: man.Target, Guardrails: man.Guardrails, Confidence: man.Confidence, MaxIter: man.MaxIterations,
		Iterations: its, Terminated: man.Terminated, State: man.State, SpecPath: man.Spec,
		Name: cmp.Or(man.Name, man.Experiment), Goal: man.Goal, Strategy: man.Proposer,
		Shard: man.Shard, MergedFrom: man.MergedFrom}
	rs.StartedAt, _ = time.Parse(time.RFC3339Nano, man.StartedAt)
	rs.EndedAt, _ = time.Parse(time.RFC3339Nano, man.EndedAt)
	if rs.Strategy == "" {
		rs.Strategy = "none"
	}
	var best *repo.IterationSummary
	for _, it := range its {
		rs.Calls += it.Calls
		rs.CacheHits += it.CacheHits
		if repo.BeatsBest(man.Target, it, best) {
			best = it
		}
	}
	if best != nil && man.Shard == nil { // a shard's iterations are not decided
		b := best.Index
		rs.Best = &b
	}
	return rs, nil
}
