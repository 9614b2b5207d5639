package reports

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/selfevals/selfevals/repo"
)

// runTaxonomy is what the report knows of the failure-mode taxonomy for a
// run: the modes, and how many of the run's traces error analysis assigned
// to each (merged modes resolved to where they went).
type runTaxonomy struct {
	tax      *repo.Taxonomy
	assigned map[string]int // mode slug → distinct traces of this run
}

// loadRunTaxonomy reads evals/taxonomy.yaml and the experiment's
// assignments next to the run's spec (<evals>/experiments/<slug>.yaml). A
// report renders without them: nil means none were found.
func loadRunTaxonomy(rs *repo.RunSummary) *runTaxonomy {
	if rs.SpecPath == "" {
		return nil
	}
	evalsDir := filepath.Dir(filepath.Dir(rs.SpecPath))
	path := repo.Dir(evalsDir).Taxonomy()
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	tax, err := repo.LoadTaxonomy(path)
	if err != nil {
		return nil
	}
	rt := &runTaxonomy{tax: tax, assigned: map[string]int{}}
	recs, _ := repo.ReadAssignments(evalsDir, rs.Slug)
	seen := map[[2]string]bool{}
	for _, a := range recs {
		if a.RunID != rs.RunID {
			continue
		}
		m, ok := tax.Resolve(a.ModeID)
		if !ok {
			continue
		}
		if k := [2]string{a.TraceID, m.Slug}; !seen[k] {
			seen[k] = true
			rt.assigned[m.Slug]++
		}
	}
	return rt
}

// failureModeRow is one line of the report's failure-mode table.
type failureModeRow struct {
	mode   string
	source string // graders or analysis
	count  int
}

// failureModeRows merges the graders' failure-mode counts with the error
// analysis's assignments, most frequent first.
func failureModeRows(graderModes map[string]int, rt *runTaxonomy) []failureModeRow {
	var rows []failureModeRow
	for m, n := range graderModes {
		rows = append(rows, failureModeRow{m, "graders", n})
	}
	if rt != nil {
		for m, n := range rt.assigned {
			rows = append(rows, failureModeRow{m, "analysis", n})
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].count != rows[j].count {
			return rows[i].count > rows[j].count
		}
		if rows[i].mode != rows[j].mode {
			return rows[i].mode < rows[j].mode
		}
		return rows[i].source < rows[j].source
	})
	return rows
}

// taxonomyCell names the taxonomy mode a failure mode is, or —.
func (rt *runTaxonomy) taxonomyCell(slug string) string {
	if rt == nil {
		return dash
	}
	m, ok := rt.tax.Resolve(slug)
	if !ok {
		return dash
	}
	cell := fmt.Sprintf("%s (%s)", escapeCell(m.Title), repo.ModeStatus(m))
	if m.Slug != slug {
		cell += fmt.Sprintf(", merged from `%s`", slug)
	}
	return cell
}

// FailureModeList lists failure modes in the given order, one line each
// (* marks official ones) with its history below; with status set, only
// the modes of that status. The ID column is as wide as the longest ID of
// all the modes, so the layout does not shift with the filter.
func FailureModeList(modes []repo.FailureMode, status string) string {
	var b strings.Builder
	width := 0
	for _, m := range modes {
		width = max(width, len(m.ID()))
	}
	n := 0
	for _, m := range modes {
		st := repo.ModeStatus(m)
		if status != "" && st != status {
			continue
		}
		n++
		marker := " "
		if st == "official" {
			marker = "*"
		}
		title := m.Title
		if m.MergedInto != "" {
			title += fmt.Sprintf("  → merged into fm_%s", m.MergedInto)
		}
		fmt.Fprintf(&b, "%s %-*s  %-11s %5s  %s\n", marker, width, m.ID(), "["+st+"]", fmt.Sprintf("%d ex", len(m.Examples)), title)
		for _, h := range m.History {
			line := "    " + h.Action
			if h.Detail != "" {
				line += ": " + h.Detail
			}
			if h.By != "" {
				line += "  by " + h.By
			}
			if h.At != "" {
				line += "  at " + h.At
			}
			b.WriteString(line + "\n")
		}
	}
	if n == 0 {
		b.WriteString("(no failure modes)\n")
	}
	return b.String()
}
