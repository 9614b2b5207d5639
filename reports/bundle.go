package reports

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/goccy/go-json"

	"github.com/selfevals/selfevals/repo"
)

// BundleJSON encodes an analysis bundle as indented JSON (bundle.json).
func BundleJSON(b *repo.AnalysisBundle) ([]byte, error) { return indentedJSON(b) }

// BundleMarkdown renders an analysis bundle for a person or a coding agent
// to read (bundle.md): the taxonomy, then each trace with its case input,
// output, tool calls, grade and first error, then the answer to write.
func BundleMarkdown(b *repo.AnalysisBundle, bundleDir string) string {
	var s strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&s, format, args...) }
	scope := "failed traces"
	if b.Scope == "all" {
		scope = "traces"
	}
	where := "all iterations"
	if b.Iteration != nil {
		where = fmt.Sprintf("iteration %d", *b.Iteration)
	}
	w("# Error analysis: %s\n\n", b.Experiment)
	w("%d %s of run `%s` (%s). Schema version %s; the same content is in `bundle.json`.\n\n", len(b.Traces), scope, b.RunID, where, b.SchemaVersion)
	if sm := b.Sample; sm != nil {
		w("A sample: %d of the %d %s, shared evenly among the groups below and picked by a hash of the trace ID, so pulling again picks the same (`--limit` to change it).\n\n", len(b.Traces), sm.Selected, scope)
		t := newTable(&s, "lrr", "group", "traces", "in this bundle")
		for _, g := range sm.Groups {
			t.row(code(g.Group), g.Traces, g.InBundle)
		}
		w("\n")
	}
	w("**How to work:** read the method with `selfevals skills show error-analysis`. For each trace, write a short open note on what went wrong first and quote the exact words that show it; then classify it into a mode below (`mode_id`) or, when none fits, propose a new mode (`new_mode_slug` + `proposed_modes`). Record the answer with:\n\n")
	w("```sh\nselfevals analyze push %s --by agent:<your-name>\n```\n\n", joinSlash(bundleDir, "result.json"))

	w("## Taxonomy\n\n")
	if len(b.Taxonomy) == 0 {
		w("_No live modes yet: propose them._\n\n")
	} else {
		t := newTable(&s, "", "mode_id", "status", "title", "definition")
		for _, m := range b.Taxonomy {
			t.row(code(m.ID), m.Status, escapeCell(m.Title), escapeCell(m.Definition))
		}
		w("\n")
	}

	w("## Traces\n\n")
	if len(b.Traces) == 0 {
		w("_No traces selected._\n\n")
	}
	for i, t := range b.Traces {
		name := t.CaseName
		if name == "" {
			name = t.CaseID
		}
		w("### %d. %s\n\n", i+1, name)
		w("- trace: `%s`\n- case: `%s` (iteration %d, repetition %d)\n", t.TraceID, t.CaseID, t.Iteration, t.Repetition)
		w("- grade: **%s** (score %s)", t.Grade.Label, num(t.Grade.Score))
		if len(t.Grade.FailureModes) > 0 {
			w(" — grader failure modes: `%s`", strings.Join(t.Grade.FailureModes, "`, `"))
		}
		w("\n")
		for _, r := range t.Grade.Reasons {
			w("  - %s\n", oneLine(r))
		}
		if t.FirstError != nil {
			w("- first error (%s", t.FirstError.Source)
			if t.FirstError.Name != "" {
				w(" `%s`", t.FirstError.Name)
			}
			w("): %s\n", oneLine(t.FirstError.Error))
		}
		w("\n**Input**\n\n%s\n", fenced("json", indentJSON(t.Input)))
		w("**Output**\n\n%s\n", fenced("text", t.Output))
		if len(t.StructuredOutput) > 0 {
			w("**Structured output**\n\n%s\n", fenced("json", indentJSON(t.StructuredOutput)))
		}
		if len(t.ToolCalls) > 0 {
			w("**Tool calls**\n\n")
			for j, tc := range t.ToolCalls {
				w("%d. `%s`", j+1, tc.Name)
				if tc.Error != "" {
					w(" — error: %s", oneLine(tc.Error))
				}
				w("\n")
				if len(tc.Arguments) > 0 {
					w("\n%s", indentBlock(fenced("json", indentJSON(tc.Arguments)), "   "))
				}
				if len(tc.Result) > 0 {
					w("\n   result:\n\n%s", indentBlock(fenced("json", indentJSON(tc.Result)), "   "))
				}
			}
			w("\n")
		}
	}

	w("## Your answer\n\nWrite `result.json` (every key is checked; unknown keys are errors):\n\n")
	ex := exampleResult(b)
	w("%s\n", fenced("json", ex))
	return s.String()
}

// exampleResult is an AnalysisResult skeleton naming the bundle's own
// experiment, first trace and first mode.
func exampleResult(b *repo.AnalysisBundle) string {
	trace := "tr_…"
	if len(b.Traces) > 0 {
		trace = b.Traces[0].TraceID
	}
	mode := "fm_<slug>"
	if len(b.Taxonomy) > 0 {
		mode = b.Taxonomy[0].ID
	}
	return fmt.Sprintf(`{
  "schema_version": "1",
  "experiment": %q,
  "assignments": [
    {"trace_id": %q, "mode_id": %q, "open_note": "what went wrong, in a sentence", "quote": "exact words from the output", "confidence": 0.8},
    {"trace_id": "tr_…", "new_mode_slug": "new_mode", "open_note": "…", "quote": "…"}
  ],
  "proposed_modes": [
    {"slug": "new_mode", "title": "New mode", "definition": "One sentence a reviewer can apply to a new trace."}
  ],
  "hypotheses": [
    {"targets_mode_slug": "new_mode", "statement": "what change would fix it", "suggested_parameters": {"model_params": {"temperature": 0.2}}}
  ]
}`, b.Experiment, trace, mode)
}

func joinSlash(dir, name string) string {
	if dir == "" {
		return name
	}
	return strings.TrimSuffix(dir, "/") + "/" + name
}

func indentJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "null"
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return buf.String()
}

// fenced puts text in a code fence longer than any backtick run inside it.
func fenced(lang, text string) string {
	fence := "```"
	for strings.Contains(text, fence) {
		fence += "`"
	}
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	return fence + lang + "\n" + text + fence + "\n"
}

func indentBlock(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l == "" {
			continue
		}
		if l != "\n" {
			b.WriteString(prefix)
		}
		b.WriteString(l)
	}
	return b.String()
}
