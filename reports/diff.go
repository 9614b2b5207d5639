package reports

import (
	"cmp"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"math"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/paired"
)

// DiffSchemaVersion versions the JSON shape of `selfevals diff --format json`.
const DiffSchemaVersion = "1"

// Revision is one side of a diff. Sides are keyed by position (A, B), never
// by name, so `diff main main` compares a revision with itself.
type Revision struct {
	// Name is the revision as given ("main", "HEAD~1"), or "working tree".
	Name string `json:"name"`
	// Commit is the full hash; empty for the working tree.
	Commit string `json:"commit,omitempty"`
	// Tree is the repository's files at the revision, by repository-relative
	// path: a commit's tree (gitstore.Tree) or the working tree (os.DirFS of
	// the repository's root).
	Tree fs.FS `json:"-"`
}

// Short is the revision's name with its short commit hash.
func (r Revision) Short() string {
	if r.Commit == "" {
		return r.Name
	}
	return fmt.Sprintf("%s (%s)", r.Name, r.Commit[:min(7, len(r.Commit))])
}

// DiffOptions say what to compare.
type DiffOptions struct {
	// EvalsDir is the repository-relative path of the evals/ directory.
	EvalsDir string
	// Experiment limits the diff to one experiment slug.
	Experiment string
	// Confidence of the intervals; significance is p < 1 − Confidence.
	Confidence float64
}

// DiffReport is what changed in evals/ between two revisions: results per
// experiment (paired on case IDs), datasets, specs, grader cards and the
// taxonomy. Dataset and definition changes are kept apart from result
// changes, so an edited case is never counted as a regression.
type DiffReport struct {
	SchemaVersion string            `json:"schema_version"`
	A             Revision          `json:"a"`
	B             Revision          `json:"b"`
	Confidence    float64           `json:"confidence"`
	Experiments   []*ExperimentDiff `json:"experiments"`
	Taxonomy      *TaxonomyDiff     `json:"taxonomy,omitempty"`
	GraderCards   []CardDiff        `json:"grader_cards,omitempty"`
	// Caveats are changes besides the agent's that move results: graders
	// (spec or cards) and the agent fingerprint. They come first in every
	// rendering, as a fixed case or a regression may be theirs.
	Caveats  []Caveat `json:"caveats,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// Caveat kinds.
const (
	CaveatGraders     = "graders"
	CaveatFingerprint = "agent_fingerprint"
	// CaveatDiverged: A is not an ancestor of B, so what landed on A since
	// they diverged shows as B's change, reversed (diff A...B avoids it).
	CaveatDiverged = "diverged"
)

// CaveatStaleResults: a side's committed results were written for another
// version of its spec, dataset or adopted parameters.
const CaveatStaleResults = "stale_results"

// Caveat is a change between A and B that can move results by itself.
type Caveat struct {
	// Experiment is the slug, or empty for all (grader cards).
	Experiment string `json:"experiment,omitempty"`
	Kind       string `json:"kind"`
	Message    string `json:"message"`
}

// Regressed reports whether any experiment regressed (the --fail-on
// regression gate).
func (d *DiffReport) Regressed() bool {
	for _, e := range d.Experiments {
		if e.Regressed {
			return true
		}
	}
	return false
}

// Experiment statuses.
const (
	StatusAdded     = "added"
	StatusRemoved   = "removed"
	StatusChanged   = "changed"
	StatusUnchanged = "unchanged"
)

// ExperimentDiff is one experiment's changes.
type ExperimentDiff struct {
	Slug   string             `json:"slug"`
	Name   string             `json:"name,omitempty"`
	Status string             `json:"status"`
	Target *repo.MetricTarget `json:"target,omitempty"`
	// Pairs is the number of case IDs both results share: the paired
	// statistics are computed on them.
	Pairs   int          `json:"pairs"`
	Metrics []MetricDiff `json:"metrics"`
	Cases   CaseDiff     `json:"cases"`
	Dataset *DatasetDiff `json:"dataset,omitempty"`
	// Spec is the structured diff of the spec (graders included).
	Spec []FieldChange `json:"spec_changes,omitempty"`
	// Regressed is true when the primary metric got significantly worse or
	// a case regressed; Reasons says which.
	Regressed bool     `json:"regressed"`
	Reasons   []string `json:"regression_reasons,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
}

// Primary is the row of the primary metric, or nil.
func (e *ExperimentDiff) Primary() *MetricDiff {
	for i := range e.Metrics {
		if e.Metrics[i].Primary {
			return &e.Metrics[i]
		}
	}
	return nil
}

// Metric verdicts.
const (
	VerdictBetter         = "better"
	VerdictWorse          = "worse"
	VerdictNotSignificant = "not_significant" // Direction says which way
	VerdictChanged        = "changed"         // no paired test; Direction says which way
	VerdictUnchanged      = "unchanged"
	VerdictAdded          = "added"
	VerdictRemoved        = "removed"
)

// MetricDiff is one metric at A and B, with a paired test where one applies
// (exact McNemar on pass/fail labels, a sign-flip permutation test on scores). A and B
// are each result's value over all its cases; with a test, Delta, CI and P
// are over the Pairs cases both share, so they describe one comparison.
type MetricDiff struct {
	Name    string   `json:"name"`
	Primary bool     `json:"primary,omitempty"`
	A       *float64 `json:"a"`
	B       *float64 `json:"b"`
	// Delta is the paired Δ over shared cases for a metric the cases can
	// pair (Pairs > 0), else B − A.
	Delta *float64 `json:"delta"`
	// DeltaAll is B − A over all cases of each side.
	DeltaAll *float64    `json:"delta_all_cases,omitempty"`
	CI       *[2]float64 `json:"ci,omitempty"`
	P        *float64    `json:"p,omitempty"`
	Test     string      `json:"test,omitempty"`
	Pairs    int         `json:"pairs,omitempty"`
	// Note says why a paired metric has no test (too few cases).
	Note    string `json:"note,omitempty"`
	Verdict string `json:"verdict"`
	Dir     string `json:"direction,omitempty"` // better or worse
	// CIA and CIB are each side's own interval of the metric.
	CIA *[2]float64 `json:"ci_a,omitempty"`
	CIB *[2]float64 `json:"ci_b,omitempty"`
}

// CaseDiff classifies cases by their verdicts at A and B.
type CaseDiff struct {
	// Regressed: passed at A, does not pass at B (same case ID).
	Regressed []CaseChange `json:"regressed"`
	// Fixed: did not pass at A, passes at B.
	Fixed []CaseChange `json:"fixed"`
	// StillFailing: passes at neither.
	StillFailing []CaseChange `json:"still_failing"`
	// New: only at B. Removed: only at A.
	New     []CaseChange `json:"new"`
	Removed []CaseChange `json:"removed"`
	// Edited: the case's definition changed (its recorded definition hash
	// differs under the same ID, or the same name has a new content hash);
	// its verdicts are shown but never count as a regression or a fix.
	Edited []CaseChange `json:"definition_changed"`
	// Renamed: the same definition under another name or ID. Such a case
	// is paired with itself and also listed under its outcome above.
	Renamed []CaseChange `json:"renamed,omitempty"`
	// UnchangedPassing counts cases that pass at both.
	UnchangedPassing int `json:"unchanged_passing"`
	// Counts is the size of each group: the lists above hold the first
	// maxDiffCases of each by case ID.
	Counts CaseCounts `json:"counts"`
}

// CaseChange is one case's verdict at A and B.
type CaseChange struct {
	ID string `json:"case_id"`
	// PreviousID is the case's ID at A when it differs from ID.
	PreviousID string            `json:"previous_case_id,omitempty"`
	Name       string            `json:"name,omitempty"`
	A          *repo.CaseVerdict `json:"a,omitempty"`
	B          *repo.CaseVerdict `json:"b,omitempty"`
}

// DatasetDiff compares an experiment's dataset at A and B by case content
// hash.
type DatasetDiff struct {
	PathA   string       `json:"path_a,omitempty"`
	PathB   string       `json:"path_b,omitempty"`
	CasesA  int          `json:"cases_a"`
	CasesB  int          `json:"cases_b"`
	Added   []CaseRef    `json:"added"`
	Removed []CaseRef    `json:"removed"`
	Edited  []CaseEdited `json:"edited"`
	// Renamed: the same definition under another name or ID.
	Renamed []CaseEdited `json:"renamed,omitempty"`
}

// Changed reports whether any case was added, removed, edited or renamed.
func (d *DatasetDiff) Changed() bool {
	return d != nil && len(d.Added)+len(d.Removed)+len(d.Edited)+len(d.Renamed) > 0
}

// CaseRef names a case.
type CaseRef struct {
	ID   string `json:"case_id"`
	Name string `json:"name,omitempty"`
}

// caseRef is a case as the dataset diff compares it: with its
// repo.CaseDefinition, to match renames and edits under a kept id.
type caseRef struct {
	CaseRef
	definition string
}

// CaseEdited is a case whose content changed under the same name or
// explicit id (From == To), or a renamed case (Renamed; Name is its name at B).
type CaseEdited struct {
	Name string `json:"name"`
	From string `json:"from"`
	To   string `json:"to"`
}

// FieldChange is one changed field of a structured file: absent sides are
// empty with Kind added or removed.
type FieldChange struct {
	Path string `json:"path"`
	Kind string `json:"kind"` // added, removed, changed
	A    string `json:"a,omitempty"`
	B    string `json:"b,omitempty"`
}

// TaxonomyDiff compares evals/taxonomy.yaml at A and B.
type TaxonomyDiff struct {
	Added         []ModeRef    `json:"added"`
	Removed       []ModeRef    `json:"removed"`
	StatusChanged []ModeStatus `json:"status_changed"`
	Edited        []string     `json:"edited"`
}

// Empty reports whether nothing changed.
func (t *TaxonomyDiff) Empty() bool {
	return t == nil || len(t.Added)+len(t.Removed)+len(t.StatusChanged)+len(t.Edited) == 0
}

// ModeRef names a failure mode.
type ModeRef struct {
	Slug   string `json:"slug"`
	Title  string `json:"title"`
	Status string `json:"status"`
}

// ModeStatus is a mode whose lifecycle status changed.
type ModeStatus struct {
	Slug string `json:"slug"`
	From string `json:"from"`
	To   string `json:"to"`
}

// CardDiff is a grader card that was added, removed or changed.
type CardDiff struct {
	Path    string        `json:"path"`
	Status  string        `json:"status"`
	Changes []FieldChange `json:"changes,omitempty"`
}

// Diff compares evals/ at two revisions. Specs, datasets, the taxonomy,
// grader cards and committed results are read at each revision with the
// strict loaders of repo; what one of them refuses at a revision is a
// warning, and that file counts as absent there.
func Diff(a, b Revision, opts DiffOptions) (*DiffReport, error) {
	if opts.Confidence <= 0 || opts.Confidence >= 1 {
		opts.Confidence = 0.95
	}
	if opts.EvalsDir == "" {
		opts.EvalsDir = "evals"
	}
	evals := repo.Dir(strings.Trim(path.Clean(filepath.ToSlash(opts.EvalsDir)), "/"))
	d := &DiffReport{SchemaVersion: DiffSchemaVersion, A: a, B: b, Confidence: opts.Confidence}
	slugs, err := experimentSlugs(evals, a.Tree, b.Tree)
	if err != nil {
		return nil, err
	}
	if opts.Experiment != "" {
		if !contains(slugs, opts.Experiment) {
			return nil, repo.Userf("experiment %q is in neither %s nor %s (known: %s)", opts.Experiment, a.Name, b.Name, strings.Join(slugs, ", "))
		}
		slugs = []string{opts.Experiment}
	}
	settingsA, settingsB := d.settings(evals, a), d.settings(evals, b)
	for _, slug := range slugs {
		sa, err := loadSide(a, evals, slug, settingsA)
		if err != nil {
			return nil, err
		}
		sb, err := loadSide(b, evals, slug, settingsB)
		if err != nil {
			return nil, err
		}
		e, err := diffExperiment(slug, sa, sb, opts.Confidence)
		if err != nil {
			return nil, err
		}
		d.Experiments = append(d.Experiments, e)
		d.Caveats = append(d.Caveats, experimentCaveats(e, sa, sb)...)
		d.Caveats = append(d.Caveats, staleCaveats(evals, slug, sa, sb)...)
	}
	if opts.Experiment == "" {
		if d.Taxonomy, err = d.diffTaxonomy(evals, a, b); err != nil {
			d.Warnings = append(d.Warnings, err.Error())
		}
		if d.GraderCards, err = d.diffCards(evals, a, b); err != nil {
			return nil, err
		}
		if n := len(d.GraderCards); n > 0 {
			d.Caveats = append(d.Caveats, Caveat{Kind: CaveatGraders,
				Message: plural(n, "grader card") + " changed: cases may be fixed or regressed by the graders, not the agent"})
		}
	}
	return d, nil
}

// graderFields are the spec fields that change how results are judged.
var graderFields = []string{"graders", "experiment.judge_defenses"}

// experimentCaveats says what besides the agent changed an experiment's
// results may owe to: its graders in the spec, or the agent fingerprint
// recorded in the two summaries.
func experimentCaveats(e *ExperimentDiff, a, b *side) []Caveat {
	var out []Caveat
	var fields []string
	for _, f := range e.Spec {
		for _, g := range graderFields {
			if f.Path == g || strings.HasPrefix(f.Path, g+".") || strings.HasPrefix(f.Path, g+"[") {
				fields = append(fields, f.Path)
				break
			}
		}
	}
	if len(fields) > 0 {
		out = append(out, Caveat{Experiment: e.Slug, Kind: CaveatGraders,
			Message: fmt.Sprintf("graders changed (%s): cases may be fixed or regressed by the graders, not the agent", strings.Join(fields, ", "))})
	}
	if a.summary != nil && b.summary != nil {
		fa, fb := a.summary.AgentFingerprint, b.summary.AgentFingerprint
		if fa != "" && fb != "" && fa != fb {
			out = append(out, Caveat{Experiment: e.Slug, Kind: CaveatFingerprint,
				Message: fmt.Sprintf("agent fingerprint changed (%s → %s): results may move with the agent's code, model or prompts", fa, fb)})
		}
	}
	return out
}

// staleCaveats flags each side whose committed results no longer match
// the spec and dataset beside them: a comparison of those results says
// nothing about that version.
func staleCaveats(evals repo.Dir, slug string, sides ...*side) []Caveat {
	var out []Caveat
	for _, s := range sides {
		if s.summary == nil || s.spec == nil {
			continue
		}
		dsID := ""
		if s.dataset != nil {
			dsID = s.dataset.id()
		}
		paramsID := ""
		if s.spec.Experiment.Parameters != nil {
			paramsID = s.spec.Experiment.Parameters.ID()
		}
		if why := repo.StaleResults(s.summary, s.specID, dsID, paramsID); why != "" {
			out = append(out, Caveat{Experiment: slug, Kind: CaveatStaleResults,
				Message: fmt.Sprintf("%s at %s %s", evals.Summary(slug), s.rev.Name, why)})
		}
	}
	return out
}

// settings are the revision's selfevals.yaml, which the specs there are
// checked against; broken ones are a warning, and the defaults apply.
func (d *DiffReport) settings(evals repo.Dir, rev Revision) repo.Settings {
	s, err := repo.LoadSettingsFS(rev.Tree, evals.Path())
	if err != nil {
		d.Warnings = append(d.Warnings, warnings(rev, err)...)
		return repo.Settings{}
	}
	return s
}

// maxFileWarnings is how many problems of one file a diff lists; the rest
// are counted.
const maxFileWarnings = 5

// warnings turns what a loader refused in a file at rev into warnings, one
// per problem. Each says which revision: a git revision's file names do
// ("main:evals/…"), others get " at <revision>" after.
func warnings(rev Revision, err error) []string {
	var msgs []string
	var probs repo.Problems
	var ue *repo.UserError
	switch {
	case errors.As(err, &probs):
		for i, p := range probs {
			if i == maxFileWarnings {
				msgs = append(msgs, fmt.Sprintf("%s: %d more problems", p.File, len(probs)-i))
				break
			}
			msgs = append(msgs, p.Error())
		}
	case errors.As(err, &ue) && ue.Hint != "":
		msgs = []string{fmt.Sprintf("%s (%s)", ue.Msg, ue.Hint)}
	default:
		msgs = []string{err.Error()}
	}
	if !namesRevision(rev) {
		for i := range msgs {
			msgs[i] += " at " + rev.Name
		}
	}
	return msgs
}

// namesRevision reports whether the loaders name rev's files with the
// revision.
func namesRevision(rev Revision) bool {
	_, ok := rev.Tree.(repo.RevisionFS)
	return ok
}

// exists reports whether p is in fsys; only a missing file is no error.
func exists(fsys fs.FS, p string) (bool, error) {
	_, err := fs.Stat(fsys, p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// readDir lists a directory that may be missing.
func readDir(fsys fs.FS, dir string) ([]fs.DirEntry, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return entries, err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// experimentSlugs is the union of the experiments with a spec or a result
// on either side.
func experimentSlugs(evals repo.Dir, trees ...fs.FS) ([]string, error) {
	set := map[string]bool{}
	for _, t := range trees {
		specs, err := readDir(t, evals.Experiments())
		if err != nil {
			return nil, err
		}
		for _, e := range specs {
			for _, ext := range repo.SpecExts {
				if s, ok := strings.CutSuffix(e.Name(), ext); ok && !e.IsDir() {
					set[s] = true
				}
			}
		}
		results, err := readDir(t, evals.AllResults())
		if err != nil {
			return nil, err
		}
		for _, e := range results {
			if e.IsDir() {
				set[e.Name()] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out, nil
}

// side is one experiment at one revision.
type side struct {
	rev     Revision
	spec    *repo.Spec // as written
	specID  string
	summary *repo.ResultsSummary
	// casesPath is the committed cases.jsonl, when there is one: it is
	// streamed when compared, never held.
	casesPath string
	spooled   string // a copy of it on disk, while it is merged
	dataset   *datasetAt
	warnings  []string
}

func (s *side) exists() bool { return s.spec != nil || s.summary != nil || s.casesPath != "" }

// warn records what a loader refused, or returns an error that is not
// about the files (git failing to read an object).
func (s *side) warn(err error) error {
	if !repo.IsUserError(err) {
		return err
	}
	s.warnings = append(s.warnings, warnings(s.rev, err)...)
	return nil
}

// datasetAt is an experiment's dataset at one revision: a hash of each
// line of its JSONL file (a diff decodes only the lines that differ, read
// again; a dataset of a million cases is not held), or the spec's inline
// cases.
type datasetAt struct {
	rev    Revision
	spec   *repo.LoadedSpec
	path   string
	inline bool
	lines  []uint64 // the hash of each case line, in file order
}

// lineSeed keys the hashes of dataset lines: one seed for every revision
// a diff compares. At 64 bits, two lines of a million-case dataset share a
// hash with odds of about 1 in 30 million.
var lineSeed = maphash.MakeSeed()

func lineHash(raw []byte) uint64 { return maphash.Bytes(lineSeed, raw) }

// loadSide reads slug's spec, dataset and committed result at rev. What
// the loaders refuse is a warning; only failing to read is an error.
func loadSide(rev Revision, evals repo.Dir, slug string, settings repo.Settings) (*side, error) {
	s := &side{rev: rev}
	if err := s.loadSpec(evals, slug, settings); err != nil {
		return nil, err
	}
	sum, err := repo.LoadSummaryFS(rev.Tree, evals.Summary(slug))
	switch {
	case err == nil:
		s.summary = sum
	case !errors.Is(err, fs.ErrNotExist):
		if err := s.warn(err); err != nil {
			return nil, err
		}
	}
	ok, err := exists(rev.Tree, evals.CaseVerdicts(slug))
	if ok {
		s.casesPath = evals.CaseVerdicts(slug)
	}
	return s, err
}

// loadSpec reads the spec (the first of its candidate paths there is) and
// its dataset; the dataset is read apart, past bad cases.
func (s *side) loadSpec(evals repo.Dir, slug string, settings repo.Settings) error {
	for _, p := range evals.SpecCandidates(slug) {
		ok, err := exists(s.rev.Tree, p)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		ls, err := repo.LoadExperimentFS(s.rev.Tree, p, repo.LoadOptions{Settings: settings, SpecOnly: true})
		if err != nil {
			return s.warn(err)
		}
		s.spec, s.specID = &ls.AsWritten, ls.ID
		return s.loadDataset(ls)
	}
	return nil
}

// loadDataset reads the case lines of the spec's dataset file (its
// inline cases are read when compared); a file that cannot be read is a
// warning.
func (s *side) loadDataset(ls *repo.LoadedSpec) error {
	ds := &datasetAt{rev: s.rev, spec: ls, path: cmp.Or(ls.CasesPath(), ls.Path), inline: ls.CasesPath() == ""}
	err := ls.EachCaseLine(func(raw []byte, line int) error {
		ds.lines = append(ds.lines, lineHash(raw))
		return nil
	})
	if err != nil {
		return s.warn(err)
	}
	s.dataset = ds
	return nil
}

// cases decodes the dataset's cases (of a file, those whose line's hash is
// not in skip), each bad one a warning, and counts them all.
func (ds *datasetAt) cases(skip map[uint64]bool, warnings *[]string) ([]caseRef, int) {
	var refs []caseRef
	bad, file, count := 0, "", 0
	add := func(c *repo.Case, probs repo.Problems) {
		if len(probs) == 0 {
			refs = append(refs, caseRef{CaseRef{ID: c.ID, Name: c.Name}, repo.CaseDefinition(c)})
			return
		}
		if bad++; bad <= maxFileWarnings {
			*warnings = append(*warnings, ds.warning(probs[0].Error()))
		}
		file = probs[0].File
	}
	if ds.inline {
		// Inline cases are in the spec, which loaded: there is nothing
		// left to fail reading.
		_ = ds.spec.ScanCases(func(c *repo.Case, probs repo.Problems) {
			count++
			add(c, probs)
		})
	} else {
		count = len(ds.lines)
		// The file is read again (it was hashed when loaded), the lines
		// the other side lacks decoded.
		err := ds.spec.EachCaseLine(func(raw []byte, line int) error {
			if !skip[lineHash(raw)] {
				add(ds.spec.DecodeCaseLine(raw, line))
			}
			return nil
		})
		if err != nil {
			*warnings = append(*warnings, ds.warning(err.Error()))
		}
	}
	if bad > maxFileWarnings {
		*warnings = append(*warnings, ds.warning(fmt.Sprintf("%s: %d more bad cases", file, bad-maxFileWarnings)))
	}
	return refs, count
}

// id is the dataset's ID as a run computes it, or "" when a case is bad
// (the run would have refused it). A file's is its loader's, which
// streams the file and keeps its IDs back to back, not a string per case.
func (ds *datasetAt) id() string {
	if !ds.inline {
		d, err := repo.LoadDatasetFS(ds.rev.Tree, ds.path)
		if err != nil {
			return ""
		}
		return d.ID
	}
	var ids []string
	ok := true
	_ = ds.spec.ScanCases(func(c *repo.Case, probs repo.Problems) {
		if ok = ok && len(probs) == 0; ok {
			ids = append(ids, c.ID)
		}
	})
	if !ok {
		return ""
	}
	return repo.DatasetID(ids)
}

// warning says which revision a bad case is at, unless its file name does.
func (ds *datasetAt) warning(w string) string {
	if namesRevision(ds.rev) {
		return w
	}
	return w + " (at " + ds.rev.Name + ")"
}

// texts is the set of the hashes of the dataset's case lines.
func (ds *datasetAt) texts() map[uint64]bool {
	m := make(map[uint64]bool, len(ds.lines))
	for _, h := range ds.lines {
		m[h] = true
	}
	return m
}

func diffExperiment(slug string, a, b *side, confidence float64) (*ExperimentDiff, error) {
	e := &ExperimentDiff{Slug: slug}
	e.Warnings = append(append(e.Warnings, a.warnings...), b.warnings...)
	for _, s := range []*side{b, a} {
		if e.Name == "" && s.spec != nil {
			e.Name = s.spec.Experiment.Name
		}
		if e.Name == "" && s.summary != nil {
			e.Name = s.summary.Experiment.Name
		}
		if e.Target == nil && s.summary != nil && s.summary.Target.Name != "" {
			t := s.summary.Target
			e.Target = &t
		}
		if e.Target == nil && s.spec != nil && s.spec.Experiment.Target.Primary.Name != "" {
			t := s.spec.Experiment.Target.Primary
			e.Target = &t
		}
	}
	switch {
	case !a.exists():
		e.Status = StatusAdded
	case !b.exists():
		e.Status = StatusRemoved
	}

	if a.spec != nil && b.spec != nil {
		e.Spec = specChanges(a.spec, b.spec)
	}
	if a.dataset != nil && b.dataset != nil {
		e.Dataset = diffDataset(a.dataset, b.dataset, &e.Warnings)
	}
	warnedA, warnedB := len(a.warnings), len(b.warnings)
	c, err := classifySides(a, b, e.Dataset)
	if err != nil {
		return nil, err
	}
	// Bad lines of the verdict files, found as they streamed.
	e.Warnings = append(append(e.Warnings, a.warnings[warnedA:]...), b.warnings[warnedB:]...)
	e.Cases = c.cases
	e.Pairs = len(c.pairsA)
	e.Metrics = diffMetrics(e.Target, a, b, c.pairsA, c.pairsB, confidence)

	if p := e.Primary(); p != nil && p.Verdict == VerdictWorse {
		e.Regressed = true
		e.Reasons = append(e.Reasons, fmt.Sprintf("%s significantly worse (%s → %s, p=%s)", p.Name, num(*p.A), num(*p.B), fmtP(*p.P)))
	}
	if n := e.Cases.Counts.Regressed; n > 0 {
		e.Regressed = true
		e.Reasons = append(e.Reasons, plural(n, "case")+" regressed")
	}
	if e.Status == "" {
		e.Status = StatusUnchanged
		if len(e.Spec) > 0 || e.Dataset.Changed() || !c.same || metricsChanged(e.Metrics) {
			e.Status = StatusChanged
		}
	}
	return e, nil
}

func metricsChanged(ms []MetricDiff) bool {
	for _, m := range ms {
		if m.Verdict != VerdictUnchanged {
			return true
		}
	}
	return false
}

// redefined reports whether a case kept its ID but not its definition;
// results without recorded definitions are taken as unchanged.
func redefined(a, b *repo.CaseVerdict) bool {
	return a.Definition != "" && b.Definition != "" && a.Definition != b.Definition
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// diffDataset compares two datasets by case content hash. Lines that are
// byte-for-byte the same at both revisions define the same case, so only
// the lines that differ are decoded and hashed.
func diffDataset(a, b *datasetAt, warnings *[]string) *DatasetDiff {
	d := &DatasetDiff{PathA: a.path, PathB: b.path, Added: []CaseRef{}, Removed: []CaseRef{}, Edited: []CaseEdited{}}
	var refsA, refsB []caseRef
	switch {
	case a.inline || b.inline:
		refsA, d.CasesA = a.cases(nil, warnings)
		refsB, d.CasesB = b.cases(nil, warnings)
	case slices.Equal(a.lines, b.lines):
		d.CasesA, d.CasesB = len(a.lines), len(b.lines)
		return d
	default:
		refsA, d.CasesA = a.cases(b.texts(), warnings)
		refsB, d.CasesB = b.cases(a.texts(), warnings)
	}
	byID := func(rs []caseRef) map[string]caseRef {
		m := make(map[string]caseRef, len(rs))
		for _, r := range rs {
			m[r.ID] = r
		}
		return m
	}
	idsA, idsB := byID(refsA), byID(refsB)
	var removed, added []caseRef
	for _, r := range refsA {
		rb, ok := idsB[r.ID]
		switch {
		case !ok:
			removed = append(removed, r)
		case rb.definition != r.definition:
			// An explicit id kept over an edit.
			d.Edited = append(d.Edited, CaseEdited{Name: firstNonEmpty(rb.Name, r.Name), From: r.ID, To: r.ID})
		}
	}
	for _, r := range refsB {
		if _, ok := idsA[r.ID]; !ok {
			added = append(added, r)
		}
	}
	// A rename is a removed and an added case with the same definition,
	// unique among each side's changes.
	defs := func(rs []caseRef) map[string]int {
		m := map[string]int{}
		for _, r := range rs {
			m[r.definition]++
		}
		return m
	}
	dA, dB := defs(removed), defs(added)
	renamed := map[string]string{} // definition → ID at A
	removed = slices.DeleteFunc(removed, func(r caseRef) bool {
		if dA[r.definition] == 1 && dB[r.definition] == 1 {
			renamed[r.definition] = r.ID
			return true
		}
		return false
	})
	added = slices.DeleteFunc(added, func(r caseRef) bool {
		from, ok := renamed[r.definition]
		if ok {
			d.Renamed = append(d.Renamed, CaseEdited{Name: r.Name, From: from, To: r.ID})
		}
		return ok
	})
	// An edit is a removed and an added case with the same name, the name
	// unique among each side's changes.
	count := func(rs []caseRef) map[string]int {
		m := map[string]int{}
		for _, r := range rs {
			if r.Name != "" {
				m[r.Name]++
			}
		}
		return m
	}
	nA, nB := count(removed), count(added)
	edited := map[string]string{} // name → ID at A
	for _, r := range removed {
		if nA[r.Name] == 1 && nB[r.Name] == 1 {
			edited[r.Name] = r.ID
		} else {
			d.Removed = append(d.Removed, r.CaseRef)
		}
	}
	for _, r := range added {
		if from, ok := edited[r.Name]; ok {
			d.Edited = append(d.Edited, CaseEdited{Name: r.Name, From: from, To: r.ID})
		} else {
			d.Added = append(d.Added, r.CaseRef)
		}
	}
	sort.Slice(d.Added, func(i, j int) bool { return d.Added[i].ID < d.Added[j].ID })
	sort.Slice(d.Removed, func(i, j int) bool { return d.Removed[i].ID < d.Removed[j].ID })
	sort.Slice(d.Edited, func(i, j int) bool {
		return cmp.Or(d.Edited[i].Name, d.Edited[i].To) < cmp.Or(d.Edited[j].Name, d.Edited[j].To)
	})
	sort.Slice(d.Renamed, func(i, j int) bool { return d.Renamed[i].To < d.Renamed[j].To })
	return d
}

// metricOrderDiff lists the metrics a reviewer looks for first; derived
// duplicates are left out of the table.
var (
	diffFirst = []string{"pass@1", "mean_score", "consistency_rate", "error_rate", "cost_usd_per_case", "tokens_total"}
	diffSkip  = map[string]bool{"fail_rate": true, "stability_score": true, "cost_usd_total": true, "tokens_input_total": true, "tokens_output_total": true,
		"latency_ms_p50": true, "latency_ms_p95": true, "latency_ms_per_case_avg": true}
)

// diffMetrics compares the metrics of the two summaries, with paired tests
// on the cases both results share (pairsA and pairsB, from classifyCases).
func diffMetrics(target *repo.MetricTarget, a, b *side, pairsA, pairsB []repo.CasePair, confidence float64) []MetricDiff {
	ma, mb := map[string]repo.SummaryMetric{}, map[string]repo.SummaryMetric{}
	if a.summary != nil {
		ma = a.summary.Metrics
	}
	if b.summary != nil {
		mb = b.summary.Metrics
	}
	var names []string
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	if target != nil {
		if _, okA := ma[target.Name]; okA {
			add(target.Name)
		} else if _, okB := mb[target.Name]; okB {
			add(target.Name)
		}
	}
	for _, n := range diffFirst {
		if _, okA := ma[n]; okA {
			add(n)
		} else if _, okB := mb[n]; okB {
			add(n)
		}
	}
	var rest []string
	for _, m := range []map[string]repo.SummaryMetric{ma, mb} {
		for n := range m {
			if !seen[n] && !diffSkip[n] {
				rest = append(rest, n)
				seen[n] = true
			}
		}
	}
	sort.Strings(rest)
	names = append(names, rest...)

	out := make([]MetricDiff, 0, len(names))
	for _, n := range names {
		md := MetricDiff{Name: n, Primary: target != nil && n == target.Name}
		va, okA := ma[n]
		vb, okB := mb[n]
		if okA {
			v := va.Value
			md.A = &v
			md.CIA = &[2]float64{va.CI[0], va.CI[1]}
		}
		if okB {
			v := vb.Value
			md.B = &v
			md.CIB = &[2]float64{vb.CI[0], vb.CI[1]}
		}
		switch {
		case okA && !okB:
			md.Verdict = VerdictRemoved
			out = append(out, md)
			continue
		case okB && !okA:
			md.Verdict = VerdictAdded
			out = append(out, md)
			continue
		}
		all := round6(vb.Value - va.Value)
		md.Delta, md.DeltaAll = &all, &all
		// With a paired test, the way it went is the paired Δ's: the
		// all-cases values also move with cases added or removed.
		from, to := va.Value, vb.Value
		if pairedTest(&md, pairsA, pairsB, confidence) {
			from, to = 0, *md.Delta
		}
		better := func(x, y float64) bool { // is x better than y
			if md.Primary {
				return target.Better(x, y)
			}
			return repo.OwnDirection(n).Better(x, y)
		}
		dir := ""
		switch {
		case better(to, from):
			dir = VerdictBetter
		case better(from, to):
			dir = VerdictWorse
		}
		switch {
		case md.Test != "" && md.P != nil && *md.P < 1-confidence && dir != "":
			md.Verdict = dir
		case dir == "":
			md.Verdict = VerdictUnchanged
		case md.Test != "":
			md.Verdict, md.Dir = VerdictNotSignificant, dir
		default:
			md.Verdict, md.Dir = VerdictChanged, dir
		}
		out = append(out, md)
	}
	return out
}

func round6(f float64) float64 { return math.Round(f*1e6) / 1e6 }

// pairedTest fills the paired Δ, interval and p-value of a metric that the
// committed per-case verdicts can pair (the one paired comparison that run
// decisions use too), and reports whether it did. Compare is given each
// side's value over the shared cases, so its Δ is the paired one.
func pairedTest(md *MetricDiff, a, b []repo.CasePair, confidence float64) bool {
	test := paired.TestFor(md.Name)
	if test == "" {
		return false
	}
	// The two lists are aligned (classifySides pairs them by index).
	ev := paired.CompareAligned(md.Name, paired.SharedMean(md.Name, a), paired.SharedMean(md.Name, b), a, b, confidence)
	if ev == nil {
		return false
	}
	delta := round6(ev.Delta)
	md.Delta, md.Pairs, md.Note = &delta, ev.Pairs, ev.Note
	if ev.Test != "" { // else too few cases to test: no p-value, no interval
		md.CI, md.P, md.Test = &[2]float64{round6(ev.Lo), round6(ev.Hi)}, ev.P, ev.Test
	}
	return true
}

// DiffJSON renders the diff as indented JSON.
func DiffJSON(d *DiffReport) ([]byte, error) { return indentedJSON(d) }
