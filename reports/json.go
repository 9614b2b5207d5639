package reports

import (
	_ "embed"
	"time"

	"github.com/selfevals/selfevals/repo"
)

// JSONSchemaVersion versions the JSON report's shape; report.schema.json
// describes it.
const JSONSchemaVersion = "1"

// ReportSchema is the JSON Schema (2020-12) of the JSON report.
//
//go:embed report.schema.json
var ReportSchema []byte

// JSONReport is the JSON run report.
type JSONReport struct {
	SchemaVersion string          `json:"schema_version"`
	Experiment    JSONExperiment  `json:"experiment"`
	Run           JSONRun         `json:"run"`
	Target        JSONTarget      `json:"target"`
	Termination   JSONTermination `json:"termination"`
	BestIteration *int            `json:"best_iteration"`
	Iterations    []JSONIteration `json:"iterations"`
	Warnings      []string        `json:"warnings"`
}

// JSONExperiment identifies the experiment.
type JSONExperiment struct {
	Slug string `json:"slug"`
	ID   string `json:"id"`
	Name string `json:"name"`
	Goal string `json:"goal"`
}

// JSONRun describes the run.
type JSONRun struct {
	ID               string        `json:"id"`
	State            repo.RunState `json:"state"`
	StartedAt        time.Time     `json:"started_at"`
	EndedAt          time.Time     `json:"ended_at"`
	DatasetID        string        `json:"dataset_id"`
	Cases            int           `json:"cases"`
	AgentFingerprint string        `json:"agent_fingerprint"`
	Proposer         string        `json:"proposer"`
	MaxIterations    int           `json:"max_iterations"`
	Calls            int           `json:"calls"`
	CacheHits        int           `json:"cache_hits"`
	Committed        string        `json:"committed"`
}

// JSONTarget is the primary target and the guardrails.
type JSONTarget struct {
	Primary    repo.MetricTarget   `json:"primary"`
	Guardrails []repo.MetricTarget `json:"guardrails"`
}

// JSONTermination says why the loop stopped.
type JSONTermination struct {
	Reason        string `json:"reason"`
	IterationsRun int    `json:"iterations_run"`
}

// JSONIteration is one iteration.
type JSONIteration struct {
	Index        int                   `json:"index"`
	ID           string                `json:"id"`
	ParamsID     string                `json:"params_id"`
	Parameters   repo.Parameters       `json:"parameters"`
	Hypothesis   string                `json:"hypothesis"`
	Metrics      map[string]JSONMetric `json:"metrics"`
	FailureModes map[string]int        `json:"failure_modes"`
	Decision     JSONDecision          `json:"decision"`
	Calls        int                   `json:"calls"`
	CacheHits    int                   `json:"cache_hits"`
	Errors       int                   `json:"errors"`
	DurationMS   int64                 `json:"duration_ms"`
	AnalysisDue  string                `json:"analysis_due,omitempty"`
}

// JSONMetric is a metric value with its interval; value is null when the
// metric was not observed.
type JSONMetric struct {
	Value *float64    `json:"value"`
	CI    *[2]float64 `json:"ci"`
	N     int         `json:"n"`
}

// JSONDecision is a decision with its paired evidence.
type JSONDecision struct {
	Outcome           string       `json:"outcome"`
	Rationale         string       `json:"rationale"`
	BaselineIteration *int         `json:"baseline_iteration"`
	Delta             *float64     `json:"delta"`
	DeltaCI           *[2]float64  `json:"delta_ci"`
	PValue            *float64     `json:"p_value"`
	Test              string       `json:"test,omitempty"`
	Guardrails        []repo.Check `json:"guardrails"`
}

// BuildJSON turns a run into its JSON report document.
func BuildJSON(rs *repo.RunSummary) *JSONReport {
	r := &JSONReport{
		SchemaVersion: JSONSchemaVersion,
		Experiment:    JSONExperiment{Slug: rs.Slug, ID: rs.ExpID, Name: rs.Name, Goal: rs.Goal},
		Run: JSONRun{ID: rs.RunID, State: rs.State, StartedAt: rs.StartedAt, EndedAt: rs.EndedAt, DatasetID: rs.DatasetID, Cases: rs.Cases,
			AgentFingerprint: rs.Fingerprint, Proposer: rs.Strategy, MaxIterations: rs.MaxIter, Calls: rs.Calls, CacheHits: rs.CacheHits, Committed: rs.Committed},
		Target:        JSONTarget{Primary: rs.Target, Guardrails: nonNil(rs.Guardrails)},
		Termination:   JSONTermination{Reason: rs.Terminated, IterationsRun: len(rs.Iterations)},
		BestIteration: rs.Best,
		Iterations:    []JSONIteration{},
		Warnings:      nonNil(rs.Warnings),
	}
	for _, it := range rs.Iterations {
		ji := JSONIteration{
			Index: it.Index, ID: it.ID, ParamsID: it.ParamsID, Parameters: it.Params, Hypothesis: it.Hypothesis,
			Metrics: map[string]JSONMetric{}, FailureModes: it.FailureModes,
			Calls: it.Calls, CacheHits: it.CacheHits, Errors: it.Errors, DurationMS: it.DurationMS, AnalysisDue: it.AnalysisDue,
			Decision: JSONDecision{Outcome: it.Decision.Outcome, Rationale: it.Decision.Rationale, BaselineIteration: it.Decision.Baseline, Guardrails: nonNil(it.Decision.Guardrail)},
		}
		if ji.Parameters == nil {
			ji.Parameters = repo.Parameters{}
		}
		if ji.FailureModes == nil {
			ji.FailureModes = map[string]int{}
		}
		for name, m := range it.Metrics {
			jm := JSONMetric{N: m.N}
			if m.Observed {
				v := m.Value
				jm.Value = &v
				if m.Lo != nil && m.Hi != nil {
					jm.CI = &[2]float64{*m.Lo, *m.Hi}
				}
			}
			ji.Metrics[name] = jm
		}
		if ev := it.Decision.Evidence; ev != nil {
			d := ev.Delta
			ji.Decision.Delta = &d
			if ev.Test != "" {
				ji.Decision.DeltaCI = &[2]float64{ev.Lo, ev.Hi}
				ji.Decision.PValue = ev.P
				ji.Decision.Test = ev.Test
			}
		}
		r.Iterations = append(r.Iterations, ji)
	}
	return r
}

// JSON renders the run report as indented JSON.
func JSON(rs *repo.RunSummary) ([]byte, error) {
	return indentedJSON(BuildJSON(rs))
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
