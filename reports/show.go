package reports

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
	"github.com/selfevals/selfevals/runner"
)

// Entity kinds `show` finds, each by the prefix of its IDs.
const (
	KindExperiment  = "experiment"
	KindDataset     = "dataset"
	KindCase        = "case"
	KindParameters  = "parameters"
	KindIteration   = "iteration"
	KindRun         = "run"
	KindFailureMode = "failure_mode"
	KindTrace       = "trace"
	KindAgent       = "agent"
	KindDefinition  = "definition"
)

// kindPrefixes maps an ID prefix to the kind it names. A case with an id of
// its own has no prefix; a query without one is looked for everywhere.
var kindPrefixes = map[string]string{
	"exp_": KindExperiment, "ds_": KindDataset, "case_": KindCase, "par_": KindParameters,
	"itr_": KindIteration, "run_": KindRun, "fm_": KindFailureMode, "tr_": KindTrace,
	"agt_": KindAgent, "def_": KindDefinition,
}

// costly are the kinds looked for only when a query has their prefix:
// finding a trace reads every run's results, a definition hashes every
// case again.
var costly = map[string]bool{KindTrace: true, KindDefinition: true}

// kindsFor is the set of kinds a query may name.
func kindsFor(query string) map[string]bool {
	for p, k := range kindPrefixes {
		if strings.HasPrefix(query, p) {
			return map[string]bool{k: true}
		}
	}
	all := map[string]bool{}
	for _, k := range kindPrefixes {
		all[k] = !costly[k]
	}
	return all
}

// matches reports whether id is named by query: a prefix of the ID, or of
// its hex part when the query has no kind prefix.
func matches(id, query string) bool {
	if strings.HasPrefix(id, query) {
		return true
	}
	if _, hex, ok := strings.Cut(id, "_"); ok && !strings.Contains(query, "_") {
		return strings.HasPrefix(hex, query)
	}
	return false
}

// hit is one place an ID was seen; which fields are set depends on kind.
type hit struct {
	kind, id, desc string
	spec           *repo.LoadedSpec
	ds             *repo.Dataset
	c              *repo.Case
	run            *storedRun
	it             *repo.IterationSummary
	params         repo.Parameters
	mode           *repo.FailureMode
	result         *repo.Result
}

// Find finds the entity whose ID (or a unique prefix of it) is query and
// returns its view: one of the *View types. A query that names nothing,
// or several IDs, is a user error (the second lists them).
func (w Workspace) Find(query string) (any, error) {
	query = strings.TrimSpace(query)
	if query == "" {
		return nil, repo.Userf("give an ID to show, e.g. run_…, itr_…, exp_…")
	}
	hits := w.collect(query, kindsFor(query))
	ids := distinctIDs(hits)
	switch len(ids) {
	case 0:
		return nil, &repo.UserError{Msg: fmt.Sprintf("nothing under %s has the ID %s", w.show(w.Dir.Path()), query),
			Hint: "IDs are printed by run, report, validate and the other commands; selfevals experiments and selfevals runs list some"}
	case 1:
		return w.view(hits), nil
	}
	return nil, ambiguous(query, hits, ids)
}

// IDs lists the IDs starting with prefix, for shell completion, each with
// a short description.
func (w Workspace) IDs(prefix string) []string {
	kinds := kindsFor(prefix)
	if prefix == "" {
		// Everything would be every case of every dataset: offer the
		// entities one starts from.
		kinds = map[string]bool{KindExperiment: true, KindRun: true, KindFailureMode: true}
	}
	hits := w.collect(prefix, kinds)
	seen := map[string]bool{}
	var out []string
	for _, h := range hits {
		if !seen[h.id] && strings.HasPrefix(h.id, prefix) {
			seen[h.id] = true
			out = append(out, h.id+"\t"+h.desc)
		}
	}
	sort.Strings(out)
	return out
}

func distinctIDs(hits []hit) []string {
	seen := map[string]bool{}
	var ids []string
	for _, h := range hits {
		if !seen[h.id] {
			seen[h.id] = true
			ids = append(ids, h.id)
		}
	}
	sort.Strings(ids)
	return ids
}

// ambiguousLimit is how many candidates an ambiguous prefix lists.
const ambiguousLimit = 20

func ambiguous(query string, hits []hit, ids []string) error {
	desc := map[string]string{}
	for _, h := range hits {
		if desc[h.id] == "" {
			desc[h.id] = h.kind + ": " + h.desc
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s is ambiguous: %d IDs start with it", query, len(ids))
	for i, id := range ids {
		if i == ambiguousLimit {
			fmt.Fprintf(&b, "\n  … and %d more", len(ids)-i)
			break
		}
		fmt.Fprintf(&b, "\n  %s  %s", id, desc[id])
	}
	return &repo.UserError{Msg: b.String(), Hint: "give more of the ID"}
}

// collect finds every place an ID matching query is seen, in the sources
// of the given kinds.
func (w Workspace) collect(query string, kinds map[string]bool) []hit {
	var hits []hit
	add := func(h hit) {
		if matches(h.id, query) {
			hits = append(hits, h)
		}
	}
	needRuns := kinds[KindExperiment] || kinds[KindDataset] || kinds[KindParameters] || kinds[KindIteration] || kinds[KindRun] || kinds[KindTrace] || kinds[KindAgent]
	needSpecs := kinds[KindExperiment] || kinds[KindDataset] || kinds[KindCase] || kinds[KindParameters] || kinds[KindAgent] || kinds[KindDefinition]
	var specs []*repo.LoadedSpec
	if needSpecs {
		specs = w.loadSpecs(kinds[KindDataset] || kinds[KindCase] || kinds[KindDefinition])
	}
	for _, ls := range specs {
		if kinds[KindExperiment] {
			add(hit{kind: KindExperiment, id: ls.ID, desc: ls.Slug + " (" + w.show(ls.Path) + ")", spec: ls})
		}
		if kinds[KindAgent] {
			if fp, err := runner.AgentFingerprint(ls); err == nil {
				add(hit{kind: KindAgent, id: fp, desc: "agent of " + ls.Slug, spec: ls})
			}
		}
		if kinds[KindParameters] && ls.Spec.Experiment.Parameters != nil {
			add(hit{kind: KindParameters, id: ls.Spec.Experiment.Parameters.ID(), desc: "adopted by " + ls.Slug, params: ls.Spec.Experiment.Parameters, spec: ls})
		}
	}
	if kinds[KindDataset] || kinds[KindCase] || kinds[KindDefinition] {
		for _, ds := range w.datasets(specs) {
			if kinds[KindDataset] {
				add(hit{kind: KindDataset, id: ds.ID, desc: w.show(ds.Path), ds: ds})
			}
			if kinds[KindCase] || kinds[KindDefinition] {
				w.collectCases(ds, query, kinds, add)
			}
		}
	}
	if needRuns {
		runs := w.runsOf("")
		for i := range runs {
			w.collectRun(&runs[i], query, kinds, add)
		}
	}
	if kinds[KindFailureMode] {
		if t, err := repo.LoadTaxonomy(w.Dir.Taxonomy()); err == nil {
			for i := range t.Modes {
				m := &t.Modes[i]
				add(hit{kind: KindFailureMode, id: m.ID(), desc: m.Title + " (" + repo.ModeStatus(*m) + ")", mode: m})
			}
		}
	}
	return hits
}

func (w Workspace) collectRun(sr *storedRun, query string, kinds map[string]bool, add func(hit)) {
	m := sr.man
	where := m.Experiment + ", started " + shortTime(m.StartedAt)
	if kinds[KindRun] {
		add(hit{kind: KindRun, id: m.RunID, desc: where + ", " + string(m.State), run: sr})
	}
	if kinds[KindTrace] {
		// Only lines naming a matching trace are decoded.
		rr := runstore.ResultsReader{Path: sr.run.Dir().Results(), Lenient: true, Filter: []byte(`"trace_id":"` + query)}
		_ = rr.Each(func(r *repo.Result) error {
			add(hit{kind: KindTrace, id: r.ID, desc: fmt.Sprintf("case %s, iteration %d of %s (%s)", r.CaseID, r.Iteration, m.RunID, m.Experiment), run: sr, result: r})
			return nil
		})
	}
	if kinds[KindExperiment] {
		add(hit{kind: KindExperiment, id: m.ExperimentID, desc: m.Experiment + " (as of " + m.RunID + ")", run: sr})
	}
	if kinds[KindDataset] {
		add(hit{kind: KindDataset, id: m.DatasetID, desc: "recorded by " + m.RunID, run: sr})
	}
	if kinds[KindAgent] {
		add(hit{kind: KindAgent, id: m.AgentFingerprint, desc: "agent of " + m.RunID + " (" + m.Experiment + ")", run: sr})
	}
	for _, it := range sr.its {
		label := fmt.Sprintf("iteration %d of %s (%s)", it.Index, m.RunID, m.Experiment)
		if kinds[KindIteration] {
			add(hit{kind: KindIteration, id: it.ID, desc: label, run: sr, it: it})
		}
		if kinds[KindParameters] {
			add(hit{kind: KindParameters, id: it.ParamsID, desc: "tried in " + label, params: it.Params, run: sr, it: it})
		}
	}
}

// collectCases adds the cases of ds whose ID (or definition) matches
// query.
func (w Workspace) collectCases(ds *repo.Dataset, query string, kinds map[string]bool, add func(hit)) {
	_ = ds.Each(func(c *repo.Case) error {
		if kinds[KindCase] && matches(c.ID, query) {
			cc := *c
			add(hit{kind: KindCase, id: c.ID, desc: caseDesc(&cc, ds.Path, w), c: &cc, ds: ds})
		}
		if kinds[KindDefinition] {
			cc := *c
			add(hit{kind: KindDefinition, id: repo.CaseDefinition(c), desc: caseDesc(&cc, ds.Path, w), c: &cc, ds: ds})
		}
		return nil
	})
}

func caseDesc(c *repo.Case, path string, w Workspace) string {
	where := w.show(path)
	if c.Line > 0 {
		where = fmt.Sprintf("%s:%d", where, c.Line)
	}
	if c.Name != "" {
		return c.Name + " (" + where + ")"
	}
	return where
}

// loadSpecs loads every spec that loads; with datasets, their cases too.
func (w Workspace) loadSpecs(datasets bool) []*repo.LoadedSpec {
	files, _ := w.specFiles()
	slugs := make([]string, 0, len(files))
	for s := range files {
		slugs = append(slugs, s)
	}
	sort.Strings(slugs)
	var out []*repo.LoadedSpec
	for _, s := range slugs {
		opts := w.Load
		opts.SpecOnly = !datasets
		if ls, err := repo.LoadExperiment(files[s], opts); err == nil {
			out = append(out, ls)
		}
	}
	return out
}

// datasets are the specs' datasets and every file in datasets/ that
// loads, each once.
func (w Workspace) datasets(specs []*repo.LoadedSpec) []*repo.Dataset {
	var out []*repo.Dataset
	seen := map[string]bool{}
	for _, ls := range specs {
		if ls.Dataset != nil && !seen[ls.Dataset.Path] {
			seen[ls.Dataset.Path] = true
			out = append(out, ls.Dataset)
		}
	}
	files, _ := filepath.Glob(filepath.Join(w.Dir.Datasets(), "*.jsonl"))
	for _, f := range files {
		if seen[f] {
			continue
		}
		if ds, err := repo.LoadDataset(f); err == nil {
			seen[f] = true
			out = append(out, ds)
		}
	}
	return out
}

// view builds the view of the one ID hits name.
func (w Workspace) view(hits []hit) any {
	switch hits[0].kind {
	case KindExperiment:
		return w.experimentView(hits)
	case KindDataset:
		return w.datasetView(hits)
	case KindCase:
		return w.caseView(hits)
	case KindParameters:
		return parametersView(hits)
	case KindIteration:
		return iterationView(hits)
	case KindRun:
		return runView(hits[0].run)
	case KindTrace:
		return traceView(hits[0])
	case KindAgent:
		return agentView(hits)
	case KindDefinition:
		return w.definitionView(hits)
	}
	return failureModeView(hits[0].mode)
}
