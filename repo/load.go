package repo

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// LoadedSpec is an experiment spec read from disk, validated, with its
// dataset located and identified.
type LoadedSpec struct {
	Path     string // the spec file
	Slug     string // its stable name: the file name without .yaml
	Root     string // the repository root every path must stay inside
	Spec     Spec
	Raw      []byte // the file as read (candidate commits rewrite it)
	ID       string // exp_…
	Dataset  *Dataset
	Warnings []string
	node     *yaml.Node
	// gradersUsed is the set of graders the cases select; nil when some
	// case runs them all.
	gradersUsed map[string]bool
}

// LoadOptions tell the loader where the repository is and what the
// settings' defaults are.
type LoadOptions struct {
	// Root is the repository root (the directory holding evals/). Empty means
	// the spec's nearest ancestor holding .git or evals/, else its directory.
	Root     string
	Settings Settings
}

// BuiltinAgents are the agents compiled into selfevals (agent.builtin).
var BuiltinAgents = []string{"echo", "fake_judge", "hello", "pingpong"}

var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

// LoadExperiment reads, validates and identifies an experiment spec and its
// dataset. Every problem found is returned at once (Problems).
func LoadExperiment(path string, opts LoadOptions) (*LoadedSpec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, &UserError{Msg: fmt.Sprintf("experiment spec not found: %s", path), Hint: nearbyFileHint(path)}
		}
		return nil, err
	}
	node, err := parseYAML(path, data)
	if err != nil {
		return nil, err
	}
	if node.Content[0].Kind != yaml.MappingNode {
		return nil, Problems{{File: path, Line: 1, Col: 1, Msg: "expected a mapping at the top level (experiment:, dataset:, agent:, graders:)"}}
	}
	ls := &LoadedSpec{Path: path, Raw: data, node: node}
	ls.Slug = strings.TrimSuffix(strings.TrimSuffix(filepath.Base(path), ".yaml"), ".yml")
	ls.Root = opts.Root
	if ls.Root == "" {
		ls.Root = findRoot(filepath.Dir(path))
	}
	if probs := decodeStrict(path, node, &ls.Spec, ""); len(probs) > 0 {
		return nil, probs
	}
	probs := ls.validate(opts.Settings)
	if len(probs) > 0 {
		return nil, probs
	}
	ds, err := ls.loadDataset()
	if err != nil {
		return nil, err
	}
	ls.Dataset = ds
	if unused := ls.unusedGraders(); len(unused) > 0 {
		ls.Warnings = append(ls.Warnings, fmt.Sprintf("%s: graders %s are declared but no case runs them (every case names a subset in its graders list)", ls.Path, strings.Join(unused, ", ")))
	}
	hashed := ls.Spec
	hashed.Experiment.Parameters = nil
	ls.ID, err = HashID("exp", hashed)
	if err != nil {
		return nil, err
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

func (ls *LoadedSpec) validate(settings Settings) Problems {
	var probs Problems
	s := &ls.Spec
	e := &s.Experiment
	add := func(field, msg, hint string) { probs = append(probs, at(ls.Path, ls.node, field, msg, hint)) }
	enum := func(field, v string, allowed ...string) {
		if v != "" && !slices.Contains(allowed, v) {
			hint := "one of " + strings.Join(allowed, ", ")
			if sg := Suggest(v, allowed); sg != "" {
				hint = fmt.Sprintf("did you mean %q?", sg)
			}
			add(field, fmt.Sprintf("unknown value %q", v), hint)
		}
	}
	if !slugPattern.MatchString(ls.Slug) {
		add("", fmt.Sprintf("file name %q is not a valid experiment slug", filepath.Base(ls.Path)), "use lower-case letters, digits, '-', '_' and '.', e.g. support-reply.yaml")
	}
	if s.Workspace != "" || s.WorkspaceID != "" || e.WorkspaceID != "" {
		ls.Warnings = append(ls.Warnings, fmt.Sprintf("%s: workspace/workspace_id is ignored: the repository is the workspace", ls.Path))
	}
	if _, v := findNode(ls.node, "experiment"); v == nil {
		add("", "missing the experiment: block", "the spec needs experiment:, dataset: and agent:")
		return probs
	}
	if strings.TrimSpace(e.Name) == "" {
		add("experiment.name", "required", "a short human name for the experiment")
	}
	if strings.TrimSpace(e.Goal) == "" {
		add("experiment.goal", "required", "one sentence saying what the experiment should achieve")
	}
	if e.Mode == "" {
		e.Mode = "handoff"
	}
	enum("experiment.mode", e.Mode, "handoff", "agent_loop")
	if e.Mode != "agent_loop" {
		var needs []string
		for _, sfc := range []string{"tool_code", "workflow_graph", "skills"} {
			if e.Editable.Allows(sfc) {
				needs = append(needs, sfc)
			}
		}
		if len(needs) > 0 {
			add("experiment.editable", fmt.Sprintf("editable %s requires mode: agent_loop; got mode: %s", strings.Join(needs, ", "), e.Mode), "")
		}
	}
	if t := e.Taxonomy; t != nil {
		for _, l := range []struct {
			f string
			v []string
		}{{"target_features", t.TargetFeatures}, {"target_levels", t.TargetLevels}, {"dataset_types", t.DatasetTypes}} {
			seen := map[string]bool{}
			for _, v := range l.v {
				if seen[v] {
					add("experiment.taxonomy."+l.f, fmt.Sprintf("%q is listed twice", v), "entries must be unique")
				}
				seen[v] = true
			}
		}
		for _, d := range t.DatasetTypes {
			enum("experiment.taxonomy.dataset_types", d, DatasetTypes...)
		}
		for _, l := range t.TargetLevels {
			enum("experiment.taxonomy.target_levels", l, CaseLevels...)
		}
	}

	graderNames := ls.GraderNames()
	checkMetric := func(field string, m MetricTarget) {
		if m.Name == "" {
			add(field+".name", "required", "e.g. pass@1")
		} else if !KnownMetric(m.Name, graderNames) {
			hint := "known metrics: " + MetricNames()
			if sg := MetricSuggestion(m.Name); sg != "" {
				hint = fmt.Sprintf("did you mean %q? known metrics: %s", sg, MetricNames())
			}
			add(field+".name", fmt.Sprintf("unknown metric %q", m.Name), hint)
		}
		if !oneOf(m.Operator, ">", ">=", "<", "<=", "==") {
			add(field+".operator", fmt.Sprintf("unknown operator %q", m.Operator), `one of ">", ">=", "<", "<=", "=="`)
		}
	}
	if _, v := findNode(ls.node, "experiment.target.primary"); v == nil {
		add("experiment.target.primary", "required", `e.g. primary: {name: pass@1, operator: ">=", value: 0.8}`)
	} else {
		checkMetric("experiment.target.primary", e.Target.Primary)
	}
	for i, g := range e.Target.Guardrails {
		checkMetric(fmt.Sprintf("experiment.target.guardrails[%d]", i), g)
	}

	// The editable contract: nothing may propose a change to a frozen
	// surface, so reject it before anything runs.
	checkSurface := func(field, key string) {
		if sfc, ok := SurfaceOf(key); ok && !e.Editable.Allows(sfc) {
			add(field, fmt.Sprintf("searches %s, but the %s surface is not editable", key, sfc), fmt.Sprintf("set experiment.editable.%s: true or remove it", sfc))
		}
	}
	for _, b := range e.SearchSpace.Surfaces() {
		checkSurface("experiment.search_space."+b.Key, b.Key)
		for _, kv := range b.Entries {
			ls.checkSearchEntry("experiment.search_space."+b.Key+"."+kv.Key, kv.Value, e.Proposer.Strategy, &probs)
		}
	}
	p := &e.Proposer
	if p.Strategy == "" {
		switch {
		case len(p.Parameters.Proposals) > 0:
			p.Strategy = "manual"
		case len(e.SearchSpace.Surfaces()) > 0:
			p.Strategy = "grid"
		}
	}
	switch p.Strategy {
	case "", "manual", "grid", "random":
	case "bayesian", "bandit", "evolutionary", "llm_proposer":
		add("experiment.proposer.strategy", fmt.Sprintf("strategy %s is not available", p.Strategy), "use manual, grid, or random")
	default:
		enum("experiment.proposer.strategy", p.Strategy, "manual", "grid", "random")
	}
	if p.Strategy == "manual" && len(p.Parameters.Proposals) == 0 {
		add("experiment.proposer.parameters.proposals", "the manual proposer needs a non-empty list of proposals", "")
	}
	if (p.Strategy == "grid" || p.Strategy == "random") && len(e.SearchSpace.Surfaces()) == 0 {
		add("experiment.search_space", fmt.Sprintf("the %s proposer needs a search_space", p.Strategy), "e.g. search_space: {model_params: {temperature: [0.0, 0.7]}}")
	}
	if p.Parameters.MaxProposals < 0 {
		add("experiment.proposer.parameters.max_proposals", "must be >= 1", "")
	}
	for i, prop := range p.Parameters.Proposals {
		for k := range prop {
			if k == "hypothesis" {
				continue
			}
			checkSurface(fmt.Sprintf("experiment.proposer.parameters.proposals[%d]", i), k)
		}
	}

	r := &e.Run
	if r.Sandbox == "live_sandboxed" || r.Sandbox == "live_canary" {
		add("experiment.run.sandbox", fmt.Sprintf("sandbox %s is not available", r.Sandbox), "use mock or dry_run")
	} else {
		enum("experiment.run.sandbox", r.Sandbox, "mock", "dry_run")
	}
	enum("experiment.run.runtime", r.Runtime, Runtimes...)
	enum("experiment.run.sample_strategy", r.SampleStrategy, "full", "stratified", "random_subset")
	if r.MaxIterations == 0 {
		r.MaxIterations = 20
	} else if r.MaxIterations < 1 || r.MaxIterations > 10000 {
		add("experiment.run.max_iterations", "must be between 1 and 10000", "")
	}
	if r.RepetitionsPerCase == 0 {
		r.RepetitionsPerCase = max(settings.Defaults.RepetitionsPerCase, e.Reliability.RepetitionsPerCase, 1)
	} else if r.RepetitionsPerCase < 1 || r.RepetitionsPerCase > 100 {
		add("experiment.run.repetitions_per_case", "must be between 1 and 100", "")
	}
	if r.Parallelism == 0 {
		r.Parallelism = settings.Defaults.Parallelism
		if r.Parallelism == 0 {
			r.Parallelism = DefaultParallelism
		}
	} else if r.Parallelism < 1 || r.Parallelism > 4096 {
		add("experiment.run.parallelism", "must be between 1 and 4096", "")
	}
	if r.Timeout == 0 {
		r.Timeout = settings.Defaults.Timeout
		if r.Timeout == 0 {
			r.Timeout = DefaultTimeout
		}
	}
	if r.Retries == nil {
		r.Retries = settings.Defaults.Retries
	}
	if r.Retries != nil && (*r.Retries < 0 || *r.Retries > 10) {
		add("experiment.run.retries", "must be between 0 and 10", "")
	}
	if r.Convergence.MinDelta != nil && *r.Convergence.MinDelta < 0 {
		add("experiment.run.convergence.min_delta", "must be >= 0", "")
	}
	if r.Convergence.Patience == 0 {
		r.Convergence.Patience = 3
	} else if r.Convergence.Patience < 1 {
		add("experiment.run.convergence.patience", "must be >= 1", "")
	}
	if r.PersistTraces == "" {
		r.PersistTraces = settings.Results.PersistTraces
		if r.PersistTraces == "" {
			r.PersistTraces = "all"
		}
	}
	enum("experiment.run.persist_traces", r.PersistTraces, "none", "failed", "all")
	for i, m := range e.Reliability.Metrics {
		if !reliability.MatchString(m) {
			add(fmt.Sprintf("experiment.reliability.metrics[%d]", i), fmt.Sprintf("reliability metric %q must be pass@N, pass^N, consistency_rate, stability_score or recovery_rate", m), "")
		}
	}
	if e.Reliability.RepetitionsPerCase < 0 || e.Reliability.RepetitionsPerCase > 100 {
		add("experiment.reliability.repetitions_per_case", "must be between 1 and 100", "")
	}

	d := &e.Decision
	if d.IfRegressionFails == "" {
		d.IfRegressionFails = "reject"
	}
	enum("experiment.decision.if_regression_fails", d.IfRegressionFails, "reject", "investigate", "spawn_subexperiment")
	if d.IfGuardrailFails == "" {
		d.IfGuardrailFails = "require_tradeoff_review"
	}
	enum("experiment.decision.if_guardrail_fails", d.IfGuardrailFails, "reject", "require_tradeoff_review")
	enum("experiment.decision.if_judge_human_disagree", d.IfJudgeHumanDisagree, "escalate_to_calibration", "investigate")
	if d.Significance == "" {
		d.Significance = "report"
	}
	enum("experiment.decision.significance", d.Significance, "report", "require")
	if d.Confidence == 0 {
		d.Confidence = 0.95
	} else if d.Confidence <= 0 || d.Confidence >= 1 {
		add("experiment.decision.confidence", "must be between 0 and 1 (e.g. 0.95)", "")
	}

	ea := &e.ErrorAnalysis
	enum("experiment.error_analysis.taxonomy", ea.Taxonomy, "workspace")
	if ea.Trigger.When == "" {
		ea.Trigger.When = "fail_rate_above"
	}
	enum("experiment.error_analysis.trigger.when", ea.Trigger.When, "fail_rate_above")
	if t := ea.Trigger.ThresholdValue(); t < 0 || t > 1 {
		add("experiment.error_analysis.trigger.threshold", "must be between 0 and 1", "")
	}
	if ea.Scope == "" {
		ea.Scope = "failed_only"
	}
	enum("experiment.error_analysis.scope", ea.Scope, "failed_only", "all")
	if jd := e.JudgeDefenses; jd != nil && jd.Panel != nil {
		enum("experiment.judge_defenses.panel.consensus_rule", jd.Panel.ConsensusRule, "majority", "unanimous", "weighted")
	}

	ls.validateDatasetRef(&probs)
	ls.validateAgent("agent", &s.Agent, &probs)
	ls.validateGraders(&probs)
	return probs
}

func (ls *LoadedSpec) checkSearchEntry(field string, v any, strategy string, probs *Problems) {
	add := func(msg, hint string) { *probs = append(*probs, at(ls.Path, ls.node, field, msg, hint)) }
	switch x := v.(type) {
	case []any:
		if len(x) == 0 {
			add("an empty list leaves nothing to try", "list at least one value")
		}
	case map[string]any:
		lo, hasLo := x["min"]
		hi, hasHi := x["max"]
		if !hasLo && !hasHi {
			lo, hasLo = x["lo"]
			hi, hasHi = x["hi"]
		}
		if choices, ok := x["choices"]; ok {
			if l, ok := choices.([]any); !ok || len(l) == 0 {
				add("choices must be a non-empty list", "")
			}
			return
		}
		if hasLo || hasHi {
			lf, ok1 := Number(lo)
			hf, ok2 := Number(hi)
			if !ok1 || !ok2 {
				add("a range needs numeric min and max", "e.g. {min: 0.5, max: 1.0}")
			} else if lf > hf {
				add(fmt.Sprintf("min %s is above max %s", FormatNumber(lf), FormatNumber(hf)), "")
			}
			if strategy == "grid" || strategy == "" {
				add("a {min, max} range can only be sampled by the random proposer", "use proposer: {strategy: random} or list the grid values")
			}
		}
	}
}

func (ls *LoadedSpec) validateDatasetRef(probs *Problems) {
	add := func(field, msg, hint string) { *probs = append(*probs, at(ls.Path, ls.node, field, msg, hint)) }
	d := ls.Spec.Dataset
	switch {
	case d.CasesPath != "" && len(d.CasesInline) > 0:
		add("dataset", "has both cases_path and cases_inline", "keep one of them")
	case d.CasesPath == "" && len(d.CasesInline) == 0:
		if _, v := findNode(ls.node, "dataset"); v == nil {
			add("", "missing the dataset: block", "add dataset: {cases_path: ../datasets/<name>.jsonl}")
		} else {
			add("dataset", "needs cases_path or cases_inline", "")
		}
	case d.CasesPath != "":
		if filepath.IsAbs(d.CasesPath) {
			add("dataset.cases_path", "must be relative to the spec file", "")
			return
		}
		full := filepath.Join(filepath.Dir(ls.Path), d.CasesPath)
		if !inside(ls.Root, full) {
			add("dataset.cases_path", fmt.Sprintf("%s is outside the repository %s", d.CasesPath, ls.Root), "keep datasets inside the repository, e.g. evals/datasets/")
		}
	}
}

// CasesPath is the dataset file as a path usable from the current directory.
func (ls *LoadedSpec) CasesPath() string {
	if ls.Spec.Dataset.CasesPath == "" {
		return ""
	}
	return filepath.Join(filepath.Dir(ls.Path), ls.Spec.Dataset.CasesPath)
}

func (ls *LoadedSpec) loadDataset() (*Dataset, error) {
	check := ls.caseGradersCheck()
	if p := ls.CasesPath(); p != "" {
		ds, err := loadDataset(p, check)
		var ue *UserError
		if errors.As(err, &ue) {
			ue.Msg = fmt.Sprintf("%s: dataset.cases_path: %s", ls.Path, ue.Msg)
			if ue.Hint == "" {
				ue.Hint = "cases_path is relative to the spec file"
			}
		}
		return ds, err
	}
	ds := &Dataset{Path: ls.Path}
	var probs Problems
	ids := map[string]int{}
	var all []string
	for i := range ls.Spec.Dataset.CasesInline {
		n := &ls.Spec.Dataset.CasesInline[i]
		c, p := DecodeCaseNode(ls.Path, n, fmt.Sprintf("dataset.cases_inline[%d]", i))
		if len(p) > 0 {
			probs = append(probs, p...)
			continue
		}
		if first, dup := ids[c.ID]; dup {
			probs = append(probs, Problem{File: ls.Path, Line: n.Line, Col: n.Column, Field: fmt.Sprintf("dataset.cases_inline[%d]", i), Msg: fmt.Sprintf("duplicate case ID %s (same as line %d)", c.ID, first)})
			continue
		}
		if p := check(c); len(p) > 0 {
			probs = append(probs, p...)
			continue
		}
		ids[c.ID] = c.Line
		all = append(all, c.ID)
		ds.inline = append(ds.inline, *c)
	}
	if len(probs) > 0 {
		return nil, probs
	}
	ds.Count = len(all)
	ds.ID = DatasetID(all)
	return ds, nil
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
				file := ls.CasesPath()
				if file == "" {
					file = ls.Path
				}
				probs = append(probs, Problem{File: file, Line: c.Line, Field: "graders", Msg: fmt.Sprintf("grader %q is not declared in the spec's graders:", g), Hint: hint})
			}
		}
		return probs
	}
}

func (ls *LoadedSpec) validateAgent(field string, a *Agent, probs *Problems) {
	add := func(f, msg, hint string) { *probs = append(*probs, at(ls.Path, ls.node, f, msg, hint)) }
	if a.Entrypoint != "" {
		add(field+".entrypoint", "in-process Python entrypoints are not supported by selfevals",
			"run the agent as a program instead: command: [python3, agents/my_agent.py] (request JSON on stdin, response JSON on stdout), "+
				"or serve it and use http: {url: ...}, or use builtin: pingpong for the example")
		return
	}
	kinds := 0
	for _, set := range []bool{len(a.Command) > 0, a.HTTP != nil, a.OpenAI != nil, a.Builtin != ""} {
		if set {
			kinds++
		}
	}
	if kinds == 0 {
		if _, v := findNode(ls.node, field); v == nil && field == "agent" {
			add("", "missing the agent: block", "e.g. agent: {command: [python3, agents/my_agent.py]} or agent: {builtin: echo}")
		} else {
			add(field, "needs exactly one of command, http, openai or builtin", "")
		}
		return
	}
	if kinds > 1 {
		add(field, "sets more than one of command, http, openai and builtin", "keep exactly one")
	}
	if a.Worker && len(a.Command) == 0 {
		add(field+".worker", "only applies to command agents", "")
	}
	if a.Output != "" && !oneOf(a.Output, "json", "text") {
		add(field+".output", fmt.Sprintf("unknown value %q", a.Output), "json (default) or text")
	}
	if a.Builtin != "" && !slices.Contains(BuiltinAgents, a.Builtin) {
		add(field+".builtin", fmt.Sprintf("unknown builtin agent %q", a.Builtin), "available: "+strings.Join(BuiltinAgents, ", "))
	}
	if a.MaxOutputBytes < 0 {
		add(field+".max_output_bytes", "must be positive", "")
	}
	if h := a.HTTP; h != nil {
		checkURL(field+".http.url", h.URL, add)
	}
	if o := a.OpenAI; o != nil {
		checkURL(field+".openai.base_url", o.BaseURL, add)
		if o.Model == "" {
			add(field+".openai.model", "required", "the model name the endpoint serves")
		}
	}
	for i, fp := range a.Fingerprint {
		full := fp
		if !filepath.IsAbs(fp) {
			full = filepath.Join(ls.Root, fp)
		}
		if !inside(ls.Root, full) {
			add(fmt.Sprintf("%s.fingerprint[%d]", field, i), fmt.Sprintf("%s is outside the repository", fp), "paths are relative to the repository root")
		}
	}
}

func checkURL(field, raw string, add func(f, msg, hint string)) {
	if raw == "" {
		add(field, "required", "")
		return
	}
	// ${NAME} is expanded at run time; check the shape with a placeholder.
	u, err := url.Parse(envRef.ReplaceAllString(raw, "x"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add(field, fmt.Sprintf("%q is not an http(s) URL", raw), "e.g. http://127.0.0.1:8080/agent")
	}
}

var envRef = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*\}`)

// JudgePlaceholders are the names an llm_judge template may use (graders
// renders them).
var JudgePlaceholders = []string{"rubric", "input", "output", "expected"}

var judgePlaceholder = regexp.MustCompile(`\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)

func (ls *LoadedSpec) validateGraders(probs *Problems) {
	seen := map[string]bool{}
	for i := range ls.Spec.Graders {
		g := &ls.Spec.Graders[i]
		f := fmt.Sprintf("graders[%d]", i)
		add := func(sub, msg, hint string) {
			*probs = append(*probs, at(ls.Path, ls.node, joinPath(f, sub), msg, hint))
		}
		switch g.Type {
		case "deterministic":
		case "llm_judge":
			if strings.TrimSpace(g.Rubric) == "" {
				add("rubric", "an llm_judge needs a non-empty rubric", "")
			}
			if g.JudgeEntrypoint != "" {
				add("judge_entrypoint", "in-process Python judges are not supported", "set judge: {command: [...]} / {http: ...} / {openai: ...} / {builtin: ...}")
			} else if g.Judge == nil {
				add("judge", "an llm_judge needs a judge: adapter", "e.g. judge: {openai: {base_url: http://127.0.0.1:11434/v1, model: llama3.2}}")
			} else {
				ls.validateAgent(joinPath(f, "judge"), g.Judge, probs)
			}
			if g.Card != "" {
				if _, err := os.Stat(filepath.Join(filepath.Dir(ls.Path), g.Card)); err != nil {
					add("card", fmt.Sprintf("grader card %s not found", g.Card), "card is relative to the spec file")
				}
			}
			if g.Template != "" {
				for _, m := range judgePlaceholder.FindAllStringSubmatch(g.Template, -1) {
					if !slices.Contains(JudgePlaceholders, m[1]) {
						add("template", fmt.Sprintf("unknown placeholder {{%s}}", m[1]), "available: {{rubric}}, {{input}}, {{output}}, {{expected}}")
					}
				}
				if !strings.Contains(judgePlaceholder.ReplaceAllString(g.Template, "{{$1}}"), "{{output}}") {
					add("template", "has no {{output}} placeholder", "the judge would never see the agent's answer")
				}
			}
			if g.Parallelism < 0 || g.Parallelism > 4096 {
				add("parallelism", "must be between 1 and 4096", "")
			}
			if g.Retries != nil && (*g.Retries < 0 || *g.Retries > 10) {
				add("retries", "must be between 0 and 10", "")
			}
		case "":
			add("type", "required", "deterministic or llm_judge")
		default:
			hint := "deterministic or llm_judge"
			if sg := Suggest(g.Type, []string{"deterministic", "llm_judge"}); sg != "" {
				hint = fmt.Sprintf("did you mean %q?", sg)
			}
			add("type", fmt.Sprintf("unknown grader type %q", g.Type), hint)
		}
		if g.Type == "deterministic" && (g.Rubric != "" || g.Judge != nil || g.Template != "" || g.Card != "" || g.Blocking != nil) {
			add("", "rubric, judge, template, card and blocking only apply to llm_judge graders", "")
		}
		name := g.GraderName()
		if seen[name] {
			add("name", fmt.Sprintf("grader name %q is used twice", name), "give each grader a unique name")
		}
		seen[name] = true
	}
}

// inside reports whether path is inside root (after resolving symlinks of
// the parts that exist), so cases_path and fingerprints cannot escape the
// repository.
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

// nearbyFileHint suggests a file of a similar name next to path.
func nearbyFileHint(path string) string {
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	if s := Suggest(filepath.Base(path), names); s != "" {
		return "did you mean " + filepath.Join(dir, s) + "?"
	}
	return ""
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func yamlSyntaxProblem(path string, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	p := Problem{File: path, Msg: "invalid YAML: " + msg, Hint: "check indentation and unclosed brackets; YAML errors often point just after the mistake"}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Msg = "invalid YAML: " + strings.TrimSpace(yamlLine.ReplaceAllString(msg, ""))
		p.Msg = strings.TrimPrefix(strings.ReplaceAll(p.Msg, ": :", ":"), "invalid YAML: : ")
	}
	return p
}
