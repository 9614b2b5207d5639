package repo

import "time"

// The record types: what a run decided and measured, as run.json,
// iterations.jsonl and the reports read it back. The runner fills them; the
// run record (repo/runstore) writes and reads them; reports present them.

// RunState is where a run is in its life, as run.json and the reports say it.
type RunState string

// Run states. A run is running until it ends one of the other three ways.
const (
	RunRunning     RunState = "running"
	RunCompleted   RunState = "completed"
	RunInterrupted RunState = "interrupted"
	RunFailed      RunState = "failed"
)

// Decision outcomes.
const (
	KeepCandidate         = "keep_candidate"
	Reject                = "reject"
	Investigate           = "investigate"
	RequireTradeoffReview = "require_tradeoff_review"
	SpawnSubexperiment    = "spawn_subexperiment"
)

// Metric is one aggregated number of an iteration, with its interval when
// it is a rate or a mean (Lo/Hi nil otherwise). Observed is false when
// nothing measured it (no agent reported a cost, say); such a metric is
// reported as missing, never as zero.
type Metric struct {
	Value    float64  `json:"value"`
	Lo       *float64 `json:"ci_low,omitempty"`
	Hi       *float64 `json:"ci_high,omitempty"`
	N        int      `json:"n"`
	Observed bool     `json:"observed"`
}

// CasePair is one case's outcome in an iteration, for pairing two
// iterations or two revisions on the same cases; which case it is, the
// CasePairs it is in says.
type CasePair struct {
	Score float64 // mean over the repetitions that ran
	// CostUSD and LatencyMS are the case's means over its repetitions,
	// when Timed (a run's own outcomes; committed verdicts keep neither).
	// Every iteration keeps a pair per case, so the fields are small and
	// ordered without padding: the struct is 24 bytes.
	CostUSD, LatencyMS float32
	// Passes of Runs repetitions (at most 100), and the calls among them
	// that errored (-1: not recorded, as in committed verdicts): the
	// per-case values of consistency, the pass@k family and the error rate.
	Passes, Runs, Errors int16
	Pass                 bool // repetition 0 passed
	Timed                bool
}

// CasePairs is an iteration's outcomes, one per case in case ID order,
// and which case each is: IDs, or for a run's own outcomes its dataset's
// Index (outcome i is the case of rank Ranks[i], or of rank i when Ranks
// is nil), so that a million outcomes hold no string.
type CasePairs struct {
	List  []CasePair
	IDs   []string
	Index *CaseIndex
	Ranks []uint32
}

// Len is the number of outcomes.
func (p CasePairs) Len() int { return len(p.List) }

// ID is the case ID of outcome i.
func (p CasePairs) ID(i int) string {
	switch {
	case p.IDs != nil:
		return p.IDs[i]
	case p.Ranks != nil:
		return p.Index.ID(int(p.Ranks[i]))
	}
	return p.Index.ID(i)
}

// Add appends the outcome of case id (which sorts after those before).
func (p *CasePairs) Add(id string, c CasePair) {
	p.IDs = append(p.IDs, id)
	p.List = append(p.List, c)
}

// AlignedWith reports whether q holds the same cases in the same order,
// known without comparing IDs: both are every case of one index.
func (p CasePairs) AlignedWith(q CasePairs) bool {
	return p.IDs == nil && q.IDs == nil && p.Ranks == nil && q.Ranks == nil &&
		p.Index != nil && p.Index == q.Index && len(p.List) == len(q.List)
}

// Decision is the verdict on one iteration, with its evidence.
type Decision struct {
	Outcome   string    `json:"outcome"`
	Rationale string    `json:"rationale"`
	Evidence  *Evidence `json:"evidence,omitempty"`
	Guardrail []Check   `json:"guardrails,omitempty"`
	Baseline  *int      `json:"baseline_iteration,omitempty"`
	// Violated is set when a guardrail failed: such an iteration never
	// becomes the best to beat.
	Violated bool `json:"guardrails_violated,omitempty"`
}

// Check is one guardrail's verdict: ok, violated or missing.
type Check struct {
	Name   string   `json:"name"`
	Target string   `json:"target"`
	Value  *float64 `json:"value,omitempty"`
	Status string   `json:"status"`
}

// Evidence is a paired comparison of a metric between two iterations (or
// revisions), on the cases both ran. Test is empty when the metric has no
// paired test; P is then nil (null in JSON) and Lo, Hi mean nothing.
type Evidence struct {
	Metric string   `json:"metric"`
	Value  float64  `json:"value"`
	Delta  float64  `json:"delta"`
	Lo     float64  `json:"ci_low"`
	Hi     float64  `json:"ci_high"`
	P      *float64 `json:"p_value"`
	Test   string   `json:"test"`
	Pairs  int      `json:"pairs"`
	// Note says why there is no p-value when the metric has a paired test,
	// e.g. "too few cases to test (n=3, at least 6 needed)".
	Note string `json:"note,omitempty"`
}

// Significant reports whether the evidence has a paired test whose p-value
// is below 1 − confidence.
func (e *Evidence) Significant(confidence float64) bool {
	return e != nil && e.Test != "" && e.P != nil && *e.P < 1-confidence
}

// IterationSummary is one iteration's outcome: its parameters, metrics and
// decision; one line of iterations.jsonl.
type IterationSummary struct {
	Index        int               `json:"iteration"`
	ID           string            `json:"id"`
	ParamsID     string            `json:"params_id"`
	Params       Parameters        `json:"parameters"`
	Hypothesis   string            `json:"hypothesis"`
	Primary      float64           `json:"primary"`
	Metrics      map[string]Metric `json:"metrics"`
	FailureModes map[string]int    `json:"failure_modes,omitempty"`
	Decision     Decision          `json:"decision"`
	Calls        int               `json:"calls"`
	CacheHits    int               `json:"cache_hits"`
	Errors       int               `json:"errors"`
	DurationMS   int64             `json:"duration_ms"`
	// AnalysisDue is set when error_analysis triggered (fail rate above the
	// threshold).
	AnalysisDue string `json:"analysis_due,omitempty"`

	// Pairs are the per-case outcomes in case ID order, for paired
	// comparison; not written (they are in results.jsonl).
	Pairs CasePairs `json:"-"`
}

// Metric returns an observed metric's value.
func (s *IterationSummary) Metric(name string) (float64, bool) {
	m, ok := s.Metrics[name]
	if !ok || !m.Observed {
		return 0, false
	}
	return m.Value, true
}

// BeatsBest reports whether it becomes the best iteration to beat: its
// primary metric was observed, no guardrail failed, and it is better than
// best (nil: none yet) in the target's direction.
func BeatsBest(t MetricTarget, it, best *IterationSummary) bool {
	if _, ok := it.Metric(t.Name); !ok || it.Decision.Violated {
		return false
	}
	return best == nil || t.Better(it.Primary, best.Primary)
}

// RunSummary is a whole run of one experiment.
type RunSummary struct {
	RunID       string              `json:"run_id"`
	Slug        string              `json:"experiment"`
	Name        string              `json:"name"`
	Goal        string              `json:"goal"`
	ExpID       string              `json:"experiment_id"`
	DatasetID   string              `json:"dataset_id"`
	Cases       int                 `json:"cases"`
	Fingerprint string              `json:"agent_fingerprint"`
	Target      MetricTarget        `json:"target"`
	Guardrails  []MetricTarget      `json:"guardrails,omitempty"`
	Confidence  float64             `json:"confidence"` // of every interval and test
	Strategy    string              `json:"proposer"`
	MaxIter     int                 `json:"max_iterations"`
	Iterations  []*IterationSummary `json:"iterations"`
	Best        *int                `json:"best_iteration"`
	Terminated  string              `json:"terminated"`
	State       RunState            `json:"state"`
	StartedAt   time.Time           `json:"started_at"`
	EndedAt     time.Time           `json:"ended_at"`
	Calls       int                 `json:"calls"`
	CacheHits   int                 `json:"cache_hits"`
	Committed   string              `json:"committed"`
	Warnings    []string            `json:"warnings,omitempty"`
	SpecPath    string              `json:"spec"`
	// Unfinished is the iteration an interrupt stopped (not decided).
	Unfinished *UnfinishedIteration `json:"unfinished,omitempty"`
	// Shard is set on a run of one slice of the cases (run --shard): its
	// iterations are not decided.
	Shard *Shard `json:"shard,omitempty"`
	// MergedFrom are the shard runs a merge combined, shard 1 first.
	MergedFrom []string `json:"merged_from,omitempty"`
}

// UnfinishedIteration is the iteration an interrupt stopped: how many of its
// calls finished. It was not decided; --resume finishes it.
type UnfinishedIteration struct {
	Index         int    `json:"index"`
	Hypothesis    string `json:"hypothesis"`
	CallsFinished int    `json:"calls_finished"`
	CallsPlanned  int    `json:"calls_planned"`
}
