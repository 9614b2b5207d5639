package reports

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/selfevals/selfevals/internal/lazy"
	"github.com/selfevals/selfevals/repo"
)

// Limits of what GitHub accepts.
const (
	// CommentLimit is the most characters a pull-request comment may hold.
	CommentLimit = 65536
	// StepSummaryLimit is the most bytes one step may append to
	// $GITHUB_STEP_SUMMARY.
	StepSummaryLimit = 1 << 20
	// maxRows caps each per-case table of the comment; the JSON diff has
	// the first maxDiffCases of each group and counts them all.
	maxRows = 100
)

// DiffMarkdownOptions tune the pull-request markdown.
type DiffMarkdownOptions struct {
	// CommitURL, when set, links short commit hashes: CommitURL + hash
	// (e.g. https://github.com/owner/repo/commit/).
	CommitURL   string
	ToolVersion string
	// Evidence, when gathered (GatherPREvidence), adds where each side's
	// results came from, the guardrails, the link to the job, and the
	// agent's answer and a rerun command for each regressed case.
	Evidence *PREvidence
}

// DiffHeadline is the one-line verdict: what regressed, or that nothing
// did and what improved.
func DiffHeadline(d *DiffReport) string {
	var bad []string
	fixed, added, edited, removed, better := 0, 0, 0, 0, 0
	for _, e := range d.Experiments {
		fixed += e.Cases.total(e.Cases.Fixed, e.Cases.Counts.Fixed)
		added += e.Cases.total(e.Cases.New, e.Cases.Counts.New)
		edited += e.Cases.total(e.Cases.Edited, e.Cases.Counts.Edited)
		removed += e.Cases.total(e.Cases.Removed, e.Cases.Counts.Removed)
		p := e.Primary()
		if p != nil && p.Verdict == VerdictBetter {
			better++
		}
		if !e.Regressed {
			continue
		}
		what := e.Slug + " got worse"
		if n := e.Cases.total(e.Cases.Regressed, e.Cases.Counts.Regressed); n > 0 {
			what = fmt.Sprintf("%s in %s", plural(n, "regression"), e.Slug)
		}
		if p != nil && p.A != nil && p.B != nil {
			what += fmt.Sprintf(" (%s %s → %s", p.Name, num(*p.A), num(*p.B))
			if p.P != nil {
				what += ", p=" + fmtP(*p.P)
			}
			what += ")"
		}
		bad = append(bad, what)
	}
	if len(bad) > 0 {
		return "❌ " + strings.Join(append(bad, caveatKinds(d)...), "; ")
	}
	parts := []string{"✅ no regressions"}
	if better > 0 {
		parts = append(parts, fmt.Sprintf("primary metric significantly better in %s", plural(better, "experiment")))
	}
	if fixed > 0 {
		parts = append(parts, plural(fixed, "case")+" fixed")
	}
	if added > 0 {
		parts = append(parts, plural(added, "new case"))
	}
	if edited > 0 {
		parts = append(parts, plural(edited, "edited case"))
	}
	if removed > 0 {
		parts = append(parts, plural(removed, "removed case"))
	}
	parts = append(parts, caveatKinds(d)...)
	if len(parts) == 1 {
		changed := false
		for _, e := range d.Experiments {
			changed = changed || e.Status != StatusUnchanged
		}
		if !changed && d.Taxonomy.Empty() && len(d.GraderCards) == 0 {
			parts = append(parts, "nothing changed")
		}
	}
	return strings.Join(parts, "; ")
}

// caveatKinds names, for the headline, what besides the agent changed
// (the caveats say more under it).
func caveatKinds(d *DiffReport) []string {
	var out []string
	for _, kind := range []string{CaveatGraders, CaveatFingerprint} {
		if slices.ContainsFunc(d.Caveats, func(c Caveat) bool { return c.Kind == kind }) {
			out = append(out, "⚠️ "+strings.ReplaceAll(kind, "_", " ")+" changed")
		}
	}
	return out
}

// DiffMarkdown renders the diff for a pull request: the verdict in one
// line, a compact table, then <details> sections in order of importance
// (regressions with their grader reasons, metrics, fixed, new, removed,
// edited, dataset, spec, grader-card and taxonomy changes, still failing).
// FitComment drops sections from the end when the body is too long.
func DiffMarkdown(d *DiffReport, opts DiffMarkdownOptions) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("### %s\n\n", strings.Join(append([]string{DiffHeadline(d)}, guardrailHeadline(d, opts.Evidence)...), "; "))
	for _, c := range d.Caveats {
		where := ""
		if c.Experiment != "" {
			where = " in " + code(c.Experiment)
		}
		w("> ⚠️ **Caveat**%s: %s\n", where, cell(c.Message, 300))
	}
	if len(d.Caveats) > 0 {
		w("\n")
	}
	conf := fmt.Sprintf("%.0f%%", d.Confidence*100)

	if len(d.Experiments) == 0 {
		w("No experiments under evals/ at either revision.\n\n")
	} else {
		t := prTable(&b, "llrrrlrlll", "experiment", "metric", "A", "B", "paired Δ", conf+" CI", "p", "verdict", "results", "definitions")
		for _, e := range d.Experiments {
			metric, va, vb, delta, ci, p, verdict := dash, dash, dash, dash, dash, dash, statusCell(e.Status)
			if m := e.Primary(); m != nil {
				metric = code(m.Name)
				va, vb, delta, ci, p = optNum(m.A), optNum(m.B), pairedDeltaCell(m), ciCell(m.CI), pCell(m.P)
				if e.Status != StatusAdded && e.Status != StatusRemoved {
					verdict = verdictCell(m)
				}
			} else if e.Target != nil {
				metric = code(e.Target.Name)
			}
			t.row(code(e.Slug), metric, va, vb, delta, ci, p, verdict, resultsCell(e), definitionsCell(e))
		}
		w("\n")
	}
	w("<sub>A = %s · B = %s · A and B over all cases; Δ, CI and p paired on the cases both results share · cases whose definition changed never count as regressions or fixes", revCell(d.A, opts), revCell(d.B, opts))
	if opts.ToolVersion != "" {
		w(" · selfevals %s", opts.ToolVersion)
	}
	w("</sub>\n\n")
	b.WriteString(evidenceHead(d, opts))

	for _, s := range diffSections(d, opts) {
		w("<details><summary>%s</summary>\n\n%s\n</details>\n\n", s.title, strings.TrimRight(s.body, "\n")+"\n")
	}
	return b.String()
}

type section struct{ title, body string }

func diffSections(d *DiffReport, opts DiffMarkdownOptions) []section {
	var out []section
	each := func(fn func(e *ExperimentDiff) *section) {
		for _, e := range d.Experiments {
			if s := fn(e); s != nil {
				out = append(out, *s)
			}
		}
	}
	caseSection := func(icon, what string, pick func(*ExperimentDiff) ([]CaseChange, int), reasonFrom string) func(*ExperimentDiff) *section {
		return func(e *ExperimentDiff) *section {
			cs, count := pick(e)
			n := e.Cases.total(cs, count)
			if n == 0 {
				return nil
			}
			return &section{fmt.Sprintf("%s %s in <code>%s</code> (%d)", icon, what, e.Slug, n), caseTable(cs, n, reasonFrom)}
		}
	}
	each(func(e *ExperimentDiff) *section {
		if e.Cases.total(e.Cases.Regressed, e.Cases.Counts.Regressed) == 0 {
			return nil
		}
		return &section{fmt.Sprintf("❌ Regressed in <code>%s</code> (%d)", e.Slug, e.Cases.total(e.Cases.Regressed, e.Cases.Counts.Regressed)), regressedBody(e, opts)}
	})
	each(func(e *ExperimentDiff) *section {
		if len(e.Metrics) == 0 {
			return nil
		}
		return &section{fmt.Sprintf("📊 Metrics of <code>%s</code>", e.Slug), metricsTable(e, d.Confidence)}
	})
	each(caseSection("✅", "Fixed", func(e *ExperimentDiff) ([]CaseChange, int) { return e.Cases.Fixed, e.Cases.Counts.Fixed }, "A"))
	each(caseSection("🆕", "New cases", func(e *ExperimentDiff) ([]CaseChange, int) { return e.Cases.New, e.Cases.Counts.New }, "B"))
	each(caseSection("🗑️", "Removed cases", func(e *ExperimentDiff) ([]CaseChange, int) { return e.Cases.Removed, e.Cases.Counts.Removed }, "A"))
	each(func(e *ExperimentDiff) *section {
		if e.Cases.total(e.Cases.Edited, e.Cases.Counts.Edited) == 0 {
			return nil
		}
		return &section{fmt.Sprintf("✏️ Definition changed in <code>%s</code> (%d)", e.Slug, e.Cases.total(e.Cases.Edited, e.Cases.Counts.Edited)), editedTable(e.Cases.Edited, e.Cases.total(e.Cases.Edited, e.Cases.Counts.Edited))}
	})
	each(func(e *ExperimentDiff) *section {
		if e.Cases.total(e.Cases.Renamed, e.Cases.Counts.Renamed) == 0 {
			return nil
		}
		return &section{fmt.Sprintf("🔀 Renamed in <code>%s</code> (%d)", e.Slug, e.Cases.total(e.Cases.Renamed, e.Cases.Counts.Renamed)), renamedTable(e.Cases.Renamed, e.Cases.total(e.Cases.Renamed, e.Cases.Counts.Renamed))}
	})
	each(func(e *ExperimentDiff) *section {
		if !e.Dataset.Changed() {
			return nil
		}
		ds := e.Dataset
		return &section{fmt.Sprintf("🗂️ Dataset changes in <code>%s</code> (+%d −%d ~%d)", e.Slug, len(ds.Added), len(ds.Removed), len(ds.Edited)), datasetBody(ds)}
	})
	each(func(e *ExperimentDiff) *section {
		if len(e.Spec) == 0 {
			return nil
		}
		return &section{fmt.Sprintf("⚙️ Spec changes in <code>%s</code> (%s)", e.Slug, plural(len(e.Spec), "field")), fieldTable(e.Spec)}
	})
	if len(d.GraderCards) > 0 {
		var b strings.Builder
		for _, c := range d.GraderCards {
			fmt.Fprintf(&b, "**`%s`** — %s\n\n", c.Path, c.Status)
			if len(c.Changes) > 0 {
				b.WriteString(fieldTable(c.Changes))
				b.WriteString("\n")
			}
		}
		out = append(out, section{fmt.Sprintf("⚖️ Grader card changes (%d)", len(d.GraderCards)), b.String()})
	}
	if t := d.Taxonomy; !t.Empty() {
		out = append(out, section{"🏷️ Taxonomy changes", taxonomyBody(t)})
	}
	each(caseSection("⚠️", "Still failing", func(e *ExperimentDiff) ([]CaseChange, int) { return e.Cases.StillFailing, e.Cases.Counts.StillFailing }, "B"))
	var warnings []string
	warnings = append(warnings, d.Warnings...)
	for _, e := range d.Experiments {
		warnings = append(warnings, e.Warnings...)
	}
	if len(warnings) > 0 {
		var b strings.Builder
		for _, wn := range warnings {
			fmt.Fprintf(&b, "- %s\n", cell(wn, 300))
		}
		out = append(out, section{fmt.Sprintf("⚠️ Warnings (%d)", len(warnings)), b.String()})
	}
	return out
}

// caseTable lists the first maxRows of cs, of n cases in all.
func caseTable(cs []CaseChange, n int, reasonFrom string) string {
	var b strings.Builder
	t := newTable(&b, "", "case", "A", "B", "reason ("+reasonFrom+")")
	for i, c := range cs {
		if i == maxRows {
			break
		}
		v := c.B
		if reasonFrom == "A" {
			v = c.A
		}
		t.row(caseCell(c.Name, c.ID), labelCell(c.A), labelCell(c.B), reasonCell(v))
	}
	b.WriteString(moreRows(n))
	return b.String()
}

func editedTable(cs []CaseChange, n int) string {
	var b strings.Builder
	b.WriteString("What the case asks or how it is judged changed (under the same ID or name), so its verdicts are not paired and never count as a regression or a fix.\n\n")
	t := newTable(&b, "", "case", "ID at A → B", "A", "B", "reason (B)")
	for i, c := range cs {
		if i == maxRows {
			break
		}
		t.row(cell(orID(c.Name, c.ID), 80), idsCell(c), labelCell(c.A), labelCell(c.B), reasonCell(c.B))
	}
	b.WriteString(moreRows(n))
	return b.String()
}

func renamedTable(cs []CaseChange, n int) string {
	var b strings.Builder
	b.WriteString("The same definition under another name or ID: paired with itself, and listed by its outcome above.\n\n")
	t := newTable(&b, "", "name at A → B", "ID at A → B", "A", "B")
	for i, c := range cs {
		if i == maxRows {
			break
		}
		t.row(cell(orID(c.A.Name, c.A.CaseID), 80)+" → "+cell(orID(c.B.Name, c.B.CaseID), 80), idsCell(c), labelCell(c.A), labelCell(c.B))
	}
	b.WriteString(moreRows(n))
	return b.String()
}

// idsCell is a case's ID, with its ID at A first when that differs.
func idsCell(c CaseChange) string {
	if c.PreviousID == "" {
		return code(c.ID)
	}
	return code(c.PreviousID) + " → " + code(c.ID)
}

func moreRows(n int) string {
	if n <= maxRows {
		return ""
	}
	if n <= maxDiffCases {
		return fmt.Sprintf("\n… and %d more: `selfevals diff --format json` lists every case.\n", n-maxRows)
	}
	return fmt.Sprintf("\n… and %d more: `selfevals diff --format json` lists the first %d and counts them all.\n", n-maxRows, maxDiffCases)
}

func metricsTable(e *ExperimentDiff, confidence float64) string {
	var b strings.Builder
	t := prTable(&b, "lrrrrlrll", "metric", "A (all cases)", "B (all cases)", "Δ all cases", "paired Δ", fmt.Sprintf("%.0f%% CI of paired Δ", confidence*100), "p", "test", "verdict")
	for i := range e.Metrics {
		m := &e.Metrics[i]
		name := code(m.Name)
		if m.Primary {
			name = "**" + name + "** (primary)"
		}
		paired := dash
		if m.Test != "" {
			paired = deltaCell(m.Delta)
		}
		t.row(name, optNum(m.A), optNum(m.B), deltaCell(m.DeltaAll), paired, ciCell(m.CI), pCell(m.P), orDash(cmp.Or(m.Test, m.Note)), verdictCell(m))
	}
	if e.Pairs > 0 {
		fmt.Fprintf(&b, "\nPaired Δ, interval and p on the %s both results share.\n", plural(e.Pairs, "case"))
	}
	return b.String()
}

func datasetBody(ds *DatasetDiff) string {
	var b strings.Builder
	if ds.PathA == ds.PathB {
		fmt.Fprintf(&b, "`%s`: %d → %d cases, compared by content hash.\n\n", ds.PathB, ds.CasesA, ds.CasesB)
	} else {
		fmt.Fprintf(&b, "`%s` (%d cases) → `%s` (%d cases), compared by content hash.\n\n", ds.PathA, ds.CasesA, ds.PathB, ds.CasesB)
	}
	refs := func(title string, rs []CaseRef) {
		if len(rs) == 0 {
			return
		}
		fmt.Fprintf(&b, "**%s (%d)**\n\n", title, len(rs))
		t := newTable(&b, "", "case", "ID")
		for i, r := range rs {
			if i == maxRows {
				break
			}
			t.row(cell(orID(r.Name, r.ID), 80), code(r.ID))
		}
		b.WriteString(moreRows(len(rs)))
		b.WriteString("\n")
	}
	refs("Added", ds.Added)
	refs("Removed", ds.Removed)
	edits := func(title string, es []CaseEdited) {
		if len(es) == 0 {
			return
		}
		fmt.Fprintf(&b, "**%s (%d)**\n\n", title, len(es))
		t := newTable(&b, "", "case", "ID at A", "ID at B")
		for i, e := range es {
			if i == maxRows {
				break
			}
			t.row(cell(orID(e.Name, e.To), 80), code(e.From), code(e.To))
		}
		b.WriteString(moreRows(len(es)))
		b.WriteString("\n")
	}
	edits("Edited", ds.Edited)
	edits("Renamed", ds.Renamed)
	return b.String()
}

func fieldTable(fs []FieldChange) string {
	var b strings.Builder
	t := newTable(&b, "", "field", "A", "B")
	for i, f := range fs {
		if i == maxRows {
			break
		}
		t.row(code(escapePipes(f.Path)), codeCell(f.A), codeCell(f.B))
	}
	b.WriteString(moreRows(len(fs)))
	return b.String()
}

func taxonomyBody(t *TaxonomyDiff) string {
	var b strings.Builder
	for _, m := range t.Added {
		fmt.Fprintf(&b, "- 🆕 `%s` — %s (%s)\n", m.Slug, cell(m.Title, 120), m.Status)
	}
	for _, m := range t.Removed {
		fmt.Fprintf(&b, "- 🗑️ `%s` — %s (was %s)\n", m.Slug, cell(m.Title, 120), m.Status)
	}
	for _, m := range t.StatusChanged {
		fmt.Fprintf(&b, "- 🔁 `%s`: %s → %s\n", m.Slug, m.From, m.To)
	}
	for _, s := range t.Edited {
		fmt.Fprintf(&b, "- ✏️ `%s`: title or definition edited\n", s)
	}
	return b.String()
}

func statusCell(status string) string {
	switch status {
	case StatusAdded:
		return "🆕 new experiment"
	case StatusRemoved:
		return "🗑️ removed"
	case StatusUnchanged:
		return "➖ unchanged"
	}
	return "➖ no result"
}

func verdictCell(m *MetricDiff) string {
	switch m.Verdict {
	case VerdictBetter:
		return "✅ better"
	case VerdictWorse:
		return "❌ worse"
	case VerdictNotSignificant:
		if m.Dir == VerdictWorse {
			return "⚠️ worse, not significant"
		}
		return "➖ better, not significant"
	case VerdictChanged:
		if m.Dir == VerdictWorse {
			return "⚠️ worse (no paired test)"
		}
		return "better (no paired test)"
	case VerdictAdded:
		return "🆕 new"
	case VerdictRemoved:
		return "🗑️ gone"
	}
	return "➖ unchanged"
}

func resultsCell(e *ExperimentDiff) string {
	var parts []string
	add := func(n int, s string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	if n := e.Cases.total(e.Cases.Regressed, e.Cases.Counts.Regressed); n > 0 {
		parts = append(parts, fmt.Sprintf("❌ %d regressed", n))
	}
	add(e.Cases.total(e.Cases.Fixed, e.Cases.Counts.Fixed), "fixed")
	add(e.Cases.total(e.Cases.New, e.Cases.Counts.New), "new")
	add(e.Cases.total(e.Cases.Removed, e.Cases.Counts.Removed), "removed")
	add(e.Cases.total(e.Cases.Edited, e.Cases.Counts.Edited), "edited")
	add(e.Cases.total(e.Cases.Renamed, e.Cases.Counts.Renamed), "renamed")
	return orDash(strings.Join(parts, " · "))
}

func definitionsCell(e *ExperimentDiff) string {
	var parts []string
	if ds := e.Dataset; ds.Changed() {
		parts = append(parts, fmt.Sprintf("dataset +%d −%d ~%d", len(ds.Added), len(ds.Removed), len(ds.Edited)))
		if n := len(ds.Renamed); n > 0 {
			parts = append(parts, plural(n, "case")+" renamed")
		}
	}
	if len(e.Spec) > 0 {
		parts = append(parts, "spec: "+plural(len(e.Spec), "field"))
	}
	return orDash(strings.Join(parts, " · "))
}

func revCell(r Revision, opts DiffMarkdownOptions) string {
	if r.Commit == "" {
		return "**" + htmlEscape(r.Name) + "**"
	}
	short := r.Commit[:min(7, len(r.Commit))]
	hash := "<code>" + short + "</code>"
	if opts.CommitURL != "" {
		hash = fmt.Sprintf(`<a href="%s%s"><code>%s</code></a>`, htmlEscape(opts.CommitURL), r.Commit, short)
	}
	if r.Name == r.Commit || strings.HasPrefix(r.Commit, r.Name) {
		return hash
	}
	return "<code>" + htmlEscape(r.Name) + "</code> " + hash
}

func labelCell(v *repo.CaseVerdict) string {
	if v == nil {
		return dash
	}
	s := string(v.Label)
	if v.Repetitions > 1 {
		s += fmt.Sprintf(" (%s passed)", num(v.PassRate))
	}
	return s
}

func caseCell(name, id string) string {
	if name == "" || name == id {
		return codeCell(id)
	}
	return safeText(name, 80) + " " + codeCell(id)
}

func orID(name, id string) string {
	if name == "" {
		return id
	}
	return name
}

func optNum(f *float64) string { return optional(f, num) }

// reasonCell is a verdict's reason, or a dash.
func reasonCell(v *repo.CaseVerdict) string {
	if v == nil || v.Reason == "" {
		return dash
	}
	return safeText(v.Reason, 240)
}

// pairedDeltaCell is a metric's paired Δ, or its all-cases Δ, so marked,
// when the cases could not pair it (a paired Δ with too few cases to test
// is still paired).
func pairedDeltaCell(m *MetricDiff) string {
	if m.Pairs == 0 && m.Delta != nil {
		return deltaCell(m.Delta) + " (all cases)"
	}
	return deltaCell(m.Delta)
}

// deltaCell is a signed difference in a code span.
func deltaCell(f *float64) string {
	return optional(f, func(f float64) string { return code(signedMinus(f)) })
}

func ciCell(ci *[2]float64) string {
	return optional(ci, func(ci [2]float64) string { return fmt.Sprintf("[%s, %s]", signedMinus(ci[0]), signedMinus(ci[1])) })
}

func pCell(p *float64) string {
	if p == nil || math.IsNaN(*p) {
		return dash
	}
	return fmtP(*p)
}

// prTable starts a table of the comment, whose right-aligned columns have
// always been marked "--:".
func prTable(b *strings.Builder, align string, cols ...string) table {
	t := table{b: b, right: "--:"}
	t.head(align, cols...)
	return t
}

// CommentMarker is the hidden line that identifies the comment of a key,
// so the next run updates it instead of adding another.
func CommentMarker(key string) string { return "<!-- selfevals:" + key + " -->" }

// FitComment shortens a markdown body to GitHub's comment limit less
// reserved characters (the marker line), counted in UTF-16 code units, which
// is never less than GitHub's character count. It drops whole top-level
// <details> sections from the end, then, when that is not enough, whole
// paragraphs: never a cut inside a table, a section or a code block. A note
// says what was left out.
func FitComment(body string, reserved int) string {
	return fit(body, CommentLimit-reserved, CommentLimit, utf16Len, "character")
}

// FitStepSummary shortens a body to the step summary's byte limit the same
// way.
func FitStepSummary(body string) string {
	return fit(body, StepSummaryLimit, StepSummaryLimit, func(s string) int { return len(s) }, "byte")
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

type block struct {
	text  string
	title string // the <summary> of a section; "" for plain text
}

// blocks splits markdown into top-level blocks: each <details> section
// (with what follows it up to the next section) is one; the text before
// the first section is split at blank lines outside code fences.
func blocks(body string) (head []string, sections []block) {
	lines := strings.SplitAfter(body, "\n")
	depth, fence := 0, false
	var cur strings.Builder
	inSection := false
	flush := func() {
		if cur.Len() == 0 {
			return
		}
		if inSection {
			sections = append(sections, block{text: cur.String(), title: summaryTitle(cur.String())})
		} else {
			head = append(head, cur.String())
		}
		cur.Reset()
	}
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") {
			fence = !fence
		}
		if !fence && depth == 0 && strings.HasPrefix(t, "<details") {
			flush()
			inSection = true
		}
		if !fence {
			depth += strings.Count(t, "<details") - strings.Count(t, "</details>")
			if depth < 0 {
				depth = 0
			}
		}
		cur.WriteString(l)
		if !inSection && !fence && t == "" {
			flush()
		}
	}
	flush()
	return head, sections
}

var (
	summaryRE = lazy.Regexp(`(?s)<summary>(.*?)</summary>`)
	tagRE     = lazy.Regexp(`<[^>]*>`)
)

func summaryTitle(s string) string {
	m := summaryRE().FindStringSubmatch(s)
	if m == nil {
		return "a section"
	}
	t := strings.TrimSpace(tagRE().ReplaceAllString(m[1], ""))
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(t)
}

func fit(body string, limit, shown int, measure func(string) int, unit string) string {
	if measure(body) <= limit {
		return body
	}
	head, sections := blocks(body)
	note := func(dropped []string, paragraphs int) string {
		var b strings.Builder
		fmt.Fprintf(&b, "\n> ✂️ **Shortened to fit the %s-%s limit.** Left out: ", thousands(shown), unit)
		var parts []string
		for i, d := range dropped {
			if i == 10 {
				parts = append(parts, fmt.Sprintf("and %d more sections", len(dropped)-10))
				break
			}
			parts = append(parts, "*"+d+"*")
		}
		if paragraphs > 0 {
			parts = append(parts, plural(paragraphs, "paragraph")+" of the summary")
		}
		b.WriteString(strings.Join(parts, ", "))
		b.WriteString(". The full report is in the job summary, and `selfevals diff --format json` has every case.\n")
		return b.String()
	}
	headText := strings.Join(head, "")
	kept := len(sections)
	var dropped []string
	for kept > 0 {
		kept--
		dropped = append([]string{sections[kept].title}, dropped...)
		var b strings.Builder
		b.WriteString(headText)
		for _, s := range sections[:kept] {
			b.WriteString(s.text)
		}
		out := strings.TrimRight(b.String(), "\n") + "\n" + note(dropped, 0)
		if measure(out) <= limit {
			return out
		}
	}
	// Even the text before the sections is too long: drop its paragraphs
	// from the end.
	for n := len(head) - 1; n >= 0; n-- {
		out := strings.TrimRight(strings.Join(head[:n], ""), "\n") + "\n" + note(dropped, len(head)-n)
		if measure(out) <= limit {
			return out
		}
	}
	return note(dropped, len(head))
}
