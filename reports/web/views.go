package web

import (
	"github.com/goccy/go-json"

	"github.com/selfevals/selfevals/repo"
)

// The view models of the API: denormalised shapes of the files under evals/
// that the UI needs, after the reference's api/schemas.py. The files stay
// the source of truth.

// Workspace is the repository as a whole.
type Workspace struct {
	Name            string   `json:"name"`
	EvalsDir        string   `json:"evals_dir"`
	ExperimentCount int      `json:"experiment_count"`
	Experiments     []string `json:"experiments"`
	RunCount        int      `json:"run_count"`
	ActiveRuns      int      `json:"active_runs"`
	LastRunAt       string   `json:"last_run_at,omitempty"`
	// RecentKeepRate is the fraction of the most recent iterations (up to
	// 20, over every run) whose decision was keep_candidate.
	RecentKeepRate *float64 `json:"recent_keep_rate"`
	RecentDecided  int      `json:"recent_iterations"`
}

// ExperimentSummary is one experiment as the list shows it.
type ExperimentSummary struct {
	Slug           string            `json:"slug"`
	ID             string            `json:"id,omitempty"`
	Name           string            `json:"name"`
	Goal           string            `json:"goal,omitempty"`
	Mode           string            `json:"mode,omitempty"`
	Spec           string            `json:"spec"`
	PrimaryMetric  string            `json:"primary_metric,omitempty"`
	PrimaryTarget  repo.MetricTarget `json:"primary_target"`
	Proposer       string            `json:"proposer_strategy,omitempty"`
	MaxIterations  int               `json:"max_iterations,omitempty"`
	DatasetID      string            `json:"dataset_id,omitempty"`
	Cases          int               `json:"cases"`
	RunCount       int               `json:"run_count"`
	IterationCount int               `json:"iteration_count"`
	LastRun        *RunView          `json:"last_run,omitempty"`
	Committed      *CommittedResult  `json:"committed,omitempty"`
	// Error is set when the spec does not load; the rest is what could be
	// read without it.
	Error string `json:"error,omitempty"`
}

// CommittedResult is the head of evals/results/<slug>/summary.json.
type CommittedResult struct {
	Primary   *float64           `json:"primary"`
	CI        *[2]float64        `json:"ci,omitempty"`
	TargetMet bool               `json:"target_met"`
	Target    repo.MetricTarget  `json:"target"`
	Cases     int                `json:"cases"`
	Errors    int                `json:"errors"`
	Summary   json.RawMessage    `json:"summary"`
	Metrics   map[string]SumStat `json:"-"`
}

// SumStat is a committed metric.
type SumStat = repo.SummaryMetric

// ExperimentDetail is an experiment's page: its summary, the committed
// result, and the iterations and decisions of its latest run.
type ExperimentDetail struct {
	Summary    ExperimentSummary `json:"summary"`
	Result     json.RawMessage   `json:"result"`
	LatestRun  *RunView          `json:"latest_run"`
	Iterations []IterationView   `json:"iterations"`
	Decisions  []DecisionView    `json:"decisions"`
}

// RunView is a run's manifest with what its directory holds so far.
type RunView struct {
	RunID         string              `json:"run_id"`
	Experiment    string              `json:"experiment"`
	ExperimentID  string              `json:"experiment_id"`
	State         repo.RunState       `json:"state"`
	Active        bool                `json:"active"`
	StartedAt     string              `json:"started_at"`
	EndedAt       string              `json:"ended_at,omitempty"`
	Terminated    string              `json:"terminated,omitempty"`
	DatasetID     string              `json:"dataset_id"`
	Cases         int                 `json:"cases"`
	Repetitions   int                 `json:"repetitions"`
	MaxIterations int                 `json:"max_iterations"`
	Target        repo.MetricTarget   `json:"target"`
	Guardrails    []repo.MetricTarget `json:"guardrails,omitempty"`
	GitCommit     string              `json:"git_commit,omitempty"`
	GitDirty      bool                `json:"git_dirty,omitempty"`
	ToolVersion   string              `json:"tool_version,omitempty"`
	Iterations    int                 `json:"iterations"`
	BestIteration *int                `json:"best_iteration"`
	HasTraces     bool                `json:"has_traces"`
}

// IterationView is one iteration in a table, with its change against the
// best iteration before it (in the primary target's direction of better).
type IterationView struct {
	ID          string                 `json:"id"`
	RunID       string                 `json:"run_id"`
	Iteration   int                    `json:"iteration"`
	Hypothesis  string                 `json:"hypothesis"`
	ParamsID    string                 `json:"params_id"`
	Parameters  repo.Parameters        `json:"parameters"`
	Metric      string                 `json:"primary_metric_name"`
	Value       *float64               `json:"primary_metric_value"`
	Lo          *float64               `json:"primary_ci_low,omitempty"`
	Hi          *float64               `json:"primary_ci_high,omitempty"`
	DeltaVsBest *float64               `json:"delta_vs_best"`
	Best        bool                   `json:"best"`
	Outcome     string                 `json:"decision_outcome"`
	Rationale   string                 `json:"decision_rationale"`
	CostUSD     *float64               `json:"cost_usd"`
	Calls       int                    `json:"calls"`
	CacheHits   int                    `json:"cache_hits"`
	Errors      int                    `json:"errors"`
	DurationMS  int64                  `json:"duration_ms"`
	Metrics     map[string]repo.Metric `json:"metrics,omitempty"`
}

// DecisionView is one iteration's decision record.
type DecisionView struct {
	RunID       string              `json:"run_id"`
	Iteration   int                 `json:"iteration"`
	IterationID string              `json:"iteration_id"`
	Outcome     string              `json:"outcome"`
	Rationale   string              `json:"automated_rationale"`
	Evidence    *repo.Evidence      `json:"evidence,omitempty"`
	Guardrails  []repo.Check        `json:"guardrails,omitempty"`
	Baseline    *int                `json:"baseline_iteration,omitempty"`
	Violated    bool                `json:"guardrails_violated,omitempty"`
	Metrics     map[string]*float64 `json:"metrics_snapshot"`
	AnalysisDue string              `json:"analysis_due,omitempty"`
}

// IterationDetail is one iteration with its decision and its calls.
type IterationDetail struct {
	RunID      string                 `json:"run_id"`
	Experiment string                 `json:"experiment"`
	Iteration  *repo.IterationSummary `json:"iteration"`
	View       IterationView          `json:"summary"`
	Decision   DecisionView           `json:"decision"`
	// Calls are a page of the iteration's calls, oldest first: from
	// CallsOffset, at most CallsLimit of CallsTotal (?offset=&limit=).
	Calls       []CallView `json:"calls"`
	CallsTotal  int        `json:"calls_total"`
	CallsOffset int        `json:"calls_offset"`
	CallsLimit  int        `json:"calls_limit"`
}

// CallView is one agent call in a list (a result line without its bulk).
type CallView struct {
	TraceID    string     `json:"trace_id"`
	RunID      string     `json:"run_id"`
	CaseID     string     `json:"case_id"`
	Iteration  int        `json:"iteration"`
	Repetition int        `json:"repetition"`
	StartedAt  string     `json:"started_at,omitempty"`
	LatencyMS  float64    `json:"latency_ms"`
	Label      repo.Label `json:"label"`
	Score      float64    `json:"score"`
	Error      string     `json:"error,omitempty"`
	Output     string     `json:"output,omitempty"` // the first 200 characters
	Cached     bool       `json:"cached,omitempty"`
}

// SpanSummary is one span of a trace, kind-specific fields in Detail (the
// reference's trace inspector shape).
type SpanSummary struct {
	ID         string         `json:"id"`
	ParentID   *string        `json:"parent_id"`
	Kind       string         `json:"kind"`
	Name       string         `json:"name"`
	StartedAt  string         `json:"started_at,omitempty"`
	DurationMS *float64       `json:"duration_ms"`
	Depth      int            `json:"depth"`
	Detail     map[string]any `json:"detail"`
	Children   []*SpanSummary `json:"children,omitempty"`
}

// TraceView is one agent call: its spans (flat, depth-first, and as a
// tree), its grades and what the case asked.
type TraceView struct {
	ID             string          `json:"id"`
	RunID          string          `json:"run_id"`
	CallID         string          `json:"call_id"`
	Experiment     string          `json:"experiment"`
	ExperimentID   string          `json:"experiment_id"`
	Iteration      int             `json:"iteration"`
	Repetition     int             `json:"repetition"`
	CaseID         string          `json:"case_id"`
	CaseName       string          `json:"case_name,omitempty"`
	Input          json.RawMessage `json:"input,omitempty"`
	ThreadID       string          `json:"thread_id,omitempty"`
	ThreadPosition *int            `json:"thread_position,omitempty"`
	FinalState     string          `json:"final_state"`
	Label          repo.Label      `json:"label"`
	Score          float64         `json:"score"`
	StartedAt      string          `json:"started_at,omitempty"`
	EndedAt        string          `json:"ended_at,omitempty"`
	Output         string          `json:"output,omitempty"`
	Error          string          `json:"error,omitempty"`
	Grades         []repo.Grade    `json:"grades"`
	Spans          []*SpanSummary  `json:"spans"`
	Tree           *SpanSummary    `json:"tree"`
	Metrics        map[string]any  `json:"metrics"`
	Source         string          `json:"source"` // traces.parquet or results.jsonl
	Parameters     map[string]any  `json:"-"`
}

// ThreadTurn is one turn of a multi-turn conversation.
type ThreadTurn struct {
	Position     int             `json:"position"`
	CaseID       string          `json:"case_id"`
	CaseName     string          `json:"case_name,omitempty"`
	TraceID      string          `json:"trace_id,omitempty"`
	Input        json.RawMessage `json:"input,omitempty"`
	Output       string          `json:"output,omitempty"`
	Error        string          `json:"error,omitempty"`
	StartedAt    string          `json:"started_at,omitempty"`
	LatencyMS    float64         `json:"latency_ms"`
	FinalState   string          `json:"final_state"`
	PrimaryGrade string          `json:"primary_grade,omitempty"`
	Label        repo.Label      `json:"label,omitempty"`
	Score        float64         `json:"score"`
	Grades       []repo.Grade    `json:"grader_results"`
}

// Thread is every turn sharing a thread_id, in order.
type Thread struct {
	ThreadID   string       `json:"thread_id"`
	Experiment string       `json:"experiment"`
	RunID      string       `json:"run_id,omitempty"`
	Iteration  int          `json:"iteration"`
	Repetition int          `json:"repetition"`
	TurnCount  int          `json:"turn_count"`
	Turns      []ThreadTurn `json:"turns"`
}

// HistoryPoint is the primary metric at one run or one commit.
type HistoryPoint struct {
	RunID     string        `json:"run_id,omitempty"`
	Commit    string        `json:"commit,omitempty"`
	Subject   string        `json:"subject,omitempty"`
	At        string        `json:"at"`
	State     repo.RunState `json:"state,omitempty"`
	Iteration *int          `json:"iteration,omitempty"`
	Value     *float64      `json:"value"`
	Lo        *float64      `json:"ci_low,omitempty"`
	Hi        *float64      `json:"ci_high,omitempty"`
	Best      *float64      `json:"best,omitempty"`
	TargetMet *bool         `json:"target_met,omitempty"`
	Deleted   bool          `json:"deleted,omitempty"`
}

// ExperimentHistory is one experiment's primary metric over its runs
// (iteration 0, the adopted configuration, and the run's best) and over the
// git commits that changed its committed result. Both oldest first.
type ExperimentHistory struct {
	Slug    string            `json:"slug"`
	Name    string            `json:"name"`
	Metric  string            `json:"primary_metric"`
	Target  repo.MetricTarget `json:"target"`
	Runs    []HistoryPoint    `json:"runs"`
	Commits []HistoryPoint    `json:"commits"`
}

// History is /api/history.
type History struct {
	Git         bool                `json:"git"`
	GitError    string              `json:"git_error,omitempty"`
	Experiments []ExperimentHistory `json:"experiments"`
}
