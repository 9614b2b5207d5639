// Package reports presents results: the run report in markdown, JSON,
// JUnit and HTML, compare, the diff across revisions and its pull-request
// comment, the web UI, and what the other commands print (regrade,
// calibration, history, candidates, failure modes, estimates). Commands
// gather the data and print what these functions return.
package reports

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-json"
	"github.com/selfevals/selfevals/repo"
)

// outcomeGlyph is the short word the iterations table shows.
var outcomeGlyph = map[string]string{
	repo.KeepCandidate:         "keep",
	repo.Reject:                "reject",
	repo.Investigate:           "investigate",
	repo.RequireTradeoffReview: "review",
	repo.SpawnSubexperiment:    "spawn",
}

// Markdown renders the run report for terminals and pull requests.
func Markdown(rs *repo.RunSummary) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Experiment: %s\n\n_%s_\n\n", rs.Name, rs.Goal)
	w("- **State:** `%s`  - **Proposer:** `%s`  - **Iterations:** %d/%d  - **Terminated:** `%s`\n",
		rs.State, rs.Strategy, len(rs.Iterations), rs.MaxIter, rs.Terminated)
	w("- **Cases:** %d (`%s`)  - **Agent calls:** %d (%d from cache)  - **Run:** `%s`\n\n", rs.Cases, rs.DatasetID, rs.Calls, rs.CacheHits, rs.RunID)
	if rs.Shard != nil {
		w("> Shard %s of a split run: %d of the dataset's cases, for every proposal. Its iterations are not decided: `selfevals merge` of every shard's run directory decides, writes evals/results and commits, as one run would.\n\n", rs.Shard, rs.Shard.Cases)
	}
	if len(rs.MergedFrom) > 0 {
		w("> Merged from %d shard(s): %s.\n\n", len(rs.MergedFrom), "`"+strings.Join(rs.MergedFrom, "`, `")+"`")
	}
	if rs.CacheHits > 0 {
		// A cached answer replays the original call's latency and cost.
		w("> %d of %d calls came from the agent-call cache: their latency and cost are those of the original calls. Run with `--no-cache` to measure them again.\n\n", rs.CacheHits, rs.Calls+rs.CacheHits)
	}
	w("**Target:** `%s`", rs.Target.String())
	if len(rs.Guardrails) > 0 {
		var gs []string
		for _, g := range rs.Guardrails {
			gs = append(gs, "`"+g.String()+"`")
		}
		w("  **Guardrails:** %s", strings.Join(gs, ", "))
	}
	w("\n\n")

	if rs.Best != nil {
		best := rs.Iterations[indexOf(rs, *rs.Best)]
		w("## Best iteration: #%d — `%s = %s` (%s)\n\n", best.Index, rs.Target.Name, num(best.Primary), glyph(best.Decision.Outcome))
		w("> %s\n\n", best.Hypothesis)
		w("%s\n\n", best.Decision.Rationale)
		if len(best.Params) > 0 {
			w("**Parameters** (`%s`):\n\n", best.ParamsID)
			keys := make([]string, 0, len(best.Params))
			for k := range best.Params {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				v, _ := json.Marshal(best.Params[k])
				w("- `%s` = `%s`\n", k, v)
			}
			w("\n")
		}
		w("### Metrics of the best iteration\n\n")
		t := newTable(&b, "", "metric", "value", ciHeader(rs.Confidence), "n")
		for _, name := range metricOrder(best.Metrics) {
			m := best.Metrics[name]
			t.row(code(name), metricValue(m), interval(m), m.N)
		}
		w("\n")
	} else if len(rs.Iterations) == 0 {
		w("No iteration finished.\n\n")
	}

	if len(rs.Iterations) > 0 {
		w("## Iterations\n\n")
		t := newTable(&b, "", "#", rs.Target.Name, "Δ vs best", "outcome", "rationale")
		for _, it := range rs.Iterations {
			delta := dash
			if ev := it.Decision.Evidence; ev != nil {
				delta = signed(ev.Delta)
			}
			t.row(it.Index, primaryCell(it, rs.Target.Name), delta, glyph(it.Decision.Outcome), escapeCell(it.Decision.Rationale))
		}
		w("\n")
	}

	if len(rs.Iterations) > 0 {
		w("## Cost and time\n\n")
		t := newTable(&b, "", "#", "cost (USD)", "tokens", "latency p50 / p95 (ms)", "calls", "cached", "errors", "wall (s)")
		for _, it := range rs.Iterations {
			cost := "not reported"
			if m := it.Metrics["cost_usd_total"]; m.Observed {
				cost = fmt.Sprintf("%.4f", m.Value)
			}
			tokens := dash
			if m := it.Metrics["tokens_total"]; m.Observed {
				tokens = num(m.Value)
			}
			t.row(it.Index, cost, tokens, metricValue(it.Metrics["latency_ms_p50"])+" / "+metricValue(it.Metrics["latency_ms_p95"]),
				it.Calls, it.CacheHits, it.Errors, fmt.Sprintf("%.1f", float64(it.DurationMS)/1000))
		}
		w("\nRun wall time: %.1f s.\n\n", rs.EndedAt.Sub(rs.StartedAt).Seconds())
	}

	modes := map[string]int{}
	for _, it := range rs.Iterations {
		for m, n := range it.FailureModes {
			modes[m] += n
		}
	}
	rt := loadRunTaxonomy(rs)
	if rows := failureModeRows(modes, rt); len(rows) > 0 {
		w("## Top failure modes\n\n")
		t := newTable(&b, "", "failure mode", "from", "count", "taxonomy mode")
		for i, r := range rows {
			if i == 10 {
				break
			}
			count := fmt.Sprint(r.count)
			if r.source == "analysis" {
				count = plural(r.count, "trace")
			}
			t.row(code(r.mode), r.source, count, rt.taxonomyCell(r.mode))
		}
		w("\n")
	}
	var analysis []string
	for _, it := range rs.Iterations {
		if it.AnalysisDue != "" {
			analysis = append(analysis, fmt.Sprintf("- iteration %d: %s. Pull them with `selfevals analyze pull %s --iteration %d`", it.Index, strings.TrimSuffix(it.AnalysisDue, "."), rs.Slug, it.Index))
		}
	}
	if len(analysis) > 0 && rs.Shard == nil {
		w("## Error analysis\n\n%s\n\n", strings.Join(analysis, "\n"))
		w("Classify the bundle with the error-analysis method (`selfevals skills show error-analysis`), then record it with `selfevals analyze push <result.json>`.\n\n")
	}
	if len(rs.Warnings) > 0 {
		w("## Warnings\n\n")
		for _, wn := range rs.Warnings {
			w("- %s\n", wn)
		}
		w("\n")
	}
	if rs.Committed != "" {
		w("%s\n\n", rs.Committed)
	}
	w("## Next steps\n\n```sh\n")
	if rs.Shard != nil {
		w("selfevals merge <the run directory of every shard, 1 to %d>   # decide, write evals/results, commit\n```\n", rs.Shard.Count)
		return b.String()
	}
	if len(rs.Iterations) >= 2 && rs.Best != nil {
		first := rs.Iterations[0]
		best := rs.Iterations[indexOf(rs, *rs.Best)]
		if first.ID != best.ID {
			w("selfevals compare %s %s   # baseline vs best, paired\n", first.ID, best.ID)
		}
	}
	w("selfevals run %s --reps 3   # repetitions for pass@k, pass^k and consistency\n", specPath(rs))
	w("selfevals estimate %s       # calls and cost before a bigger sweep\n", specPath(rs))
	w("```\n")
	return b.String()
}

func specPath(rs *repo.RunSummary) string {
	if rs.SpecPath != "" {
		return rs.SpecPath
	}
	return "evals/experiments/" + rs.Slug + ".yaml"
}

func indexOf(rs *repo.RunSummary, iteration int) int {
	for i, it := range rs.Iterations {
		if it.Index == iteration {
			return i
		}
	}
	return 0
}

func glyph(outcome string) string {
	if g, ok := outcomeGlyph[outcome]; ok {
		return g
	}
	return outcome
}

func primaryCell(it *repo.IterationSummary, name string) string {
	m, ok := it.Metrics[name]
	if !ok || !m.Observed {
		return "missing"
	}
	return num(m.Value)
}

// metricOrder lists the metrics a reader looks for first, then the rest.
func metricOrder(ms map[string]repo.Metric) []string {
	first := []string{"pass@1", "mean_score", "consistency_rate", "error_rate", "cost_usd_per_case", "latency_ms_p50", "latency_ms_p95", "tokens_total"}
	var out []string
	seen := map[string]bool{"stability_score": true, "fail_rate": true, "cost_usd_total": true, "tokens_input_total": true, "tokens_output_total": true, "latency_ms_per_case_avg": true}
	for _, n := range first {
		if _, ok := ms[n]; ok {
			out = append(out, n)
			seen[n] = true
		}
	}
	var rest []string
	for n := range ms {
		if !seen[n] {
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

func metricValue(m repo.Metric) string {
	if !m.Observed {
		return "not observed"
	}
	return num(m.Value)
}

func interval(m repo.Metric) string {
	if !m.Observed || m.Lo == nil || m.Hi == nil {
		return dash
	}
	return fmt.Sprintf("[%s, %s]", num(*m.Lo), num(*m.Hi))
}

// ciHeader names the interval column at the run's confidence (95 % when
// the summary does not say).
func ciHeader(confidence float64) string {
	if confidence <= 0 || confidence >= 1 {
		confidence = 0.95
	}
	return strconv.FormatFloat(confidence*100, 'f', -1, 64) + "% CI"
}
