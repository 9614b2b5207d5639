package repo

import (
	"fmt"
	"path/filepath"
)

// The evals/ layout. Every name and path selfevals reads or writes under
// evals/ comes from here; no other file spells one out.
//
//	selfevals.yaml                      settings
//	taxonomy.yaml                       failure modes
//	experiments/<slug>.yaml (or .yml)   experiment specs
//	datasets/*.jsonl                    cases
//	graders/<name>.yaml                 grader cards (and their labels)
//	results/<slug>/                     the committed result: summary.json,
//	                                    cases.jsonl, decision.json
//	runs/<slug>/<run-id>/               one run's record: run.json,
//	                                    results.jsonl, iterations.jsonl,
//	                                    traces.parquet, report.md,
//	                                    results.idx (a cache for serve)
//	runs/<slug>/.lock                   held while a run of slug is going on
//	analysis/<slug>/                    error-analysis bundles and records
//	.cache/                             agent and judge answers

// GitattributesName is evals/.gitattributes: line endings and the results
// merge driver.
const GitattributesName = ".gitattributes"

// File and directory names of the layout.
const (
	SettingsName     = "selfevals.yaml"
	GitignoreName    = ".gitignore"
	TaxonomyName     = "taxonomy.yaml"
	ExperimentsName  = "experiments"
	DatasetsName     = "datasets"
	GradersName      = "graders"
	ResultsName      = "results"
	RunsName         = "runs"
	AnalysisName     = "analysis"
	CacheName        = ".cache"
	SummaryName      = "summary.json"
	CaseVerdictsName = "cases.jsonl"
	DecisionName     = "decision.json"
	ManifestName     = "run.json"
	RunResultsName   = "results.jsonl"
	IterationsName   = "iterations.jsonl"
	TracesName       = "traces.parquet"
	ReportName       = "report.md"
	RegradedName     = "regrade.jsonl"
	ResultsIndexName = "results.idx"
	LockName         = ".lock"
)

// SpecExts are the file extensions of an experiment spec, preferred first.
var SpecExts = []string{".yaml", ".yml"}

// Dir is an evals/ directory: a path in the file system, or a
// slash-separated path inside a git tree or an fs.FS (its methods then
// give paths of the same kind).
type Dir string

func (d Dir) join(elem ...string) string {
	return filepath.Join(append([]string{string(d)}, elem...)...)
}

// Path is the evals/ directory itself.
func (d Dir) Path() string { return string(d) }

// Settings is selfevals.yaml.
func (d Dir) Settings() string { return d.join(SettingsName) }

// Taxonomy is taxonomy.yaml.
func (d Dir) Taxonomy() string { return d.join(TaxonomyName) }

// Experiments is the directory of experiment specs.
func (d Dir) Experiments() string { return d.join(ExperimentsName) }

// Spec is the spec of experiment slug with the preferred extension.
func (d Dir) Spec(slug string) string { return d.join(ExperimentsName, slug+SpecExts[0]) }

// SpecCandidates are the paths a spec of slug may have, preferred first.
func (d Dir) SpecCandidates(slug string) []string {
	out := make([]string, len(SpecExts))
	for i, ext := range SpecExts {
		out[i] = d.join(ExperimentsName, slug+ext)
	}
	return out
}

// Datasets is the directory of datasets.
func (d Dir) Datasets() string { return d.join(DatasetsName) }

// Dataset is a dataset file by its file name.
func (d Dir) Dataset(file string) string { return d.join(DatasetsName, file) }

// Graders is the directory of grader cards.
func (d Dir) Graders() string { return d.join(GradersName) }

// Card is the card of grader name.
func (d Dir) Card(name string) string { return d.join(GradersName, name+".yaml") }

// AllResults is the directory of every experiment's committed result.
func (d Dir) AllResults() string { return d.join(ResultsName) }

// Results is experiment slug's committed result directory.
func (d Dir) Results(slug string) string { return d.join(ResultsName, slug) }

// Summary is slug's committed summary.json.
func (d Dir) Summary(slug string) string { return d.join(ResultsName, slug, SummaryName) }

// CaseVerdicts is slug's committed cases.jsonl.
func (d Dir) CaseVerdicts(slug string) string { return d.join(ResultsName, slug, CaseVerdictsName) }

// Decision is slug's decision.json (on candidate branches).
func (d Dir) Decision(slug string) string { return d.join(ResultsName, slug, DecisionName) }

// AllRuns is the directory of every experiment's runs.
func (d Dir) AllRuns() string { return d.join(RunsName) }

// Runs is the directory of experiment slug's runs.
func (d Dir) Runs(slug string) string { return d.join(RunsName, slug) }

// Run is one run's directory.
func (d Dir) Run(slug, runID string) RunDir { return RunDir(d.join(RunsName, slug, runID)) }

// RunLock is the lock file held while a run of slug is going on.
func (d Dir) RunLock(slug string) string { return d.join(RunsName, slug, LockName) }

// ShardLock is the lock file held while shard s of a run of slug is going
// on: the shards of one experiment run side by side, each under its own.
func (d Dir) ShardLock(slug string, s Shard) string {
	return d.join(RunsName, slug, fmt.Sprintf("%s-shard-%d-of-%d", LockName, s.Index, s.Count))
}

// RunLocks are the lock files of slug's runs and shards (some may not
// exist).
func (d Dir) RunLocks(slug string) []string {
	shards, _ := filepath.Glob(d.join(RunsName, slug, LockName+"-shard-*"))
	return append([]string{d.RunLock(slug)}, shards...)
}

// Analysis is slug's error-analysis directory.
func (d Dir) Analysis(slug string) string { return d.join(AnalysisName, slug) }

// Assignments is slug's record of traces assigned to failure modes.
func (d Dir) Assignments(slug string) string { return d.join(AnalysisName, slug, "assignments.jsonl") }

// Hypotheses is slug's record of hypotheses from error analysis.
func (d Dir) Hypotheses(slug string) string { return d.join(AnalysisName, slug, "hypotheses.jsonl") }

// Cache is the directory of cached agent answers.
func (d Dir) Cache() string { return d.join(CacheName) }

// JudgeCache is the directory of cached judge verdicts.
func (d Dir) JudgeCache() string { return d.join(CacheName, "judge") }

// RunDir is one run's directory, runs/<slug>/<run-id>/.
type RunDir string

// Path is the run directory itself.
func (r RunDir) Path() string { return string(r) }

// Manifest is run.json.
func (r RunDir) Manifest() string { return filepath.Join(string(r), ManifestName) }

// Results is results.jsonl, one line per agent call.
func (r RunDir) Results() string { return filepath.Join(string(r), RunResultsName) }

// Iterations is iterations.jsonl, one line per decided iteration.
func (r RunDir) Iterations() string { return filepath.Join(string(r), IterationsName) }

// Traces is traces.parquet.
func (r RunDir) Traces() string { return filepath.Join(string(r), TracesName) }

// Report is report.md.
func (r RunDir) Report() string { return filepath.Join(string(r), ReportName) }

// Regraded is regrade.jsonl, the results as graded again by `regrade
// --write`, beside the original ones.
func (r RunDir) Regraded() string { return filepath.Join(string(r), RegradedName) }

// ResultsIndex is results.idx: where each result is in results.jsonl, a
// cache built from it (by runstore) so serve's pages read single lines.
func (r RunDir) ResultsIndex() string { return filepath.Join(string(r), ResultsIndexName) }

// RunID is the run's ID, the directory's name.
func (r RunDir) RunID() string { return filepath.Base(string(r)) }
