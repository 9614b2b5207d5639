package reports

import (
	"testing"

	"github.com/selfevals/selfevals/repo"
)

func TestFailureModeList(t *testing.T) {
	modes := []repo.FailureMode{
		{Slug: "says_miss", Title: "Says miss", Status: "candidate", Examples: make([]repo.ModeExample, 2)},
		{Slug: "too_long_answer", Title: "Too long", Status: "official",
			History: []repo.ModeHistory{{Action: "promoted", Detail: "candidate → official", By: "human:ann", At: "2026-01-02T03:04:05Z"}}},
		{Slug: "dup", Title: "Dup", Status: "retired", MergedInto: "says_miss", History: []repo.ModeHistory{{Action: "merged"}}},
	}
	want := `  fm_says_miss        [candidate]  2 ex  Says miss
* fm_too_long_answer  [official]   0 ex  Too long
    promoted: candidate → official  by human:ann  at 2026-01-02T03:04:05Z
  fm_dup              [retired]    0 ex  Dup  → merged into fm_says_miss
    merged
`
	if got := FailureModeList(modes, ""); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// The filter keeps the width of all the modes.
	if got, want := FailureModeList(modes, "candidate"), "  fm_says_miss        [candidate]  2 ex  Says miss\n"; got != want {
		t.Errorf("candidates: %q, want %q", got, want)
	}
	if got := FailureModeList(nil, ""); got != "(no failure modes)\n" {
		t.Errorf("none: %q", got)
	}
}
