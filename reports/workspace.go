package reports

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
)

// Workspace is an evals/ directory as `experiments`, `runs` and `show`
// present it. It reads specs, datasets and the taxonomy through the repo
// loaders and runs through repo/runstore; it writes nothing.
type Workspace struct {
	Dir  repo.Dir
	Load repo.LoadOptions
	// ShowPath writes a path the way the user would (relative to the working
	// directory); nil keeps paths as they are.
	ShowPath func(string) string
}

func (w Workspace) show(p string) string {
	if w.ShowPath == nil || p == "" {
		return p
	}
	return w.ShowPath(p)
}

// ExperimentRow is one experiment as `experiments` lists it.
type ExperimentRow struct {
	Slug string `json:"slug"`
	File string `json:"file"`
	// ID is the spec's exp_ ID; empty when the spec does not load.
	ID     string `json:"id"`
	Name   string `json:"name"`
	Target string `json:"target"`
	// Problem says why the spec does not load (its first problem), and
	// Problems how many problems it has.
	Problem  string  `json:"problem,omitempty"`
	Problems int     `json:"problems,omitempty"`
	Runs     int     `json:"runs"`
	LastRun  *RunRow `json:"last_run"`
}

// RunRow is one run as `runs` lists it.
type RunRow struct {
	ID         string         `json:"id"`
	Slug       string         `json:"experiment"`
	State      repo.RunState  `json:"state"`
	Iterations int            `json:"iterations"`
	Best       *BestIteration `json:"best"`
	Calls      int            `json:"calls"`
	CacheHits  int            `json:"cache_hits"`
	StartedAt  time.Time      `json:"started_at"`
	EndedAt    *time.Time     `json:"ended_at"`
	Terminated string         `json:"terminated"`
	// Shard is set on a run of one shard (run --shard i/n): undecided.
	Shard *repo.Shard `json:"shard,omitempty"`
}

// BestIteration is the best iteration of a run within its guardrails.
type BestIteration struct {
	Index  int     `json:"index"`
	ID     string  `json:"id"`
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
}

// Experiments lists every spec under experiments/, and every experiment
// that has runs but no spec any more, by slug.
func (w Workspace) Experiments() ([]ExperimentRow, error) {
	specs, err := w.specFiles()
	if err != nil {
		return nil, err
	}
	runs, err := runstore.Open(w.Dir.Path()).Runs("")
	if err != nil {
		return nil, err
	}
	bySlug := map[string][]runstore.Run{}
	for _, r := range runs {
		slug := filepath.Base(filepath.Dir(r.Path()))
		bySlug[slug] = append(bySlug[slug], r)
	}
	rows := []ExperimentRow{}
	for slug, path := range specs {
		rows = append(rows, w.experimentRow(slug, path, bySlug[slug]))
	}
	for slug, rs := range bySlug {
		if _, ok := specs[slug]; !ok {
			rows = append(rows, w.experimentRow(slug, "", rs))
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Slug < rows[j].Slug })
	return rows, nil
}

func (w Workspace) experimentRow(slug, path string, runs []runstore.Run) ExperimentRow {
	row := ExperimentRow{Slug: slug, File: w.show(path), Runs: len(runs)}
	if path == "" {
		row.Problem, row.Problems = "no spec: the runs are of a spec that was removed or renamed", 1
	} else {
		opts := w.Load
		opts.SpecOnly = true
		ls, err := repo.LoadExperiment(path, opts)
		if err != nil {
			row.Problem, row.Problems = firstProblem(err)
		} else {
			row.ID, row.Name, row.Target = ls.ID, ls.Spec.Experiment.Name, ls.Spec.Experiment.Target.Primary.String()
		}
	}
	for _, r := range runs {
		if rr, err := runRow(r); err == nil {
			row.LastRun = rr
			if row.Target == "" {
				row.Name, row.Target = runName(r), runTarget(r)
			}
			break
		}
	}
	return row
}

// firstProblem is the first line of a load error, and how many problems
// it reports.
func firstProblem(err error) (string, int) {
	var probs repo.Problems
	if errors.As(err, &probs) && len(probs) > 0 {
		return probs[0].Error(), len(probs)
	}
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return msg, 1
}

func runName(r runstore.Run) string {
	if m, err := r.Manifest(); err == nil {
		return m.Name
	}
	return ""
}

func runTarget(r runstore.Run) string {
	if m, err := r.Manifest(); err == nil && m.Target.Name != "" {
		return m.Target.String()
	}
	return ""
}

// specFiles maps each slug to its spec file, the preferred extension
// first when a slug has two.
func (w Workspace) specFiles() (map[string]string, error) {
	out := map[string]string{}
	for i := len(repo.SpecExts) - 1; i >= 0; i-- {
		ext := repo.SpecExts[i]
		matches, err := filepath.Glob(filepath.Join(w.Dir.Experiments(), "*"+ext))
		if err != nil {
			return nil, err
		}
		for _, m := range matches {
			out[strings.TrimSuffix(filepath.Base(m), ext)] = m
		}
	}
	return out, nil
}

// Runs lists the runs of one experiment (every run when slug is ""),
// newest first. An unknown slug is a user error that names the known ones.
func (w Workspace) Runs(slug string) ([]RunRow, error) {
	if slug != "" {
		if err := w.knownSlug(slug); err != nil {
			return nil, err
		}
	}
	runs, err := runstore.Open(w.Dir.Path()).Runs(slug)
	if err != nil {
		return nil, err
	}
	rows := []RunRow{}
	for _, r := range runs {
		if row, err := runRow(r); err == nil {
			rows = append(rows, *row)
		}
	}
	return rows, nil
}

// Slugs are the experiments that have a spec or runs, sorted.
func (w Workspace) Slugs() []string {
	seen := map[string]bool{}
	specs, _ := w.specFiles()
	for slug := range specs {
		seen[slug] = true
	}
	entries, _ := os.ReadDir(w.Dir.AllRuns())
	for _, e := range entries {
		if e.IsDir() {
			seen[e.Name()] = true
		}
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func (w Workspace) knownSlug(slug string) error {
	slugs := w.Slugs()
	for _, s := range slugs {
		if s == slug {
			return nil
		}
	}
	e := &repo.UserError{Msg: "no experiment " + slug + " under " + w.show(w.Dir.Path()) + " (no spec in experiments/, no runs)"}
	if s := repo.Suggest(slug, slugs); s != "" {
		e.Hint = "did you mean " + s + "?"
	} else if len(slugs) > 0 {
		e.Hint = "experiments: " + strings.Join(slugs, ", ")
	}
	return e
}

// runRow reads a run's manifest and iterations.
func runRow(r runstore.Run) (*RunRow, error) {
	rs, err := r.Summary()
	if err != nil {
		return nil, err
	}
	row := &RunRow{ID: rs.RunID, Slug: rs.Slug, State: rs.State, Iterations: len(rs.Iterations),
		Calls: rs.Calls, CacheHits: rs.CacheHits, StartedAt: rs.StartedAt, Terminated: rs.Terminated, Shard: rs.Shard}
	if row.State == repo.RunRunning && !r.Running() {
		// run.json says running, but no process holds the lock: killed.
		row.State, row.Terminated = repo.RunInterrupted, "the run's process is gone; continue it with selfevals run --resume"
	}
	if !rs.EndedAt.IsZero() {
		end := rs.EndedAt
		row.EndedAt = &end
	}
	if rs.Best != nil {
		for _, it := range rs.Iterations {
			if it.Index == *rs.Best {
				row.Best = &BestIteration{Index: it.Index, ID: it.ID, Metric: rs.Target.Name, Value: it.Primary}
			}
		}
	}
	return row, nil
}

// runsOf reads every run record (of one slug when set), newest first,
// skipping directories whose manifest does not read.
func (w Workspace) runsOf(slug string) []storedRun {
	runs, _ := runstore.Open(w.Dir.Path()).Runs(slug)
	var out []storedRun
	for _, r := range runs {
		man, err := r.Manifest()
		if err != nil {
			continue
		}
		its, err := r.Iterations()
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		out = append(out, storedRun{run: r, man: man, its: its})
	}
	return out
}

// storedRun is a run record read once for lookups.
type storedRun struct {
	run runstore.Run
	man *repo.RunManifest
	its []*repo.IterationSummary
}
