package reports

import (
	"fmt"

	"github.com/selfevals/selfevals/repo"
)

// Render renders a recorded run's report in a format: md, json, junit or
// html (junit and html read the run's results from runDir).
func Render(rs *repo.RunSummary, runDir, format string) ([]byte, error) {
	switch format {
	case "json":
		return JSON(rs)
	case "junit":
		return JUnit(rs, runDir)
	case "html":
		return HTML(rs, runDir)
	case "md":
		return []byte(Markdown(rs)), nil
	}
	return nil, fmt.Errorf("unknown report format %q", format)
}
