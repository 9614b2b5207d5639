package reports

import (
	"fmt"
	"sort"
	"strings"

	"github.com/goccy/go-json"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/paired"
	"github.com/selfevals/selfevals/runner"
)

// CompareWarnings says why two iterations may not be comparable: they
// belong to different experiments (other agent, graders or targets), to
// two versions of one experiment's spec, or ran other datasets (the
// paired statistics then use only the cases both ran).
func CompareWarnings(a, b *runner.StoredIteration) []string {
	var out []string
	ma, mb := a.Manifest, b.Manifest
	switch {
	case ma.Experiment != mb.Experiment:
		out = append(out, fmt.Sprintf("A and B are iterations of different experiments (%s and %s): their agents, graders and targets may differ, so the differences below need not come from the parameters", ma.Experiment, mb.Experiment))
	case ma.ExperimentID != mb.ExperimentID:
		out = append(out, fmt.Sprintf("the spec of %s changed between the two runs (%s, then %s): the differences below need not come from the parameters", ma.Experiment, ma.ExperimentID, mb.ExperimentID))
	}
	if ma.DatasetID != mb.DatasetID {
		out = append(out, fmt.Sprintf("A and B ran different datasets (%s and %s): the paired statistics use only the cases both ran", ma.DatasetID, mb.DatasetID))
	}
	return out
}

// Compare renders two iterations side by side: parameter diff, metric diff
// with paired statistics, failure-mode diff and a recommendation.
func Compare(a, b *runner.StoredIteration) string {
	var s strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&s, format, args...) }
	target := b.Manifest.Target
	conf := b.Manifest.Confidence
	if conf == 0 {
		conf = 0.95
	}
	w("# Compare `%s` (A) with `%s` (B)\n\n", a.ID, b.ID)
	w("- **A:** %s iteration %d — %s\n- **B:** %s iteration %d — %s\n\n", a.Manifest.Experiment, a.Index, a.Hypothesis, b.Manifest.Experiment, b.Index, b.Hypothesis)
	for _, warning := range CompareWarnings(a, b) {
		w("> **Warning:** %s\n\n", warning)
	}

	w("## Parameters\n\n")
	fa, fb := flatten("", a.Params), flatten("", b.Params)
	keys := unionKeys(fa, fb)
	if len(keys) == 0 {
		w("Both ran without parameters.\n\n")
	} else {
		t := newTable(&s, "", "parameter", "A", "B", "changed")
		for _, k := range keys {
			va, vb := fa[k], fb[k]
			changed := ""
			if va != vb {
				changed = "yes"
			}
			t.row(code(k), paramCell(va), paramCell(vb), changed)
		}
		w("\n")
	}

	w("## Metrics\n\n")
	t := newTable(&s, "", "metric", "A", "B", "Δ", fmt.Sprintf("%.0f%% CI", conf*100), "p", "test")
	names := unionKeys(a.Metrics, b.Metrics)
	for _, n := range names {
		ma, mb := a.Metrics[n], b.Metrics[n]
		delta, ci, p, test := dash, dash, dash, ""
		if ma.Observed && mb.Observed {
			delta = signed(mb.Value - ma.Value)
			if ev := paired.Compare(n, ma.Value, mb.Value, a.Pairs, b.Pairs, conf); ev != nil && ev.Test != "" {
				ci = fmt.Sprintf("[%s, %s]", signed(ev.Lo), signed(ev.Hi))
				p = fmtP(*ev.P)
				test = ev.Test
			}
		}
		t.row(code(n), metricValue(ma), metricValue(mb), delta, ci, p, test)
	}
	w("\n## Failure modes\n\n")
	modes := unionKeys(a.FailureModes, b.FailureModes)
	if len(modes) == 0 {
		w("None in either.\n\n")
	} else {
		t := newTable(&s, "", "mode", "A", "B")
		for _, m := range modes {
			t.row(code(m), a.FailureModes[m], b.FailureModes[m])
		}
		w("\n")
	}

	w("## Recommendation\n\n")
	va, okA := a.Metric(target.Name)
	vb, okB := b.Metric(target.Name)
	switch {
	case a.Manifest.Target.Name != b.Manifest.Target.Name:
		w("The iterations have different primary metrics (A `%s`, B `%s`); no recommendation.\n", a.Manifest.Target.Name, b.Manifest.Target.Name)
	case !okA || !okB:
		w("`%s` was not observed in both iterations; no recommendation.\n", target.Name)
	default:
		ev := paired.Compare(target.Name, va, vb, a.Pairs, b.Pairs, conf)
		sig := ev.Significant(conf)
		switch {
		case target.Better(vb, va) && sig:
			w("Prefer **B**: `%s` %s → %s, a significant improvement (p=%s).\n", target.Name, num(va), num(vb), fmtP(*ev.P))
		case target.Better(va, vb) && sig:
			w("Prefer **A**: `%s` %s → %s is a significant regression for B (p=%s).\n", target.Name, num(va), num(vb), fmtP(*ev.P))
		case va == vb:
			w("No difference in `%s` (%s).\n", target.Name, num(va))
		default:
			better := "B"
			if target.Better(va, vb) {
				better = "A"
			}
			w("**%s** looks better on `%s` (%s vs %s), but the difference is not significant: collect more cases or repetitions before deciding.\n", better, target.Name, num(va), num(vb))
		}
	}
	return s.String()
}

// flatten turns nested parameters into dotted keys with JSON values.
func flatten(prefix string, v any) map[string]string {
	out := map[string]string{}
	var walk func(p string, v any)
	walk = func(p string, v any) {
		switch x := v.(type) {
		case repo.Parameters:
			walk(p, map[string]any(x))
		case map[string]any:
			for k, vv := range x {
				walk(strings.TrimPrefix(p+"."+k, "."), vv)
			}
		default:
			b, _ := json.Marshal(x)
			out[p] = string(b)
		}
	}
	walk(prefix, v)
	return out
}

func unionKeys[V any](a, b map[string]V) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range []map[string]V{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

// paramCell shows a parameter's JSON value as code, or a dash where the
// iteration has no such parameter.
func paramCell(v string) string {
	if v == "" {
		return dash
	}
	return code(v)
}
