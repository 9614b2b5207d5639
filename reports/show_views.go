package reports

import (
	"errors"
	"io/fs"
	"os"
	"sort"

	"github.com/goccy/go-json"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
	"github.com/selfevals/selfevals/runner/adapters"
)

// The views `show` prints, one type per kind of entity, and how each is
// built from the places its ID was seen. Their JSON is what --format json
// prints: lists are never null.

// ExperimentView is an experiment: its spec when the spec as it is now has
// the ID, else what the runs recorded of it.
type ExperimentView struct {
	Kind        string          `json:"kind"`
	ID          string          `json:"id"`
	Slug        string          `json:"slug"`
	Name        string          `json:"name"`
	Goal        string          `json:"goal"`
	File        string          `json:"file"`
	Current     bool            `json:"current"`
	Target      string          `json:"target"`
	Guardrails  []string        `json:"guardrails"`
	DatasetID   string          `json:"dataset_id"`
	DatasetFile string          `json:"dataset_file"`
	Cases       int             `json:"cases"`
	Agent       string          `json:"agent"`
	Graders     []string        `json:"graders"`
	Proposer    string          `json:"proposer"`
	ParamsID    string          `json:"parameters_id"`
	Parameters  repo.Parameters `json:"parameters"`
	Runs        []RunRow        `json:"runs"`
}

func (w Workspace) experimentView(hits []hit) *ExperimentView {
	v := &ExperimentView{Kind: KindExperiment, ID: hits[0].id, Guardrails: []string{}, Graders: []string{}, Parameters: repo.Parameters{}, Runs: []RunRow{}}
	for _, h := range hits {
		if h.spec != nil {
			w.fillFromSpec(v, h.spec)
			break
		}
	}
	for _, h := range hits {
		if h.run == nil {
			continue
		}
		if row, err := runRow(h.run.run); err == nil {
			v.Runs = append(v.Runs, *row)
		}
		if !v.Current && v.Slug == "" {
			m := h.run.man
			v.Slug, v.Name, v.Goal, v.File = m.Experiment, m.Name, m.Goal, m.Spec
			v.Target, v.DatasetID, v.Cases, v.Agent, v.Proposer = m.Target.String(), m.DatasetID, m.Cases, m.AgentFingerprint, m.Proposer
			for _, g := range m.Guardrails {
				v.Guardrails = append(v.Guardrails, g.String())
			}
		}
	}
	return v
}

func (w Workspace) fillFromSpec(v *ExperimentView, ls *repo.LoadedSpec) {
	e := ls.Spec.Experiment
	v.Current = true
	v.Slug, v.Name, v.Goal, v.File = ls.Slug, e.Name, e.Goal, w.show(ls.Path)
	v.Target, v.Agent, v.Proposer = e.Target.Primary.String(), adapters.Describe(ls.Spec.Agent), e.Proposer.Strategy
	for _, g := range e.Target.Guardrails {
		v.Guardrails = append(v.Guardrails, g.String())
	}
	v.Graders = ls.GraderNames()
	if e.Parameters != nil {
		v.Parameters, v.ParamsID = e.Parameters, e.Parameters.ID()
	}
	if ls.Dataset == nil {
		// Loaded for its ID only: read the dataset now.
		full, err := repo.LoadExperiment(ls.Path, w.Load)
		if err != nil {
			return
		}
		ls = full
	}
	v.DatasetID, v.DatasetFile, v.Cases = ls.Dataset.ID, w.show(ls.Dataset.Path), ls.Dataset.Count
}

// DatasetView is a dataset: its file and cases when a file has the ID,
// else the runs that recorded it.
type DatasetView struct {
	Kind        string        `json:"kind"`
	ID          string        `json:"id"`
	File        string        `json:"file"`
	Cases       int           `json:"cases"`
	CaseList    []DatasetCase `json:"case_list"`
	Experiments []string      `json:"experiments"`
	Runs        []string      `json:"runs"`
}

// DatasetCase is a case as the view of its dataset lists it.
type DatasetCase struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Line int    `json:"line"`
}

func (w Workspace) datasetView(hits []hit) *DatasetView {
	v := &DatasetView{Kind: KindDataset, ID: hits[0].id, CaseList: []DatasetCase{}, Experiments: []string{}, Runs: []string{}}
	for _, h := range hits {
		switch {
		case h.ds != nil && v.File == "":
			v.File, v.Cases = w.show(h.ds.Path), h.ds.Count
			_ = h.ds.Each(func(c *repo.Case) error {
				v.CaseList = append(v.CaseList, DatasetCase{ID: c.ID, Name: c.Name, Line: c.Line})
				return nil
			})
		case h.run != nil:
			v.Runs = append(v.Runs, h.run.man.RunID)
			if v.Cases == 0 {
				v.Cases = h.run.man.Cases
			}
		}
	}
	for _, ls := range w.loadSpecs(true) {
		if ls.Dataset != nil && ls.Dataset.ID == v.ID {
			v.Experiments = append(v.Experiments, ls.Slug)
		}
	}
	return v
}

// CaseView is a case: where it is, what it is, and its committed verdicts.
type CaseView struct {
	Kind       string          `json:"kind"`
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	File       string          `json:"file"`
	Line       int             `json:"line"`
	Definition string          `json:"definition"`
	Case       json.RawMessage `json:"case"`
	Datasets   []string        `json:"datasets"`
	Verdicts   []CaseVerdict   `json:"verdicts"`
}

// CaseVerdict is a case's verdict in an experiment's committed result.
type CaseVerdict struct {
	Experiment string     `json:"experiment"`
	Label      repo.Label `json:"label"`
	Score      float64    `json:"score"`
	PassRate   float64    `json:"pass_rate"`
	Reason     string     `json:"reason,omitempty"`
}

func (w Workspace) caseView(hits []hit) *CaseView {
	c := hits[0].c
	v := &CaseView{Kind: KindCase, ID: c.ID, Name: c.Name, File: w.show(hits[0].ds.Path), Line: c.Line,
		Definition: repo.CaseDefinition(c), Datasets: []string{}, Verdicts: []CaseVerdict{}}
	v.Case, _ = json.Marshal(c)
	seen := map[string]bool{}
	for _, h := range hits {
		if !seen[h.ds.ID] {
			seen[h.ds.ID] = true
			v.Datasets = append(v.Datasets, h.ds.ID)
		}
	}
	store := runstore.Open(w.Dir.Path())
	for _, slug := range w.Slugs() {
		verdicts, err := store.CaseVerdicts(slug)
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, os.ErrNotExist) {
			continue
		}
		for _, cv := range verdicts {
			if cv.CaseID == c.ID {
				v.Verdicts = append(v.Verdicts, CaseVerdict{Experiment: slug, Label: cv.Label, Score: cv.Score, PassRate: cv.PassRate, Reason: cv.Reason})
			}
		}
	}
	return v
}

// ParametersView is a parameters object and where it was adopted or tried.
type ParametersView struct {
	Kind       string          `json:"kind"`
	ID         string          `json:"id"`
	Parameters repo.Parameters `json:"parameters"`
	AdoptedBy  []string        `json:"adopted_by"`
	Iterations []IterationRef  `json:"iterations"`
}

// IterationRef is an iteration as a list shows it.
type IterationRef struct {
	ID         string   `json:"id"`
	Run        string   `json:"run"`
	Experiment string   `json:"experiment"`
	Index      int      `json:"index"`
	Metric     string   `json:"metric"`
	Value      *float64 `json:"value"`
	Outcome    string   `json:"outcome"`
}

func iterationRef(sr *storedRun, it *repo.IterationSummary) IterationRef {
	r := IterationRef{ID: it.ID, Run: sr.man.RunID, Experiment: sr.man.Experiment, Index: it.Index, Metric: sr.man.Target.Name, Outcome: it.Decision.Outcome}
	if v, ok := it.Metric(sr.man.Target.Name); ok {
		r.Value = &v
	}
	return r
}

func parametersView(hits []hit) *ParametersView {
	v := &ParametersView{Kind: KindParameters, ID: hits[0].id, Parameters: repo.Parameters{}, AdoptedBy: []string{}, Iterations: []IterationRef{}}
	for _, h := range hits {
		if len(h.params) > 0 {
			v.Parameters = h.params
		}
		if h.spec != nil {
			v.AdoptedBy = append(v.AdoptedBy, h.spec.Slug)
		}
		if h.it != nil {
			v.Iterations = append(v.Iterations, iterationRef(h.run, h.it))
		}
	}
	return v
}

// IterationView is an iteration as its newest run recorded it, with the
// other runs that ran the same configuration (same ID).
type IterationView struct {
	Kind         string          `json:"kind"`
	ID           string          `json:"id"`
	Experiment   string          `json:"experiment"`
	Run          string          `json:"run"`
	Index        int             `json:"index"`
	ParamsID     string          `json:"parameters_id"`
	Parameters   repo.Parameters `json:"parameters"`
	Hypothesis   string          `json:"hypothesis"`
	Target       string          `json:"target"`
	Metrics      []MetricRow     `json:"metrics"`
	Outcome      string          `json:"outcome"`
	Rationale    string          `json:"rationale"`
	FailureModes []ModeCount     `json:"failure_modes"`
	Calls        int             `json:"calls"`
	CacheHits    int             `json:"cache_hits"`
	Errors       int             `json:"errors"`
	DurationMS   int64           `json:"duration_ms"`
	OtherRuns    []IterationRef  `json:"other_runs"`
}

// MetricRow is one metric of an iteration; Value is nil when nothing
// measured it.
type MetricRow struct {
	Name  string   `json:"name"`
	Value *float64 `json:"value"`
	Lo    *float64 `json:"ci_low"`
	Hi    *float64 `json:"ci_high"`
	N     int      `json:"n"`
}

// ModeCount is how many traces of an iteration showed a failure mode.
type ModeCount struct {
	Mode  string `json:"mode"`
	Count int    `json:"count"`
}

func iterationView(hits []hit) *IterationView {
	h := hits[0] // runs are read newest first
	it, m := h.it, h.run.man
	v := &IterationView{Kind: KindIteration, ID: it.ID, Experiment: m.Experiment, Run: m.RunID, Index: it.Index,
		ParamsID: it.ParamsID, Parameters: it.Params, Hypothesis: it.Hypothesis, Target: m.Target.String(),
		Metrics: []MetricRow{}, Outcome: it.Decision.Outcome, Rationale: it.Decision.Rationale, FailureModes: []ModeCount{},
		Calls: it.Calls, CacheHits: it.CacheHits, Errors: it.Errors, DurationMS: it.DurationMS, OtherRuns: []IterationRef{}}
	if v.Parameters == nil {
		v.Parameters = repo.Parameters{}
	}
	for name, mt := range it.Metrics {
		row := MetricRow{Name: name, Lo: mt.Lo, Hi: mt.Hi, N: mt.N}
		if mt.Observed {
			val := mt.Value
			row.Value = &val
		}
		v.Metrics = append(v.Metrics, row)
	}
	sort.Slice(v.Metrics, func(i, j int) bool { return v.Metrics[i].Name < v.Metrics[j].Name })
	for mode, n := range it.FailureModes {
		v.FailureModes = append(v.FailureModes, ModeCount{Mode: mode, Count: n})
	}
	sort.Slice(v.FailureModes, func(i, j int) bool {
		a, b := v.FailureModes[i], v.FailureModes[j]
		return a.Count > b.Count || a.Count == b.Count && a.Mode < b.Mode
	})
	for _, other := range hits[1:] {
		v.OtherRuns = append(v.OtherRuns, iterationRef(other.run, other.it))
	}
	return v
}

// RunView is a run's record: its manifest and iterations.
type RunView struct {
	Kind         string         `json:"kind"`
	ID           string         `json:"id"`
	Experiment   string         `json:"experiment"`
	ExperimentID string         `json:"experiment_id"`
	Name         string         `json:"name"`
	Spec         string         `json:"spec"`
	DatasetID    string         `json:"dataset_id"`
	Cases        int            `json:"cases"`
	Agent        string         `json:"agent_fingerprint"`
	Target       string         `json:"target"`
	Proposer     string         `json:"proposer"`
	GitCommit    string         `json:"git_commit"`
	GitDirty     bool           `json:"git_dirty"`
	ToolVersion  string         `json:"tool_version"`
	Row          RunRow         `json:"summary"`
	Iterations   []IterationRef `json:"iterations"`
}

func runView(sr *storedRun) *RunView {
	m := sr.man
	v := &RunView{Kind: KindRun, ID: m.RunID, Experiment: m.Experiment, ExperimentID: m.ExperimentID, Name: m.Name,
		Spec: m.Spec, DatasetID: m.DatasetID, Cases: m.Cases, Agent: m.AgentFingerprint, Target: m.Target.String(),
		Proposer: m.Proposer, GitCommit: m.GitCommit, GitDirty: m.GitDirty, ToolVersion: m.ToolVersion, Iterations: []IterationRef{}}
	if row, err := runRow(sr.run); err == nil {
		v.Row = *row
	}
	for _, it := range sr.its {
		v.Iterations = append(v.Iterations, iterationRef(sr, it))
	}
	return v
}

// FailureModeView is a mode of the taxonomy.
type FailureModeView struct {
	Kind       string        `json:"kind"`
	ID         string        `json:"id"`
	Slug       string        `json:"slug"`
	Title      string        `json:"title"`
	Status     string        `json:"status"`
	Definition string        `json:"definition"`
	Parent     string        `json:"parent"`
	MergedInto string        `json:"merged_into"`
	ProposedBy string        `json:"proposed_by"`
	Examples   []ModeExample `json:"examples"`
	History    []ModeEvent   `json:"history"`
}

// ModeExample is a trace that shows a failure mode.
type ModeExample struct {
	TraceID string `json:"trace_id"`
	Quote   string `json:"quote"`
	Note    string `json:"note"`
}

// ModeEvent is one change of a failure mode's lifecycle.
type ModeEvent struct {
	Action string `json:"action"`
	At     string `json:"at"`
	By     string `json:"by"`
	Detail string `json:"detail"`
}

func failureModeView(m *repo.FailureMode) *FailureModeView {
	v := &FailureModeView{Kind: KindFailureMode, ID: m.ID(), Slug: m.Slug, Title: m.Title, Status: repo.ModeStatus(*m),
		Definition: m.Definition, Parent: m.Parent, MergedInto: m.MergedInto, ProposedBy: m.ProposedBy,
		Examples: []ModeExample{}, History: []ModeEvent{}}
	for _, e := range m.Examples {
		v.Examples = append(v.Examples, ModeExample{TraceID: e.TraceID, Quote: e.Quote, Note: e.Note})
	}
	for _, h := range m.History {
		v.History = append(v.History, ModeEvent{Action: h.Action, At: h.At, By: h.By, Detail: h.Detail})
	}
	return v
}

// TraceView is one agent call: what it was asked in which iteration, what
// it answered, and how it was graded.
type TraceView struct {
	Kind             string          `json:"kind"`
	ID               string          `json:"id"`
	Experiment       string          `json:"experiment"`
	Run              string          `json:"run"`
	Iteration        int             `json:"iteration"`
	Repetition       int             `json:"repetition"`
	CaseID           string          `json:"case_id"`
	ParamsID         string          `json:"parameters_id"`
	StartedAt        string          `json:"started_at"`
	LatencyMS        float64         `json:"latency_ms"`
	Attempts         int             `json:"attempts"`
	Cached           bool            `json:"cached"`
	Model            string          `json:"model"`
	InputTokens      int64           `json:"input_tokens"`
	OutputTokens     int64           `json:"output_tokens"`
	CostUSD          *float64        `json:"cost_usd"`
	Label            repo.Label      `json:"label"`
	Score            float64         `json:"score"`
	Grades           []GradeRow      `json:"grades"`
	Output           string          `json:"output"`
	StructuredOutput json.RawMessage `json:"structured_output,omitempty"`
	ToolCalls        []string        `json:"tool_calls"`
	Error            string          `json:"error"`
	ErrorKind        string          `json:"error_kind"`
	Stderr           string          `json:"stderr"`
}

// GradeRow is one grader's verdict on a trace.
type GradeRow struct {
	Grader       string     `json:"grader"`
	Label        repo.Label `json:"label"`
	Score        *float64   `json:"score"`
	Reason       string     `json:"reason"`
	FailureModes []string   `json:"failure_modes"`
}

func traceView(h hit) *TraceView {
	r, m := h.result, h.run.man
	v := &TraceView{Kind: KindTrace, ID: r.ID, Experiment: m.Experiment, Run: m.RunID, Iteration: r.Iteration, Repetition: r.Repetition,
		CaseID: r.CaseID, ParamsID: r.ParamsID, StartedAt: r.StartedAt, LatencyMS: r.LatencyMS, Attempts: r.Attempts, Cached: r.Cached,
		Model: r.Model, InputTokens: r.Usage.InputTokens, OutputTokens: r.Usage.OutputTokens, Label: r.Label, Score: r.Score,
		Grades: []GradeRow{}, Output: r.Output, StructuredOutput: r.StructuredOutput, ToolCalls: []string{},
		Error: r.Error, ErrorKind: r.ErrorKind, Stderr: r.Stderr}
	if r.CostReported || r.CostUSD != 0 {
		cost := r.CostUSD
		v.CostUSD = &cost
	}
	for _, g := range r.Grades {
		modes := g.FailureModes
		if modes == nil {
			modes = []string{}
		}
		v.Grades = append(v.Grades, GradeRow{Grader: g.Grader, Label: g.Label, Score: g.Score, Reason: g.Reason, FailureModes: modes})
	}
	for _, tc := range r.ToolCalls {
		v.ToolCalls = append(v.ToolCalls, tc.Name)
	}
	return v
}

// AgentView is an agent fingerprint: the agent blocks that have it now and
// the runs that called it.
type AgentView struct {
	Kind        string   `json:"kind"`
	ID          string   `json:"id"`
	Agents      []string `json:"agents"`
	Experiments []string `json:"experiments"`
	Runs        []RunRow `json:"runs"`
}

func agentView(hits []hit) *AgentView {
	v := &AgentView{Kind: KindAgent, ID: hits[0].id, Agents: []string{}, Experiments: []string{}, Runs: []RunRow{}}
	for _, h := range hits {
		if h.spec != nil {
			v.Experiments = append(v.Experiments, h.spec.Slug)
			v.Agents = append(v.Agents, adapters.Describe(h.spec.Spec.Agent))
		}
		if h.run != nil {
			if row, err := runRow(h.run.run); err == nil {
				v.Runs = append(v.Runs, *row)
			}
		}
	}
	return v
}

// DefinitionView is a case definition (what a case asks and how it is
// judged, without its name): the cases that have it.
type DefinitionView struct {
	Kind  string        `json:"kind"`
	ID    string        `json:"id"`
	Cases []DefinedCase `json:"cases"`
}

// DefinedCase is a case with a given definition, and where it is.
type DefinedCase struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	File string `json:"file"`
	Line int    `json:"line"`
}

func (w Workspace) definitionView(hits []hit) *DefinitionView {
	v := &DefinitionView{Kind: KindDefinition, ID: hits[0].id, Cases: []DefinedCase{}}
	for _, h := range hits {
		v.Cases = append(v.Cases, DefinedCase{ID: h.c.ID, Name: h.c.Name, File: w.show(h.ds.Path), Line: h.c.Line})
	}
	return v
}
