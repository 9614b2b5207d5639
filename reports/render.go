package reports

import (
	"fmt"
	"io"

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

// RenderTo writes a recorded run's report in a format to w. JUnit and HTML
// stream: memory stays bounded whatever the size of the run.
func RenderTo(w io.Writer, rs *repo.RunSummary, runDir, format string) error {
	switch format {
	case "junit":
		return WriteJUnit(w, rs, runDir)
	case "html":
		return WriteHTML(w, rs, runDir)
	}
	b, err := Render(rs, runDir, format)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
