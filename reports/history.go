package reports

import (
	"fmt"
	"strings"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/gitstore"
)

// HistoryTable lists, newest first, each commit that changed an
// experiment's summary.json with the primary metric it recorded there.
func HistoryTable(versions []gitstore.FileVersion) string {
	var b strings.Builder
	fmt.Fprintf(&b, "commit        date              %-12s  target  subject\n", "primary")
	for _, v := range versions {
		value, met := "deleted", ""
		if v.Content != nil {
			s, err := repo.ReadSummary(v.Content)
			switch {
			case err != nil:
				value = "unreadable"
			case s.Primary == nil:
				value = s.Target.Name + " " + dash
			default:
				value = s.Target.Name + " " + repo.FormatNumber(*s.Primary)
				met = "missed"
				if s.TargetMet {
					met = "met"
				}
			}
		}
		fmt.Fprintf(&b, "%s  %s  %-12s  %-6s  %s\n", shortHash(v.Commit), commitTime(v.Commit), value, met, v.Commit.Subject)
	}
	return b.String()
}

// CandidateBranch is a selfevals/<slug> branch and its commits not yet
// merged, newest first.
type CandidateBranch struct {
	Name    string
	Note    string // said after the name, e.g. which is current
	Commits []gitstore.Commit
}

// CandidateList lists each branch with its kept candidates and the run
// each came from.
func CandidateList(branches []CandidateBranch) string {
	var b strings.Builder
	for _, br := range branches {
		if br.Note != "" {
			fmt.Fprintf(&b, "%s  (%s)\n", br.Name, br.Note)
		} else {
			fmt.Fprintf(&b, "%s\n", br.Name)
		}
		for _, c := range br.Commits {
			run, _ := c.Trailer(gitstore.TrailerRun)
			fmt.Fprintf(&b, "  %s  %s  %s  (%s)\n", shortHash(c), commitTime(c), c.Subject, run)
		}
	}
	return b.String()
}

func shortHash(c gitstore.Commit) string { return c.Hash[:12] }

// commitTime is when a commit was authored, in UTC to the minute.
func commitTime(c gitstore.Commit) string { return c.Time.UTC().Format("2006-01-02 15:04") }
