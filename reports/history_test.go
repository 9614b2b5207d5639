package reports

import (
	"testing"
	"time"

	"github.com/selfevals/selfevals/repo/gitstore"
)

func TestHistoryTable(t *testing.T) {
	commit := func(n int, subject string) gitstore.Commit {
		return gitstore.Commit{Hash: "abcdef0123456789" + string(rune('0'+n)), Subject: subject, Time: time.Date(2026, 1, n, 10, 0, 0, 0, time.FixedZone("x", 3600))}
	}
	got := HistoryTable([]gitstore.FileVersion{
		{Commit: commit(5, "latest"), Content: []byte(`{"target": {"name": "pass@1"}, "primary": 1, "target_met": true}`)},
		{Commit: commit(4, "removed")},
		{Commit: commit(3, "broken"), Content: []byte(`not json`)},
		{Commit: commit(2, "nothing observed"), Content: []byte(`{"target": {"name": "pass@1"}, "primary": null}`)},
		{Commit: commit(1, "first"), Content: []byte(`{"target": {"name": "pass@1"}, "primary": 0.6666667}`)},
	})
	want := `commit        date              primary       target  subject
abcdef012345  2026-01-05 09:00  pass@1 1      met     latest
abcdef012345  2026-01-04 09:00  deleted               removed
abcdef012345  2026-01-03 09:00  unreadable            broken
abcdef012345  2026-01-02 09:00  pass@1 —              nothing observed
abcdef012345  2026-01-01 09:00  pass@1 0.6667  missed  first
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestCandidateList(t *testing.T) {
	c := gitstore.Commit{Hash: "0123456789abcdef", Subject: "keep iteration 2", Time: time.Date(2026, 2, 3, 4, 5, 0, 0, time.UTC),
		Trailers: map[string]string{gitstore.TrailerRun: "run_1"}}
	got := CandidateList([]CandidateBranch{{Name: "selfevals/a", Commits: []gitstore.Commit{c, c}}, {Name: "selfevals/b", Commits: []gitstore.Commit{c}}})
	want := "selfevals/a\n  0123456789ab  2026-02-03 04:05  keep iteration 2  (run_1)\n  0123456789ab  2026-02-03 04:05  keep iteration 2  (run_1)\n" +
		"selfevals/b\n  0123456789ab  2026-02-03 04:05  keep iteration 2  (run_1)\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
