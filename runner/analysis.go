package runner

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/goccy/go-json"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
)

// PullOptions choose the traces of an analysis bundle.
type PullOptions struct {
	EvalsDir string
	RunDir   string
	// Iteration keeps one iteration's traces; nil keeps all.
	Iteration *int
	// All includes passing traces; otherwise only failed ones (a label
	// other than pass, or an agent error).
	All bool
	// Limit caps the traces in the bundle; past it the bundle holds a
	// deterministic sample shared evenly among failure modes. 0: no cap.
	Limit int
	Load  repo.LoadOptions
}

// PullStats say what a bundle holds out of what the run recorded.
type PullStats struct {
	Considered int // traces in the selected iterations
	Selected   int // traces the scope selected
	InBundle   int // Selected, or the sample of them under Limit
	Warnings   []string
}

// BundleInstructions tells the agent that reads a bundle what to do.
const BundleInstructions = "Classify every trace into the taxonomy, following the error-analysis skill " +
	"(`selfevals skills show error-analysis`, or read the files under `selfevals skills path error-analysis`): " +
	"open-code each failure in a short note with a verbatim quote, then assign it to an existing mode (mode_id) " +
	"or to a new mode you propose (new_mode_slug + proposed_modes). Write the AnalysisResult JSON " +
	"{schema_version, experiment, assignments, proposed_modes, hypotheses} and record it with " +
	"`selfevals analyze push <result.json> --by agent:<your-name>`."

// PullBundle builds the analysis bundle of a recorded run: its failed
// traces (or all with opts.All) with the case each one ran, and the live
// taxonomy.
func PullBundle(opts PullOptions) (*repo.AnalysisBundle, PullStats, error) {
	var st PullStats
	run := runstore.At(opts.RunDir)
	man, err := run.Manifest()
	if err != nil {
		return nil, st, err
	}
	b := &repo.AnalysisBundle{SchemaVersion: repo.BundleSchemaVersion, Experiment: man.Experiment, RunID: man.RunID,
		Iteration: opts.Iteration, Scope: "failed", Taxonomy: []repo.BundleMode{}, Traces: []repo.BundleTrace{}, Instructions: BundleInstructions}
	if opts.All {
		b.Scope = "all"
	}
	if opts.Iteration != nil {
		its, err := run.Iterations()
		if err != nil && !os.IsNotExist(err) {
			return nil, st, err
		}
		var have []string
		found := false
		for _, it := range its {
			have = append(have, fmt.Sprint(it.Index))
			found = found || it.Index == *opts.Iteration
		}
		if !found {
			return nil, st, &repo.UserError{Msg: fmt.Sprintf("run %s has no iteration %d", man.RunID, *opts.Iteration),
				Hint: "its iterations: " + strings.Join(have, ", ")}
		}
	}

	tax, err := repo.LoadTaxonomy(repo.Dir(opts.EvalsDir).Taxonomy())
	if err != nil {
		return nil, st, err
	}
	for _, m := range tax.Modes {
		if s := repo.ModeStatus(m); s != "retired" {
			b.Taxonomy = append(b.Taxonomy, repo.BundleMode{ID: m.ID(), Slug: m.Slug, Title: m.Title, Definition: m.Definition, Status: s})
		}
	}

	// Two passes over results.jsonl keep memory bounded by the limit: the
	// first counts and samples trace IDs, the second keeps the chosen
	// traces whole.
	chosen, sample, err := sampleTraces(run, opts, &st)
	if err != nil {
		return nil, st, err
	}
	b.Sample = sample
	err = run.Results(func(res *repo.Result) error {
		if selected(res, opts) && (chosen == nil || chosen[res.ID]) {
			b.Traces = append(b.Traces, bundleTrace(res))
		}
		return nil
	})
	if err != nil {
		return nil, st, err
	}
	st.InBundle = len(b.Traces)
	sort.Slice(b.Traces, func(i, j int) bool {
		a, c := b.Traces[i], b.Traces[j]
		if a.Iteration != c.Iteration {
			return a.Iteration < c.Iteration
		}
		if a.CaseID != c.CaseID {
			return a.CaseID < c.CaseID
		}
		if a.Repetition != c.Repetition {
			return a.Repetition < c.Repetition
		}
		return a.TraceID < c.TraceID
	})

	// Stream the dataset once for the selected cases' names and inputs.
	want := map[string][]int{}
	for i, t := range b.Traces {
		want[t.CaseID] = append(want[t.CaseID], i)
	}
	if len(want) > 0 {
		if w := fillCases(opts, man, b, want); w != "" {
			st.Warnings = append(st.Warnings, w)
		}
	}
	return b, st, nil
}

// fillCases sets the case name and input of the bundle's traces from the
// experiment's dataset; it returns a warning when that is not possible.
func fillCases(opts PullOptions, man *repo.RunManifest, b *repo.AnalysisBundle, want map[string][]int) string {
	spec := repo.Dir(opts.EvalsDir).Spec(man.Experiment)
	if _, err := os.Stat(spec); err != nil && man.Spec != "" {
		spec = man.Spec
	}
	ls, err := repo.LoadExperiment(spec, opts.Load)
	if err != nil {
		return fmt.Sprintf("case names and inputs are missing: %s does not load: %v", spec, firstLine(err.Error()))
	}
	missing := len(want)
	err = ls.Dataset.Each(func(c *repo.Case) error {
		idx, ok := want[c.ID]
		if !ok {
			return nil
		}
		for _, i := range idx {
			b.Traces[i].CaseName = c.DisplayName()
			b.Traces[i].Input = append(json.RawMessage(nil), c.Input...)
		}
		delete(want, c.ID)
		missing--
		return nil
	})
	if err != nil {
		return fmt.Sprintf("case names and inputs are missing: %v", firstLine(err.Error()))
	}
	if missing > 0 {
		return fmt.Sprintf("%d case(s) of the run are no longer in the dataset; their input is null", missing)
	}
	return ""
}

// selected reports whether a result is in the bundle's scope.
func selected(res *repo.Result, opts PullOptions) bool {
	if opts.Iteration != nil && res.Iteration != *opts.Iteration {
		return false
	}
	return opts.All || res.Label != repo.Pass || res.Error != ""
}

// sampled is a trace the sample may take: the least hashes win.
type sampled struct {
	hash uint64
	id   string
}

func compareSampled(a, b sampled) int {
	return cmp.Or(cmp.Compare(a.hash, b.hash), cmp.Compare(a.id, b.id))
}

// sampleTraces counts the traces in scope and, when there are more than
// opts.Limit, picks which go in the bundle: the limit shared evenly among
// the groups (a group with fewer gives its share to the others), and in
// each group the traces whose ID hashes least, so the same run gives the
// same sample. Per group it holds at most Limit IDs. chosen is nil when
// every selected trace goes in.
func sampleTraces(run runstore.Run, opts PullOptions, st *PullStats) (chosen map[string]bool, sample *repo.BundleSample, err error) {
	groups := map[string]*smallest[sampled]{}
	counts := map[string]int{}
	err = run.Results(func(res *repo.Result) error {
		if opts.Iteration != nil && res.Iteration != *opts.Iteration {
			return nil
		}
		st.Considered++
		if !selected(res, opts) {
			return nil
		}
		st.Selected++
		if opts.Limit <= 0 {
			return nil
		}
		g := sampleGroup(res)
		if groups[g] == nil {
			groups[g] = newSmallest(opts.Limit, compareSampled)
		}
		counts[g]++
		h := fnv.New64a()
		h.Write([]byte(res.ID))
		groups[g].Offer(sampled{h.Sum64(), res.ID})
		return nil
	})
	if err != nil || opts.Limit <= 0 || st.Selected <= opts.Limit {
		return nil, nil, err
	}
	names := slices.Sorted(maps.Keys(groups))
	take := shareLimit(names, groups, opts.Limit)
	chosen = make(map[string]bool, opts.Limit)
	sample = &repo.BundleSample{Limit: opts.Limit, Selected: st.Selected}
	for _, g := range names {
		for _, c := range groups[g].Sorted()[:take[g]] {
			chosen[c.id] = true
		}
		sample.Groups = append(sample.Groups, repo.SampleGroup{Group: g, Traces: counts[g], InBundle: take[g]})
	}
	return chosen, sample, nil
}

// shareLimit shares limit among the groups evenly, in name order; what a
// small group cannot use goes to the others.
func shareLimit(names []string, groups map[string]*smallest[sampled], limit int) map[string]int {
	take := map[string]int{}
	for left := limit; left > 0; {
		var open []string
		for _, g := range names {
			if take[g] < len(groups[g].items) {
				open = append(open, g)
			}
		}
		if len(open) == 0 {
			break
		}
		share := max(1, left/len(open))
		for _, g := range open {
			n := min(share, len(groups[g].items)-take[g], left)
			take[g] += n
			left -= n
		}
	}
	return take
}

// sampleGroup is the group a trace is sampled in: its agent error's kind,
// else its first failure mode, else pass or unclassified.
func sampleGroup(res *repo.Result) string {
	if res.Error != "" {
		return "error:" + cmp.Or(res.ErrorKind, "agent")
	}
	for _, g := range res.Grades {
		if len(g.FailureModes) > 0 {
			return g.FailureModes[0]
		}
	}
	if res.Label == repo.Pass {
		return "pass"
	}
	return "unclassified"
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func bundleTrace(res *repo.Result) repo.BundleTrace {
	t := repo.BundleTrace{TraceID: res.ID, CaseID: res.CaseID, Iteration: res.Iteration, Repetition: res.Repetition,
		Input: json.RawMessage("null"), Output: res.Output, StructuredOutput: res.StructuredOutput, ToolCalls: res.ToolCalls,
		Grade: repo.BundleGrade{Label: res.Label, Score: res.Score, FailureModes: []string{}, Reasons: []string{}}}
	if t.ToolCalls == nil {
		t.ToolCalls = []repo.ToolCall{}
	}
	seen := map[string]bool{}
	for _, g := range res.Grades {
		for _, m := range g.FailureModes {
			if !seen[m] {
				seen[m] = true
				t.Grade.FailureModes = append(t.Grade.FailureModes, m)
			}
		}
		if g.Reason != "" && g.Label != repo.Pass {
			t.Grade.Reasons = append(t.Grade.Reasons, fmt.Sprintf("%s (%s): %s", g.Grader, g.Label, g.Reason))
		}
	}
	switch {
	case res.Error != "":
		kind := res.ErrorKind
		if kind == "" {
			kind = "agent"
		}
		t.FirstError = &repo.FirstError{Source: "agent", Name: kind, Error: res.Error}
	default:
		for _, tc := range res.ToolCalls {
			if tc.Error != "" {
				t.FirstError = &repo.FirstError{Source: "tool_call", Name: tc.Name, Error: tc.Error}
				break
			}
		}
		if t.FirstError == nil {
			for _, sp := range res.Spans {
				if sp.Status == "error" {
					t.FirstError = &repo.FirstError{Source: "span", Name: sp.Kind + ":" + sp.Name, Error: spanError(sp)}
					break
				}
			}
		}
	}
	return t
}

func spanError(sp repo.Span) string {
	var attrs map[string]any
	if repo.DecodeJSON(sp.Attributes, &attrs) == nil {
		for _, k := range []string{"error", "error.message", "exception.message"} {
			if v, ok := attrs[k].(string); ok && v != "" {
				return v
			}
		}
	}
	return "span status error"
}

// PlanPush plans the push of an analysis result (see repo.PlanPush),
// looking its traces up in the run records under req.EvalsDir.
func PlanPush(req repo.PushRequest) (*repo.PushPlan, error) {
	req.FindTraces = func(slug string, ids []string) (map[string]repo.TraceRef, error) {
		return FindTraces(req.EvalsDir, slug, ids)
	}
	return repo.PlanPush(req)
}

// FindTraces looks trace IDs up in the run records (of one experiment when
// slug is set), newest run first, and returns where each was recorded.
// IDs not found are absent from the map.
func FindTraces(evalsDir, slug string, ids []string) (map[string]repo.TraceRef, error) {
	out := map[string]repo.TraceRef{}
	if len(ids) == 0 {
		return out, nil
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	runs, err := runstore.Open(evalsDir).Runs(slug)
	if err != nil {
		return nil, err
	}
	for _, run := range runs {
		man, err := run.Manifest()
		if err != nil {
			continue
		}
		err = run.Results(func(res *repo.Result) error {
			if want[res.ID] {
				if _, done := out[res.ID]; !done {
					out[res.ID] = repo.TraceRef{Experiment: man.Experiment, RunID: man.RunID, CaseID: res.CaseID, Iteration: res.Iteration, Output: res.Output}
				}
			}
			return nil
		})
		if err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		if len(out) == len(want) {
			break
		}
	}
	return out, nil
}
