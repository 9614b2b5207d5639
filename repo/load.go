package repo

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-json"
	"github.com/selfevals/selfevals/internal/lazy"
	"gopkg.in/yaml.v3"
)

// LoadedSpec is an experiment spec read from disk or an fs.FS, validated,
// with its dataset located and identified.
type LoadedSpec struct {
	// Path is the spec file: an OS path, or its path in the fs.FS it was
	// loaded from.
	Path string
	Slug string // its stable name: the file name without .yaml
	// Root is the repository root every path must stay inside: an OS
	// path, or "." in an fs.FS (the whole of it).
	Root string
	Spec Spec
	// AsWritten is Spec as the file says it, before defaults: what a
	// comparison of two revisions of the file compares.
	AsWritten Spec
	Raw       []byte   // the file as read (candidate commits rewrite it)
	ID        string   // exp_…
	Dataset   *Dataset // nil when loaded with SpecOnly
	Warnings  []string
	file      file
	node      *yaml.Node
	// gradersUsed is the set of graders the cases select; nil when some
	// case runs them all.
	gradersUsed map[string]bool
}

// LoadOptions tell the loader where the repository is and what the
// settings' defaults are.
type LoadOptions struct {
	// Root is the repository root (the directory holding evals/). Empty means
	// the spec's nearest ancestor holding .git or evals/, else its directory.
	// A spec loaded from an fs.FS has the file system's root instead.
	Root     string
	Settings Settings
	// SpecOnly checks the spec and its dataset reference but reads no
	// cases: for readers that take the cases apart, past bad ones, with
	// LoadedSpec.ScanCases.
	SpecOnly bool
}

// A RevisionFS is a file tree at a named revision, such as a commit read
// from git (gitstore.Tree). The loaders name its files "<revision>:<path>"
// in messages, as git does, so a problem says which revision it is in.
type RevisionFS interface {
	fs.FS
	Revision() string
}

// BuiltinAgents are the agents compiled into selfevals (agent.builtin).
var BuiltinAgents = []string{"echo", "fake_judge", "hello", "pingpong"}

var slugPattern = lazy.Regexp(`^[a-z0-9][a-z0-9_.-]*$`)

// LoadExperiment reads, validates and identifies an experiment spec and its
// dataset. Every problem found is returned at once (Problems), in line
// order: unknown keys and wrong types, values that make no sense, and a
// dataset that is missing or has bad cases.
func LoadExperiment(path string, opts LoadOptions) (*LoadedSpec, error) {
	return loadExperiment(osFile(path), opts)
}

// LoadExperimentFS is LoadExperiment for the spec at name in fsys (a
// revision of the repository, its root the repository's): the dataset and
// cards it names must be in fsys too. opts.Root is not used.
func LoadExperimentFS(fsys fs.FS, name string, opts LoadOptions) (*LoadedSpec, error) {
	opts.Root = "."
	return loadExperiment(fsFile(fsys, name), opts)
}

func loadExperiment(f file, opts LoadOptions) (*LoadedSpec, error) {
	ls, err := readSpec(f, opts.Root)
	if err != nil {
		return nil, err
	}
	probs, broken := decodeLenient(f.name, ls.node, &ls.Spec, "")
	ls.AsWritten = ls.Spec
	more, datasetOK := ls.validate(opts.Settings, broken)
	probs = append(probs, more...)
	ls.applyDefaults(opts.Settings)
	if datasetOK && !opts.SpecOnly {
		// Which graders a case may name is unknown while the graders
		// block is broken, so the cases are then read without that check.
		more, err := ls.readDataset(!broken.under("graders"))
		if err != nil {
			return nil, err
		}
		probs = append(probs, more...)
	}
	if len(probs) > 0 {
		probs.SortByLineFrom(f.name)
		return nil, probs
	}
	if unused := ls.unusedGraders(); len(unused) > 0 {
		ls.Warnings = append(ls.Warnings, fmt.Sprintf("%s: graders %s are declared but no case runs them (every case names a subset in its graders list)", ls.file.name, strings.Join(unused, ", ")))
	}
	hashed := ls.Spec
	hashed.Experiment.Parameters = nil
	ls.ID, err = experimentID(&hashed)
	if err != nil {
		return nil, err
	}
	return ls, nil
}

// readSpec reads and parses a spec file. A file that is missing, is not
// YAML or is not a mapping cannot be checked any further.
func readSpec(f file, root string) (*LoadedSpec, error) {
	data, err := f.read()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &UserError{Msg: fmt.Sprintf("experiment spec not found: %s", f.name), Hint: nearbyFileHint(f)}
		}
		return nil, err
	}
	node, err := parseYAML(f.name, data)
	if err != nil {
		return nil, err
	}
	if node.Content[0].Kind != yaml.MappingNode {
		return nil, Problems{{File: f.name, Line: 1, Col: 1, Msg: "expected a mapping at the top level (experiment:, dataset:, agent:, graders:)"}}
	}
	ls := &LoadedSpec{Path: f.where(), Raw: data, node: node, Root: root, file: f}
	ls.Slug = strings.TrimSuffix(strings.TrimSuffix(path.Base(f.path), ".yaml"), ".yml")
	if ls.Root == "" {
		ls.Root = findRoot(filepath.Dir(f.name))
	}
	return ls, nil
}

// GraderNames lists the declared graders (deterministic when none are).
func (ls *LoadedSpec) GraderNames() []string {
	if len(ls.Spec.Graders) == 0 {
		return []string{"deterministic"}
	}
	names := make([]string, len(ls.Spec.Graders))
	for i, g := range ls.Spec.Graders {
		names[i] = g.GraderName()
	}
	return names
}

// validate checks the decoded spec block by block, each check judging
// only what the spec says (defaults come later). broken are the fields the
// strict decode reported and left out. datasetOK says whether the dataset
// reference is sound enough to read the dataset.
func (ls *LoadedSpec) validate(settings Settings, broken brokenFields) (probs Problems, datasetOK bool) {
	c := &specCheck{ls: ls, settings: settings, broken: broken}
	c.fileName()
	if c.experimentBlock() {
		e := &ls.Spec.Experiment
		c.identity(e)
		c.target(e.Target)
		c.searchSpace(e)
		c.proposer(e)
		c.run(e.Run)
		c.reliability(e.Reliability)
		c.decision(e.Decision)
		c.errorAnalysis(e.ErrorAnalysis)
		c.judgeDefenses(e.JudgeDefenses)
		c.unavailable(e)
	}
	datasetOK = c.datasetRef()
	c.agent("agent", &ls.Spec.Agent)
	c.graders()
	return c.probs, datasetOK
}

// specCheck collects the problems of one spec.
type specCheck struct {
	ls       *LoadedSpec
	settings Settings
	broken   brokenFields
	probs    Problems
}

// add reports a problem at field, unless the strict decode already
// reported that field or one holding it: its value was left out, so what
// could be said about the default in its place would be noise.
func (c *specCheck) add(field, msg, hint string) {
	if c.broken.at(field) {
		return
	}
	c.probs = append(c.probs, at(c.ls.file.name, c.ls.node, field, msg, hint))
}

// enum reports a set value that is not one of allowed.
func (c *specCheck) enum(field, v string, allowed ...string) {
	if v != "" && !slices.Contains(allowed, v) {
		hint := "one of " + strings.Join(allowed, ", ")
		if sg := Suggest(v, allowed); sg != "" {
			hint = fmt.Sprintf("did you mean %q?", sg)
		}
		c.add(field, fmt.Sprintf("unknown value %q", v), hint)
	}
}

// inRange reports a set (non-zero) value outside lo..hi.
func (c *specCheck) inRange(field string, v, lo, hi int) {
	if v != 0 && (v < lo || v > hi) {
		c.add(field, fmt.Sprintf("must be between %d and %d", lo, hi), "")
	}
}

// retries reports a retry count outside 0..10.
func (c *specCheck) retries(field string, r *int) {
	if r != nil && (*r < 0 || *r > 10) {
		c.add(field, "must be between 0 and 10", "")
	}
}

// block reports a top-level block that is missing, and says whether there
// is one to check. A block the strict decode reported (a misspelt key, or
// not a mapping) was left out: saying it is missing too would be noise.
func (c *specCheck) block(key, hint string) bool {
	if c.broken.at(key) {
		return false
	}
	if _, v := findNode(c.ls.node, key); v == nil {
		c.add("", fmt.Sprintf("missing the %s: block", key), hint)
		return false
	}
	return true
}

// fileName checks the spec's file name, its stable slug, and notes the
// keys that are accepted but ignored.
func (c *specCheck) fileName() {
	ls, s := c.ls, &c.ls.Spec
	if !slugPattern().MatchString(ls.Slug) {
		c.add("", fmt.Sprintf("file name %q is not a valid experiment slug", path.Base(ls.file.path)), "use lower-case letters, digits, '-', '_' and '.', e.g. support-reply.yaml")
	} else if why := refNameProblem(ls.Slug); why != "" {
		c.add("", fmt.Sprintf("file name %q cannot name the experiment's git branch selfevals/%s: %s", path.Base(ls.file.path), ls.Slug, why), "rename the file, e.g. support-reply.yaml")
	}
	if s.Workspace != "" || s.WorkspaceID != "" || s.Experiment.WorkspaceID != "" {
		ls.Warnings = append(ls.Warnings, fmt.Sprintf("%s: workspace/workspace_id is ignored: the repository is the workspace", ls.file.name))
	}
	if e := s.Experiment; e.Frozen != nil || e.Datasets != nil {
		ls.Warnings = append(ls.Warnings, fmt.Sprintf("%s: experiment frozen: and datasets: name entities of the reference's registry; they are recorded in the run manifest, not enforced (editable: says what may change, and the dataset's ID which cases ran)", ls.file.name))
	}
	if e := s.Experiment; e.ID != "" || e.State != "" || e.Version != 0 || e.CreatedAt != "" || e.UpdatedAt != "" || e.ContentHash != "" {
		ls.Warnings = append(ls.Warnings, fmt.Sprintf("%s: experiment id, state, version, created_at, updated_at and content_hash are ignored: the experiment's ID is its content hash and git keeps its history", ls.file.name))
	}
}

// unavailable refuses the reference's keys that selfevals accepts but has
// no behaviour for, when they ask for more than selfevals does: a spec
// that loads must run as it says. The values that describe what selfevals
// does anyway (sandbox: mock, sample_strategy: full, ...) load, so the
// reference's specs do.
func (c *specCheck) unavailable(e *Experiment) {
	if e.Proposer.AllowSearchSpaceExpansion {
		c.add("experiment.proposer.allow_search_space_expansion", "is not available: the grid and random proposers try only the values in search_space", "add the values to search_space, or remove the key")
	}
	if e.Run.Sandbox == "dry_run" {
		c.add("experiment.run.sandbox", "sandbox dry_run is not available: selfevals always calls the agent", "selfevals estimate shows a run's calls and cost without making them")
	}
	if oneOf(e.Run.SampleStrategy, "stratified", "random_subset") {
		c.add("experiment.run.sample_strategy", fmt.Sprintf("sample_strategy %s is not available: every iteration runs every case, so iterations compare on the same cases", e.Run.SampleStrategy), "use full, or a smaller dataset")
	}
	if e.Decision.IfJudgeHumanDisagree == "investigate" {
		c.add("experiment.decision.if_judge_human_disagree", "investigate is not available: a blocking judge whose card misses its calibration thresholds runs as advisory", "use escalate_to_calibration (what selfevals does), and selfevals grader calibrate")
	}
	if e.ErrorAnalysis.Scope == "all" {
		c.add("experiment.error_analysis.scope", "scope all is not available in the spec", "pass --all to selfevals analyze pull to include passing traces")
	}
	c.judgeDefensesUsed(e.JudgeDefenses)
}

// judgeDefensesUsed refuses the judge defenses that would need a
// mechanism selfevals does not have; the block is otherwise recorded in
// the run manifest.
func (c *specCheck) judgeDefensesUsed(jd *JudgeDefenses) {
	if jd == nil {
		return
	}
	const f = "experiment.judge_defenses."
	const hint = "selfevals records judge_defenses in the run manifest but does not apply this one; remove it"
	if jd.HoldoutVisibleToProposer {
		c.add(f+"holdout_visible_to_proposer", "is not available: no proposer reads cases", hint)
	}
	if jd.Panel != nil && len(jd.Panel.Members) > 0 {
		c.add(f+"panel", "judge panels are not available", "declare each judge as an llm_judge grader and name them in guardrails (pass@1[<grader>])")
	}
	if jd.Counterfactuals != nil && jd.Counterfactuals.Enabled {
		c.add(f+"counterfactuals.enabled", "counterfactual checks are not available", hint)
	}
	if jd.HumanSpotCheck != nil && jd.HumanSpotCheck.Enabled {
		c.add(f+"human_spot_check.enabled", "human spot checks are not available", "label outputs and run selfevals grader calibrate")
	}
	if jd.AdversarialDataset != nil {
		c.add(f+"adversarial_dataset", "adversarial datasets are not available", "run a second experiment on the adversarial cases")
	}
	if jd.OutcomeMetrics != nil && len(jd.OutcomeMetrics.Metrics) > 0 {
		c.add(f+"outcome_metrics", "outcome metrics are not available", "use guardrails on the metrics selfevals computes")
	}
	if jd.OverfitPenaltyMaxDelta != nil {
		c.ls.Warnings = append(c.ls.Warnings, fmt.Sprintf("%s: judge_defenses.overfit_penalty_max_delta is recorded in the run manifest but not applied", c.ls.file.name))
	}
}

func (c *specCheck) experimentBlock() bool {
	return c.block("experiment", "the spec needs experiment:, dataset: and agent:")
}

// defaultMode is the mode of a spec that names none.
const defaultMode = "handoff"

// identity checks what the experiment is: its name, goal, mode and
// taxonomy.
func (c *specCheck) identity(e *Experiment) {
	if strings.TrimSpace(e.Name) == "" {
		c.add("experiment.name", "required", "a short human name for the experiment")
	}
	if strings.TrimSpace(e.Goal) == "" {
		c.add("experiment.goal", "required", "one sentence saying what the experiment should achieve")
	}
	c.enum("experiment.mode", e.Mode, "handoff", "agent_loop")
	c.modeSurfaces(e)
	if t := e.Taxonomy; t != nil {
		c.unique("experiment.taxonomy.target_features", t.TargetFeatures)
		c.unique("experiment.taxonomy.target_levels", t.TargetLevels)
		c.unique("experiment.taxonomy.dataset_types", t.DatasetTypes)
		for _, d := range t.DatasetTypes {
			c.enum("experiment.taxonomy.dataset_types", d, DatasetTypes...)
		}
		for _, l := range t.TargetLevels {
			c.enum("experiment.taxonomy.target_levels", l, CaseLevels...)
		}
	}
}

// modeSurfaces rejects editable surfaces that only the agent_loop mode
// can change.
func (c *specCheck) modeSurfaces(e *Experiment) {
	mode := cmp.Or(e.Mode, defaultMode)
	if mode == "agent_loop" || c.broken.at("experiment.mode") {
		return // a mode the strict decode left out may well have been agent_loop
	}
	var needs []string
	for _, sfc := range []string{"tool_code", "workflow_graph", "skills"} {
		if e.Editable.Allows(sfc) {
			needs = append(needs, sfc)
		}
	}
	if len(needs) > 0 {
		c.add("experiment.editable", fmt.Sprintf("editable %s requires mode: agent_loop; got mode: %s", strings.Join(needs, ", "), mode), "")
	}
}

// unique reports the entries of a list that are listed twice.
func (c *specCheck) unique(field string, list []string) {
	seen := map[string]bool{}
	for _, v := range list {
		if seen[v] {
			c.add(field, fmt.Sprintf("%q is listed twice", v), "entries must be unique")
		}
		seen[v] = true
	}
}

// target checks the primary metric and the guardrails.
func (c *specCheck) target(t Target) {
	if _, v := findNode(c.ls.node, "experiment.target.primary"); v == nil {
		c.add("experiment.target.primary", "required", `e.g. primary: {name: pass@1, operator: ">=", value: 0.8}`)
	} else {
		c.metric("experiment.target.primary", t.Primary)
	}
	for i, g := range t.Guardrails {
		c.metric(fmt.Sprintf("experiment.target.guardrails[%d]", i), g)
	}
}

// metric checks a metric target's name and operator.
func (c *specCheck) metric(field string, m MetricTarget) {
	switch {
	case m.Name == "":
		c.add(field+".name", "required", "e.g. pass@1")
	case c.broken.under("graders"):
		// Metrics may name graders, and not every grader was decoded: the
		// name cannot be judged.
	case !KnownMetric(m.Name, c.ls.GraderNames()) && passAtGrade().MatchString(m.Name):
		g := passAtGrade().FindStringSubmatch(m.Name)[1]
		hint := "declared graders: " + strings.Join(c.ls.GraderNames(), ", ")
		if sg := Suggest(g, c.ls.GraderNames()); sg != "" {
			hint = fmt.Sprintf("did you mean pass@1[%s]? %s", sg, hint)
		}
		c.add(field+".name", fmt.Sprintf("metric %q names grader %q, which the spec does not declare", m.Name, g), hint)
	case !KnownMetric(m.Name, c.ls.GraderNames()):
		hint := "known metrics: " + MetricNames()
		if sg := MetricSuggestion(m.Name); sg != "" {
			hint = fmt.Sprintf("did you mean %q? known metrics: %s", sg, MetricNames())
		}
		c.add(field+".name", fmt.Sprintf("unknown metric %q", m.Name), hint)
	}
	if !oneOf(m.Operator, ">", ">=", "<", "<=", "==") {
		c.add(field+".operator", fmt.Sprintf("unknown operator %q", m.Operator), `one of ">", ">=", "<", "<=", "=="`)
	}
}

// searchSpace checks that every searched surface is editable and that
// every entry leaves something to try.
func (c *specCheck) searchSpace(e *Experiment) {
	// The entries' checks depend on the strategy; one the strict decode
	// left out is unknown, so they skip what depends on it.
	strategy, strategyKnown := e.Proposer.Strategy, !c.broken.at("experiment.proposer.strategy")
	for _, b := range e.SearchSpace.Surfaces() {
		field := "experiment.search_space." + b.Key
		c.surface(e.Editable, field, b.Key)
		for _, kv := range b.Entries {
			c.searchEntry(field+"."+kv.Key, kv.Value, strategy, strategyKnown)
		}
	}
}

// surface enforces the editable contract: nothing may propose a change to
// a frozen surface, so it is rejected before anything runs.
func (c *specCheck) surface(ed Editable, field, key string) {
	sfc, ok := SurfaceOf(key)
	if !ok || ed.Allows(sfc) {
		return
	}
	if c.broken.at("experiment.editable." + sfc) {
		return // its flag was left out and reads as the default, not as written
	}
	c.add(field, fmt.Sprintf("searches %s, but the %s surface is not editable", key, sfc), fmt.Sprintf("set experiment.editable.%s: true or remove it", sfc))
}

// searchEntry checks one search-space entry: a list of values, a
// {choices: [...]} mapping or a {min, max} range.
func (c *specCheck) searchEntry(field string, v any, strategy string, strategyKnown bool) {
	switch x := v.(type) {
	case []any:
		if len(x) == 0 {
			c.add(field, "an empty list leaves nothing to try", "list at least one value")
		}
	case map[string]any:
		if choices, ok := x["choices"]; ok {
			if l, ok := choices.([]any); !ok || len(l) == 0 {
				c.add(field, "choices must be a non-empty list", "")
			}
			return
		}
		if lo, hi, ok := searchRange(x); ok {
			c.searchRange(field, lo, hi, strategy, strategyKnown)
		}
	}
}

// searchRange checks a {min, max} range entry: numeric bounds in order,
// and a proposer that can sample it.
func (c *specCheck) searchRange(field string, lo, hi any, strategy string, strategyKnown bool) {
	lf, ok1 := Number(lo)
	hf, ok2 := Number(hi)
	if !ok1 || !ok2 {
		c.add(field, "a range needs numeric min and max", "e.g. {min: 0.5, max: 1.0}")
	} else if lf > hf {
		c.add(field, fmt.Sprintf("min %s is above max %s", FormatNumber(lf), FormatNumber(hf)), "")
	}
	if strategyKnown && (strategy == "grid" || strategy == "") {
		c.add(field, "a {min, max} range can only be sampled by the random proposer", "use proposer: {strategy: random} or list the grid values")
	}
}

// searchRange is the bounds of a {min, max} (or {lo, hi}) mapping; ok is
// false when it has neither.
func searchRange(x map[string]any) (lo, hi any, ok bool) {
	lo, hasLo := x["min"]
	hi, hasHi := x["max"]
	if !hasLo && !hasHi {
		lo, hasLo = x["lo"]
		hi, hasHi = x["hi"]
	}
	return lo, hi, hasLo || hasHi
}

// proposer checks the strategy and what it needs: proposals for manual, a
// search space for grid and random. An unset strategy is judged as unset:
// the one inferred from the spec always has what it needs.
func (c *specCheck) proposer(e *Experiment) {
	p := &e.Proposer
	switch p.Strategy {
	case "", "manual", "grid", "random":
	case "bayesian", "bandit", "evolutionary", "llm_proposer":
		c.add("experiment.proposer.strategy", fmt.Sprintf("strategy %s is not available", p.Strategy), "use manual, grid, or random")
	default:
		c.enum("experiment.proposer.strategy", p.Strategy, "manual", "grid", "random")
	}
	if p.Strategy == "manual" && len(p.Parameters.Proposals) == 0 {
		c.add("experiment.proposer.parameters.proposals", "the manual proposer needs a non-empty list of proposals", "")
	}
	// A search space the strict decode left part of may look empty.
	if (p.Strategy == "grid" || p.Strategy == "random") && len(e.SearchSpace.Surfaces()) == 0 && !c.broken.under("experiment.search_space") {
		c.add("experiment.search_space", fmt.Sprintf("the %s proposer needs a search_space", p.Strategy), "e.g. search_space: {model_params: {temperature: [0.0, 0.7]}}")
	}
	if p.Parameters.MaxProposals < 0 {
		c.add("experiment.proposer.parameters.max_proposals", "must be >= 1", "")
	}
	for i, prop := range p.Parameters.Proposals {
		for k := range prop {
			if k != "hypothesis" {
				c.surface(e.Editable, fmt.Sprintf("experiment.proposer.parameters.proposals[%d]", i), k)
			}
		}
	}
}

// run checks the run: block's settings that the spec sets.
func (c *specCheck) run(r RunSettings) {
	if r.Sandbox == "live_sandboxed" || r.Sandbox == "live_canary" {
		c.add("experiment.run.sandbox", fmt.Sprintf("sandbox %s is not available", r.Sandbox), "use mock or dry_run")
	} else {
		c.enum("experiment.run.sandbox", r.Sandbox, "mock", "dry_run")
	}
	c.enum("experiment.run.runtime", r.Runtime, Runtimes...)
	c.enum("experiment.run.sample_strategy", r.SampleStrategy, "full", "stratified", "random_subset")
	c.inRange("experiment.run.max_iterations", r.MaxIterations, 1, 10000)
	c.inRange("experiment.run.repetitions_per_case", r.RepetitionsPerCase, 1, 100)
	c.inRange("experiment.run.parallelism", r.Parallelism, 1, 4096)
	// The settings file does not range-check its retries default, so the
	// count that will apply is checked here.
	retries := r.Retries
	if retries == nil {
		retries = c.settings.Defaults.Retries
	}
	c.retries("experiment.run.retries", retries)
	if r.Convergence.MinDelta != nil && *r.Convergence.MinDelta < 0 {
		c.add("experiment.run.convergence.min_delta", "must be >= 0", "")
	}
	if r.Convergence.Patience < 0 {
		c.add("experiment.run.convergence.patience", "must be >= 1", "")
	}
	c.enum("experiment.run.persist_traces", r.PersistTraces, "none", "failed", "all")
}

// reliability checks the reliability metrics to report.
func (c *specCheck) reliability(rel Reliability) {
	for i, m := range rel.Metrics {
		if !reliability().MatchString(m) {
			c.add(fmt.Sprintf("experiment.reliability.metrics[%d]", i), fmt.Sprintf("reliability metric %q must be pass@N, pass^N, consistency_rate, stability_score or recovery_rate", m), "")
		}
	}
	c.inRange("experiment.reliability.repetitions_per_case", rel.RepetitionsPerCase, 1, 100)
}

// decision checks the decision policy.
func (c *specCheck) decision(d DecisionPolicy) {
	c.enum("experiment.decision.if_regression_fails", d.IfRegressionFails, "reject", "investigate", "spawn_subexperiment")
	c.enum("experiment.decision.if_guardrail_fails", d.IfGuardrailFails, "reject", "require_tradeoff_review")
	c.enum("experiment.decision.if_judge_human_disagree", d.IfJudgeHumanDisagree, "escalate_to_calibration", "investigate")
	c.enum("experiment.decision.significance", d.Significance, "report", "require")
	if d.Confidence < 0 || d.Confidence >= 1 {
		c.add("experiment.decision.confidence", "must be between 0 and 1 (e.g. 0.95)", "")
	}
}

// errorAnalysis checks when and over what error analysis is triggered.
func (c *specCheck) errorAnalysis(ea ErrorAnalysis) {
	c.enum("experiment.error_analysis.taxonomy", ea.Taxonomy, "workspace")
	c.enum("experiment.error_analysis.trigger.when", ea.Trigger.When, "fail_rate_above")
	if t := ea.Trigger.ThresholdValue(); t < 0 || t > 1 {
		c.add("experiment.error_analysis.trigger.threshold", "must be between 0 and 1", "")
	}
	c.enum("experiment.error_analysis.scope", ea.Scope, "failed_only", "all")
}

// judgeDefenses checks the one value of the recorded judge_defenses:
// block that has a fixed set of values.
func (c *specCheck) judgeDefenses(jd *JudgeDefenses) {
	if jd != nil && jd.Panel != nil {
		c.enum("experiment.judge_defenses.panel.consensus_rule", jd.Panel.ConsensusRule, "majority", "unanimous", "weighted")
	}
}

// datasetRef checks the dataset: block and says whether the dataset can
// be read: it has exactly one source, and a cases_path stays inside the
// repository.
func (c *specCheck) datasetRef() bool {
	// A source the strict decode left out leaves which cases are meant
	// unknown.
	if !c.block("dataset", "add dataset: {cases_path: ../datasets/<name>.jsonl}") || c.broken.at("dataset.cases_path") || c.broken.at("dataset.cases_inline") {
		return false
	}
	d, ls := c.ls.Spec.Dataset, c.ls
	switch {
	case d.CasesPath != "" && len(d.CasesInline) > 0:
		c.add("dataset", "has both cases_path and cases_inline", "keep one of them")
		return false
	case d.CasesPath == "" && len(d.CasesInline) == 0:
		c.add("dataset", "needs cases_path or cases_inline", "")
		return false
	case d.CasesPath == "":
		return true
	case filepath.IsAbs(d.CasesPath):
		c.add("dataset.cases_path", "must be relative to the spec file", "")
		return false
	case !ls.holds(ls.file.rel(d.CasesPath)):
		where := "the repository"
		if ls.file.onDisk {
			where += " " + ls.Root
		}
		c.add("dataset.cases_path", fmt.Sprintf("%s is outside %s", d.CasesPath, where), "keep datasets inside the repository, e.g. evals/datasets/")
		return false
	}
	return true
}

// agent checks an agent block (the spec's agent: or a judge:): exactly one
// adapter, and that adapter's settings.
func (c *specCheck) agent(field string, a *Agent) {
	if field == "agent" && !c.block("agent", "e.g. agent: {command: [python3, agents/my_agent.py]} or agent: {builtin: echo}") {
		return
	}
	if a.Entrypoint != "" {
		c.add(field+".entrypoint", "in-process Python entrypoints are not supported by selfevals",
			"run the agent as a program instead: command: [python3, agents/my_agent.py] (request JSON on stdin, response JSON on stdout), "+
				"or serve it and use http: {url: ...}, or use builtin: pingpong for the example")
		return
	}
	if c.agentKind(field, a) {
		c.adapter(field, a)
	}
}

// adapter checks the settings of the agent's adapter.
func (c *specCheck) adapter(field string, a *Agent) {
	if len(a.Command) == 0 && !c.broken.at(field+".command") {
		// These set up a process; another adapter would ignore them.
		for _, k := range []struct {
			key string
			set bool
		}{{"worker", a.Worker}, {"env", a.Env != nil}, {"workdir", a.Workdir != ""}, {"output", a.Output != ""}} {
			if k.set {
				c.add(field+"."+k.key, "only applies to command agents", "")
			}
		}
	}
	if a.StartupTimeout != 0 && !a.Worker && !c.broken.at(field+".worker") {
		c.add(field+".startup_timeout", "only applies to worker agents (worker: true)", "a command agent without worker starts for every call: its start-up is part of run.timeout")
	}
	if a.Workers != 0 && !a.Worker && !c.broken.at(field+".worker") {
		c.add(field+".workers", "only applies to worker agents (worker: true)", "")
	}
	if a.Workers < 0 {
		c.add(field+".workers", "must be at least 1", "e.g. workers: 4, or leave it out to size the pool to the cores")
	}
	if a.StartupTimeout < 0 {
		c.add(field+".startup_timeout", "must be positive", "e.g. startup_timeout: 30s")
	}
	if a.Output != "" && !oneOf(a.Output, "json", "text") {
		c.add(field+".output", fmt.Sprintf("unknown value %q", a.Output), "json (default) or text")
	}
	if a.Builtin != "" && !slices.Contains(BuiltinAgents, a.Builtin) {
		c.add(field+".builtin", fmt.Sprintf("unknown builtin agent %q", a.Builtin), "available: "+strings.Join(BuiltinAgents, ", "))
	}
	if a.MaxOutputBytes < 0 {
		c.add(field+".max_output_bytes", "must be positive", "")
	}
	if a.MaxOutputBytes > MaxAnswerBytes {
		c.add(field+".max_output_bytes", fmt.Sprintf("%d is over the largest answer a run records (%d, 16 MiB)", a.MaxOutputBytes, MaxAnswerBytes),
			"keep answers under 16 MiB; write bigger artefacts to files and answer with their paths")
	}
	if h := a.HTTP; h != nil {
		c.url(field+".http.url", h.URL)
	}
	if o := a.OpenAI; o != nil {
		c.url(field+".openai.base_url", o.BaseURL)
		if o.Model == "" {
			c.add(field+".openai.model", "required", "the model name the endpoint serves")
		}
	}
	c.fingerprints(field, a.Fingerprint)
	c.otlp(field, a.OTLP)
	if len(a.Command) > 0 {
		c.workdir(field, a.Workdir)
	}
}

// agentKind checks that the block sets exactly one adapter and says
// whether it sets any.
func (c *specCheck) agentKind(field string, a *Agent) bool {
	kinds := 0
	for _, set := range []bool{len(a.Command) > 0, a.HTTP != nil, a.OpenAI != nil, a.Builtin != ""} {
		if set {
			kinds++
		}
	}
	for _, k := range []string{"command", "http", "openai", "builtin"} {
		if c.broken.at(field + "." + k) {
			return kinds > 0 // an adapter the strict decode left out would make the count wrong
		}
	}
	switch {
	case kinds == 0:
		c.add(field, "needs exactly one of command, http, openai or builtin", "")
	case kinds > 1:
		c.add(field, "sets more than one of command, http, openai and builtin", "keep exactly one")
	}
	return kinds > 0
}

// url checks an http(s) URL, which may hold ${NAME} references.
func (c *specCheck) url(field, raw string) {
	if raw == "" {
		c.add(field, "required", "")
		return
	}
	// ${NAME} is expanded at run time; check the shape with a placeholder.
	u, err := url.Parse(envRef().ReplaceAllString(raw, "x"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		c.add(field, fmt.Sprintf("%q is not an http(s) URL", raw), "e.g. http://127.0.0.1:8080/agent")
	}
}

// fingerprints checks that the files fingerprinting an agent are inside
// the repository.
func (c *specCheck) fingerprints(field string, paths []string) {
	for i, fp := range paths {
		f := fmt.Sprintf("%s.fingerprint[%d]", field, i)
		switch {
		case !c.ls.holdsPath(fp):
			c.add(f, fmt.Sprintf("%s is outside the repository", fp), "paths are relative to the repository root")
		case !c.ls.rootHas(fp, false):
			c.add(f, fmt.Sprintf("%s does not exist", fp), "paths are relative to the repository root")
		}
	}
}

// workdir checks that a command agent's working directory is a directory
// of the repository.
func (c *specCheck) workdir(field, dir string) {
	switch {
	case dir == "":
	case !c.ls.holdsPath(dir):
		c.add(field+".workdir", fmt.Sprintf("%s is outside the repository", dir), "it is relative to the repository root")
	case !c.ls.rootHas(dir, true):
		c.add(field+".workdir", fmt.Sprintf("%s is not a directory", dir), "it is relative to the repository root")
	}
}

// rootHas reports whether p, a path inside the repository (relative to its
// root, or absolute on disk), exists, and is a directory when dir is set.
func (ls *LoadedSpec) rootHas(p string, dir bool) bool {
	var st fs.FileInfo
	var err error
	if ls.file.onDisk {
		if !filepath.IsAbs(p) {
			p = filepath.Join(ls.Root, p)
		}
		st, err = os.Stat(p)
	} else {
		st, err = fs.Stat(ls.file.fsys, path.Clean(filepath.ToSlash(p)))
	}
	return err == nil && (!dir || st.IsDir())
}

var envRef = lazy.Regexp(`\$\{[A-Za-z_][A-Za-z0-9_]*\}`)

// JudgePlaceholders are the names an llm_judge template may use (graders
// renders them).
var JudgePlaceholders = []string{"rubric", "input", "output", "expected"}

var judgePlaceholder = lazy.Regexp(`\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)

// graders checks each grader: its type, the settings that type takes, and
// that names are unique.
func (c *specCheck) graders() {
	seen := map[string]bool{}
	for i := range c.ls.Spec.Graders {
		g := &c.ls.Spec.Graders[i]
		f := fmt.Sprintf("graders[%d]", i)
		switch g.Type {
		case "deterministic":
			if g.Rubric != "" || g.Judge != nil || g.Template != "" || g.Card != "" || g.Blocking != nil ||
				g.Parallelism != 0 || g.Timeout != 0 || g.Retries != nil {
				c.add(f, "rubric, judge, template, card, blocking, parallelism, timeout and retries only apply to llm_judge graders", "")
			}
		case "llm_judge":
			if g.CaseSensitive {
				c.add(f+".case_sensitive", "only applies to deterministic graders", "the judge reads the output as it is")
			}
			c.judgeGrader(f, g)
		case "":
			c.add(f+".type", "required", "deterministic or llm_judge")
		default:
			hint := "deterministic or llm_judge"
			if sg := Suggest(g.Type, []string{"deterministic", "llm_judge"}); sg != "" {
				hint = fmt.Sprintf("did you mean %q?", sg)
			}
			c.add(f+".type", fmt.Sprintf("unknown grader type %q", g.Type), hint)
		}
		name := g.GraderName()
		if seen[name] {
			c.add(f+".name", fmt.Sprintf("grader name %q is used twice", name), "give each grader a unique name")
		}
		seen[name] = true
	}
}

// judgeGrader checks an llm_judge grader: its rubric, judge adapter, card,
// template and limits.
func (c *specCheck) judgeGrader(f string, g *GraderSpec) {
	if strings.TrimSpace(g.Rubric) == "" {
		c.add(f+".rubric", "an llm_judge needs a non-empty rubric", "")
	}
	switch {
	case g.JudgeEntrypoint != "":
		c.add(f+".judge_entrypoint", "in-process Python judges are not supported", "set judge: {command: [...]} / {http: ...} / {openai: ...} / {builtin: ...}")
	case g.Judge == nil:
		c.add(f+".judge", "an llm_judge needs a judge: adapter", "e.g. judge: {openai: {base_url: http://127.0.0.1:11434/v1, model: llama3.2}}")
	default:
		c.agent(f+".judge", g.Judge)
	}
	if g.Card != "" {
		c.card(f, g)
	}
	if g.Template != "" {
		c.judgeTemplate(f+".template", g.Template)
	}
	c.inRange(f+".parallelism", g.Parallelism, 1, 4096)
	c.retries(f+".retries", g.Retries)
}

// card checks the grader card an llm_judge names: it exists, has no
// problems of its own (reported in the card, with the spec's) and is
// this grader's card, as the run will check.
func (c *specCheck) card(f string, g *GraderSpec) {
	cf := c.ls.file.rel(g.Card)
	if _, err := cf.stat(); err != nil {
		c.add(f+".card", fmt.Sprintf("grader card %s not found", g.Card), "card is relative to the spec file")
		return
	}
	card, err := loadGraderCard(cf)
	var probs Problems
	switch {
	case errors.As(err, &probs):
		c.probs = append(c.probs, probs...)
	case err != nil:
		c.add(f+".card", fmt.Sprintf("grader card %s: %v", g.Card, err), "")
	case card.Name != g.GraderName():
		c.add(f+".card", fmt.Sprintf("%s is the card of grader %q, not of %s", g.Card, card.Name, g.GraderName()), "set the card's name: to the grader's name, or point card: at the right file")
	}
}

// judgeTemplate checks an llm_judge template's placeholders.
func (c *specCheck) judgeTemplate(field, tmpl string) {
	for _, m := range judgePlaceholder().FindAllStringSubmatch(tmpl, -1) {
		if !slices.Contains(JudgePlaceholders, m[1]) {
			c.add(field, fmt.Sprintf("unknown placeholder {{%s}}", m[1]), "available: {{rubric}}, {{input}}, {{output}}, {{expected}}")
		}
	}
	if !strings.Contains(judgePlaceholder().ReplaceAllString(tmpl, "{{$1}}"), "{{output}}") {
		c.add(field, "has no {{output}} placeholder", "the judge would never see the agent's answer")
	}
}

// applyDefaults fills in what the spec leaves unset: from the settings
// where they have a default, else selfevals' own.
func (ls *LoadedSpec) applyDefaults(settings Settings) {
	e := &ls.Spec.Experiment
	e.Mode = cmp.Or(e.Mode, defaultMode)
	if e.Proposer.Strategy == "" {
		switch {
		case len(e.Proposer.Parameters.Proposals) > 0:
			e.Proposer.Strategy = "manual"
		case len(e.SearchSpace.Surfaces()) > 0:
			e.Proposer.Strategy = "grid"
		}
	}
	r := &e.Run
	r.MaxIterations = cmp.Or(r.MaxIterations, 20)
	r.RepetitionsPerCase = cmp.Or(r.RepetitionsPerCase, max(settings.Defaults.RepetitionsPerCase, e.Reliability.RepetitionsPerCase, 1))
	r.Parallelism = cmp.Or(r.Parallelism, settings.Defaults.Parallelism, DefaultParallelism)
	r.Timeout = cmp.Or(r.Timeout, settings.Defaults.Timeout, DefaultTimeout)
	if r.Retries == nil {
		r.Retries = settings.Defaults.Retries
	}
	r.Convergence.Patience = cmp.Or(r.Convergence.Patience, 3)
	r.PersistTraces = cmp.Or(r.PersistTraces, settings.Results.PersistTraces, "all")
	d := &e.Decision
	d.IfRegressionFails = cmp.Or(d.IfRegressionFails, "reject")
	d.IfGuardrailFails = cmp.Or(d.IfGuardrailFails, "require_tradeoff_review")
	d.Significance = cmp.Or(d.Significance, "require")
	d.Confidence = cmp.Or(d.Confidence, 0.95)
	ea := &e.ErrorAnalysis
	ea.Trigger.When = cmp.Or(ea.Trigger.When, "fail_rate_above")
	ea.Scope = cmp.Or(ea.Scope, "failed_only")
}

// CasesPath is the dataset file as a path usable from the current directory
// (for a spec loaded from an fs.FS, its path there); empty for inline cases.
func (ls *LoadedSpec) CasesPath() string {
	if ls.Spec.Dataset.CasesPath == "" {
		return ""
	}
	return ls.casesFile().where()
}

func (ls *LoadedSpec) casesFile() file { return ls.file.rel(ls.Spec.Dataset.CasesPath) }

// ScanCases reads the spec's cases, from its dataset file or inline, and
// calls fn in order with each case or, for a bad one, nil and its
// problems, each checked as the loader checks it. Unlike the loader it
// goes on past bad cases, and it neither checks that case IDs are unique
// nor that cases name declared graders: it is for readers that show what
// they can of a broken revision.
func (ls *LoadedSpec) ScanCases(fn func(*Case, Problems)) error {
	if ls.Spec.Dataset.CasesPath != "" {
		return scanCases(ls.casesFile(), fn)
	}
	ls.eachInline(func(_ int, c *Case, p Problems) { fn(c, p) })
	return nil
}

// EachCaseLine calls fn, in order, with every line of the spec's dataset
// file that holds a case, undecoded (blank lines and // comments skipped,
// as the loader skips them); raw is only valid during the call. With
// DecodeCaseLine it serves readers that decode only some lines: a diff of
// two revisions decodes just the lines that differ. Inline cases have no
// lines (ScanCases reads them).
func (ls *LoadedSpec) EachCaseLine(fn func(raw []byte, line int) error) error {
	if ls.Spec.Dataset.CasesPath == "" {
		return nil
	}
	return eachCaseLine(ls.casesFile(), fn)
}

// DecodeCaseLine checks and identifies a line of the spec's dataset file as
// the loader does.
func (ls *LoadedSpec) DecodeCaseLine(raw []byte, line int) (*Case, Problems) {
	return DecodeCaseJSON(ls.casesFile().name, line, raw)
}

// eachInline decodes the spec's inline cases in order; fn gets each case
// or the problems of a bad one.
func (ls *LoadedSpec) eachInline(fn func(i int, c *Case, p Problems)) {
	for i := range ls.Spec.Dataset.CasesInline {
		c, p := DecodeCaseNode(ls.file.name, &ls.Spec.Dataset.CasesInline[i], inlineField(i))
		fn(i, c, p)
	}
}

func inlineField(i int) string { return fmt.Sprintf("dataset.cases_inline[%d]", i) }

// readDataset loads the dataset into ls.Dataset, checking that cases name
// only declared graders when checkGraders is set. Bad cases, and a
// cases_path that names no file, are problems of the load; anything else
// (an unreadable file) is an error.
func (ls *LoadedSpec) readDataset(checkGraders bool) (Problems, error) {
	var check func(*Case) Problems
	if checkGraders {
		check = ls.caseGradersCheck()
	}
	ds, err := ls.loadDataset(check)
	var probs Problems
	var ue *UserError
	switch {
	case errors.As(err, &probs):
		return probs, nil
	case errors.As(err, &ue):
		return Problems{at(ls.file.name, ls.node, "dataset.cases_path", ue.Msg, cmp.Or(ue.Hint, "cases_path is relative to the spec file"))}, nil
	case err != nil:
		return nil, err
	}
	ls.Dataset = ds
	return nil, nil
}

func (ls *LoadedSpec) loadDataset(check func(*Case) Problems) (*Dataset, error) {
	if ls.Spec.Dataset.CasesPath != "" {
		return loadDataset(ls.casesFile(), check)
	}
	ds := &Dataset{Path: ls.Path}
	var probs Problems
	ids := map[string]int{}
	var all []string
	ls.eachInline(func(i int, c *Case, p Problems) {
		if len(p) > 0 {
			probs = append(probs, p...)
			return
		}
		if first, dup := ids[c.ID]; dup {
			n := &ls.Spec.Dataset.CasesInline[i]
			probs = append(probs, Problem{File: ls.file.name, Line: n.Line, Col: n.Column, Field: inlineField(i), Msg: fmt.Sprintf("duplicate case ID %s (same as line %d)", c.ID, first)})
			return
		}
		if check != nil {
			if p := check(c); len(p) > 0 {
				probs = append(probs, p...)
				return
			}
		}
		ids[c.ID] = c.Line
		all = append(all, c.ID)
		ds.inline = append(ds.inline, *c)
	})
	if len(probs) > 0 {
		return nil, probs
	}
	ds.Count = len(all)
	ds.ID = DatasetID(all)
	ds.index, _ = newCaseIndex(all) // unique: checked above
	return ds, nil
}

// JudgeCalls is how many traces of one repetition of one iteration each
// llm_judge grader grades: the cases that run it (all of them, unless a
// case names a subset in its graders list). A judge asks its model once a
// trace, less what its cache already answered. Empty without judges.
func (ls *LoadedSpec) JudgeCalls() (map[string]int, error) {
	var judges []string
	for _, g := range ls.Spec.Graders {
		if g.Type == "llm_judge" {
			judges = append(judges, g.GraderName())
		}
	}
	calls := map[string]int{}
	if len(judges) == 0 || ls.Dataset == nil {
		return calls, nil
	}
	err := ls.Dataset.Each(func(c *Case) error {
		for _, j := range judges {
			if len(c.Graders) == 0 || slices.Contains(c.Graders, j) {
				calls[j]++
			}
		}
		return nil
	})
	return calls, err
}

// unusedGraders lists declared graders that no case selects.
func (ls *LoadedSpec) unusedGraders() []string {
	if ls.gradersUsed == nil {
		return nil // some case runs every grader
	}
	var out []string
	for _, g := range ls.GraderNames() {
		if !ls.gradersUsed[g] {
			out = append(out, g)
		}
	}
	return out
}

// caseGradersCheck checks that a case names only declared graders, and
// notes which graders the cases select.
func (ls *LoadedSpec) caseGradersCheck() func(*Case) Problems {
	declared := ls.GraderNames()
	ls.gradersUsed = map[string]bool{}
	allUsed := false
	return func(c *Case) Problems {
		if len(c.Graders) == 0 && !allUsed {
			allUsed, ls.gradersUsed = true, nil
		}
		if !allUsed {
			for _, g := range c.Graders {
				ls.gradersUsed[g] = true
			}
		}
		var probs Problems
		for _, g := range c.Graders {
			if !slices.Contains(declared, g) {
				hint := "declared: " + strings.Join(declared, ", ")
				if sg := Suggest(g, declared); sg != "" {
					hint = fmt.Sprintf("did you mean %q? declared: %s", sg, strings.Join(declared, ", "))
				}
				file := ls.file.name
				if ls.Spec.Dataset.CasesPath != "" {
					file = ls.casesFile().name
				}
				probs = append(probs, Problem{File: file, Line: c.Line, Field: "graders", Msg: fmt.Sprintf("grader %q is not declared in the spec's graders:", g), Hint: hint})
			}
		}
		return probs
	}
}

// holds reports whether f is inside the repository, so cases_path cannot
// escape it: on disk after resolving symlinks, in an fs.FS when f's path is
// one (a path that climbs out of it is not; the file system follows its
// own links).
func (ls *LoadedSpec) holds(f file) bool {
	if f.onDisk {
		return inside(ls.Root, f.name)
	}
	return fs.ValidPath(f.path)
}

// holdsPath is holds for a path relative to the repository root (or
// absolute, on disk), as fingerprints are.
func (ls *LoadedSpec) holdsPath(p string) bool {
	if !ls.file.onDisk {
		return fs.ValidPath(path.Clean(filepath.ToSlash(p)))
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(ls.Root, p)
	}
	return inside(ls.Root, p)
}

// inside reports whether path is inside root (after resolving symlinks of
// the parts that exist).
func inside(root, path string) bool {
	r, err := filepath.Abs(root)
	if err != nil {
		return false
	}
	p, err := filepath.Abs(path)
	if err != nil {
		return false
	}
	if rr, err := filepath.EvalSymlinks(r); err == nil {
		r = rr
	}
	if pp, err := evalExisting(p); err == nil {
		p = pp
	}
	rel, err := filepath.Rel(r, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// evalExisting resolves symlinks in the longest existing prefix of p.
func evalExisting(p string) (string, error) {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r, nil
	}
	dir, base := filepath.Split(p)
	dir = filepath.Clean(dir)
	if dir == p {
		return p, nil
	}
	r, err := evalExisting(dir)
	if err != nil {
		return p, err
	}
	return filepath.Join(r, base), nil
}

// findRoot walks up from dir to the nearest directory holding .git or
// evals/, else returns dir.
func findRoot(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	for d := abs; ; {
		for _, marker := range []string{".git", "evals"} {
			if _, err := os.Stat(filepath.Join(d, marker)); err == nil {
				return d
			}
		}
		parent := filepath.Dir(d)
		if parent == d {
			return abs
		}
		d = parent
	}
}

// nearbyFileHint suggests a file of a similar name next to f.
func nearbyFileHint(f file) string {
	entries, err := fs.ReadDir(f.fsys, path.Dir(f.path))
	if err != nil {
		return ""
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	if s := Suggest(path.Base(f.path), names); s != "" {
		return "did you mean " + f.rel(s).name + "?"
	}
	return ""
}

var yamlLine = lazy.Regexp(`line (\d+)`)

// yamlParserProblems are the messages of yaml.v3's parser (as opposed to
// its scanner). For these it prints the 0-based line of where the enclosing
// construct starts (or, when that is the first line, of the problem), so
// the line it names is one early; the scanner's lines are right.
var yamlParserProblems = []string{
	"did not find expected <stream-start>",
	"did not find expected <document start>",
	"did not find expected key",
	"did not find expected '-' indicator",
	"did not find expected node content",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found duplicate %TAG directive",
	"found undefined tag handle",
}

// yamlSyntaxProblem turns a yaml.v3 syntax error in data into a problem
// at the line and column where the parser notices it.
func yamlSyntaxProblem(path string, data []byte, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	p := Problem{File: path, Msg: "invalid YAML: " + msg, Hint: "check indentation and unclosed brackets; YAML errors often point just after the mistake"}
	m := yamlLine().FindStringSubmatch(msg)
	if m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Msg = "invalid YAML: " + strings.TrimSpace(yamlLine().ReplaceAllString(msg, ""))
		p.Msg = strings.TrimPrefix(strings.ReplaceAll(p.Msg, ": :", ":"), "invalid YAML: : ")
	}
	if slices.ContainsFunc(yamlParserProblems, func(pp string) bool { return strings.HasSuffix(msg, pp) }) {
		p.Line++ // no line at all is line 0 too: both marks were on the first line
	}
	if line, col, ok := locateYAMLError(data, err.Error()); ok {
		p.Line, p.Col = line, col
	}
	return p
}

// yamlLocateBudget bounds the bytes locateYAMLError parses in all, so a
// large file costs at most a few milliseconds more to report.
const yamlLocateBudget = 4 << 20

// locateYAMLError finds the character at which yaml.v3 fails with msg.
// Its message names only a line, and for many problems that is the line
// where the enclosing construct (a quoted string, a scalar before a tab)
// starts, not the line of the problem. The shortest prefix of the document
// that fails with the same message ends at the character that makes it
// fail. The search starts a line before the one named (a parser's line
// counts from 0), finds the first line whose end makes the prefix fail,
// then the first character of that line that does: a parse a line, then
// one a character of one line, so a long file costs few parses.
func locateYAMLError(data []byte, msg string) (line, col int, ok bool) {
	from := 0
	if m := yamlLine().FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		for i := 1; i < n-1; i++ {
			nl := bytes.IndexByte(data[from:], '\n')
			if nl < 0 {
				return 0, 0, false // the message names a line the data does not have
			}
			from += nl + 1
		}
	}
	budget := yamlLocateBudget
	fails := func(end int) bool {
		budget -= end
		var n yaml.Node
		err := yaml.Unmarshal(data[:end], &n)
		return err != nil && err.Error() == msg
	}
	start, end := from, from
	for {
		if start >= len(data) || budget <= 0 {
			return 0, 0, false
		}
		end = len(data)
		if nl := bytes.IndexByte(data[start:], '\n'); nl >= 0 {
			end = start + nl + 1
		}
		if fails(end) {
			break
		}
		start = end
	}
	for at := start; at < end && budget > 0; at++ {
		if !utf8.RuneStart(data[at]) || !fails(at+utf8RuneEnd(data[at:])) {
			continue
		}
		lineStart := bytes.LastIndexByte(data[:at], '\n') + 1
		return bytes.Count(data[:at], []byte{'\n'}) + 1, utf8.RuneCount(data[lineStart:at]) + 1, true
	}
	return 0, 0, false
}

// utf8RuneEnd is the length of the character p starts with.
func utf8RuneEnd(p []byte) int {
	_, size := utf8.DecodeRune(p)
	return size
}

// file is a file the loaders read: where it is in a file system, and the
// name messages give it.
type file struct {
	fsys fs.FS
	path string // as fsys names it
	name string // in messages
	// onDisk: name is an OS path and fsys the os.DirFS of its directory,
	// so a path relative to the file is an OS path too (one that may
	// climb out of fsys).
	onDisk bool
}

// osFile is the file at an OS path, named as given.
func osFile(p string) file {
	return file{fsys: os.DirFS(filepath.Dir(p)), path: filepath.Base(p), name: p, onDisk: true}
}

// fsFile is the file at p in fsys.
func fsFile(fsys fs.FS, p string) file {
	name := p
	if r, ok := fsys.(RevisionFS); ok {
		name = r.Revision() + ":" + p
	}
	return file{fsys: fsys, path: p, name: name}
}

// rel is the file at p, a path relative to f's directory.
func (f file) rel(p string) file {
	if f.onDisk {
		return osFile(filepath.Join(filepath.Dir(f.name), p))
	}
	return fsFile(f.fsys, path.Join(path.Dir(f.path), filepath.ToSlash(p)))
}

// where is the path that finds f again: its OS path, or its path in its
// file system.
func (f file) where() string {
	if f.onDisk {
		return f.name
	}
	return f.path
}

func (f file) read() ([]byte, error) {
	b, err := fs.ReadFile(f.fsys, f.path)
	return b, f.named(err)
}

func (f file) open() (fs.File, error) {
	r, err := f.fsys.Open(f.path)
	return r, f.named(err)
}

func (f file) stat() (fs.FileInfo, error) {
	st, err := fs.Stat(f.fsys, f.path)
	return st, f.named(err)
}

// named puts the file's OS path back into an error of os.DirFS, which
// names the file by its path in the DirFS (its base name).
func (f file) named(err error) error {
	var pe *fs.PathError
	if f.onDisk && errors.As(err, &pe) {
		return &fs.PathError{Op: pe.Op, Path: f.name, Err: pe.Err}
	}
	return err
}

// LoadSummaryFS reads the summary.json at name in fsys (ReadSummary with
// the file named in its error). A missing file is an error that wraps
// fs.ErrNotExist.
func LoadSummaryFS(fsys fs.FS, name string) (*ResultsSummary, error) {
	f := fsFile(fsys, name)
	data, err := f.read()
	if err != nil {
		return nil, err
	}
	s, err := ReadSummary(data)
	if err != nil {
		return nil, jsonProblem(f.name, data, err)
	}
	return s, nil
}

// LoadCaseVerdictsFS reads the cases.jsonl at name in fsys with
// ReadCaseVerdicts (so the verdicts of good lines come with the problems
// of bad ones). A missing file is an error that wraps fs.ErrNotExist.
func LoadCaseVerdictsFS(fsys fs.FS, name string) ([]CaseVerdict, error) {
	f := fsFile(fsys, name)
	r, err := f.open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return ReadCaseVerdicts(r, f.name)
}

// EachCaseVerdictFS streams the cases.jsonl at name in fsys with
// EachCaseVerdict. A missing file is an error that wraps fs.ErrNotExist.
func EachCaseVerdictFS(fsys fs.FS, name string, fn func(*CaseVerdict) error) error {
	f := fsFile(fsys, name)
	r, err := f.open()
	if err != nil {
		return err
	}
	defer r.Close()
	return EachCaseVerdict(r, f.name, fn)
}

// jsonProblem places a JSON decoding error in its file, at the line and
// column of the offset the decoder reports.
func jsonProblem(name string, data []byte, err error) Problem {
	p := Problem{File: name, Msg: "invalid JSON: " + strings.TrimPrefix(err.Error(), "json: ")}
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off >= 0 && off <= int64(len(data)) {
		before := data[:off]
		p.Line = bytes.Count(before, []byte{'\n'}) + 1
		p.Col = len(before) - bytes.LastIndexByte(before, '\n')
	}
	return p
}

// RepetitionWarnings name the pass@k and pass^k targets the spec's own
// repetitions cannot measure, for validate. A warning, not a problem:
// `run --reps` may raise the repetitions, and a run refuses to start when
// they stay short, so a run does not repeat it.
func (ls *LoadedSpec) RepetitionWarnings() []string {
	reps := ls.Spec.Experiment.Run.RepetitionsPerCase
	var out []string
	for _, t := range ls.Spec.Experiment.UnmeasurableTargets() {
		k, _ := PassK(t.Name)
		out = append(out, fmt.Sprintf("%s: %s needs at least %d repetitions per case; run.repetitions_per_case is %d (set it, or pass run --reps %d)", ls.file.name, t.Name, k, reps, k))
	}
	return out
}
