package repo

import (
	"fmt"
	"math"
	"time"

	"gopkg.in/yaml.v3"
)

// Spec is an experiment spec file (evals/experiments/<slug>.yaml).
type Spec struct {
	Experiment Experiment   `yaml:"experiment" json:"experiment"`
	Dataset    DatasetRef   `yaml:"dataset" json:"dataset"`
	Agent      Agent        `yaml:"agent" json:"agent"`
	Graders    []GraderSpec `yaml:"graders,omitempty" json:"graders,omitempty"`

	// Reference-only keys: accepted and ignored with a warning, since the
	// repository is the workspace.
	Workspace   string `yaml:"workspace,omitempty" json:"-"`
	WorkspaceID string `yaml:"workspace_id,omitempty" json:"-"`
}

// Experiment is the experiment: block.
type Experiment struct {
	Name          string         `yaml:"name" json:"name"`
	Goal          string         `yaml:"goal" json:"goal"`
	Mode          string         `yaml:"mode,omitempty" json:"mode,omitempty"`
	Taxonomy      *ExpTaxonomy   `yaml:"taxonomy,omitempty" json:"taxonomy,omitempty"`
	Target        Target         `yaml:"target" json:"target"`
	Editable      Editable       `yaml:"editable,omitempty" json:"editable"`
	Parameters    Parameters     `yaml:"parameters,omitempty" json:"parameters,omitempty"`
	SearchSpace   SearchSpace    `yaml:"search_space,omitempty" json:"search_space,omitempty"`
	Proposer      Proposer       `yaml:"proposer,omitempty" json:"proposer"`
	Run           RunSettings    `yaml:"run,omitempty" json:"run"`
	Reliability   Reliability    `yaml:"reliability,omitempty" json:"reliability"`
	Decision      DecisionPolicy `yaml:"decision,omitempty" json:"decision"`
	ErrorAnalysis ErrorAnalysis  `yaml:"error_analysis,omitempty" json:"error_analysis"`

	// Reference blocks that are accepted and recorded in the run manifest.
	Frozen        *Frozen        `yaml:"frozen,omitempty" json:"frozen,omitempty"`
	Datasets      *DatasetsRefs  `yaml:"datasets,omitempty" json:"datasets,omitempty"`
	JudgeDefenses *JudgeDefenses `yaml:"judge_defenses,omitempty" json:"judge_defenses,omitempty"`
	// Reference bookkeeping fields, accepted so old specs load; not hashed.
	ID          string `yaml:"id,omitempty" json:"-"`
	WorkspaceID string `yaml:"workspace_id,omitempty" json:"-"`
	State       string `yaml:"state,omitempty" json:"-"`
	Version     int    `yaml:"version,omitempty" json:"-"`
	CreatedAt   string `yaml:"created_at,omitempty" json:"-"`
	UpdatedAt   string `yaml:"updated_at,omitempty" json:"-"`
	ContentHash string `yaml:"content_hash,omitempty" json:"-"`
}

// ExpTaxonomy classifies what the experiment targets.
type ExpTaxonomy struct {
	TargetFeatures []string `yaml:"target_features,omitempty" json:"target_features,omitempty"`
	TargetLevels   []string `yaml:"target_levels,omitempty" json:"target_levels,omitempty"`
	DatasetTypes   []string `yaml:"dataset_types,omitempty" json:"dataset_types,omitempty"`
}

// Target holds the primary metric and the guardrails.
type Target struct {
	Primary    MetricTarget   `yaml:"primary" json:"primary"`
	Guardrails []MetricTarget `yaml:"guardrails,omitempty" json:"guardrails,omitempty"`
}

// MetricTarget is a metric compared with a value, e.g. pass@1 >= 0.8.
type MetricTarget struct {
	Name     string  `yaml:"name" json:"name"`
	Operator string  `yaml:"operator" json:"operator"`
	Value    float64 `yaml:"value" json:"value"`
}

// Met reports whether value satisfies the target.
func (m MetricTarget) Met(value float64) bool {
	switch m.Operator {
	case ">":
		return value > m.Value
	case ">=":
		return value >= m.Value
	case "<":
		return value < m.Value
	case "<=":
		return value <= m.Value
	case "==":
		// Metrics are computed in floating point (0.1+0.2 is not 0.3):
		// equal means equal to about nine significant digits.
		return math.Abs(value-m.Value) <= 1e-9*math.Max(1, math.Abs(m.Value))
	}
	return false
}

// String renders the target as "pass@1 >= 0.8".
func (m MetricTarget) String() string {
	return fmt.Sprintf("%s %s %s", m.Name, m.Operator, FormatNumber(m.Value))
}

// Editable lists the surfaces a proposal may change. Pointers keep "unset"
// apart from "false" so the defaults of the reference apply.
type Editable struct {
	Prompt           *bool `yaml:"prompt,omitempty" json:"prompt,omitempty"`
	ModelParams      *bool `yaml:"model_params,omitempty" json:"model_params,omitempty"`
	ModelChoice      *bool `yaml:"model_choice,omitempty" json:"model_choice,omitempty"`
	ToolDescriptions *bool `yaml:"tool_descriptions,omitempty" json:"tool_descriptions,omitempty"`
	ToolCode         *bool `yaml:"tool_code,omitempty" json:"tool_code,omitempty"`
	WorkflowGraph    *bool `yaml:"workflow_graph,omitempty" json:"workflow_graph,omitempty"`
	Skills           *bool `yaml:"skills,omitempty" json:"skills,omitempty"`
	Dataset          *bool `yaml:"dataset,omitempty" json:"dataset,omitempty"`
	Graders          *bool `yaml:"graders,omitempty" json:"graders,omitempty"`
}

// Allows reports whether the named surface is editable (reference defaults:
// prompt and model_params are, everything else is not).
func (e Editable) Allows(surface string) bool {
	get := func(p *bool, def bool) bool {
		if p == nil {
			return def
		}
		return *p
	}
	switch surface {
	case "prompt":
		return get(e.Prompt, true)
	case "model_params":
		return get(e.ModelParams, true)
	case "model_choice":
		return get(e.ModelChoice, false)
	case "tool_descriptions":
		return get(e.ToolDescriptions, false)
	case "tool_code":
		return get(e.ToolCode, false)
	case "workflow_graph":
		return get(e.WorkflowGraph, false)
	case "skills":
		return get(e.Skills, false)
	case "dataset":
		return get(e.Dataset, false)
	case "graders":
		return get(e.Graders, false)
	}
	return true
}

// SurfaceOf maps a parameters key to the editable surface that governs it
// (a prompt key needs editable.prompt, a model parameter
// editable.model_params, …); keys with no surface are always allowed.
func SurfaceOf(paramKey string) (string, bool) {
	s, ok := parameterSurfaces[paramKey]
	return s, ok
}

var parameterSurfaces = map[string]string{
	"prompt":            "prompt",
	"system_prompt":     "prompt",
	"prompt_variables":  "prompt",
	"model":             "model_choice",
	"model_params":      "model_params",
	"tool_descriptions": "tool_descriptions",
	"tool_params":       "tool_descriptions",
	"tool_code":         "tool_code",
	"workflow_graph":    "workflow_graph",
	"graph":             "workflow_graph",
	"skills":            "skills",
	"dataset":           "dataset",
	"graders":           "graders",
}

// SearchSpace is the set of values proposers may try, per parameters key.
// Each value is a list (grid values / random choices), a {min, max} range
// (random only), a {choices: [...]} mapping, or a constant.
type SearchSpace struct {
	ModelParams     OrderedMap `yaml:"model_params,omitempty" json:"model_params,omitempty"`
	PromptVariables OrderedMap `yaml:"prompt_variables,omitempty" json:"prompt_variables,omitempty"`
	ToolParams      OrderedMap `yaml:"tool_params,omitempty" json:"tool_params,omitempty"`
}

// Surfaces returns the search space's non-empty blocks in file order of the
// struct: the parameters key and its entries.
func (s SearchSpace) Surfaces() []SearchBlock {
	var out []SearchBlock
	for _, b := range []SearchBlock{{"model_params", s.ModelParams}, {"prompt_variables", s.PromptVariables}, {"tool_params", s.ToolParams}} {
		if len(b.Entries) > 0 {
			out = append(out, b)
		}
	}
	return out
}

// SearchBlock is one parameters key of the search space.
type SearchBlock struct {
	Key     string
	Entries OrderedMap
}

// Proposer chooses how the next parameters are picked.
type Proposer struct {
	Strategy                  string         `yaml:"strategy,omitempty" json:"strategy,omitempty"`
	AllowSearchSpaceExpansion bool           `yaml:"allow_search_space_expansion,omitempty" json:"allow_search_space_expansion,omitempty"`
	Parameters                ProposerParams `yaml:"parameters,omitempty" json:"parameters"`
}

// ProposerParams configures the proposer.
type ProposerParams struct {
	Seed         *int64       `yaml:"seed,omitempty" json:"seed,omitempty"`
	MaxProposals int          `yaml:"max_proposals,omitempty" json:"max_proposals,omitempty"`
	Proposals    []Parameters `yaml:"proposals,omitempty" json:"proposals,omitempty"`
}

// RunSettings is the run: block.
type RunSettings struct {
	Sandbox            string      `yaml:"sandbox,omitempty" json:"sandbox,omitempty"`
	Runtime            string      `yaml:"runtime,omitempty" json:"runtime,omitempty"`
	SampleStrategy     string      `yaml:"sample_strategy,omitempty" json:"sample_strategy,omitempty"`
	MaxIterations      int         `yaml:"max_iterations,omitempty" json:"max_iterations"`
	RepetitionsPerCase int         `yaml:"repetitions_per_case,omitempty" json:"repetitions_per_case"`
	Parallelism        int         `yaml:"parallelism,omitempty" json:"parallelism"`
	Timeout            Duration    `yaml:"timeout,omitempty" json:"timeout"`
	Retries            *int        `yaml:"retries,omitempty" json:"retries,omitempty"`
	Convergence        Convergence `yaml:"convergence,omitempty" json:"convergence"`
	Seed               *int64      `yaml:"seed,omitempty" json:"seed,omitempty"`
	PersistTraces      string      `yaml:"persist_traces,omitempty" json:"persist_traces"`
	Cache              *bool       `yaml:"cache,omitempty" json:"cache,omitempty"`
}

// Override applies command-line values (those > 0) over the spec's:
// repetitions per case, max iterations and parallelism.
func (r *RunSettings) Override(reps, maxIterations, parallelism int) {
	if reps > 0 {
		r.RepetitionsPerCase = reps
	}
	if maxIterations > 0 {
		r.MaxIterations = maxIterations
	}
	if parallelism > 0 {
		r.Parallelism = parallelism
	}
}

// RetryCount is the number of retries for transient errors (default 2).
func (r RunSettings) RetryCount() int {
	if r.Retries == nil {
		return 2
	}
	return *r.Retries
}

// CacheEnabled reports whether the agent-call cache is on (default on).
func (r RunSettings) CacheEnabled() bool { return r.Cache == nil || *r.Cache }

// Convergence stops the loop when the primary metric stops improving.
type Convergence struct {
	MinDelta *float64 `yaml:"min_delta,omitempty" json:"min_delta,omitempty"`
	Patience int      `yaml:"patience,omitempty" json:"patience"`
}

// Delta is min_delta with its default 0.005.
func (c Convergence) Delta() float64 {
	if c.MinDelta == nil {
		return 0.005
	}
	return *c.MinDelta
}

// Reliability lists the reliability metrics to report.
type Reliability struct {
	RepetitionsPerCase int      `yaml:"repetitions_per_case,omitempty" json:"repetitions_per_case,omitempty"`
	Metrics            []string `yaml:"metrics,omitempty" json:"metrics,omitempty"`
}

// DecisionPolicy configures the decision matrix.
type DecisionPolicy struct {
	IfRegressionFails    string  `yaml:"if_regression_fails,omitempty" json:"if_regression_fails"`
	IfGuardrailFails     string  `yaml:"if_guardrail_fails,omitempty" json:"if_guardrail_fails"`
	IfJudgeHumanDisagree string  `yaml:"if_judge_human_disagree,omitempty" json:"if_judge_human_disagree,omitempty"`
	Significance         string  `yaml:"significance,omitempty" json:"significance"`
	Confidence           float64 `yaml:"confidence,omitempty" json:"confidence"`
}

// ErrorAnalysis configures when an analysis bundle should be pulled.
type ErrorAnalysis struct {
	Enabled  bool         `yaml:"enabled,omitempty" json:"enabled"`
	Taxonomy string       `yaml:"taxonomy,omitempty" json:"taxonomy,omitempty"`
	Trigger  ErrorTrigger `yaml:"trigger,omitempty" json:"trigger"`
	Scope    string       `yaml:"scope,omitempty" json:"scope"`
}

// ErrorTrigger is the condition that triggers error analysis.
type ErrorTrigger struct {
	When      string   `yaml:"when,omitempty" json:"when"`
	Threshold *float64 `yaml:"threshold,omitempty" json:"threshold,omitempty"`
}

// ThresholdValue is the trigger threshold with its default 0.10.
func (t ErrorTrigger) ThresholdValue() float64 {
	if t.Threshold == nil {
		return 0.10
	}
	return *t.Threshold
}

// EntityRef points at an entity of the reference's registry.
type EntityRef struct {
	ID      string `yaml:"id" json:"id"`
	Version *int   `yaml:"version,omitempty" json:"version,omitempty"`
}

// Frozen is the reference's frozen: block (recorded only).
type Frozen struct {
	Fleet           *EntityRef  `yaml:"fleet,omitempty" json:"fleet,omitempty"`
	Agents          []EntityRef `yaml:"agents,omitempty" json:"agents,omitempty"`
	Tools           []EntityRef `yaml:"tools,omitempty" json:"tools,omitempty"`
	Datasets        []EntityRef `yaml:"datasets,omitempty" json:"datasets,omitempty"`
	Graders         []EntityRef `yaml:"graders,omitempty" json:"graders,omitempty"`
	RiskRegistry    *EntityRef  `yaml:"risk_registry,omitempty" json:"risk_registry,omitempty"`
	FeatureRegistry *EntityRef  `yaml:"feature_registry,omitempty" json:"feature_registry,omitempty"`
}

// DatasetsRefs is the reference's datasets: block (recorded only).
type DatasetsRefs struct {
	Optimization *EntityRef  `yaml:"optimization,omitempty" json:"optimization,omitempty"`
	Gates        []EntityRef `yaml:"gates,omitempty" json:"gates,omitempty"`
}

// JudgeDefenses is the reference's judge_defenses: block (recorded only).
type JudgeDefenses struct {
	HoldoutVisibleToProposer bool             `yaml:"holdout_visible_to_proposer,omitempty" json:"holdout_visible_to_proposer,omitempty"`
	OverfitPenaltyMaxDelta   *float64         `yaml:"overfit_penalty_max_delta,omitempty" json:"overfit_penalty_max_delta,omitempty"`
	Panel                    *JudgePanel      `yaml:"panel,omitempty" json:"panel,omitempty"`
	Counterfactuals          *Counterfactuals `yaml:"counterfactuals,omitempty" json:"counterfactuals,omitempty"`
	HumanSpotCheck           *HumanSpotCheck  `yaml:"human_spot_check,omitempty" json:"human_spot_check,omitempty"`
	AdversarialDataset       *EntityRef       `yaml:"adversarial_dataset,omitempty" json:"adversarial_dataset,omitempty"`
	OutcomeMetrics           *OutcomeMetrics  `yaml:"outcome_metrics,omitempty" json:"outcome_metrics,omitempty"`
}

// JudgePanel is a panel of judges (recorded only).
type JudgePanel struct {
	Members       []string `yaml:"members,omitempty" json:"members,omitempty"`
	ConsensusRule string   `yaml:"consensus_rule,omitempty" json:"consensus_rule,omitempty"`
}

// Counterfactuals configures counterfactual checks (recorded only).
type Counterfactuals struct {
	Enabled            bool     `yaml:"enabled,omitempty" json:"enabled,omitempty"`
	GenerationStrategy string   `yaml:"generation_strategy,omitempty" json:"generation_strategy,omitempty"`
	PairsPerCase       int      `yaml:"pairs_per_case,omitempty" json:"pairs_per_case,omitempty"`
	MaxScoreVariance   *float64 `yaml:"max_score_variance,omitempty" json:"max_score_variance,omitempty"`
}

// HumanSpotCheck configures human spot checks (recorded only).
type HumanSpotCheck struct {
	Enabled       bool     `yaml:"enabled,omitempty" json:"enabled,omitempty"`
	SampleRate    *float64 `yaml:"sample_rate,omitempty" json:"sample_rate,omitempty"`
	TriggerOnJump *float64 `yaml:"trigger_on_jump,omitempty" json:"trigger_on_jump,omitempty"`
}

// OutcomeMetrics lists outcome metrics (recorded only).
type OutcomeMetrics struct {
	Metrics []string `yaml:"metrics,omitempty" json:"metrics,omitempty"`
}

// DatasetRef is the dataset: block: a JSONL file or inline cases.
type DatasetRef struct {
	CasesPath   string      `yaml:"cases_path,omitempty" json:"cases_path,omitempty"`
	CasesInline []yaml.Node `yaml:"cases_inline,omitempty" json:"-"`
	// Reference-only keys, recorded.
	ID   string `yaml:"id,omitempty" json:"id,omitempty"`
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
}

// Agent is the agent: block; exactly one of Command, HTTP, OpenAI, Builtin.
type Agent struct {
	Command        []string          `yaml:"command,omitempty" json:"command,omitempty"`
	HTTP           *HTTPAgent        `yaml:"http,omitempty" json:"http,omitempty"`
	OpenAI         *OpenAIAgent      `yaml:"openai,omitempty" json:"openai,omitempty"`
	Builtin        string            `yaml:"builtin,omitempty" json:"builtin,omitempty"`
	Worker         bool              `yaml:"worker,omitempty" json:"worker,omitempty"`
	Output         string            `yaml:"output,omitempty" json:"output,omitempty"`
	Env            map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	Workdir        string            `yaml:"workdir,omitempty" json:"workdir,omitempty"`
	Fingerprint    []string          `yaml:"fingerprint,omitempty" json:"fingerprint,omitempty"`
	MaxOutputBytes int64             `yaml:"max_output_bytes,omitempty" json:"max_output_bytes,omitempty"`
	// StartupTimeout is how long a worker process may take to start, on
	// top of run.timeout for its first call (DefaultStartupTimeout).
	StartupTimeout Duration `yaml:"startup_timeout,omitempty" json:"startup_timeout,omitempty"`
	// Workers fixes the number of worker processes (worker: true); by
	// default the pool starts one per core and grows toward
	// run.parallelism while the workers wait more than they compute. It
	// changes no answer, so the agent's fingerprint leaves it out.
	Workers int   `yaml:"workers,omitempty" json:"-"`
	OTLP    *OTLP `yaml:"otlp,omitempty" json:"otlp,omitempty"`
	// Entrypoint is the reference's in-process Python callable; it is
	// rejected with an explanation of the replacements.
	Entrypoint string `yaml:"entrypoint,omitempty" json:"-"`
}

// Kind names the adapter the block selects: command, http, openai or builtin.
func (a Agent) Kind() string {
	switch {
	case len(a.Command) > 0:
		return "command"
	case a.HTTP != nil:
		return "http"
	case a.OpenAI != nil:
		return "openai"
	case a.Builtin != "":
		return "builtin"
	}
	return ""
}

// OutputLimit is max_output_bytes with its default of 1 MiB.
func (a Agent) OutputLimit() int64 {
	if a.MaxOutputBytes <= 0 {
		return 1 << 20
	}
	return a.MaxOutputBytes
}

// HTTPAgent reaches an agent by HTTP POST.
type HTTPAgent struct {
	URL     string            `yaml:"url" json:"url"`
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
}

// OpenAIAgent reaches an OpenAI-compatible /chat/completions endpoint.
type OpenAIAgent struct {
	BaseURL   string            `yaml:"base_url" json:"base_url"`
	Model     string            `yaml:"model" json:"model"`
	APIKeyEnv string            `yaml:"api_key_env,omitempty" json:"api_key_env,omitempty"`
	Headers   map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
}

// GraderSpec is one entry of graders:.
type GraderSpec struct {
	Type          string `yaml:"type" json:"type"`
	Name          string `yaml:"name,omitempty" json:"name,omitempty"`
	CaseSensitive bool   `yaml:"case_sensitive,omitempty" json:"case_sensitive,omitempty"`
	// llm_judge
	Rubric      string   `yaml:"rubric,omitempty" json:"rubric,omitempty"`
	Template    string   `yaml:"template,omitempty" json:"template,omitempty"`
	Judge       *Agent   `yaml:"judge,omitempty" json:"judge,omitempty"`
	Card        string   `yaml:"card,omitempty" json:"card,omitempty"`
	Blocking    *bool    `yaml:"blocking,omitempty" json:"blocking,omitempty"`
	Parallelism int      `yaml:"parallelism,omitempty" json:"parallelism,omitempty"`
	Timeout     Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	Retries     *int     `yaml:"retries,omitempty" json:"retries,omitempty"`
	// JudgeEntrypoint is the reference's Python judge; rejected like
	// agent.entrypoint.
	JudgeEntrypoint string `yaml:"judge_entrypoint,omitempty" json:"-"`
}

// GraderName is the grader's name, defaulting to its type.
func (g GraderSpec) GraderName() string {
	if g.Name != "" {
		return g.Name
	}
	return g.Type
}

// Duration is a time.Duration written as "60s", "1m30s" or a number of
// seconds.
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML accepts "60s" or a number of seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected a duration like 60s, got a %s", kindName(n))
	}
	if n.Tag == "!!int" || n.Tag == "!!float" {
		var secs float64
		if err := n.Decode(&secs); err != nil {
			return err
		}
		if secs < 0 {
			return fmt.Errorf("duration must not be negative")
		}
		*d = Duration(secs * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("invalid duration %q (use a form like 30s, 2m or 1m30s)", n.Value)
	}
	if v < 0 {
		return fmt.Errorf("duration must not be negative")
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as "60s".
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// MarshalJSON writes the duration as "60s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}
