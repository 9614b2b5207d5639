package reports

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// maxDetailed caps the regressed cases shown with their answer and rerun
// command; the table above them lists more.
const maxDetailed = 10

// guardrailHeadline names, for the headline, each guardrail B violates.
func guardrailHeadline(d *DiffReport, ev *PREvidence) []string {
	if ev == nil {
		return nil
	}
	var out []string
	for _, e := range d.Experiments {
		x := ev.Experiments[e.Slug]
		if x == nil {
			continue
		}
		for _, g := range x.Guardrails {
			if g.Violated() {
				out = append(out, fmt.Sprintf("❌ guardrail %s violated in %s", g.Target.Name, e.Slug))
			}
		}
	}
	return out
}

// evidenceHead is what comes under the table: each side's provenance, the
// guardrails and the link to the job.
func evidenceHead(d *DiffReport, opts DiffMarkdownOptions) string {
	ev := opts.Evidence
	if ev == nil {
		return ""
	}
	var b strings.Builder
	var lines []string
	for _, side := range []struct {
		name string
		pick func(*ExperimentEvidence) Provenance
	}{{"A", func(x *ExperimentEvidence) Provenance { return x.A }}, {"B", func(x *ExperimentEvidence) Provenance { return x.B }}} {
		if l := provenanceLine(side.name, d, opts, side.pick); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > 0 {
		b.WriteString(strings.Join(lines, "\\\n") + "\n\n")
	}
	var rails []string
	for _, e := range d.Experiments {
		if x := ev.Experiments[e.Slug]; x != nil && len(x.Guardrails) > 0 {
			rails = append(rails, guardrailLine(e.Slug, x.Guardrails))
		}
	}
	if len(rails) > 0 {
		b.WriteString(strings.Join(rails, "\\\n") + "\n\n")
	}
	if ev.JobURL != "" {
		fmt.Fprintf(&b, "📄 [The job's full report](%s): its summary has every section of this comment, whatever the comment had to leave out.\n\n", ev.JobURL)
	}
	return b.String()
}

// provenanceLine says where one side's results came from: the commit, the
// agent fingerprints, the selfevals version and when (the run's start, or
// the commit's time when no record of the run is at hand).
func provenanceLine(side string, d *DiffReport, opts DiffMarkdownOptions, pick func(*ExperimentEvidence) Provenance) string {
	var ps []Provenance
	var slugs []string
	for _, e := range d.Experiments {
		if x := opts.Evidence.Experiments[e.Slug]; x != nil {
			ps = append(ps, pick(x))
			slugs = append(slugs, e.Slug)
		}
	}
	if len(ps) == 0 {
		return ""
	}
	parts := []string{commitPart(ps[0], opts)}
	parts = append(parts, fingerprintsPart(ps, slugs))
	var tools []string
	var when time.Time
	committed := false
	for _, p := range ps {
		if p.ToolVersion != "" && !contains(tools, p.ToolVersion) {
			tools = append(tools, p.ToolVersion)
		}
		if p.When.After(when) {
			when, committed = p.When, p.Committed
		}
	}
	if len(tools) > 0 {
		parts = append(parts, "selfevals "+code(strings.Join(tools, ", ")))
	} else {
		parts = append(parts, "selfevals version not recorded")
	}
	switch {
	case when.IsZero():
	case committed:
		parts = append(parts, "committed "+when.UTC().Format("2006-01-02 15:04 UTC"))
	default:
		parts = append(parts, "run "+when.UTC().Format("2006-01-02 15:04 UTC"))
	}
	return fmt.Sprintf("**%s** · %s", side, strings.Join(parts, " · "))
}

func commitPart(p Provenance, opts DiffMarkdownOptions) string {
	if p.Commit == "" {
		return "working tree"
	}
	c := revCell(Revision{Name: p.Commit, Commit: p.Commit}, opts)
	switch {
	case p.WorkingTree && p.Dirty:
		return "working tree of " + c + " with uncommitted changes"
	case p.WorkingTree:
		return "working tree of " + c
	}
	return c
}

// fingerprintsPart is the agent fingerprint, or each experiment's when
// they differ.
func fingerprintsPart(ps []Provenance, slugs []string) string {
	set := map[string][]string{}
	for i, p := range ps {
		fp := p.Fingerprint
		if fp == "" {
			fp = "no result"
		}
		set[fp] = append(set[fp], slugs[i])
	}
	if len(set) == 1 {
		for fp := range set {
			if fp == "no result" {
				return "no result"
			}
			return "agent " + code(fp)
		}
	}
	var out []string
	for fp, ss := range set {
		v := fp
		if fp != "no result" {
			v = code(fp)
		}
		out = append(out, fmt.Sprintf("%s %s", strings.Join(ss, ", "), v))
	}
	sort.Strings(out)
	return "agents: " + strings.Join(out, "; ")
}

// guardrailLine is one experiment's guardrails with their values at A and
// B.
func guardrailLine(slug string, gs []GuardrailStatus) string {
	var parts []string
	for _, g := range gs {
		t := g.Target
		parts = append(parts, fmt.Sprintf("%s `%s %s %s` %s → %s", railIcon(g), t.Name, t.Operator, num(t.Value), optNum(g.A), optNum(g.B)))
	}
	return fmt.Sprintf("**Guardrails** of `%s`: %s", slug, strings.Join(parts, " · "))
}

func railIcon(g GuardrailStatus) string {
	switch {
	case g.MetB == nil:
		return "➖"
	case !*g.MetB && g.MetA != nil && !*g.MetA:
		return "❌ still violated"
	case !*g.MetB:
		return "❌ violated"
	}
	return "✅"
}

// regressedBody lists an experiment's regressed cases biggest drop first,
// then, for the first maxDetailed of them, what the agent answered, the
// grader's reason and a command that reruns the case.
func regressedBody(e *ExperimentDiff, opts DiffMarkdownOptions) string {
	cs := sortedRegressions(e.Cases.Regressed)
	var b strings.Builder
	b.WriteString(caseTable(cs, e.Cases.total(cs, e.Cases.Counts.Regressed), "B"))
	var x *ExperimentEvidence
	if opts.Evidence != nil {
		x = opts.Evidence.Experiments[e.Slug]
	}
	if x == nil || len(x.Cases) == 0 {
		if opts.Evidence != nil {
			b.WriteString("\nNo record of the run that made B's results is in this checkout, so the agent's answers are not shown.\n")
		}
		return b.String()
	}
	shown := 0
	for _, c := range cs {
		ce := x.Cases[c.ID]
		if ce == nil {
			continue
		}
		if shown == maxDetailed {
			n := len(x.Cases) - shown
			fmt.Fprintf(&b, "\n… the answers of %d more %s are in the run record.\n", n, pluralWord(n, "case", "cases"))
			break
		}
		shown++
		b.WriteString("\n" + caseDetail(c, ce))
	}
	return b.String()
}

func caseDetail(c CaseChange, ce *CaseEvidence) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s**: %s → %s", caseCell(c.Name, c.ID), labelCell(c.A), labelCell(c.B))
	if ce.Grader != "" {
		fmt.Fprintf(&b, " · grader %s", codeCell(ce.Grader))
		if ce.Reason != "" {
			b.WriteString(": " + safeText(ce.Reason, 300))
		}
	}
	b.WriteString("\n\n")
	what := "The agent answered"
	if ce.ErrorKind != "" {
		what = "The call failed (" + safeText(ce.ErrorKind, 40) + ")"
	}
	fmt.Fprintf(&b, "%s:\n\n%s\n\n", what, excerptBlock(ce.Answer))
	if ce.Rerun != "" {
		fmt.Fprintf(&b, "Rerun from the repository root (%s):\n\n%s", ce.RerunNote, fenced("sh", ce.Rerun))
	}
	return b.String()
}
