package reports

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/goccy/go-json"

	"github.com/selfevals/selfevals/repo"
)

// The text views of `experiments`, `runs` and `show`: aligned columns and
// "key  value" blocks for a terminal. Their JSON is the view types as
// they are (ExploreJSON).

// ExploreJSON is the JSON of a list or a view: indented, lists never null.
func ExploreJSON(v any) ([]byte, error) { return indentedJSON(v) }

// ExperimentList is the `experiments` table.
func ExperimentList(rows []ExperimentRow) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SLUG\tFILE\tTARGET\tLAST RUN\tBEST")
	for _, r := range rows {
		target := r.Target
		switch {
		case r.File == "":
			target = "no spec (runs only)"
		case r.Problem != "":
			target = "invalid: " + plural(r.Problems, "problem") + " (selfevals validate)"
		}
		last, best := "never run", dash
		if r.LastRun != nil {
			last = string(r.LastRun.State) + " " + timeCell(r.LastRun.StartedAt)
			best = bestCell(r.LastRun.Best)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Slug, orDash(r.File), orDash(target), last, best)
	}
	tw.Flush()
	return trimLines(b.String())
}

// RunList is the `runs` table, newest first as given.
func RunList(rows []RunRow) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tEXPERIMENT\tSTATE\tITERATIONS\tBEST\tCALLS\tSTARTED")
	for _, r := range rows {
		best := bestCell(r.Best)
		if r.Shard != nil {
			best = "shard " + r.Shard.String() + ": undecided"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.ID, r.Slug, r.State, r.Iterations, best, callsCell(r.Calls, r.CacheHits), timeCell(r.StartedAt))
	}
	tw.Flush()
	return trimLines(b.String())
}

func bestCell(best *BestIteration) string {
	if best == nil {
		return dash
	}
	return fmt.Sprintf("%s %s (#%d)", best.Metric, num(best.Value), best.Index)
}

// callsCell is the agent calls made and those served from the cache.
func callsCell(calls, cached int) string {
	if cached == 0 {
		return thousands(calls)
	}
	return fmt.Sprintf("%s + %s cached", thousands(calls), thousands(cached))
}

// timeCell is a time in UTC to the minute, as history and candidates
// write commit times.
func timeCell(t time.Time) string {
	if t.IsZero() {
		return dash
	}
	return t.UTC().Format("2006-01-02 15:04")
}

// shortTime is timeCell of an RFC 3339 time as run.json records it.
func shortTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return orDash(s)
	}
	return timeCell(t)
}

// ShowText is the readable view of what Workspace.Show found.
func ShowText(v any) string {
	var b strings.Builder
	switch v := v.(type) {
	case *ExperimentView:
		experimentText(&b, v)
	case *DatasetView:
		datasetText(&b, v)
	case *CaseView:
		caseText(&b, v)
	case *ParametersView:
		parametersText(&b, v)
	case *IterationView:
		iterationText(&b, v)
	case *RunView:
		runText(&b, v)
	case *FailureModeView:
		failureModeText(&b, v)
	case *TraceView:
		traceText(&b, v)
	case *AgentView:
		agentText(&b, v)
	case *DefinitionView:
		definitionText(&b, v)
	}
	return trimLines(b.String())
}

// trimLines drops the spaces an empty last column leaves at line ends.
func trimLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

// fields writes "key  value" lines aligned, skipping empty values.
func fields(b *strings.Builder, kv ...string) {
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			fmt.Fprintf(tw, "  %s\t%s\n", kv[i], oneLine(kv[i+1]))
		}
	}
	tw.Flush()
}

func heading(b *strings.Builder, kind, id, title string) {
	fmt.Fprintf(b, "%s %s", kind, id)
	if title != "" {
		fmt.Fprintf(b, "  %s", title)
	}
	b.WriteString("\n")
}

func compactJSON(v any) string {
	out, err := json.MarshalWithOption(v, json.DisableHTMLEscape())
	if err != nil {
		return ""
	}
	return string(out)
}

func experimentText(b *strings.Builder, v *ExperimentView) {
	heading(b, "experiment", v.ID, v.Slug)
	current := ""
	if !v.Current {
		current = "no: the spec has changed since (or is gone); this is what its runs recorded"
	}
	params := ""
	if v.ParamsID != "" {
		params = v.ParamsID + " " + compactJSON(v.Parameters)
	}
	fields(b, "name", v.Name, "goal", v.Goal, "file", v.File, "current", current,
		"target", v.Target, "guardrails", strings.Join(v.Guardrails, ", "),
		"dataset", strings.TrimSpace(v.DatasetID+" "+v.DatasetFile+" "+casesNote(v.Cases)),
		"agent", v.Agent, "graders", strings.Join(v.Graders, ", "), "proposer", v.Proposer, "parameters", params)
	if len(v.Runs) > 0 {
		b.WriteString("\nruns (newest first)\n")
		b.WriteString(indent(RunList(v.Runs)))
	} else if v.Current {
		fmt.Fprintf(b, "\nnot run yet: selfevals run %s\n", v.File)
	}
}

func casesNote(n int) string {
	if n == 0 {
		return ""
	}
	return "(" + plural(n, "case") + ")"
}

// datasetCasesShown is how many cases the text view of a dataset lists.
const datasetCasesShown = 20

func datasetText(b *strings.Builder, v *DatasetView) {
	heading(b, "dataset", v.ID, v.File)
	file := v.File
	if file == "" {
		file = "no file has this dataset now; runs recorded it"
	}
	fields(b, "file", file, "cases", fmt.Sprint(v.Cases), "experiments", strings.Join(v.Experiments, ", "), "runs", strings.Join(v.Runs, ", "))
	if len(v.CaseList) == 0 {
		return
	}
	b.WriteString("\ncases\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	for i, c := range v.CaseList {
		if i == datasetCasesShown {
			fmt.Fprintf(tw, "  … %d more (--format json lists them all)\n", len(v.CaseList)-i)
			break
		}
		fmt.Fprintf(tw, "  %s\tline %d\t%s\n", c.ID, c.Line, c.Name)
	}
	tw.Flush()
}

func caseText(b *strings.Builder, v *CaseView) {
	heading(b, "case", v.ID, v.Name)
	where := v.File
	if v.Line > 0 {
		where = fmt.Sprintf("%s:%d", v.File, v.Line)
	}
	fields(b, "file", where, "definition", v.Definition, "datasets", strings.Join(v.Datasets, ", "))
	b.WriteString("\n")
	var pretty strings.Builder
	if out, err := json.MarshalIndentWithOption(json.RawMessage(v.Case), "  ", "  ", json.DisableHTMLEscape()); err == nil {
		pretty.Write(out)
	}
	fmt.Fprintf(b, "  %s\n", pretty.String())
	if len(v.Verdicts) == 0 {
		return
	}
	b.WriteString("\ncommitted verdicts\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	for _, cv := range v.Verdicts {
		fmt.Fprintf(tw, "  %s\t%s\tscore %s\tpass rate %s\t%s\n", cv.Experiment, cv.Label, num(cv.Score), num(cv.PassRate), oneLine(cv.Reason))
	}
	tw.Flush()
}

func parametersText(b *strings.Builder, v *ParametersView) {
	heading(b, "parameters", v.ID, "")
	fields(b, "value", compactJSON(v.Parameters), "adopted by", strings.Join(v.AdoptedBy, ", "))
	if len(v.Iterations) > 0 {
		b.WriteString("\niterations that tried them (newest run first)\n")
		iterationRefs(b, v.Iterations, true)
	}
}

func iterationRefs(b *strings.Builder, refs []IterationRef, withRun bool) {
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	for _, r := range refs {
		value := r.Metric + " " + dash
		if r.Value != nil {
			value = r.Metric + " " + num(*r.Value)
		}
		if withRun {
			fmt.Fprintf(tw, "  %s #%d\t%s\t%s\t%s\n", r.Run, r.Index, r.ID, value, r.Outcome)
		} else {
			fmt.Fprintf(tw, "  #%d\t%s\t%s\t%s\n", r.Index, r.ID, value, r.Outcome)
		}
	}
	tw.Flush()
}

func iterationText(b *strings.Builder, v *IterationView) {
	heading(b, "iteration", v.ID, fmt.Sprintf("%s #%d", v.Experiment, v.Index))
	fields(b, "run", v.Run, "parameters", v.ParamsID+" "+compactJSON(v.Parameters), "hypothesis", v.Hypothesis,
		"target", v.Target, "decision", v.Outcome, "rationale", v.Rationale,
		"calls", fmt.Sprintf("%s, %s, %s ms", callsCell(v.Calls, v.CacheHits), plural(v.Errors, "error"), thousands(int(v.DurationMS))))
	b.WriteString("\nmetrics\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	for _, m := range v.Metrics {
		value, ci := "not observed", ""
		if m.Value != nil {
			value = num(*m.Value)
		}
		if m.Value != nil && m.Lo != nil && m.Hi != nil {
			ci = "[" + num(*m.Lo) + ", " + num(*m.Hi) + "]"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\tn=%d\n", m.Name, value, ci, m.N)
	}
	tw.Flush()
	if len(v.FailureModes) > 0 {
		b.WriteString("\nfailure modes\n")
		for _, m := range v.FailureModes {
			fmt.Fprintf(b, "  %s  %d\n", m.Mode, m.Count)
		}
	}
	if len(v.OtherRuns) > 0 {
		b.WriteString("\nthe same configuration in other runs\n")
		iterationRefs(b, v.OtherRuns, true)
	}
}

func runText(b *strings.Builder, v *RunView) {
	heading(b, "run", v.ID, v.Experiment)
	r := v.Row
	ended := dash
	if r.EndedAt != nil {
		ended = timeCell(*r.EndedAt)
	}
	commit := v.GitCommit
	if commit != "" && v.GitDirty {
		commit += " (uncommitted changes)"
	}
	fields(b, "experiment", v.Experiment+" ("+v.ExperimentID+")", "spec", v.Spec, "state", string(r.State),
		"terminated", r.Terminated, "started", timeCell(r.StartedAt), "ended", ended,
		"dataset", strings.TrimSpace(v.DatasetID+" "+casesNote(v.Cases)), "agent", v.Agent, "target", v.Target,
		"proposer", v.Proposer, "best", bestCell(r.Best), "calls", callsCell(r.Calls, r.CacheHits),
		"git commit", commit, "tool version", v.ToolVersion)
	if len(v.Iterations) > 0 {
		b.WriteString("\niterations\n")
		iterationRefs(b, v.Iterations, false)
	}
	fmt.Fprintf(b, "\nthe full report: selfevals report %s\n", v.ID)
}

func failureModeText(b *strings.Builder, v *FailureModeView) {
	heading(b, "failure mode", v.ID, v.Title)
	fields(b, "status", v.Status, "definition", v.Definition, "parent", v.Parent, "merged into", v.MergedInto, "proposed by", v.ProposedBy)
	if len(v.Examples) > 0 {
		b.WriteString("\nexamples\n")
		for _, e := range v.Examples {
			fmt.Fprintf(b, "  %s  %s\n", e.TraceID, oneLine(strings.TrimSpace(e.Quote+" "+e.Note)))
		}
	}
	if len(v.History) > 0 {
		b.WriteString("\nhistory\n")
		for _, h := range v.History {
			fmt.Fprintf(b, "  %s  %s  %s  %s\n", orDash(h.At), h.Action, orDash(h.By), h.Detail)
		}
	}
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// traceOutputShown is how much of an output the text view of a trace
// prints.
const traceOutputShown = 4000

func traceText(b *strings.Builder, v *TraceView) {
	heading(b, "trace", v.ID, fmt.Sprintf("%s #%d, repetition %d", v.Experiment, v.Iteration, v.Repetition))
	latency := num(v.LatencyMS) + " ms"
	if v.Attempts > 1 {
		latency += ", " + plural(v.Attempts, "attempt")
	}
	if v.Cached {
		latency += ", from the cache"
	}
	usage, cost := "", "not reported"
	if v.InputTokens+v.OutputTokens > 0 {
		usage = fmt.Sprintf("%s in, %s out", thousands(int(v.InputTokens)), thousands(int(v.OutputTokens)))
	}
	if v.CostUSD != nil {
		cost = "$" + repo.FormatNumber(*v.CostUSD)
	}
	errText := v.Error
	if v.ErrorKind != "" {
		errText = v.ErrorKind + ": " + v.Error
	}
	fields(b, "run", v.Run, "case", v.CaseID, "parameters", v.ParamsID, "started", v.StartedAt, "latency", latency,
		"model", v.Model, "tokens", usage, "cost", cost, "label", fmt.Sprintf("%s (score %s)", v.Label, num(v.Score)),
		"tool calls", strings.Join(v.ToolCalls, ", "), "error", errText)
	if len(v.Grades) > 0 {
		b.WriteString("\ngrades\n")
		tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
		for _, g := range v.Grades {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", g.Grader, g.Label, oneLine(g.Reason))
		}
		tw.Flush()
	}
	if v.Output != "" {
		fmt.Fprintf(b, "\noutput\n%s", indent(clip(v.Output, traceOutputShown)))
	}
	if len(v.StructuredOutput) > 0 {
		fmt.Fprintf(b, "\nstructured output\n  %s\n", v.StructuredOutput)
	}
	if v.Stderr != "" {
		fmt.Fprintf(b, "\nstderr (tail)\n%s", indent(v.Stderr))
	}
}

func agentText(b *strings.Builder, v *AgentView) {
	heading(b, "agent", v.ID, "")
	fields(b, "agent", strings.Join(v.Agents, "; "), "experiments", strings.Join(v.Experiments, ", "))
	if len(v.Agents) == 0 {
		b.WriteString("  no spec has this agent now (its block or a file it names changed)\n")
	}
	if len(v.Runs) > 0 {
		b.WriteString("\nruns (newest first)\n")
		b.WriteString(indent(RunList(v.Runs)))
	}
}

func definitionText(b *strings.Builder, v *DefinitionView) {
	heading(b, "definition", v.ID, "")
	b.WriteString("\ncases with this definition\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	for _, c := range v.Cases {
		fmt.Fprintf(tw, "  %s\t%s:%d\t%s\n", c.ID, c.File, c.Line, c.Name)
	}
	tw.Flush()
}
