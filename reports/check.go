package reports

import (
	"fmt"
	"strings"

	"github.com/selfevals/selfevals/repo/check"
)

// CheckText renders a check report for the terminal: each finding with
// its repair, then a one-line verdict.
func CheckText(r *check.Report) string {
	var b strings.Builder
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "%s: %s: %s\n  repair: %s\n", f.Severity, f.Where, f.Problem, f.Repair)
	}
	refs := "refs not checked (not a git repository)"
	if r.Refs {
		refs = "selfevals' refs checked"
	}
	scope := fmt.Sprintf("%d run(s), %d committed result(s), %s", r.Runs, r.Results, refs)
	errs, warns := r.Errors(), len(r.Findings)-r.Errors()
	switch {
	case len(r.Findings) == 0:
		fmt.Fprintf(&b, "evals/ is consistent: %s.\n", scope)
	default:
		fmt.Fprintf(&b, "%d error(s), %d warning(s): %s.\n", errs, warns, scope)
	}
	return b.String()
}
