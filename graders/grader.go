// Package graders turns an agent's trace into grades. It owns the Grader
// seam, the deterministic rules (substrings, tools, RE2 regex, structured
// output, JSON Schema), and the registry that decides which graders run on
// which case. The LLM judge plugs in through a Factory, so this package does
// not depend on the adapters that call the judge.
package graders

import (
	"context"

	"github.com/selfevals/selfevals/repo"
)

// Grader judges one trace of one case.
//
// Grade never fails: a grader that cannot reach a verdict returns a grade
// with label error and a reason, so one bad case never stops a run.
type Grader interface {
	Name() string
	Grade(ctx context.Context, c *repo.Case, t *repo.Trace) repo.Grade
}

// GradeAll runs every grader on the trace, in order, and combines their
// verdicts worst-of (repo.Combine).
func GradeAll(ctx context.Context, graders []Grader, c *repo.Case, t *repo.Trace) (grades []repo.Grade, label repo.Label, score float64) {
	grades = make([]repo.Grade, 0, len(graders))
	for _, g := range graders {
		gr := g.Grade(ctx, c, t)
		if gr.Grader == "" {
			gr.Grader = g.Name()
		}
		grades = append(grades, gr)
	}
	label, score = repo.Combine(grades)
	return grades, label, score
}
