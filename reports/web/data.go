package web

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/goccy/go-json"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
)

// specCache keeps a server's loaded specs while their file and dataset are
// unchanged: loading validates the whole dataset, which a page view should
// not repeat. The experiments listing loads specs alone (SpecOnly), kept
// apart, and counts the lines of datasets it has no other count for.
type specCache struct {
	mu      sync.Mutex
	entries map[string]specEntry
	lines   map[string]lineCount
}

type specEntry struct {
	stamp string
	ls    *repo.LoadedSpec
	err   error
}

// lineCount is the cases of a dataset file as of its stamp.
type lineCount struct {
	stamp string
	cases int
}

func fileStamp(paths ...string) string {
	var b strings.Builder
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil {
			b.WriteString(strconv.FormatInt(st.Size(), 10) + "/" + strconv.FormatInt(st.ModTime().UnixNano(), 10) + ";")
		} else {
			b.WriteString("-;")
		}
	}
	return b.String()
}

func (s *Server) specPath(slug string) string { return s.layout.Spec(slug) }

// spec loads an experiment's spec and its whole dataset, or nil and why
// when it does not load.
func (s *Server) spec(slug string) (*repo.LoadedSpec, error) { return s.loadSpec(slug, false) }

// specAlone loads an experiment's spec without reading its cases: what the
// experiments listing needs, at any size of dataset.
func (s *Server) specAlone(slug string) (*repo.LoadedSpec, error) { return s.loadSpec(slug, true) }

// specFile is the experiment's spec file, "" when it has none.
func (s *Server) specFile(slug string) string {
	for _, p := range s.layout.SpecCandidates(slug) {
		if fileExists(p) {
			return p
		}
	}
	return ""
}

func (s *Server) loadSpec(slug string, specOnly bool) (*repo.LoadedSpec, error) {
	path := s.specFile(slug)
	if path == "" {
		_, err := os.Stat(s.specPath(slug))
		return nil, err
	}
	key := path
	if specOnly {
		key += "\x00spec-only"
	}
	stamp := fileStamp(path, s.layout.Settings())
	if e, ok := s.cachedSpec(key, stamp); ok {
		return e.ls, e.err
	}
	settings, err := repo.LoadSettings(s.evalsDir)
	if err != nil {
		return nil, err
	}
	ls, err := repo.LoadExperiment(path, repo.LoadOptions{Root: s.root, Settings: settings, SpecOnly: specOnly})
	e := specEntry{stamp: stamp + datasetStamp(ls), ls: ls, err: err}
	s.specs.mu.Lock()
	s.specs.entries[key] = e
	s.specs.mu.Unlock()
	return ls, err
}

// cachedSpec is the cached load under key if its files are as stamped.
func (s *Server) cachedSpec(key, stamp string) (specEntry, bool) {
	s.specs.mu.Lock()
	e, ok := s.specs.entries[key]
	s.specs.mu.Unlock()
	return e, ok && e.stamp == stamp+datasetStamp(e.ls)
}

// datasetStamp stamps the dataset file a loaded spec names.
func datasetStamp(ls *repo.LoadedSpec) string {
	if ls == nil || ls.CasesPath() == "" {
		return ""
	}
	return fileStamp(ls.CasesPath())
}

// listedDataset is the dataset ID and case count the experiments listing
// shows for a spec loaded alone, found without decoding the cases: from
// the experiment's full load if one is cached and current; else from the
// latest run if it read the dataset as it is now (ID and count); else the
// dataset's case lines, counted (the ID is then left to the experiment's
// page). A dataset with bad lines fails on that page, and in the listing
// once that page has found it (err).
func (s *Server) listedDataset(slug string, ls *repo.LoadedSpec, latest *repo.RunManifest) (id string, cases int, err error) {
	if ls.CasesPath() == "" {
		// Inline cases are in the spec, read already: load them.
		full, err := s.spec(slug)
		if err != nil {
			return "", 0, err
		}
		return full.Dataset.ID, full.Dataset.Count, nil
	}
	if e, ok := s.cachedSpec(ls.Path, fileStamp(ls.Path, s.layout.Settings())); ok {
		if e.err != nil {
			return "", 0, e.err
		}
		return e.ls.Dataset.ID, e.ls.Dataset.Count, nil
	}
	if latest != nil && ranOnCurrentFiles(latest, ls.Path, ls.CasesPath()) {
		return latest.DatasetID, latest.Cases, nil
	}
	return "", s.countCases(ls), nil
}

// ranOnCurrentFiles is whether a run started after its spec and dataset
// files were last written (so it read them as they are now), and ran
// every case (not a shard).
func ranOnCurrentFiles(man *repo.RunManifest, paths ...string) bool {
	started := parseTime(man.StartedAt)
	if man.Shard != nil || man.DatasetID == "" || started.IsZero() {
		return false
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil || !st.ModTime().Before(started) {
			return false
		}
	}
	return true
}

// countCases counts the lines of a spec's dataset file that hold a case,
// undecoded; a count is kept while the file is unchanged.
func (s *Server) countCases(ls *repo.LoadedSpec) int {
	path, stamp := ls.CasesPath(), fileStamp(ls.CasesPath())
	s.specs.mu.Lock()
	c, ok := s.specs.lines[path]
	s.specs.mu.Unlock()
	if ok && c.stamp == stamp {
		return c.cases
	}
	n := 0
	if ls.EachCaseLine(func([]byte, int) error { n++; return nil }) != nil {
		return 0
	}
	s.specs.mu.Lock()
	if s.specs.lines == nil {
		s.specs.lines = map[string]lineCount{}
	}
	s.specs.lines[path] = lineCount{stamp: stamp, cases: n}
	s.specs.mu.Unlock()
	return n
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// slugs lists the experiments: every spec, plus any experiment that only
// has runs or a committed result.
func (s *Server) slugs() []string {
	seen := map[string]bool{}
	for _, ext := range repo.SpecExts {
		m, _ := filepath.Glob(filepath.Join(s.layout.Experiments(), "*"+ext))
		for _, p := range m {
			slug := strings.TrimSuffix(filepath.Base(p), ext)
			if checkSlug(slug) == nil {
				seen[slug] = true
			}
		}
	}
	for _, dir := range []string{s.layout.AllRuns(), s.layout.AllResults()} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.IsDir() && checkSlug(e.Name()) == nil {
				seen[e.Name()] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for slug := range seen {
		out = append(out, slug)
	}
	sort.Strings(out)
	return out
}

func (s *Server) knownSlug(slug string) error {
	if err := checkSlug(slug); err != nil {
		return err
	}
	for _, p := range append(s.layout.SpecCandidates(slug), s.layout.Runs(slug), s.layout.Results(slug)) {
		if fileExists(p) {
			return nil
		}
	}
	return notFound("experiment %s not found under %s", slug, s.relPath(s.evalsDir))
}

// runDir finds a run's directory by ID.
func (s *Server) runDir(id string) (string, *repo.RunManifest, error) {
	if err := checkRun(id); err != nil {
		return "", nil, err
	}
	if run, err := s.store.FindRun(id); err == nil {
		if man, err := run.Manifest(); err == nil {
			return run.Path(), man, nil
		}
	}
	return "", nil, notFound("run %s not found under %s", id, s.relPath(s.layout.AllRuns()))
}

// active reports whether a run is in progress in some process: its
// experiment's lock file names it and the holder is alive. The lock itself
// is not tried: even a brief shared flock taken here could make a `run`
// starting at that instant fail with "experiment is locked".
func (s *Server) active(man *repo.RunManifest) bool {
	if checkSlug(man.Experiment) != nil {
		return false
	}
	h, _, ok := s.store.LockHolder(man.Experiment, man.RunID)
	if !ok {
		return false
	}
	if host, _ := os.Hostname(); h.Host != "" && h.Host != host {
		return man.State == repo.RunRunning // another machine: trust the manifest
	}
	err := syscall.Kill(h.PID, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func (s *Server) runView(dir string, man *repo.RunManifest) RunView {
	v := RunView{
		RunID: man.RunID, Experiment: man.Experiment, ExperimentID: man.ExperimentID, State: man.State,
		StartedAt: man.StartedAt, EndedAt: man.EndedAt, Terminated: man.Terminated, DatasetID: man.DatasetID,
		Cases: man.Cases, Repetitions: man.Repetitions, MaxIterations: man.MaxIterations, Target: man.Target,
		Guardrails: man.Guardrails, GitCommit: man.GitCommit, GitDirty: man.GitDirty, ToolVersion: man.ToolVersion,
		HasTraces: runstore.At(dir).HasTraces(),
	}
	v.Active = s.active(man)
	if v.Active {
		v.State = repo.RunRunning
	}
	its, _ := runstore.At(dir).Iterations()
	v.Iterations = len(its)
	v.BestIteration = bestIteration(man.Target, its)
	return v
}

func bestIteration(t repo.MetricTarget, its []*repo.IterationSummary) *int {
	var best *repo.IterationSummary
	for _, it := range its {
		if repo.BeatsBest(t, it, best) {
			best = it
		}
	}
	if best == nil {
		return nil
	}
	i := best.Index
	return &i
}

// runViews lists an experiment's runs (every run when slug is empty),
// newest first.
func (s *Server) runViews(slug string) []RunView {
	dirs, _ := s.runDirs(slug)
	out := make([]RunView, 0, len(dirs))
	for _, d := range dirs {
		if man, err := runstore.At(d).Manifest(); err == nil {
			out = append(out, s.runView(d, man))
		}
	}
	return out
}

func f64(v float64) *float64 { return &v }

// iterationViews shapes a run's iterations for a table: Δ is against the
// best iteration before each one.
func iterationViews(runID string, t repo.MetricTarget, its []*repo.IterationSummary) []IterationView {
	best := bestIteration(t, its)
	out := make([]IterationView, 0, len(its))
	var bestSoFar *float64
	for _, it := range its {
		v := IterationView{
			ID: it.ID, RunID: runID, Iteration: it.Index, Hypothesis: it.Hypothesis, ParamsID: it.ParamsID,
			Parameters: it.Params, Metric: t.Name, Outcome: it.Decision.Outcome, Rationale: it.Decision.Rationale,
			Calls: it.Calls, CacheHits: it.CacheHits, Errors: it.Errors, DurationMS: it.DurationMS, Metrics: it.Metrics,
			Best: best != nil && *best == it.Index,
		}
		if m, ok := it.Metrics[t.Name]; ok && m.Observed {
			v.Value = f64(m.Value)
			v.Lo, v.Hi = m.Lo, m.Hi
			if bestSoFar == nil {
				v.DeltaVsBest = f64(0)
			} else {
				v.DeltaVsBest = f64(round6(m.Value - *bestSoFar))
			}
			if !it.Decision.Violated && (bestSoFar == nil || t.Better(m.Value, *bestSoFar)) {
				bestSoFar = f64(m.Value)
			}
		}
		if m, ok := it.Metrics["cost_usd_total"]; ok && m.Observed {
			v.CostUSD = f64(m.Value)
		}
		out = append(out, v)
	}
	return out
}

func round6(f float64) float64 {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 6, 64), 64)
	return r
}

func decisionView(runID string, it *repo.IterationSummary) DecisionView {
	d := DecisionView{
		RunID: runID, Iteration: it.Index, IterationID: it.ID, Outcome: it.Decision.Outcome, Rationale: it.Decision.Rationale,
		Evidence: it.Decision.Evidence, Guardrails: it.Decision.Guardrail, Baseline: it.Decision.Baseline,
		Violated: it.Decision.Violated, Metrics: map[string]*float64{}, AnalysisDue: it.AnalysisDue,
	}
	for name, m := range it.Metrics {
		if m.Observed {
			d.Metrics[name] = f64(m.Value)
		}
	}
	return d
}

func decisionViews(runID string, its []*repo.IterationSummary) []DecisionView {
	out := make([]DecisionView, 0, len(its))
	for _, it := range its {
		out = append(out, decisionView(runID, it))
	}
	return out
}

// committed reads evals/results/<slug>/summary.json.
func (s *Server) committed(slug string) (*CommittedResult, error) {
	b, err := os.ReadFile(s.layout.Summary(slug))
	if err != nil {
		return nil, err
	}
	sum, err := repo.ReadSummary(b)
	if err != nil {
		return nil, err
	}
	c := &CommittedResult{Primary: sum.Primary, TargetMet: sum.TargetMet, Target: sum.Target, Cases: sum.Cases,
		Errors: sum.Errors, Summary: json.RawMessage(b), Metrics: sum.Metrics}
	if m, ok := sum.Metrics[sum.Target.Name]; ok {
		ci := m.CI
		c.CI = &ci
	}
	return c, nil
}

// experimentSummary is what the listing shows of an experiment. With
// full, its dataset is loaded and validated (the experiment's own page);
// without, only its spec is, and the dataset's ID and count come from
// listedDataset, so listing many experiments over large datasets reads
// none of their cases.
func (s *Server) experimentSummary(slug string, full bool) ExperimentSummary {
	es := ExperimentSummary{Slug: slug, Name: slug, Spec: s.relPath(s.specPath(slug))}
	dirs, _ := s.runDirs(slug)
	var latest *repo.RunManifest
	if len(dirs) > 0 {
		latest, _ = runstore.At(dirs[0]).Manifest()
	}
	load := s.specAlone
	if full {
		load = s.spec
	}
	ls, err := load(slug)
	switch {
	case err != nil && os.IsNotExist(err):
		es.Error = "no spec at " + es.Spec
	case err != nil:
		es.Error = err.Error()
	default:
		e := &ls.Spec.Experiment
		es.ID, es.Name, es.Goal, es.Mode = ls.ID, e.Name, e.Goal, e.Mode
		es.Spec = s.relPath(ls.Path)
		es.PrimaryMetric, es.PrimaryTarget = e.Target.Primary.Name, e.Target.Primary
		es.Proposer, es.MaxIterations = e.Proposer.Strategy, e.Run.MaxIterations
		if full {
			es.DatasetID, es.Cases = ls.Dataset.ID, ls.Dataset.Count
		} else if es.DatasetID, es.Cases, err = s.listedDataset(slug, ls, latest); err != nil {
			es.Error = err.Error()
		}
	}
	es.RunCount = len(dirs)
	if latest != nil {
		v := s.runView(dirs[0], latest)
		es.LastRun = &v
		es.IterationCount = v.Iterations
		if es.PrimaryMetric == "" {
			es.PrimaryMetric, es.PrimaryTarget = latest.Target.Name, latest.Target
		}
	}
	if c, err := s.committed(slug); err == nil {
		es.Committed = c
		if es.PrimaryMetric == "" {
			es.PrimaryMetric, es.PrimaryTarget = c.Target.Name, c.Target
		}
	}
	return es
}

func (s *Server) workspaceName() string {
	if st, err := repo.LoadSettings(s.evalsDir); err == nil && st.Name != "" {
		return st.Name
	}
	return filepath.Base(s.root)
}

// --- handlers -------------------------------------------------------------

func (s *Server) apiWorkspace(*http.Request) (any, error) {
	slugs := s.slugs()
	ws := Workspace{Name: s.workspaceName(), EvalsDir: s.relPath(s.evalsDir), ExperimentCount: len(slugs), Experiments: slugs}
	dirs, _ := s.runDirs("")
	ws.RunCount = len(dirs)
	kept := 0
	for i, d := range dirs {
		man, err := runstore.At(d).Manifest()
		if err != nil {
			continue
		}
		if i == 0 {
			ws.LastRunAt = man.StartedAt
		}
		if s.active(man) {
			ws.ActiveRuns++
		}
		if ws.RecentDecided >= 20 {
			continue
		}
		its, _ := runstore.At(d).Iterations()
		for j := len(its) - 1; j >= 0 && ws.RecentDecided < 20; j-- {
			ws.RecentDecided++
			if its[j].Decision.Outcome == repo.KeepCandidate {
				kept++
			}
		}
	}
	if ws.RecentDecided > 0 {
		ws.RecentKeepRate = f64(round6(float64(kept) / float64(ws.RecentDecided)))
	}
	return ws, nil
}

func (s *Server) apiExperiments(*http.Request) (any, error) {
	out := []ExperimentSummary{}
	for _, slug := range s.slugs() {
		out = append(out, s.experimentSummary(slug, false))
	}
	return out, nil
}

func (s *Server) experimentDetail(slug string) (*ExperimentDetail, error) {
	if err := s.knownSlug(slug); err != nil {
		return nil, err
	}
	d := &ExperimentDetail{Summary: s.experimentSummary(slug, true), Iterations: []IterationView{}, Decisions: []DecisionView{}}
	if d.Summary.Committed != nil {
		d.Result = d.Summary.Committed.Summary
	}
	dirs, _ := s.runDirs(slug)
	if len(dirs) > 0 {
		if man, err := runstore.At(dirs[0]).Manifest(); err == nil {
			v := s.runView(dirs[0], man)
			d.LatestRun = &v
			its, _ := runstore.At(dirs[0]).Iterations()
			d.Iterations = iterationViews(man.RunID, man.Target, its)
			d.Decisions = decisionViews(man.RunID, its)
		}
	}
	return d, nil
}

func (s *Server) apiExperiment(r *http.Request) (any, error) {
	return s.experimentDetail(r.PathValue("slug"))
}

func (s *Server) apiExperimentRuns(r *http.Request) (any, error) {
	slug := r.PathValue("slug")
	if err := s.knownSlug(slug); err != nil {
		return nil, err
	}
	return s.runViews(slug), nil
}

func (s *Server) apiActiveRuns(*http.Request) (any, error) {
	out := []RunView{}
	for _, v := range s.runViews("") {
		if v.Active {
			out = append(out, v)
		}
	}
	return out, nil
}

func (s *Server) apiRun(r *http.Request) (any, error) {
	dir, man, err := s.runDir(r.PathValue("run"))
	if err != nil {
		return nil, err
	}
	return s.runView(dir, man), nil
}

func (s *Server) runIterations(id string) (*repo.RunManifest, []*repo.IterationSummary, error) {
	dir, man, err := s.runDir(id)
	if err != nil {
		return nil, nil, err
	}
	its, err := runstore.At(dir).Iterations()
	if err != nil && !os.IsNotExist(err) {
		return nil, nil, err
	}
	return man, its, nil
}

func (s *Server) apiRunIterations(r *http.Request) (any, error) {
	man, its, err := s.runIterations(r.PathValue("run"))
	if err != nil {
		return nil, err
	}
	return iterationViews(man.RunID, man.Target, its), nil
}

func (s *Server) apiRunDecisions(r *http.Request) (any, error) {
	man, its, err := s.runIterations(r.PathValue("run"))
	if err != nil {
		return nil, err
	}
	return decisionViews(man.RunID, its), nil
}

// iteration finds an iteration by itr_ ID (the newest run that has it: IDs
// are content hashes and repeat across runs) or by "<run>:<index>", with a
// page of its calls (oldest first).
func (s *Server) iteration(id string, offset, limit int) (*IterationDetail, error) {
	var dirs []string
	index := -1
	itrID := ""
	switch {
	case strings.HasPrefix(id, "run_"):
		run, idx, ok := strings.Cut(id, ":")
		n, err := strconv.Atoi(idx)
		if !ok || err != nil || n < 0 || strconv.Itoa(n) != idx {
			return nil, badRequest("%q is not an iteration ID (itr_… or <run>:<index>)", id)
		}
		dir, _, err := s.runDir(run)
		if err != nil {
			return nil, err
		}
		dirs, index = []string{dir}, n
	case itrRE.MatchString(id):
		dirs, _ = s.runDirs("")
		itrID = id
	default:
		return nil, badRequest("%q is not an iteration ID (itr_… or <run>:<index>)", id)
	}
	for _, dir := range dirs {
		its, _ := runstore.At(dir).Iterations()
		for _, it := range its {
			if (itrID != "" && it.ID == itrID) || (itrID == "" && it.Index == index) {
				man, err := runstore.At(dir).Manifest()
				if err != nil {
					return nil, err
				}
				views := iterationViews(man.RunID, man.Target, its)
				d := &IterationDetail{RunID: man.RunID, Experiment: man.Experiment, Iteration: it, Decision: decisionView(man.RunID, it), Calls: []CallView{}}
				for _, v := range views {
					if v.Iteration == it.Index {
						d.View = v
					}
				}
				idx := it.Index
				page, err := s.callsPage(dir, man.RunID, &idx, offset, limit, false)
				if err != nil {
					return nil, err
				}
				d.Calls, d.CallsTotal, d.CallsOffset, d.CallsLimit = page.Calls, page.Total, offset, limit
				return d, nil
			}
		}
	}
	return nil, notFound("iteration %s not found", id)
}

func (s *Server) apiIteration(r *http.Request) (any, error) {
	offset, limit, err := paging(r)
	if err != nil {
		return nil, err
	}
	return s.iteration(r.PathValue("id"), offset, limit)
}

func callView(runID string, r *repo.Result) CallView {
	out := r.Output
	if len(out) > 200 {
		out = truncate(out, 200)
	}
	return CallView{TraceID: r.ID, RunID: runID, CaseID: r.CaseID, Iteration: r.Iteration, Repetition: r.Repetition,
		StartedAt: r.StartedAt, LatencyMS: r.LatencyMS, Label: r.Label, Score: r.Score, Error: r.Error, Output: out, Cached: r.Cached}
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// runDirs lists the run directories of slug (every experiment's when
// empty), newest first.
func (s *Server) runDirs(slug string) ([]string, error) {
	runs, err := s.store.Runs(slug)
	out := make([]string, len(runs))
	for i, r := range runs {
		out[i] = r.Path()
	}
	return out, err
}

// parseTime reads an RFC 3339 time, zero when absent.
func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}
